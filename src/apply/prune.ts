/**
 * Prune: delete what the app applied before and no longer wants — the previous inventory minus the
 * desired set — in reverse apply order, and nothing else. The guards here are what stop a bad
 * commit from emptying a cluster.
 */
import pLimit from 'p-limit';
import { CapstanError, messageOf } from '../core/errors.js';
import { formatRef, refKey, type ObjectRef } from '../core/objects.js';
import type { KubeClient } from '../kube/index.js';
import { ANNOTATION, appKey, MANAGED_LABEL, type AppIdentity } from './annotations.js';
import type { ObjectResult } from './applier.js';
import { entryRef, type InventoryEntry } from './inventory.js';

export interface PruneOptions {
  readonly kube: KubeClient;
  readonly app: AppIdentity;
  readonly dryRun: boolean;
  /** Allow pruning everything when the desired set is empty (normally a sign of a broken render). */
  readonly allowEmpty: boolean;
  readonly concurrency: number;
  /** Orders refs for deletion: dependents first, Namespaces and CRDs last. */
  readonly order: (refs: readonly ObjectRef[]) => ObjectRef[][];
  /**
   * `release`: leave every object in place but give up the app's claim on it (the Application is
   * deleted with prune off). Default `delete`.
   */
  readonly mode?: 'delete' | 'release';
  readonly signal?: AbortSignal;
  readonly onResult?: (result: ObjectResult) => void;
}

export interface PruneOutcome {
  readonly results: readonly ObjectResult[];
  /** Entries to keep in the inventory: deletions that failed, to be retried next time. */
  readonly retained: readonly InventoryEntry[];
}

/** Pruning was refused as a whole; nothing was deleted. */
export class PruneRefusedError extends CapstanError {
  constructor(message: string) {
    super('user', message);
  }
}

export function staleEntries(
  previous: readonly InventoryEntry[],
  desired: readonly InventoryEntry[],
): InventoryEntry[] {
  const wanted = new Set(desired.map((e) => e.id));
  return previous.filter((e) => !wanted.has(e.id));
}

export async function prune(
  stale: readonly InventoryEntry[],
  desiredCount: number,
  options: PruneOptions,
): Promise<PruneOutcome> {
  if (stale.length === 0) return { results: [], retained: [] };
  if (desiredCount === 0 && !options.allowEmpty) {
    throw new PruneRefusedError(
      `the desired state is empty, so pruning would delete all ${stale.length} object(s) of app ${appKey(options.app)}; ` +
        'refusing (an empty render is usually a mistake — allow it explicitly with --allow-empty)',
    );
  }
  const versions = new Map(stale.map((e) => [e.id, e.v]));
  const refs = stale.map(entryRef);
  const byId = new Map(stale.map((e) => [e.id, e]));
  const results: ObjectResult[] = [];
  const retained: InventoryEntry[] = [];
  const limit = pLimit(options.concurrency);
  for (const batch of options.order(refs)) {
    const batchResults = await Promise.all(
      batch.map((ref) => limit(() => pruneOne(ref, versions.get(refKey(ref)) ?? '', options))),
    );
    for (const [i, result] of batchResults.entries()) {
      results.push(result);
      options.onResult?.(result);
      if (result.action === 'failed') retained.push(byId.get(refKey(batch[i]!))!);
    }
  }
  return { results, retained };
}

async function pruneOne(ref: ObjectRef, version: string, options: PruneOptions): Promise<ObjectResult> {
  const signal = options.signal ? { signal: options.signal } : {};
  try {
    const live = await options.kube.get(ref, { version, ...signal });
    if (!live) return { ref, action: 'skipped', reason: 'already gone' };
    if (live.metadata.deletionTimestamp) return { ref, action: 'pruned', reason: 'already being deleted' };
    // Only what carries this app's claim: an inventory is a ConfigMap a tenant may be able to edit,
    // and an entry naming someone else's object must not delete it.
    const owner = live.metadata.annotations?.[ANNOTATION.app];
    if (owner !== appKey(options.app)) {
      const why = owner ? `it now belongs to app ${owner}` : `it does not carry this app's ${ANNOTATION.app}`;
      return { ref, action: 'skipped', reason: `not pruned: ${why}` };
    }
    if (options.mode === 'release' || live.metadata.annotations?.[ANNOTATION.prune] === 'disabled') {
      if (!options.dryRun) await release(ref, version, options);
      const why = options.mode === 'release' ? 'left in place' : `annotated ${ANNOTATION.prune}: disabled`;
      return { ref, action: 'skipped', reason: `not pruned: ${why}; released (no app owns it now)` };
    }
    if (!options.dryRun) {
      await options.kube.delete(ref, {
        version,
        propagationPolicy: 'Background',
        ...(live.metadata.uid ? { preconditions: { uid: live.metadata.uid } } : {}),
        ...signal,
      });
    }
    return { ref, action: 'pruned' };
  } catch (error) {
    return { ref, action: 'failed', reason: `pruning ${formatRef(ref)} failed: ${messageOf(error)}` };
  }
}

/**
 * Gives up the app's claim on an object it leaves behind: without `capstan.dev/app` nobody owns it,
 * so no app — the one that left it included — takes it again without saying so
 * (`capstan.dev/adopt`), and none is locked out by a claim its owner no longer exercises.
 */
async function release(ref: ObjectRef, version: string, options: PruneOptions): Promise<void> {
  await options.kube.patch(
    ref,
    {
      metadata: {
        annotations: { [ANNOTATION.app]: null, [ANNOTATION.revision]: null },
        labels: { [MANAGED_LABEL.key]: null },
      },
    },
    'merge',
    { version, ...(options.signal ? { signal: options.signal } : {}) },
  );
}
