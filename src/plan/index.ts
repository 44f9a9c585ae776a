/**
 * Plan: pure functions between render and apply — order, normalise, mask, diff, drift, access
 * policy. No I/O.
 */
export {
  diffObjects,
  removalDiff,
  type DiffAction,
  type DiffOptions,
  type FieldChange,
  type ObjectDiff,
} from './diff.js';
export { hasDrifted } from './drift.js';
export { fieldManagers, fieldOwners, type FieldOwner } from './managed-fields.js';
export {
  SECRET_MASK,
  SECRET_MASK_AFTER,
  SECRET_MASK_BEFORE,
  maskObject,
  maskSecrets,
  type MaskedPair,
} from './mask.js';
export {
  LAST_APPLIED_ANNOTATION,
  normalizeForDiff,
  parseIgnorePath,
  type NormalizeOptions,
} from './normalize.js';
export {
  WAVE_ANNOTATION,
  applyOrder,
  compareForApply,
  isDefinition,
  kindPriority,
  pruneBatches,
  sortForApply,
  sortForPrune,
  waveOf,
  type ApplyPhase,
  type DefinitionsPhase,
  type WavePhase,
} from './order.js';
export { formatPointer, parsePointer } from './pointer.js';
export {
  PolicyViolationError,
  assertObjectsAllowed,
  assertSourceAllowed,
  bindsNamespace,
  checkObjects,
  checkServiceAccount,
  checkSourceUrl,
  compilePolicy,
  effectivePolicyFor,
  invalidPolicy,
  type BoundPolicy,
  type EffectivePolicy,
  type InvalidPolicy,
  type PolicyRule,
  type PolicyViolation,
  type SourcePrefix,
  type ValidPolicy,
} from './policy.js';
