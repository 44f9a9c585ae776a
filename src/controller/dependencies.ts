/**
 * dependsOn between Applications.
 *
 * A cycle would wait forever, so it is found and reported instead.
 *
 * The order is kept by revision, as Flux does for a shared source: a dependent applies a *new*
 * revision (or a new spec) only when each dependency is Ready at its own newest revision — the
 * revision the dependent is about to apply when both use the same Repository and ref, otherwise the
 * newest its own Repository resolved for its ref. "Ready" alone is not enough: right after a push
 * the dependency is still Ready at the previous commit, and the dependent would race ahead of it.
 * What is already applied is never held hostage: while a new revision waits, the revision applied
 * last is synced again (drift healed) as long as the spec is the one it was applied with.
 */
import type { Application, ApplicationSpec, ApplicationStatus } from '../api/v1alpha1.js';
import { messageOf } from '../core/errors.js';
import { redactText } from '../source/index.js';

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

/**
 * What dependents wait on, as one string to compare: Ready for which generation, and at which
 * applied revision — a dependency that goes Ready at a new commit in one status write changes only
 * the last part, and must still wake its dependents (controller.ts).
 */
export function readyOf(app: Application): string {
  const ready = app.status?.conditions?.find((c) => c.type === 'Ready');
  const applied = app.status?.lastAppliedRevision?.sha;
  return `${ready?.status ?? ''}/${ready?.observedGeneration ?? ''}/${applied ?? ''}`;
}

/**
 * Where an Application's revisions come from: a Repository (of its own namespace), a ref, and the
 * path (a Helm repository's chart: its versions are the chart's).
 */
export interface SourceRef {
  readonly repository: string;
  readonly ref: string;
  readonly path?: string;
}

export function sourceOf(app: Application): SourceRef {
  return {
    repository: app.spec.sourceRef?.name ?? '',
    ref: app.spec.ref ?? 'main',
    path: app.spec.path ?? '',
  };
}

/** One dependency, as the decision sees it. */
export interface DependencyState {
  readonly name: string;
  /** Undefined: no such Application. */
  readonly app: Application | undefined;
  /**
   * The revision it must be Ready at: `'target'` when it uses the dependent's Repository and ref
   * (the revision the dependent is about to apply); otherwise the newest revision its own Repository
   * resolved for its ref, or why that is not known.
   */
  readonly wanted: 'target' | { readonly sha: string } | { readonly unknown: string };
}

/** The dependent: what it would apply now, and what it applied last. */
export interface DependentState {
  /** The revision it would apply: the newest of its ref. */
  readonly target: string;
  /** Its spec generation now. */
  readonly generation: number | undefined;
  /** The revision it applied last, and the spec generation it applied it with. */
  readonly applied?: { readonly sha: string; readonly generation: number | undefined };
}

export type DependencyDecision =
  /** Sync the target: it is what is applied already (self-heal), or every dependency is Ready at it. */
  | { readonly action: 'sync' }
  /**
   * The target waits; meanwhile `sha`, the revision applied last with this same spec, is synced
   * again (its drift is healed). `message` says what it waits for.
   */
  | { readonly action: 'hold'; readonly sha: string; readonly message: string }
  /** The target waits, and nothing is synced: it never applied anything, or its spec changed. */
  | { readonly action: 'wait'; readonly message: string };

/** Whether the dependent may apply its target now; see the top of this file. Pure. */
export function decideDependencies(
  dependent: DependentState,
  dependencies: readonly DependencyState[],
): DependencyDecision {
  const { applied } = dependent;
  const sameSpec = applied !== undefined && applied.generation === dependent.generation;
  // Nothing new: re-applying what is applied moves nothing ahead of a dependency (self-heal).
  if (sameSpec && applied.sha === dependent.target) return { action: 'sync' };
  const unmet = dependencies.flatMap((d) => {
    const why = unmetBy(d, dependent.target);
    return why === undefined ? [] : [why];
  });
  if (unmet.length === 0) return { action: 'sync' };
  const message = unmet.join('; ');
  if (!sameSpec) return { action: 'wait', message };
  return {
    action: 'hold',
    sha: applied.sha,
    message: `${message}; meanwhile ${short(applied.sha)} stays applied`,
  };
}

/** Why `dependency` does not let `target` be applied yet, or undefined when it does. */
function unmetBy(dependency: DependencyState, target: string): string | undefined {
  const { app, name } = dependency;
  if (!app) return `waiting for Application ${name}: it does not exist`;
  const ready = app.status?.conditions?.find((c) => c.type === 'Ready');
  const current = ready?.observedGeneration === app.metadata.generation;
  const appliedSha = app.status?.lastAppliedRevision?.sha;
  const wanted = dependency.wanted === 'target' ? { sha: target } : dependency.wanted;
  if ('sha' in wanted && ready?.status === 'True' && current && appliedSha === wanted.sha) return undefined;
  const at =
    'sha' in wanted
      ? `at ${short(wanted.sha)}`
      : `at the newest revision of ${sourceOf(app).ref} (${wanted.unknown})`;
  const where = appliedSha ? `it is at ${short(appliedSha)}` : 'it has applied nothing yet';
  const state = !ready
    ? 'not reconciled yet'
    : current
      ? ready.reason
      : `${ready.reason}, and its spec changed since`;
  return `waiting for Application ${name} to be Ready ${at} (${where}: ${state})`;
}

/**
 * Each of `dependsOn` with the revision it must be Ready at. `newest` gives the newest revision a
 * Repository resolved for a ref; it is asked only for dependencies on another Repository or ref,
 * and its failure is kept as the reason the revision is unknown.
 */
export async function dependencyStates(
  dependent: SourceRef,
  dependsOn: readonly { readonly name: string }[],
  lookup: {
    application(name: string): Application | undefined;
    newest(source: SourceRef): Promise<string>;
  },
): Promise<DependencyState[]> {
  return Promise.all(
    dependsOn.map(async ({ name }): Promise<DependencyState> => {
      const app = lookup.application(name);
      if (!app) return { name, app, wanted: 'target' };
      const source = sourceOf(app);
      if (source.repository === dependent.repository && source.ref === dependent.ref)
        return { name, app, wanted: 'target' };
      try {
        return { name, app, wanted: { sha: await lookup.newest(source) } };
      } catch (error) {
        return { name, app, wanted: { unknown: redactText(messageOf(error)).slice(0, 256) } };
      }
    }),
  );
}

function short(sha: string): string {
  return sha.slice(0, 12);
}

/**
 * Whether `app`'s dependencies let it apply `target` now: its applied revision and generation from
 * `status`, each dependency's state from `lookup`. Reads only (a reconcile and a preview share it).
 */
export async function dependencyGate(
  app: Application,
  status: ApplicationStatus,
  spec: Pick<ApplicationSpec, 'sourceRef' | 'ref' | 'path' | 'dependsOn'>,
  target: string,
  lookup: {
    application(name: string): Application | undefined;
    newest(source: SourceRef): Promise<string>;
  },
): Promise<DependencyDecision> {
  const applied = status.lastAppliedRevision;
  return decideDependencies(
    {
      target,
      generation: app.metadata.generation,
      ...(applied
        ? {
            applied: {
              sha: applied.sha,
              generation: status.lastAppliedGeneration ?? status.observedGeneration,
            },
          }
        : {}),
    },
    await dependencyStates(
      { repository: spec.sourceRef.name, ref: spec.ref, path: spec.path },
      spec.dependsOn,
      lookup,
    ),
  );
}
