/**
 * What a reconcile writes into an Application's status: the per-object summaries, the bounded
 * history, the revision records, and the conditions of an outcome — written only when changed.
 */
import {
  MAX_RESOURCES,
  type Application,
  type ApplicationStatus,
  type HistoryEntry,
  type ResourceStatus,
  type RevisionStatus,
  type SyncTrigger,
} from '../api/v1alpha1.js';
import type { ObjectResult } from '../apply/index.js';
import { refKey } from '../core/objects.js';
import type { SyncResult } from '../engine/sync.js';
import type { AppHealth, ObjectHealthState } from '../health/index.js';
import type { KubeClient } from '../kube/index.js';
import type { Revision } from '../source/index.js';
import type { Outcome } from './app-judge.js';
import { outcomeConditions } from './conditions.js';
import { historyEntry, recordHistory, type HistoryStore } from './history.js';
import type { AppHealthView } from './live-health.js';
import { patchStatus } from './status.js';

export type { SyncTrigger };

export function resourceStatuses(
  objects: readonly ObjectResult[],
  live: AppHealthView['objects'] | undefined,
): ResourceStatus[] {
  return objects.slice(0, MAX_RESOURCES).map((object) => {
    const health = object.action === 'pruned' ? undefined : live?.get(refKey(object.ref))?.health;
    return {
      group: object.ref.group,
      kind: object.ref.kind,
      ...(object.ref.namespace ? { namespace: object.ref.namespace } : {}),
      name: object.ref.name,
      sync: object.action,
      ...(health ? { health: health.state } : {}),
      ...(messageOf(object, health) ? { message: messageOf(object, health)!.slice(0, 512) } : {}),
    };
  });
}

/** The object's own problem first (a failed apply), then what its health says when not healthy. */
function messageOf(object: ObjectResult, health: ObjectHealthState | undefined): string | undefined {
  if (object.reason) return object.reason;
  if (health && health.state !== 'Healthy') return health.message;
  return undefined;
}

/** Health fields of status from a live view: the aggregate, and each listed object's state. */
export function applyLiveHealth(status: ApplicationStatus, view: AppHealthView): void {
  status.health = healthStatus(view.health);
  status.resources = status.resources?.map((resource) => {
    if (resource.sync === 'pruned') return resource;
    const live = view.objects.get(refKey(resource))?.health;
    if (!live) return resource;
    const { message: _old, ...rest } = resource;
    const syncProblem =
      resource.sync === 'failed' || resource.sync === 'skipped' ? resource.message : undefined;
    const message = syncProblem ?? (live.state !== 'Healthy' ? live.message.slice(0, 512) : undefined);
    return { ...rest, health: live.state, ...(message ? { message } : {}) };
  });
}

export function healthStatus(health: AppHealth): NonNullable<ApplicationStatus['health']> {
  return { status: health.state, message: health.message.slice(0, 1024) };
}

export function revisionStatus(revision: Revision): RevisionStatus {
  return {
    sha: revision.sha,
    ref: revision.ref,
    message: revision.message.slice(0, 1024),
    // Git puts no bound on a name or an address; status (and every dashboard row) does.
    author: `${revision.author.name.slice(0, 128)} <${revision.author.email.slice(0, 128)}>`,
    date: revision.date,
  };
}

/** The revision applied last, as status recorded it, for syncing it again. */
export function revisionFromStatus(applied: RevisionStatus, ref: string): Revision {
  const author = applied.author ?? '';
  const open = author.lastIndexOf(' <');
  return {
    sha: applied.sha,
    ref: applied.ref ?? ref,
    message: applied.message ?? '',
    author:
      open >= 0 && author.endsWith('>')
        ? { name: author.slice(0, open), email: author.slice(open + 2, -1) }
        : { name: author, email: '' },
    date: applied.date ?? '',
  };
}

export interface HistoryRecord {
  readonly revision: Revision | { readonly sha: string };
  readonly trigger: SyncTrigger;
  readonly requestedBy?: string;
  readonly started: Date;
  readonly finished: Date;
  /** Default: what the sync implies (Failed, OutOfSync, Succeeded). */
  readonly result?: HistoryEntry['result'];
  readonly health?: string;
  readonly sync?: SyncResult;
  readonly message?: string;
  readonly rollbackOf?: string;
}

/** One history entry: into the app's history ConfigMap (when there is a store), then status. */
export function appendHistory(
  store: HistoryStore | undefined,
  app: Application,
  status: ApplicationStatus,
  record: HistoryRecord,
  onError?: (error: unknown) => void,
): Promise<HistoryEntry> {
  return recordHistory(
    store,
    app,
    status,
    historyEntry({
      revision: record.revision.sha,
      ...('message' in record.revision ? { commit: record.revision } : {}),
      trigger: record.trigger,
      requestedBy: record.requestedBy,
      started: record.started,
      finished: record.finished,
      sync: record.sync,
      result: record.result,
      health: record.health,
      message: record.message,
      rollbackOf: record.rollbackOf,
    }),
    onError,
  );
}

/** Conditions and lastError for `outcome`, then one status write if anything changed. */
export async function finish(
  kube: KubeClient,
  app: Application,
  status: ApplicationStatus,
  outcome: Outcome,
  now: Date,
): Promise<boolean> {
  status.observedGeneration = app.metadata.generation;
  status.conditions = outcomeConditions(status.conditions, outcome, app.metadata.generation, now);
  if (outcome.state !== 'ready' && outcome.state !== 'progressing') status.lastError = outcome.message;
  else delete status.lastError;
  return patchStatus(kube, app, status);
}
