/**
 * An Application as one row of the dashboard's list: what the list shows, filters and sorts by, and
 * what the event stream sends when it changes. Computed once per change of the Application, never
 * per request.
 */
import type { Application } from '../../api/v1alpha1.js';
import { HEALTH_STATES, SYNC_STATES, type AppSummary, type HealthState, type SyncState } from './schema.js';

const MESSAGE_CHARS = 512;

export function healthOf(value: string | undefined): HealthState {
  return (HEALTH_STATES as readonly string[]).includes(value ?? '') ? (value as HealthState) : 'Unknown';
}

export function syncOf(value: string | undefined): SyncState {
  return (SYNC_STATES as readonly string[]).includes(value ?? '') ? (value as SyncState) : 'Unknown';
}

export function readyOf(value: string | undefined): 'True' | 'False' | 'Unknown' {
  return value === 'True' || value === 'False' ? value : 'Unknown';
}

export function firstLine(text: string | undefined, max = 200): string | undefined {
  if (text === undefined) return undefined;
  const line = text.split('\n', 1)[0] ?? '';
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

function bounded(text: string | undefined): string | undefined {
  if (text === undefined || text === '') return undefined;
  return text.length > MESSAGE_CHARS ? `${text.slice(0, MESSAGE_CHARS - 1)}…` : text;
}

function condition(app: Application, type: string) {
  return app.status?.conditions?.find((c) => c.type === type);
}

export function summarize(app: Application): AppSummary {
  const status = app.status ?? {};
  const spec = app.spec ?? ({} as Application['spec']);
  const ready = condition(app, 'Ready');
  const applied = status.lastAppliedRevision;
  const last = status.history?.[0];
  const summary: AppSummary = {
    namespace: app.metadata.namespace,
    name: app.metadata.name,
    repository: spec.sourceRef?.name ?? '',
    ref: spec.ref ?? 'main',
    path: spec.path ?? '',
    suspended: spec.suspend === true,
    health: healthOf(status.health?.status),
    sync: syncOf(status.sync?.status),
    ready: readyOf(ready?.status),
    reconciling: condition(app, 'Reconciling')?.status === 'True',
    stalled: condition(app, 'Stalled')?.status === 'True',
    rolledBack: status.rollback !== undefined,
    dependsOn: (spec.dependsOn ?? []).map((d) => d.name),
    labels: { ...app.metadata.labels },
  };
  if (app.metadata.uid) summary.uid = app.metadata.uid;
  const healthMessage = bounded(status.health?.message);
  if (healthMessage) summary.healthMessage = healthMessage;
  if (ready?.reason) summary.reason = ready.reason;
  const message = bounded(ready?.message);
  if (message) summary.message = message;
  if (applied?.sha) {
    summary.revision = {
      sha: applied.sha,
      ...(applied.ref ? { ref: applied.ref } : {}),
      ...(applied.message ? { message: firstLine(applied.message)! } : {}),
      ...(applied.author ? { author: firstLine(applied.author, 256)! } : {}),
      ...(applied.date ? { date: applied.date } : {}),
    };
  }
  if (last?.finishedAt) summary.lastSyncAt = last.finishedAt;
  if (last?.result) summary.lastSyncResult = last.result;
  if (app.metadata.resourceVersion) summary.resourceVersion = app.metadata.resourceVersion;
  return summary;
}

/** Whether two summaries show the same thing (resourceVersion aside): an update worth sending. */
export function sameSummary(a: AppSummary, b: AppSummary): boolean {
  const { resourceVersion: _a, ...left } = a;
  const { resourceVersion: _b, ...right } = b;
  return JSON.stringify(left) === JSON.stringify(right);
}
