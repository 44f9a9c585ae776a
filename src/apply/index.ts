export { ANNOTATION, appKey, MANAGED_LABEL, type AppIdentity } from './annotations.js';
export {
  applyPhases,
  isImmutableFieldError,
  OwnershipConflictError,
  UnmanagedObjectError,
  waitUntilGone,
  type ApplyOptions,
  type ApplyPhase,
  type ObjectAction,
  type ObjectResult,
} from './applier.js';
export { isProvablyUnchanged } from './fastpath.js';
export {
  ConfigMapInventoryStore,
  entryRef,
  inventoryConfigMapName,
  inventoryEntry,
  type Inventory,
  type InventoryEntry,
  type InventoryOwner,
  type InventoryStore,
} from './inventory.js';
export { withoutFieldsOwnedBy } from './ownership.js';
export { prune, PruneRefusedError, staleEntries, type PruneOptions, type PruneOutcome } from './prune.js';
