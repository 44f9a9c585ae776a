export function AppsList() {
  return <h1>Applications</h1>;
}
