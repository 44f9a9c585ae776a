/**
 * GET /api/v1/apps/:ns/:name/diff in `live` mode: the objects the controller's last sync (or diff,
 * for apps without auto-sync) found out of sync or failing, as they are live now, each with who
 * owns which of its fields (managedFields): a field last written by `kubectl-edit` or an
 * autoscaler is the "why" of a difference.
 *
 * It does not compute the desired side: that is the `dryRun` mode (dry-run.ts), which needs an
 * engine the dashboard is given (DashboardDependencies.planDiff). This mode answers when there is
 * none, or when the dry-run could not be made (the answer's `note` says why).
 *
 * Nothing secret leaves: objects are read as the user; a Secret's `data`/`stringData` are dropped
 * altogether (metadata only), every other object goes through plan/mask.ts (which also masks the
 * last-applied-configuration annotation that can copy Secret data), and managedFields are reduced
 * to field paths, which name keys but never values.
 */
import pLimit from 'p-limit';
import type { Application } from '../../api/v1alpha1.js';
import type { KubeObject } from '../../core/objects.js';
import { isKubeApiError, type KubeClient } from '../../kube/index.js';
import { fieldOwners } from '../../plan/managed-fields.js';
import { maskObject } from '../../plan/mask.js';
import { failureWord } from './details.js';
import type { AppDiff } from './schema.js';
import { syncOf } from './summary.js';

const MAX_OBJECTS = 20;
/** What status.resources says of an object the last sync did not leave as Git says. */
const NOT_IN_SYNC = new Set(['created', 'configured', 'recreated', 'failed', 'skipped']);

/** What the live mode shows. */
export const LIVE_NOTE =
  "Shown instead: the live state and field owners of the objects the controller's last sync or diff found out of sync.";

/** The live mode's note when this dashboard has no way to compute a dry-run (no planDiff). */
export const DIFF_NOTE =
  "Live state and field owners of the objects the controller's last sync or diff found out of sync. The desired side (a server-side dry-run of the rendered revision) is not computed by this dashboard; `capstan diff --repo URL --ref REF --path PATH` shows it.";

/** Field owners as JSON pointers: shared with the dry-run mode, which shows them beside changes. */
export { fieldOwners } from '../../plan/managed-fields.js';

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
