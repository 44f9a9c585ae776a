/**
 * Deciding "unchanged" without asking the server, for re-syncs where nothing moved.
 *
 * Server-side apply of the same configuration by the same manager is a no-op. We can prove that
 * from the live object alone when (1) every field the desired object sets already has that value
 * live, and (2) the set of fields Capstan's apply owns (its `managedFields` entry) is exactly the
 * set of fields the desired object sets — so the apply would neither change, take nor release a field.
 *
 * The check is conservative: any doubt (a list whose items cannot be matched to their keys, a value
 * the server normalises, another manager's hand on a field) answers "not proven", and the caller
 * falls back to a server-side dry-run. It must never answer "unchanged" wrongly; the tests hold it
 * to that.
 */
import type { KubeObject, ManagedFieldsEntry } from '../core/objects.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type FieldSet = { [key: string]: FieldSet };

/** True only when applying `desired` as `manager` is certain to change nothing on `live`. */
export function isProvablyUnchanged(live: KubeObject, desired: KubeObject, manager: string): boolean {
  if (live.apiVersion !== desired.apiVersion) return false;
  const owned = ownedFields(live.metadata.managedFields, manager);
  if (!owned) return false;
  const { managedFields: _ignored, ...liveMeta } = live.metadata;
  const liveBody = { ...live, metadata: liveMeta } as unknown as Json;
  const desiredBody = { ...desired, metadata: { ...desired.metadata } } as unknown as { [key: string]: Json };
  // apiVersion and kind identify the object; SSA does not record them as owned fields.
  const { apiVersion: _a, kind: _k, ...desiredFields } = desiredBody;
  const metadata = desiredFields.metadata as { [key: string]: Json };
  // name and namespace are identity, not owned fields either.
  delete metadata.name;
  delete metadata.namespace;
  if (Object.keys(metadata).length === 0) delete desiredFields.metadata;
  return (
    isContainedIn(desiredFields, liveBody) &&
    sameFields(desiredFields, liveBody as { [key: string]: Json }, owned)
  );
}

/** The fields `manager` owns through apply on the object itself (not a subresource). */
function ownedFields(
  entries: readonly ManagedFieldsEntry[] | undefined,
  manager: string,
): FieldSet | undefined {
  const mine = (entries ?? []).filter(
    (e) => e.manager === manager && e.operation === 'Apply' && !e.subresource,
  );
  if (mine.length !== 1) return undefined;
  return (mine[0]!.fieldsV1 as FieldSet | undefined) ?? {};
}

/** Every value in `desired` equals the value at the same place in `live` (lists item by item, same length). */
function isContainedIn(desired: Json, live: Json | undefined): boolean {
  if (live === undefined) return false;
  if (Array.isArray(desired)) {
    return (
      Array.isArray(live) &&
      live.length === desired.length &&
      desired.every((item, i) => isContainedIn(item, live[i]))
    );
  }
  if (desired !== null && typeof desired === 'object') {
    if (live === null || typeof live !== 'object' || Array.isArray(live)) return false;
    return Object.entries(desired).every(([key, value]) => isContainedIn(value, live[key]));
  }
  return desired === live;
}

/**
 * The fields `value` sets are exactly those of the field set (structured-merge-diff's `fieldsV1`).
 * `live` is the same place in the live object (already known to contain `value`): list items are
 * matched to their keys there, because the server fills in key fields the manifest may omit (a
 * port's `protocol: TCP`).
 */
function sameFields(
  value: { [key: string]: Json },
  live: { [key: string]: Json },
  fields: FieldSet,
): boolean {
  const children = Object.keys(fields).filter((k) => k !== '.');
  const wanted = Object.keys(value);
  if (children.length !== wanted.length) return false;
  return wanted.every((key) => {
    const child = fields[`f:${key}`];
    if (!child) return false;
    return fieldsOfValueMatch(value[key]!, live[key]!, child);
  });
}

function fieldsOfValueMatch(value: Json, live: Json, fields: FieldSet): boolean {
  if (Array.isArray(value)) return sameListFields(value, live as Json[], fields);
  if (value !== null && typeof value === 'object') {
    // A map owned as a leaf is atomic (a label selector, an empty map we set): owned whole. Its
    // value was checked by isContainedIn; while we own it nobody else changed it.
    if (Object.keys(fields).every((k) => k === '.')) return true;
    return sameFields(value, live as { [key: string]: Json }, fields);
  }
  // A scalar is owned as a leaf.
  return Object.keys(fields).length === 0;
}

/**
 * Lists are owned item by item: `k:{"name":"web"}` for lists keyed by fields (containers, ports,
 * env), `v:"a"` for sets of scalars, `i:0` for atomic-by-index lists. Each item must be matched by
 * exactly one entry and every entry by an item.
 */
function sameListFields(items: Json[], liveItems: Json[], fields: FieldSet): boolean {
  const entries = Object.keys(fields).filter((k) => k !== '.');
  // An atomic list (`x-kubernetes-list-type: atomic`) is owned as a whole, as a leaf.
  if (entries.length === 0) return true;
  if (entries.length !== items.length) return false;
  const used = new Set<string>();
  for (const [index, item] of items.entries()) {
    const liveItem = liveItems[index]!;
    const entry = entries.find((e) => !used.has(e) && entryMatches(e, liveItem, index));
    if (!entry) return false;
    used.add(entry);
    if (entry.startsWith('v:')) continue;
    const child = fields[entry]!;
    if (entry.startsWith('k:') && item !== null && typeof item === 'object' && !Array.isArray(item)) {
      // Key fields are implied by the key: the set may list them or not, the manifest may omit them.
      const key = JSON.parse(entry.slice(2)) as Record<string, Json>;
      const rest = Object.fromEntries(Object.entries(item).filter(([k]) => !(k in key)));
      const restFields = Object.fromEntries(
        Object.entries(child).filter(([k]) => !(k.startsWith('f:') && k.slice(2) in key)),
      );
      if (!sameFields(rest, liveItem as { [key: string]: Json }, restFields)) return false;
    } else if (!fieldsOfValueMatch(item, liveItem, child)) {
      return false;
    }
  }
  return true;
}

function entryMatches(entry: string, item: Json, index: number): boolean {
  if (entry.startsWith('i:')) return Number(entry.slice(2)) === index;
  let parsed: Json;
  try {
    parsed = JSON.parse(entry.slice(2)) as Json;
  } catch {
    return false;
  }
  if (entry.startsWith('v:')) return JSON.stringify(parsed) === JSON.stringify(item);
  if (!entry.startsWith('k:') || parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    return false;
  if (item === null || typeof item !== 'object' || Array.isArray(item)) return false;
  return Object.entries(parsed).every(([key, value]) => JSON.stringify(item[key]) === JSON.stringify(value));
}
