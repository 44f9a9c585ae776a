/**
 * Drift: does an object need a real apply? Asked once per object after its server-side dry-run, so
 * unchanged objects are not written and keep their `resourceVersion` (no spurious watch events, no
 * history noise).
 */
import type { KubeObject } from '../core/objects.js';
import { deepEqual } from './json.js';
import { normalizeForDiff, type NormalizeOptions } from './normalize.js';

/**
 * True when the normalised dry-run result differs from the normalised live object, or there is no
 * live object. Like Flux this covers labels, annotations and the body without `metadata` and
 * `status`; unlike Flux it also covers the user-settable metadata normalisation keeps (finalizers,
 * owner references). That is safe because the dry-run returns the object the apply *would*
 * produce, other managers' fields included: any difference left is a change the apply would make,
 * and one Flux would silently skip.
 */
export function hasDrifted(
  live: KubeObject | undefined,
  dryRun: KubeObject,
  options: NormalizeOptions = {},
): boolean {
  if (live === undefined) return true;
  return !deepEqual(normalizeForDiff(live, options), normalizeForDiff(dryRun, options));
}
