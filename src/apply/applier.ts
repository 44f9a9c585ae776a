/**
 * Staged server-side apply: phase by phase (CRDs and Namespaces first, then waves by kind priority),
 * each object dry-run first and written only when the dry-run result differs from live, so unchanged
 * objects keep their resourceVersion. Every object ends with one result: created, configured,
 * unchanged, recreated, failed (with the reason) — never silently skipped.
 */
import pLimit from 'p-limit';
import { CapstanError, messageOf } from '../core/errors.js';
import { formatRef, refOf, splitApiVersion, type KubeObject, type ObjectRef } from '../core/objects.js';
import { isKubeApiError, isNotFound, UnknownKindError, type KubeClient } from '../kube/index.js';
import { diffObjects, hasDrifted, type ApplyPhase as PlanPhase, type ObjectDiff } from '../plan/index.js';
import { ANNOTATION, appKey, MANAGED_LABEL, type AppIdentity } from './annotations.js';
import { isProvablyUnchanged } from './fastpath.js';
import { withoutFieldsOwnedBy } from './ownership.js';

export type ObjectAction =
  'created' | 'configured' | 'unchanged' | 'recreated' | 'pruned' | 'failed' | 'skipped';

export interface ObjectResult {
  readonly ref: ObjectRef;
  readonly action: ObjectAction;
  /** Why it failed or was skipped, or what a recreate was for. Never contains a Secret's value. */
  readonly reason?: string;
  /** Present when diffs were asked for and the object changes (or would). Secrets masked. */
  readonly diff?: ObjectDiff;
  /** The object as applied (or as the dry-run says it would be), for health checks. */
  readonly applied?: KubeObject;
}

/** What applyPhases needs of a plan phase (plan/order.ts makes them). */
export type ApplyPhase = Pick<PlanPhase, 'label' | 'objects'>;

export interface ApplyOptions {
  readonly kube: KubeClient;
  readonly app: AppIdentity;
  /** Recorded (`capstan.dev/revision`) on each object this sync creates or changes. */
  readonly revision?: string;
  /** Diff only: every write is a dry-run; results say what would happen. */
  readonly dryRun: boolean;
  /** Compute a diff for each changed object (the `diff` command; `apply -o json`). */
  readonly withDiff: boolean;
  /** Recreate objects whose change hits an immutable field (else only those annotated). */
  readonly forceRecreate: boolean;
  /** Field managers whose fields Capstan leaves alone (e.g. an autoscaler's `spec.replicas`). */
  readonly leaveFieldsToManagers: readonly string[];
  readonly fieldManager: string;
  /** Requests in flight at once. */
  readonly concurrency: number;
  readonly signal?: AbortSignal;
  /**
   * Called after each phase that applied cleanly, before the next one starts (to wait for CRDs to be
   * Established, or a wave to be healthy). A string it returns says why later phases must not run.
   */
  readonly afterPhase?: (phase: ApplyPhase, results: readonly ObjectResult[]) => Promise<string | undefined>;
  readonly onResult?: (result: ObjectResult) => void;
}

/** An object whose owner annotation names another app: never taken over. */
export class OwnershipConflictError extends CapstanError {
  constructor(ref: ObjectRef, owner: string) {
    super(
      'conflict',
      `${formatRef(ref)} belongs to app ${owner}; Capstan does not take over another app's objects (remove it from one of the apps)`,
    );
  }
}

/** A live object no app manages, and the desired one does not ask to adopt it. */
export class UnmanagedObjectError extends CapstanError {
  constructor(ref: ObjectRef) {
    super(
      'conflict',
      `${formatRef(ref)} already exists and no app manages it; Capstan does not take over objects it did not create (to adopt it, annotate it in Git with ${ANNOTATION.adopt}: "true")`,
    );
  }
}

/** Applies the phases in order. A failed object does not stop the others of its phase; a failed phase stops later phases. */
export async function applyPhases(
  phases: readonly ApplyPhase[],
  options: ApplyOptions,
): Promise<ObjectResult[]> {
  const results: ObjectResult[] = [];
  const limit = pLimit(options.concurrency);
  let blocked: string | undefined;
  for (const phase of phases) {
    if (blocked) {
      for (const object of phase.objects) {
        const result: ObjectResult = { ref: refOf(object), action: 'skipped', reason: blocked };
        results.push(result);
        options.onResult?.(result);
      }
      continue;
    }
    const live = await fetchLive(phase.objects, options);
    const phaseResults = await Promise.all(
      phase.objects.map((object) =>
        limit(async () => {
          const state = live.get(object);
          const result =
            state instanceof Error
              ? {
                  ref: refOf(object),
                  action: 'failed' as const,
                  reason: `reading the live object failed: ${reasonOf(state)}`,
                }
              : await applyOne(object, state ?? undefined, options);
          options.onResult?.(result);
          return result;
        }),
      ),
    );
    results.push(...phaseResults);
    const failed = phaseResults.filter((r) => r.action === 'failed').length;
    if (failed > 0) blocked = `not applied: ${failed} object(s) of ${phase.label} failed`;
    else blocked = await options.afterPhase?.(phase, phaseResults);
  }
  return results;
}

/**
 * The live state of each object. One LIST per kind and namespace when there are several objects of
 * it (a thousand ConfigMaps cost two requests, not a thousand), one GET otherwise. `null` marks an
 * object whose kind is not served yet (its CRD comes in this sync) or whose namespace does not exist;
 * an Error, an object whose state could not be read (it then fails alone).
 */
async function fetchLive(
  objects: readonly KubeObject[],
  options: ApplyOptions,
): Promise<Map<KubeObject, KubeObject | null | Error>> {
  const live = new Map<KubeObject, KubeObject | null | Error>();
  const groups = new Map<string, KubeObject[]>();
  for (const object of objects) {
    const key = `${object.apiVersion}|${object.kind}|${object.metadata.namespace ?? ''}`;
    groups.set(key, [...(groups.get(key) ?? []), object]);
  }
  const limit = pLimit(options.concurrency);
  await Promise.all(
    [...groups.values()].map((members) =>
      limit(async () => {
        const first = members[0]!;
        const { group, version } = splitApiVersion(first.apiVersion);
        try {
          if (members.length < 4) {
            for (const object of members) {
              live.set(
                object,
                (await options.kube.get(refOf(object), { version, ...signalOf(options) })) ?? null,
              );
            }
            return;
          }
          const namespace = first.metadata.namespace;
          const list = await options.kube.list(group, version, first.kind, {
            ...(namespace ? { namespace } : {}),
            ...signalOf(options),
          });
          const byName = new Map(list.items.map((item) => [item.metadata.name, item]));
          for (const object of members) live.set(object, byName.get(object.metadata.name) ?? null);
        } catch (error) {
          const known = error instanceof UnknownKindError || isNotFound(error);
          const state = known ? null : error instanceof Error ? error : new Error(String(error));
          for (const object of members) if (!live.has(object)) live.set(object, state);
        }
      }),
    ),
  );
  return live;
}

async function applyOne(
  desiredAsRendered: KubeObject,
  live: KubeObject | undefined,
  options: ApplyOptions,
): Promise<ObjectResult> {
  const ref = refOf(desiredAsRendered);
  try {
    assertMayTakeOver(ref, desiredAsRendered, live, options.app);
    // `capstan.dev/revision` records the commit that last changed this object: an object a commit
    // leaves alone keeps its revision, so it compares equal and is not written.
    const liveRevision = live?.metadata.annotations?.[ANNOTATION.revision];
    let desired = withOwner(desiredAsRendered, options.app, liveRevision ?? options.revision);
    if (live && options.leaveFieldsToManagers.length > 0)
      desired = withoutFieldsOwnedBy(desired, live, options.leaveFieldsToManagers);
    const stamped = options.revision ? withRevision(desired, options.revision) : desired;

    if (!live) return await create(ref, stamped, options);
    if (!options.withDiff && isProvablyUnchanged(live, desired, options.fieldManager))
      return { ref, action: 'unchanged', applied: live };

    let dryRun: KubeObject;
    try {
      dryRun = await options.kube.apply(desired, {
        dryRun: true,
        force: true,
        ...managerOf(options),
        ...signalOf(options),
      });
    } catch (error) {
      if (isImmutableFieldError(error)) return await recreate(ref, stamped, live, error, options);
      throw error;
    }
    if (!hasDrifted(live, dryRun)) return { ref, action: 'unchanged', applied: live };
    const diff = options.withDiff ? diffObjects(live, dryRun) : undefined;
    const applied = options.dryRun
      ? dryRun
      : await options.kube.apply(stamped, { force: true, ...managerOf(options), ...signalOf(options) });
    return { ref, action: 'configured', applied, ...(diff ? { diff } : {}) };
  } catch (error) {
    return { ref, action: 'failed', reason: reasonOf(error) };
  }
}

async function create(ref: ObjectRef, desired: KubeObject, options: ApplyOptions): Promise<ObjectResult> {
  if (!options.dryRun) {
    const applied = await options.kube.apply(desired, {
      force: true,
      ...managerOf(options),
      ...signalOf(options),
    });
    return {
      ref,
      action: 'created',
      applied,
      ...(options.withDiff ? { diff: diffObjects(undefined, applied) } : {}),
    };
  }
  // A dry-run create needs its namespace and its kind to exist already; when this sync would create
  // them, show the object as rendered instead.
  let preview = desired;
  try {
    preview = await options.kube.apply(desired, {
      dryRun: true,
      force: true,
      ...managerOf(options),
      ...signalOf(options),
    });
  } catch (error) {
    if (!(error instanceof UnknownKindError) && !isNotFound(error)) throw error;
  }
  return {
    ref,
    action: 'created',
    applied: preview,
    ...(options.withDiff ? { diff: diffObjects(undefined, preview) } : {}),
  };
}

/** Delete and create again, when asked to: the change touches a field the API will not update. */
async function recreate(
  ref: ObjectRef,
  desired: KubeObject,
  live: KubeObject,
  cause: unknown,
  options: ApplyOptions,
): Promise<ObjectResult> {
  const wanted = options.forceRecreate || desired.metadata.annotations?.[ANNOTATION.force] === 'recreate';
  if (!wanted) {
    throw new CapstanError(
      'user',
      `${reasonOf(cause)} — the object must be re-created to change this; allow it with --force (or the annotation ${ANNOTATION.force}: recreate)`,
      { cause },
    );
  }
  const reason = `re-created: ${reasonOf(cause)}`;
  if (options.dryRun)
    return {
      ref,
      action: 'recreated',
      reason,
      ...(options.withDiff ? { diff: diffObjects(live, desired) } : {}),
    };
  const { version } = splitApiVersion(live.apiVersion);
  await options.kube.delete(ref, {
    version,
    propagationPolicy: 'Foreground',
    ...(live.metadata.uid ? { preconditions: { uid: live.metadata.uid } } : {}),
    ...signalOf(options),
  });
  await waitUntilGone(options.kube, ref, version, options.signal);
  const applied = await options.kube.apply(desired, {
    force: true,
    ...managerOf(options),
    ...signalOf(options),
  });
  return {
    ref,
    action: 'recreated',
    reason,
    applied,
    ...(options.withDiff ? { diff: diffObjects(live, applied) } : {}),
  };
}

/** Watches one object until it is deleted (foreground deletion waits for its dependents). */
export async function waitUntilGone(
  kube: KubeClient,
  ref: ObjectRef,
  version: string,
  signal?: AbortSignal,
): Promise<void> {
  const fieldSelector = `metadata.name=${ref.name}`;
  const scope = { ...(ref.namespace ? { namespace: ref.namespace } : {}), fieldSelector };
  for (;;) {
    const list = await kube.list(ref.group, version, ref.kind, { ...scope, ...(signal ? { signal } : {}) });
    if (list.items.length === 0) return;
    for await (const event of kube.watch(ref.group, version, ref.kind, {
      ...scope,
      resourceVersion: list.resourceVersion,
      ...(signal ? { signal } : {}),
    })) {
      if (event.type === 'DELETED') return;
    }
    // The watch ended without the deletion (server timeout): look again.
  }
}

/** An object belongs to the app that created (or explicitly adopted) it, and to no other. */
function assertMayTakeOver(
  ref: ObjectRef,
  desired: KubeObject,
  live: KubeObject | undefined,
  app: AppIdentity,
): void {
  if (!live) return;
  const owner = live.metadata.annotations?.[ANNOTATION.app];
  if (owner === appKey(app)) return;
  if (owner) throw new OwnershipConflictError(ref, owner);
  if (desired.metadata.annotations?.[ANNOTATION.adopt] !== 'true') throw new UnmanagedObjectError(ref);
}

function withOwner(object: KubeObject, app: AppIdentity, revision: string | undefined): KubeObject {
  return {
    ...object,
    metadata: {
      ...object.metadata,
      labels: { ...object.metadata.labels, [MANAGED_LABEL.key]: MANAGED_LABEL.value },
      annotations: {
        ...object.metadata.annotations,
        [ANNOTATION.app]: appKey(app),
        ...(revision ? { [ANNOTATION.revision]: revision } : {}),
      },
    },
  };
}

function withRevision(object: KubeObject, revision: string): KubeObject {
  return {
    ...object,
    metadata: {
      ...object.metadata,
      annotations: { ...object.metadata.annotations, [ANNOTATION.revision]: revision },
    },
  };
}

export function isImmutableFieldError(error: unknown): boolean {
  if (!isKubeApiError(error) || error.status !== 422) return false;
  const text = [error.message, ...(error.details?.causes ?? []).map((c) => c.message ?? '')].join('\n');
  return /field is immutable|updates to .* are forbidden|may not change once set/i.test(text);
}

function reasonOf(error: unknown): string {
  return messageOf(error);
}

function managerOf(options: ApplyOptions): { fieldManager: string } {
  return { fieldManager: options.fieldManager };
}

function signalOf(options: { signal?: AbortSignal }): { signal?: AbortSignal } {
  return options.signal ? { signal: options.signal } : {};
}
