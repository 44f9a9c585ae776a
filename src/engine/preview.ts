/**
 * A sync's preview, for people: the result of a diff-mode sync turned into what a reader needs to
 * judge it — each object a sync would create, change, re-create or prune (or could not apply), with
 * its YAML diff, each field that would change with who owns it now, and what every field manager
 * owns on the live object. Bounded, and with nothing secret in it. The dashboard's GET …/diff.
 *
 * Why owners: a field `kubectl-edit` or an autoscaler wrote is the "why" of a difference, and the
 * forced apply of a sync takes it back. A changed field carries the managers the diff found on the
 * live object the dry-run was compared with (plan/diff.ts); the managers' whole field sets come from
 * one more read of each object shown, with the client the sync used (the same identity, no other).
 *
 * Nothing secret leaves: diffs come from plan/diff.ts, which masks Secrets before comparing (and
 * removalDiff masks a pruned one); a change keeps its path and managers but never the values before
 * and after; field sets name keys, never values.
 */
import pLimit from 'p-limit';
import { ANNOTATION, appKey } from '../apply/annotations.js';
import type { ObjectAction, ObjectResult } from '../apply/applier.js';
import type { KubeObject, ObjectRef } from '../core/objects.js';
import type { KubeClient } from '../kube/index.js';
import { fieldOwners, removalDiff, type FieldOwner } from '../plan/index.js';
import type { SyncResult } from './sync.js';

/** What a sync would do with one object. */
export type PreviewAction = 'create' | 'update' | 'recreate' | 'prune' | 'failed' | 'skipped';

export interface PreviewChange {
  /** JSON pointer of the field (`/spec/replicas`). */
  readonly path: string;
  readonly op: 'add' | 'remove' | 'replace';
  /** Who owns it (or its nearest owned parent) on the live object now; empty: nobody. */
  readonly managers: readonly string[];
}

export interface PreviewObject {
  readonly ref: ObjectRef;
  readonly action: PreviewAction;
  /** Why it failed or was skipped, or what a re-create is for. */
  readonly reason?: string;
  /** `--- live` / `+++ desired` YAML; absent when there is none (a failure, a skip). */
  readonly unifiedDiff?: string;
  /** The diff was longer than the limit and was cut at a line end. */
  readonly unifiedDiffTruncated?: boolean;
  /** Field by field; empty for a create or a prune (the whole object changes). */
  readonly changes: readonly PreviewChange[];
  readonly changesOmitted?: number;
  /** Whether the object exists now (a create: no; else as the read for its owners found it). */
  readonly exists: boolean;
  /** What each manager owns on the live object; empty when there is none (a create). */
  readonly owners: readonly FieldOwner[];
  /**
   * The live object belongs to another app (its `capstan.dev/app`), or to none (`''`): a sync would
   * be refused it, unless it asks to adopt an unmanaged one. Absent when it is this app's, or new.
   */
  readonly heldBy?: string;
}

export interface SyncPreview {
  /** The commit (or content hash) rendered. */
  readonly revision: string;
  /** The objects a sync would change, or could not apply, in apply order then prune order. */
  readonly objects: readonly PreviewObject[];
  /** Objects left out by `maxObjects`. */
  readonly omitted: number;
  /** Objects already as desired. */
  readonly unchanged: number;
  /** Why prune would not run (prune off, an object failing). */
  readonly pruneSkipped?: string;
}

export interface PreviewLimits {
  /** Default 50. */
  readonly maxObjects: number;
  /** Changed fields per object (default 200). */
  readonly maxChanges: number;
  /** Characters of one object's diff (default 64 KiB: a whole ConfigMap of a big file is not read on a page). */
  readonly maxDiffChars: number;
  /** Field managers' fields per owner (default 200). */
  readonly maxOwnerFields: number;
  /** Live reads at once (default 8). */
  readonly concurrency: number;
}

export const DEFAULT_PREVIEW_LIMITS: PreviewLimits = {
  maxObjects: 50,
  maxChanges: 200,
  maxDiffChars: 64 * 1024,
  maxOwnerFields: 200,
  concurrency: 8,
};

const ACTIONS: Partial<Record<ObjectAction, PreviewAction>> = {
  created: 'create',
  configured: 'update',
  recreated: 'recreate',
  pruned: 'prune',
  failed: 'failed',
  skipped: 'skipped',
};

/**
 * The preview of a diff-mode sync's result. `live` reads each object shown for its owners (and a
 * pruned one for its diff): give it the client the sync ran with.
 */
export async function previewOf(
  result: SyncResult,
  live: Pick<KubeClient, 'get'>,
  options: { readonly limits?: Partial<PreviewLimits>; readonly signal?: AbortSignal } = {},
): Promise<SyncPreview> {
  if (result.mode !== 'diff') throw new Error('a preview is made of a diff-mode sync only');
  const limits = { ...DEFAULT_PREVIEW_LIMITS, ...options.limits };
  const changing = result.objects.filter((object) => ACTIONS[object.action] !== undefined);
  const shown = changing.slice(0, limits.maxObjects);
  const limit = pLimit(limits.concurrency);
  const objects = await Promise.all(
    shown.map((object) =>
      limit(() => previewObject(object, appKey(result.app), live, limits, options.signal)),
    ),
  );
  return {
    revision: result.revision.id,
    objects,
    omitted: changing.length - shown.length,
    unchanged: result.objects.filter((object) => object.action === 'unchanged').length,
    ...(result.pruneSkipped ? { pruneSkipped: result.pruneSkipped } : {}),
  };
}

async function previewObject(
  result: ObjectResult,
  app: string,
  live: Pick<KubeClient, 'get'>,
  limits: PreviewLimits,
  signal: AbortSignal | undefined,
): Promise<PreviewObject> {
  const action = ACTIONS[result.action]!;
  // A create has nothing live to read; anything else may (a failure too: who holds the field?).
  const current = action === 'create' ? undefined : await readLive(live, result.ref, signal);
  const diff = action === 'prune' && current !== undefined ? removalDiff(current) : result.diff?.unifiedDiff;
  const changes = result.diff?.changes ?? [];
  return {
    ref: result.ref,
    action,
    ...(result.reason ? { reason: result.reason } : {}),
    ...(diff ? cutDiff(diff, limits.maxDiffChars) : {}),
    changes: changes.slice(0, limits.maxChanges).map((change) => ({
      path: change.path,
      op: change.op,
      managers: change.previousManagers,
    })),
    ...(changes.length > limits.maxChanges ? { changesOmitted: changes.length - limits.maxChanges } : {}),
    exists: current !== undefined,
    owners: current ? fieldOwners(current, limits.maxOwnerFields) : [],
    ...heldByOf(current, app),
  };
}

/** Who holds a live object that is not this app's (see PreviewObject.heldBy). */
function heldByOf(current: KubeObject | undefined, app: string): { heldBy?: string } {
  if (!current) return {};
  const owner = current.metadata.annotations?.[ANNOTATION.app] ?? '';
  return owner === app ? {} : { heldBy: owner };
}

/** The live object, or undefined when it is gone or cannot be read: owners are a courtesy, not a step. */
async function readLive(
  live: Pick<KubeClient, 'get'>,
  ref: ObjectRef,
  signal: AbortSignal | undefined,
): Promise<KubeObject | undefined> {
  try {
    return await live.get(ref, signal ? { signal } : {});
  } catch {
    if (signal?.aborted) throw signal.reason;
    return undefined;
  }
}

/** At most `max` characters, cut at a line end, so what is shown is whole lines of the diff. */
function cutDiff(diff: string, max: number): { unifiedDiff: string; unifiedDiffTruncated?: true } {
  if (diff.length <= max) return { unifiedDiff: diff };
  const end = diff.lastIndexOf('\n', max);
  return { unifiedDiff: diff.slice(0, end < 0 ? max : end + 1), unifiedDiffTruncated: true };
}
