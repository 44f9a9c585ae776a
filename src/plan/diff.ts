/**
 * The diff of one object: what a server-side apply would change on the live object, field by field
 * (with who owned each field before), and as a unified YAML diff for people.
 *
 * `desired` is the server-side apply **dry-run result**, not the rendered manifest: see
 * normalize.ts for why that makes defaulted fields cancel out. Secrets are masked here, before
 * anything is compared or rendered, so no caller can forget to (see mask.ts).
 */
import { FILE_HEADERS_ONLY, createTwoFilesPatch } from 'diff';
import jsonPatch from 'fast-json-patch';
import { stringify } from 'yaml';
import { refOf, type KubeObject, type ObjectRef } from '../core/objects.js';
import { hasDrifted } from './drift.js';
import { fieldManagers } from './managed-fields.js';
import { maskSecrets } from './mask.js';
import { normalizeForDiff, type NormalizeOptions } from './normalize.js';
import { arrayIndex, parsePointer, valueAt } from './pointer.js';

export type DiffAction = 'create' | 'update' | 'unchanged';

export interface FieldChange {
  /** JSON pointer (RFC 6901) into the normalised object: `/spec/template/spec/containers/0/image`. */
  readonly path: string;
  readonly op: 'add' | 'remove' | 'replace';
  /** The live value (masked for Secrets); absent for `add`. */
  readonly before?: unknown;
  /** The desired value (masked for Secrets); absent for `remove`. */
  readonly after?: unknown;
  /**
   * Field managers that owned this field (or something inside it, or failing both its nearest
   * owned ancestor) on the live object: `kubectl-edit`, `kube-controller-manager`, `capstan`, …
   */
  readonly previousManagers: string[];
}

export interface ObjectDiff {
  readonly ref: ObjectRef;
  /** `unchanged` exactly when `hasDrifted` is false: the diff and the apply decision never disagree. */
  readonly action: DiffAction;
  /** Field by field, in document order. Empty for `create` (the whole object is new) and `unchanged`. */
  readonly changes: FieldChange[];
  /** `--- live` / `+++ desired`, 3 lines of context, YAML with sorted keys; '' when unchanged. */
  readonly unifiedDiff: string;
}

export type DiffOptions = NormalizeOptions;

const CONTEXT_LINES = 3;

/**
 * What applying `desired` (the dry-run result) would change on `live` (`undefined`: not in the
 * cluster). Everything returned is already normalised and masked.
 */
export function diffObjects(
  live: KubeObject | undefined,
  desired: KubeObject,
  options: DiffOptions = {},
): ObjectDiff {
  const ref = refOf(desired);
  if (live === undefined) {
    const after = normalizeForDiff(maskSecrets(undefined, desired).desired, options);
    return { ref, action: 'create', changes: [], unifiedDiff: unifiedDiff('', toYaml(after)) };
  }
  if (!hasDrifted(live, desired, options)) {
    return { ref, action: 'unchanged', changes: [], unifiedDiff: '' };
  }
  // Masked before comparing: equal secret values get equal placeholders and different ones
  // different placeholders, so the changes found are the real ones, minus the values.
  const masked = maskSecrets(live, desired);
  const before = normalizeForDiff(masked.live, options);
  const after = normalizeForDiff(masked.desired, options);
  const changes = jsonPatch
    .compare(before, after)
    .flatMap((operation) => fieldChange(operation, before, live))
    .sort((a, b) => comparePaths(a.path, b.path));
  return { ref, action: 'update', changes, unifiedDiff: unifiedDiff(toYaml(before), toYaml(after)) };
}

/**
 * What deleting `live` (a prune) takes away, as the same unified YAML diff: every line removed,
 * normalised and masked like any other diff, so a pruned Secret shows its keys, never its values.
 */
export function removalDiff(live: KubeObject, options: DiffOptions = {}): string {
  const before = normalizeForDiff(maskSecrets(live, undefined).live, options);
  return unifiedDiff(toYaml(before), '');
}

function fieldChange(operation: jsonPatch.Operation, before: KubeObject, live: KubeObject): FieldChange[] {
  const segments = parsePointer(operation.path);
  const previousManagers = fieldManagers(live, segments);
  switch (operation.op) {
    case 'add':
      return [{ path: operation.path, op: 'add', after: operation.value, previousManagers }];
    case 'remove':
      return [{ path: operation.path, op: 'remove', before: valueAt(before, segments), previousManagers }];
    case 'replace':
      return [
        {
          path: operation.path,
          op: 'replace',
          before: valueAt(before, segments),
          after: operation.value,
          previousManagers,
        },
      ];
    default:
      // `compare` only produces add, remove and replace (and `test` when asked to be invertible).
      return [];
  }
}

/** Document order: segment by segment, list indices numerically (so /2 comes before /10). */
function comparePaths(a: string, b: string): number {
  const left = parsePointer(a);
  const right = parsePointer(b);
  for (let i = 0; i < Math.min(left.length, right.length); i++) {
    const x = left[i] ?? '';
    const y = right[i] ?? '';
    if (x === y) continue;
    const indexX = arrayIndex(x);
    const indexY = arrayIndex(y);
    if (indexX !== undefined && indexY !== undefined) return indexX - indexY;
    return x < y ? -1 : 1;
  }
  return left.length - right.length;
}

/**
 * Sorted keys make the text independent of the order fields arrived in; no line folding, so a long
 * value that changes shows as one changed line.
 */
function toYaml(object: KubeObject): string {
  return stringify(object, { sortMapEntries: true, lineWidth: 0, aliasDuplicateObjects: false });
}

function unifiedDiff(before: string, after: string): string {
  return createTwoFilesPatch('live', 'desired', before, after, undefined, undefined, {
    context: CONTEXT_LINES,
    headerOptions: FILE_HEADERS_ONLY,
  });
}
