/**
 * Uninstall: delete everything an app's inventory lists, as when the Application itself is deleted
 * (Flux's garbage collection on deletion, Argo CD's resources finalizer). It is prune with an empty
 * desired set, allowed on purpose, and keeps every guard of prune: an object another app has taken
 * over, or annotated `capstan.dev/prune: disabled`, is left in place (and released: no app owns it
 * after). With `release`, every object is left in place that way.
 *
 * What could not be deleted stays in the inventory, so a retry deletes only that. The inventory
 * ConfigMap itself is not deleted here: it belongs to the Application (an owner reference), and
 * Kubernetes' garbage collector removes it once the Application is gone.
 */
import type { AppIdentity } from '../apply/annotations.js';
import type { ObjectResult } from '../apply/applier.js';
import type { InventoryOwner, InventoryStore } from '../apply/inventory.js';
import { prune } from '../apply/prune.js';
import type { KubeClient } from '../kube/index.js';
import { pruneBatches } from '../plan/index.js';

export interface UninstallDeps {
  readonly kube: KubeClient;
  readonly inventory: InventoryStore;
  readonly concurrency: number;
}

export interface UninstallOptions {
  /** The inventory's owner, kept on the rewritten inventory so it still goes with the Application. */
  readonly owner?: InventoryOwner;
  /** Leave the objects in place and give up the app's claim on them (prune is off). */
  readonly release?: boolean;
  readonly signal?: AbortSignal;
  readonly onResult?: (result: ObjectResult) => void;
}

export interface UninstallResult {
  /** Each object of the inventory: pruned, skipped (and why), or failed (and why). */
  readonly objects: readonly ObjectResult[];
  /** Some deletion failed; those objects are still in the inventory. */
  readonly failed: boolean;
}

export async function uninstall(
  deps: UninstallDeps,
  app: AppIdentity,
  options: UninstallOptions = {},
): Promise<UninstallResult> {
  const inventory = await deps.inventory.read(app);
  if (!inventory || inventory.entries.length === 0) return { objects: [], failed: false };
  const outcome = await prune(inventory.entries, 0, {
    kube: deps.kube,
    app,
    dryRun: false,
    allowEmpty: true,
    mode: options.release ? 'release' : 'delete',
    concurrency: deps.concurrency,
    order: pruneBatches,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onResult ? { onResult: options.onResult } : {}),
  });
  // What is left is what a retry deletes.
  await deps.inventory.write(
    app,
    { ...inventory, entries: outcome.retained },
    options.owner ? { owner: options.owner } : {},
  );
  return { objects: outcome.results, failed: outcome.retained.length > 0 };
}
