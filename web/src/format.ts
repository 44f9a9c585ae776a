/** Small display helpers shared by the pages. */

export const shortSha = (sha: string | undefined): string => (sha ? sha.slice(0, 7) : '—');

/** "3 min ago", "2 h ago", or the date for older times. */
export function ago(iso: string | undefined, now = Date.now()): string {
  if (!iso) return '—';
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return iso;
  const seconds = Math.max(0, Math.round((now - then) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ago`;
  return new Date(then).toISOString().slice(0, 10);
}

export const fullTime = (iso: string | undefined): string => (iso ? new Date(iso).toLocaleString() : '');
