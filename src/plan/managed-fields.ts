/**
 * Field ownership from `metadata.managedFields`: which field manager set a field of the live object.
 * This is the "why" behind a diff: a change to a field `kubectl-edit` or an autoscaler owned tells
 * the reader someone else touched the object, and that our forced apply takes the field back.
 *
 * Each managed-fields entry describes, as `fieldsV1`, a tree of the fields one manager owns:
 * - `f:<name>`  a field of a map or struct (`f:spec`, `f:replicas`);
 * - `k:<json>`  an item of an associative list, by its key fields
 *               (`k:{"name":"web"}`, `k:{"containerPort":8080,"protocol":"TCP"}`);
 * - `v:<json>`  an item of a set, by value (`v:"example.com/finalizer"`);
 * - `i:<n>`     an item of a list by index (rare);
 * - `.`         the node itself, next to its children (`f:labels: {".": {}, "f:app": {}}`).
 * A node with no children (`f:image: {}`) is a leaf: the manager owns that field and all it holds.
 */
import type { KubeObject, ManagedFieldsEntry } from '../core/objects.js';
import { deepEqual, isPlainObject, type JsonObject } from './json.js';
import { arrayIndex } from './pointer.js';

const SELF = '.';

/**
 * The managers that owned the field at `segments` (an unescaped JSON pointer into `live`), sorted:
 * those owning the field itself or anything inside it; failing that, those owning its nearest owned
 * ancestor (an atomic list or struct containing it, or the map a new key is added to). Empty when
 * nobody owned anything on the way, e.g. a new item in an associative list.
 */
export function fieldManagers(live: KubeObject | undefined, segments: readonly string[]): string[] {
  const direct = new Set<string>();
  const byAncestorDepth = new Map<number, Set<string>>();
  for (const entry of live?.metadata.managedFields ?? []) {
    if (!isFieldsV1Entry(entry)) continue;
    const manager = entry.manager ?? 'unknown';
    const found = locate(entry.fieldsV1, live, segments);
    if (found.ownsPathOrInside) direct.add(manager);
    else if (found.ownedAncestorDepth > 0) {
      const managers = byAncestorDepth.get(found.ownedAncestorDepth) ?? new Set<string>();
      managers.add(manager);
      byAncestorDepth.set(found.ownedAncestorDepth, managers);
    }
  }
  if (direct.size > 0) return [...direct].sort();
  const deepest = Math.max(0, ...byAncestorDepth.keys());
  return [...(byAncestorDepth.get(deepest) ?? [])].sort();
}

function isFieldsV1Entry(entry: ManagedFieldsEntry): entry is ManagedFieldsEntry & { fieldsV1: JsonObject } {
  return (entry.fieldsType === undefined || entry.fieldsType === 'FieldsV1') && isPlainObject(entry.fieldsV1);
}

interface Location {
  /** The manager owns the node at the path, or something below it. */
  readonly ownsPathOrInside: boolean;
  /** How many segments deep the deepest owned node above the path is; 0 when none is. */
  readonly ownedAncestorDepth: number;
}

/** Walks one manager's field set and the live object side by side along the path. */
function locate(fields: JsonObject, live: unknown, segments: readonly string[]): Location {
  let node: JsonObject = fields;
  let value: unknown = live;
  let ownedAncestorDepth = 0;
  for (const [depth, segment] of segments.entries()) {
    // The root's field set is never "owned" as a whole; ownership starts one level down.
    if (depth > 0 && ownsNode(node)) ownedAncestorDepth = depth;
    const step = childOf(node, value, segment);
    if (step === undefined) return { ownsPathOrInside: false, ownedAncestorDepth };
    node = step.node;
    value = step.value;
  }
  const ownsInside = Object.keys(node).some((key) => key !== SELF);
  return { ownsPathOrInside: (segments.length > 0 && ownsNode(node)) || ownsInside, ownedAncestorDepth };
}

/** A leaf, or a node that lists itself with `.`. */
function ownsNode(node: JsonObject): boolean {
  return Object.keys(node).length === 0 || Object.hasOwn(node, SELF);
}

interface Step {
  readonly node: JsonObject;
  readonly value: unknown;
}

function childOf(node: JsonObject, value: unknown, segment: string): Step | undefined {
  if (Array.isArray(value)) {
    const index = arrayIndex(segment);
    if (index === undefined || index >= value.length) return undefined;
    const item: unknown = value[index];
    const key = Object.keys(node).find((candidate) => matchesListItem(candidate, item, index));
    return key === undefined ? undefined : nodeStep(node[key], item);
  }
  const key = `f:${segment}`;
  if (!Object.hasOwn(node, key)) return undefined;
  return nodeStep(node[key], isPlainObject(value) ? value[segment] : undefined);
}

function nodeStep(node: unknown, value: unknown): Step | undefined {
  return isPlainObject(node) ? { node, value } : undefined;
}

/** Whether a `k:`, `v:` or `i:` element of a field set names this item of the live list. */
function matchesListItem(element: string, item: unknown, index: number): boolean {
  if (element.startsWith('i:')) return element === `i:${index}`;
  if (element.startsWith('v:')) {
    const parsed = parseJson(element.slice(2));
    return parsed.ok && deepEqual(parsed.value, item);
  }
  if (element.startsWith('k:')) {
    const parsed = parseJson(element.slice(2));
    if (!parsed.ok || !isPlainObject(parsed.value) || !isPlainObject(item)) return false;
    const keyFields = Object.entries(parsed.value);
    // Every key field the manager recorded must equal the item's field of that name.
    return keyFields.length > 0 && keyFields.every(([field, expected]) => deepEqual(item[field], expected));
  }
  return false;
}

type Parsed = { ok: true; value: unknown } | { ok: false };

function parseJson(text: string): Parsed {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

/** What one field manager owns on an object, as JSON pointers: the "who" beside a diff. */
export interface FieldOwner {
  readonly manager: string;
  readonly operation?: string;
  readonly time?: string;
  readonly subresource?: string;
  /** JSON pointers of the fields it owns, leaves only (`/spec/replicas`), at most `maxFields`. */
  readonly fields: string[];
  /** Fields left out by the cap. */
  readonly fieldsOmitted?: number;
}

/**
 * Each manager's fields on `object` as JSON pointers, leaves only, bounded. Field sets name keys
 * (`k:{"name":"web"}` becomes `[name=web]`) but never hold a field's value, so this is safe to show
 * of any object, Secrets included.
 */
export function fieldOwners(object: KubeObject, maxFields = 200): FieldOwner[] {
  return (object.metadata.managedFields ?? []).map((entry: ManagedFieldsEntry) => {
    const fields: string[] = [];
    let total = 0;
    const walk = (node: unknown, path: string): void => {
      if (node === null || typeof node !== 'object') return;
      const keys = Object.keys(node).filter((key) => key !== SELF);
      if (keys.length === 0) {
        total++;
        if (fields.length < maxFields) fields.push(path === '' ? '/' : path);
        return;
      }
      for (const key of keys) walk((node as Record<string, unknown>)[key], `${path}/${segmentOf(key)}`);
    };
    walk(entry.fieldsV1, '');
    return {
      manager: entry.manager ?? 'unknown',
      ...(entry.operation ? { operation: entry.operation } : {}),
      ...(entry.time ? { time: entry.time } : {}),
      ...(entry.subresource ? { subresource: entry.subresource } : {}),
      fields,
      ...(total > fields.length ? { fieldsOmitted: total - fields.length } : {}),
    };
  });
}

/**
 * `f:replicas` → `replicas`; `k:{"name":"web"}` → `[name=web]`; `v:"x"` → `[x]`; `i:3` → `3`; as
 * a JSON-pointer segment (`~` and `/` escaped).
 */
function segmentOf(key: string): string {
  const escape = (text: string): string => text.replace(/~/g, '~0').replace(/\//g, '~1');
  const kind = key.slice(0, 2);
  const rest = key.slice(2);
  if (kind === 'f:') return escape(rest);
  if (kind === 'i:') return escape(rest);
  if (kind === 'v:') return escape(`[${rest}]`);
  if (kind === 'k:') {
    const parsed = parseJson(rest);
    if (!parsed.ok || !isPlainObject(parsed.value)) return escape(`[${rest}]`);
    return escape(
      `[${Object.entries(parsed.value)
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(',')}]`,
    );
  }
  return escape(key);
}
