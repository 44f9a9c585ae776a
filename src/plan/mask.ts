/**
 * Secret masking: nothing that leaves the plan stage (a diff, a field change, a JSON document for
 * the dashboard) may carry a secret value.
 *
 * Placeholders show *that* a value changed without revealing anything about either value:
 * - equal on both sides → `***` on both sides;
 * - different → `*** (before)` and `*** (after)`;
 * - present on one side only → `***` on that side (the key itself is shown: keys are not secret).
 * A hash would be simpler, but a hash of a low-entropy value (a short password, a port, "true") can
 * be reversed by guessing, so no derivative of a value is ever emitted.
 *
 * What is masked:
 * - `data` and `stringData` of every object whose kind is `Secret`. The group is not checked on
 *   purpose: masking a look-alike custom resource costs a little readability, missing a Secret
 *   costs a leak.
 * - on a Secret, every annotation (and label) whose value equals or contains one of its values, in
 *   plain text or base64 (people do copy a password into a description annotation).
 * - the `kubectl.kubernetes.io/last-applied-configuration` annotation on every kind: it is a full
 *   copy of what `kubectl apply` sent, Secret data included (Argo CD GHSA-3v3m-wc6v-x4x3).
 */
import type { KubeObject } from '../core/objects.js';
import { cloneJson, deepEqual, isPlainObject, type JsonObject } from './json.js';
import { LAST_APPLIED_ANNOTATION } from './normalize.js';

export const SECRET_MASK = '***';
export const SECRET_MASK_BEFORE = '*** (before)';
export const SECRET_MASK_AFTER = '*** (after)';

/**
 * Values this short would match inside too many harmless annotations ("1", "yes"); they are still
 * masked where an annotation equals them exactly.
 */
const MIN_CONTAINED_SECRET_LENGTH = 4;

/** Each side keeps its type: a present object comes back masked, an absent one stays absent. */
export interface MaskedPair<
  Live extends KubeObject | undefined = KubeObject | undefined,
  Desired extends KubeObject | undefined = KubeObject | undefined,
> {
  readonly live: Live;
  readonly desired: Desired;
}

/**
 * Masked copies of the two sides of a comparison (see the file comment). The two sides are masked
 * together because the placeholder depends on whether the values are equal. Inputs are not modified.
 */
export function maskSecrets<Live extends KubeObject | undefined, Desired extends KubeObject | undefined>(
  live: Live,
  desired: Desired,
): MaskedPair<Live, Desired> {
  // cloneJson keeps the shape, so each copy has the type of its original.
  const before = cloneJson(live);
  const after = cloneJson(desired);

  if (isSecretKind(live) || isSecretKind(desired)) {
    const sensitive = sensitiveStrings([live, desired]);
    for (const field of ['data', 'stringData']) maskTopLevelMap(before, after, field);
    for (const field of ['labels', 'annotations'] as const)
      maskSensitiveMetadata(before, after, field, sensitive);
  }
  maskAnnotation(before, after, LAST_APPLIED_ANNOTATION);
  return { live: before, desired: after };
}

/** Masks one object on its own, for output that is not a comparison (an object to be pruned, say). */
export function maskObject(object: KubeObject): KubeObject {
  return maskSecrets(object, undefined).live;
}

function isSecretKind(object: KubeObject | undefined): boolean {
  return object?.kind === 'Secret';
}

/** Every value of the Secrets' data and stringData, as written and in its other encoding. */
function sensitiveStrings(objects: readonly (KubeObject | undefined)[]): Set<string> {
  const strings = new Set<string>();
  for (const object of objects) {
    for (const value of stringValues(object?.data)) {
      strings.add(value);
      strings.add(Buffer.from(value, 'base64').toString('utf8'));
    }
    for (const value of stringValues(object?.stringData)) {
      strings.add(value);
      strings.add(Buffer.from(value, 'utf8').toString('base64'));
    }
  }
  return strings;
}

function stringValues(map: unknown): string[] {
  if (!isPlainObject(map)) return [];
  return Object.values(map).filter((value): value is string => typeof value === 'string');
}

function isSensitive(value: unknown, sensitive: ReadonlySet<string>): boolean {
  if (typeof value !== 'string') return false;
  if (sensitive.has(value)) return true;
  for (const secret of sensitive) {
    if (secret.length >= MIN_CONTAINED_SECRET_LENGTH && value.includes(secret)) return true;
  }
  return false;
}

/** Masks every entry of a top-level map (`data`, `stringData`), key by key. */
function maskTopLevelMap(before: KubeObject | undefined, after: KubeObject | undefined, field: string): void {
  const left = before?.[field];
  const right = after?.[field];
  if (isMapOrAbsent(left) && isMapOrAbsent(right)) {
    const leftMap = isPlainObject(left) ? left : {};
    const rightMap = isPlainObject(right) ? right : {};
    for (const key of unionOfKeys(leftMap, rightMap)) maskEntry(leftMap, rightMap, key);
    return;
  }
  // Not a map (a malformed manifest): mask the field as a whole rather than guess at its shape.
  const [maskedLeft, maskedRight] = maskValues(left, right);
  if (before && left !== undefined) before[field] = maskedLeft;
  if (after && right !== undefined) after[field] = maskedRight;
}

/** Masks the entries of `metadata.labels` or `metadata.annotations` that give a secret value away. */
function maskSensitiveMetadata(
  before: KubeObject | undefined,
  after: KubeObject | undefined,
  field: 'labels' | 'annotations',
  sensitive: ReadonlySet<string>,
): void {
  const left = metadataMap(before, field);
  const right = metadataMap(after, field);
  for (const key of unionOfKeys(left, right)) {
    if (isSensitive(left[key], sensitive) || isSensitive(right[key], sensitive)) maskEntry(left, right, key);
  }
}

function maskAnnotation(before: KubeObject | undefined, after: KubeObject | undefined, key: string): void {
  maskEntry(metadataMap(before, 'annotations'), metadataMap(after, 'annotations'), key);
}

/** The object's labels or annotations, or a detached empty map when it has none (writes are then no-ops). */
function metadataMap(object: KubeObject | undefined, field: 'labels' | 'annotations'): JsonObject {
  const map = object?.metadata[field];
  return isPlainObject(map) ? map : {};
}

/** Replaces `key` in both maps by the placeholders its two values call for; absent stays absent. */
function maskEntry(left: JsonObject, right: JsonObject, key: string): void {
  const hasLeft = Object.hasOwn(left, key);
  const hasRight = Object.hasOwn(right, key);
  const [maskedLeft, maskedRight] = maskValues(
    hasLeft ? left[key] : undefined,
    hasRight ? right[key] : undefined,
  );
  if (hasLeft) left[key] = maskedLeft;
  if (hasRight) right[key] = maskedRight;
}

function maskValues(left: unknown, right: unknown): [string, string] {
  if (left === undefined || right === undefined) return [SECRET_MASK, SECRET_MASK];
  return deepEqual(left, right) ? [SECRET_MASK, SECRET_MASK] : [SECRET_MASK_BEFORE, SECRET_MASK_AFTER];
}

function isMapOrAbsent(value: unknown): boolean {
  return value === undefined || value === null || isPlainObject(value);
}

function unionOfKeys(left: JsonObject, right: JsonObject): string[] {
  return [...new Set([...Object.keys(left), ...Object.keys(right)])];
}
