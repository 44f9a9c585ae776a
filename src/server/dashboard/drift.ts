/**
 * GET /api/v1/apps/:ns/:name/diff: the objects the controller's last sync (or diff, for apps without
 * auto-sync) found out of sync or failing, as they are live now, each with who owns which of its
 * fields (managedFields): a field last written by `kubectl-edit` or an autoscaler is the "why" of
 * a difference.
 *
 * What it does not do (yet): compute the desired side. That is a server-side dry-run of the render
 * at the app's revision — the engine's diff mode, with the Repository's Git credentials and the
 * app's ServiceAccount, which the dashboard does not hold on the user's behalf. The controller does
 * run that diff for apps without auto-sync; recording its per-field result (masked) where the
 * dashboard can read it is the follow-up. `note` says this in the answer.
 *
 * Nothing secret leaves: objects are read as the user; a Secret's `data`/`stringData` are dropped
 * altogether (metadata only), every other object goes through plan/mask.ts (which also masks the
 * last-applied-configuration annotation that can copy Secret data), and managedFields are reduced
 * to field paths, which name keys but never values.
 */
import pLimit from 'p-limit';
import type { Application } from '../../api/v1alpha1.js';
import type { KubeObject, ManagedFieldsEntry } from '../../core/objects.js';
import { isKubeApiError, type KubeClient } from '../../kube/index.js';
import { maskObject } from '../../plan/mask.js';
import { failureWord } from './details.js';
import type { AppDiff } from './schema.js';
import { syncOf } from './summary.js';

const MAX_OBJECTS = 20;
const MAX_FIELDS = 200;
/** What status.resources says of an object the last sync did not leave as Git says. */
const NOT_IN_SYNC = new Set(['created', 'configured', 'recreated', 'failed', 'skipped']);

export const DIFF_NOTE =
  "Live state and field owners of the objects the controller's last sync or diff found out of sync. The desired side (a server-side dry-run of the rendered revision) is not computed by the dashboard yet; `capstan diff --repo URL --ref REF --path PATH` shows it.";

export async function appDrift(kube: KubeClient, app: Application): Promise<AppDiff> {
  const sync = syncOf(app.status?.sync?.status);
  const pending = sync === 'OutOfSync';
  // After an apply, `configured` means it was changed and is in sync now; only failures stay.
  const candidates = (app.status?.resources ?? []).filter((r) =>
    pending ? NOT_IN_SYNC.has(r.sync) : r.sync === 'failed' || r.sync === 'skipped',
  );
  const shown = candidates.slice(0, MAX_OBJECTS);
  const limit = pLimit(8);
  const objects = await Promise.all(
    shown.map((resource) =>
      limit(async (): Promise<AppDiff['objects'][number]> => {
        const ref = {
          group: resource.group,
          kind: resource.kind,
          name: resource.name,
          ...(resource.namespace ? { namespace: resource.namespace } : {}),
        };
        const base = {
          ...ref,
          action: resource.sync,
          ...(resource.message ? { message: resource.message } : {}),
        };
        try {
          const live = await kube.get(ref);
          if (live === undefined) return { ...base, state: 'missing', owners: [] };
          return { ...base, state: 'found', live: shownObject(live), owners: fieldOwners(live) };
        } catch (error) {
          const forbidden = isKubeApiError(error) && error.status === 403;
          return {
            ...base,
            state: forbidden ? 'forbidden' : 'error',
            owners: [],
            ...(forbidden ? {} : { message: failureWord(error) }),
          };
        }
      }),
    ),
  );
  return {
    mode: 'live',
    sync,
    ...(app.status?.sync?.revision ? { revision: app.status.sync.revision } : {}),
    objects,
    omitted: candidates.length - shown.length,
    note: DIFF_NOTE,
  };
}

/** What the page may show of a live object: no managedFields (see owners); Secrets metadata only. */
export function shownObject(object: KubeObject): Record<string, unknown> {
  const { managedFields: _fields, ...metadata } = object.metadata;
  if (object.kind === 'Secret') {
    const masked = maskObject({ ...object, metadata });
    const { data: _data, stringData: _stringData, ...rest } = masked;
    // Labels and annotations were masked where they repeat a value; the rest is dropped.
    return {
      apiVersion: rest.apiVersion,
      kind: rest.kind,
      metadata: rest.metadata,
      ...('type' in rest ? { type: rest.type } : {}),
    };
  }
  return maskObject({ ...object, metadata });
}

/** Each manager's fields as JSON pointers (`/spec/replicas`), leaves only, bounded. */
export function fieldOwners(object: KubeObject): AppDiff['objects'][number]['owners'] {
  return (object.metadata.managedFields ?? []).map((entry: ManagedFieldsEntry) => {
    const fields: string[] = [];
    let total = 0;
    const walk = (node: unknown, path: string): void => {
      if (node === null || typeof node !== 'object') return;
      const keys = Object.keys(node).filter((key) => key !== '.');
      if (keys.length === 0) {
        total++;
        if (fields.length < MAX_FIELDS) fields.push(path === '' ? '/' : path);
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
    try {
      const fields = JSON.parse(rest) as Record<string, unknown>;
      return escape(
        `[${Object.entries(fields)
          .map(([k, v]) => `${k}=${String(v)}`)
          .join(',')}]`,
      );
    } catch {
      return escape(`[${rest}]`);
    }
  }
  return escape(key);
}
