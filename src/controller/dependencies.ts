/**
 * dependsOn between Applications: a cycle would wait forever, so it is found and reported instead.
 */
export interface AppRef {
  readonly namespace: string;
  readonly name: string;
}

/** The cycle through `start` as `a → b → a`, or undefined. Depth-first; the graph is small. */
export function findCycle(
  start: AppRef,
  dependenciesOf: (app: AppRef) => readonly AppRef[],
): string[] | undefined {
  const key = (ref: AppRef): string => `${ref.namespace}/${ref.name}`;
  const path: AppRef[] = [];
  const onPath = new Set<string>();
  const done = new Set<string>();
  const visit = (ref: AppRef): string[] | undefined => {
    if (onPath.has(key(ref))) {
      if (key(ref) !== key(start)) return undefined; // a cycle elsewhere: that app reports it
      return [...path.map((p) => p.name), ref.name];
    }
    if (done.has(key(ref))) return undefined;
    onPath.add(key(ref));
    path.push(ref);
    for (const next of dependenciesOf(ref)) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    path.pop();
    onPath.delete(key(ref));
    done.add(key(ref));
    return undefined;
  };
  return visit(start);
}
