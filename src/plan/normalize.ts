/**
 * Normalisation: what is left of an object once the fields no apply can change are gone.
 *
 * Capstan diffs the server-side apply **dry-run result** against the **live object**, never the
 * rendered manifest against the live object. Both sides went through the same API server: the
 * dry-run result already carries the defaults (`imagePullPolicy`, `strategy`, `clusterIP`,
 * `terminationMessagePath`, …), the mutating admission changes and the fields other managers own,
 * exactly as the live object does. Anything the server adds therefore appears on both sides with the
 * same value and cancels out; what remains differs only where our apply would really change the
 * object. That is why this module needs no per-kind list of defaulted fields (the cause of Argo
 * CD's "OutOfSync with an empty diff"): it only drops the bookkeeping that differs between *any*
 * two reads of an object, or that a dry-run rewrites on every call.
 */
import { UserError } from '../core/errors.js';
import type { KubeObject } from '../core/objects.js';
import { cloneJson, isPlainObject, type JsonObject } from './json.js';
import { arrayIndex, parsePointer } from './pointer.js';

export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * Server bookkeeping dropped from `metadata`:
 * - `managedFields`: a dry-run stamps a new time (and our manager) on every call.
 * - `resourceVersion`, `generation`: bumped by writes, not part of desired state (a spec change shows
 *   up in the spec itself).
 * - `uid`, `creationTimestamp`, `selfLink`: identity of one incarnation, not desired state.
 * - `deletionTimestamp`, `deletionGracePeriodSeconds`: dropped too. They cannot be applied; a
 *   terminating object is health's business (kstatus reports `Terminating`), and keeping them would
 *   turn "being deleted" into a phantom change that no apply can converge.
 */
const SERVER_METADATA = [
  'managedFields',
  'resourceVersion',
  'generation',
  'uid',
  'creationTimestamp',
  'selfLink',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
] as const;

export interface NormalizeOptions {
  /**
   * JSON pointers (RFC 6901) of fields another manager owns, dropped from both sides so they never
   * count as drift: `/spec/replicas` when an autoscaler scales the Deployment. A `*` segment matches
   * every key of a map or every item of a list (`/spec/template/spec/containers/` + `*` + `/resources`
   * ignores the resources of every container).
   * Dropping a whole list item (a last segment that is an index or `*` on a list) shifts the items
   * after it; prefer naming a field inside the items.
   */
  readonly ignoreFields?: readonly string[];
}

/**
 * A copy of the object for comparison and display: `status`, server bookkeeping, the
 * `last-applied-configuration` annotation, empty label/annotation maps and the ignored fields
 * removed. The input is not modified.
 */
export function normalizeForDiff(object: KubeObject, options: NormalizeOptions = {}): KubeObject {
  const ignored = (options.ignoreFields ?? []).map(parseIgnorePath);
  const copy = cloneJson(object);
  delete copy.status;

  const metadata: JsonObject = isPlainObject(copy.metadata) ? copy.metadata : {};
  for (const field of SERVER_METADATA) delete metadata[field];
  const annotations = metadata.annotations;
  if (isPlainObject(annotations)) delete annotations[LAST_APPLIED_ANNOTATION];

  for (const path of ignored) removeAt(copy, path);

  // After the removals above, so a map emptied by them disappears too. An empty map and a missing
  // one mean the same to the API server, and a dry-run may return either.
  for (const field of ['labels', 'annotations']) {
    const map = metadata[field];
    if (map === null || (isPlainObject(map) && Object.keys(map).length === 0)) delete metadata[field];
  }
  copy.metadata = metadata;
  return copy;
}

/** Validates ignore paths up front, so a typo fails the plan rather than silently ignoring nothing. */
export function parseIgnorePath(path: string): string[] {
  const segments = parsePointer(path);
  if (segments.length === 0) throw new UserError('ignoreFields: "" would ignore the whole object');
  if (segments[0] === 'metadata' && (segments[1] === 'name' || segments[1] === 'namespace')) {
    throw new UserError(`ignoreFields: ${path} identifies the object and cannot be ignored`);
  }
  return segments;
}

/** Removes the value at `segments` (with `*` wildcards) in place, if present. */
function removeAt(node: unknown, segments: readonly string[]): void {
  const [head, ...rest] = segments;
  if (head === undefined) return;
  if (Array.isArray(node)) {
    const indices = head === '*' ? node.map((_, index) => index) : [arrayIndex(head)];
    if (rest.length === 0) {
      // Highest index first so earlier removals do not shift later ones.
      for (const index of indices.filter((i) => i !== undefined).sort((a, b) => b - a)) {
        if (index < node.length) node.splice(index, 1);
      }
      return;
    }
    for (const index of indices) if (index !== undefined) removeAt(node[index], rest);
    return;
  }
  if (!isPlainObject(node)) return;
  const keys = head === '*' ? Object.keys(node) : [head];
  for (const key of keys) {
    if (!Object.hasOwn(node, key)) continue;
    if (rest.length === 0) delete node[key];
    else removeAt(node[key], rest);
  }
}
