/**
 * Leaving fields to other managers: when an app names, say, the autoscaler's field manager, the
 * fields that manager owns on the live object (`spec.replicas`) are taken out of what Capstan
 * applies, so server-side apply neither overwrites nor claims them.
 */
import type { KubeObject, ManagedFieldsEntry } from '../core/objects.js';

type FieldSet = { [key: string]: FieldSet };
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** `desired` without the leaf fields that `managers` own on `live` (status subresource aside). */
export function withoutFieldsOwnedBy(
  desired: KubeObject,
  live: KubeObject,
  managers: readonly string[],
): KubeObject {
  const entries = (live.metadata.managedFields ?? []).filter(
    (e: ManagedFieldsEntry) => e.manager !== undefined && managers.includes(e.manager) && !e.subresource,
  );
  if (entries.length === 0) return desired;
  const copy = structuredClone(desired) as unknown as { [key: string]: Json };
  for (const entry of entries) removeOwnedLeaves(copy, (entry.fieldsV1 as FieldSet | undefined) ?? {});
  return copy as unknown as KubeObject;
}

function removeOwnedLeaves(node: Json, fields: FieldSet): void {
  for (const [key, child] of Object.entries(fields)) {
    if (key === '.') continue;
    const isLeaf = Object.keys(child).every((k) => k === '.');
    if (key.startsWith('f:') && node !== null && typeof node === 'object' && !Array.isArray(node)) {
      const name = key.slice(2);
      // Identity stays: without a name there is nothing to apply.
      if (!(name in node) || (name === 'name' && 'kind' in node)) continue;
      if (isLeaf) delete node[name];
      else removeOwnedLeaves(node[name]!, child);
    } else if (key.startsWith('k:') && Array.isArray(node)) {
      const itemKey = JSON.parse(key.slice(2)) as Record<string, Json>;
      const item = node.find(
        (candidate) =>
          candidate !== null &&
          typeof candidate === 'object' &&
          !Array.isArray(candidate) &&
          Object.entries(itemKey).every(([k, v]) => JSON.stringify(candidate[k]) === JSON.stringify(v)),
      );
      // The key fields themselves stay: they say which item the rest belongs to.
      if (item !== undefined && !isLeaf) removeOwnedLeaves(item, withoutKeys(child, Object.keys(itemKey)));
    }
  }
}

function withoutKeys(fields: FieldSet, keys: readonly string[]): FieldSet {
  return Object.fromEntries(Object.entries(fields).filter(([k]) => !keys.includes(k.slice(2))));
}
