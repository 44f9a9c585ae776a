/**
 * Judging an Application: from what its last sync did and what its objects say now (live health),
 * the outcome its conditions show. Pure, so the full reconcile and the live health update judge
 * the same way.
 */
import type { ApplicationStatus } from '../api/v1alpha1.js';
import type { SyncResult } from '../engine/sync.js';
import type { AppHealth } from '../health/index.js';
import { shortRevision } from '../source/artifacts/revision.js';

export type OutcomeState = 'ready' | 'progressing' | 'failed' | 'stalled';

export interface Outcome {
  readonly state: OutcomeState;
  readonly reason: string;
  readonly message: string;
}

/**
 * The Ready reasons that come from health alone: a live health update may move an Application
 * between these. Any other reason (a failed sync, a refused spec, a dependency wait) stays until
 * the next full reconcile.
 */
export const HEALTH_REASONS: ReadonlySet<string> = new Set([
  'Synced',
  'Progressing',
  'HealthDegraded',
  'HealthTimeout',
  'ObjectsMissing',
  'RolledBack',
]);

export interface JudgeInput {
  /** The revision applied (what the objects are judged for). */
  readonly sha: string;
  /** Absent for a live health update: the last sync's own verdict stands. */
  readonly sync?: SyncResult;
  readonly health: AppHealth;
  readonly status: ApplicationStatus;
  readonly healthTimeoutMs: number;
  readonly now: Date;
}

export function judge(input: JudgeInput): Outcome {
  const at = short(input.sha);
  const { sync, health } = input;
  if (sync?.failed) return syncFailed(sync, at);
  if (sync && sync.mode === 'diff' && sync.changed)
    return {
      state: 'failed',
      reason: 'OutOfSync',
      message: `${at}: the cluster differs from Git (${summarize(sync)}); self-heal is off`,
    };
  if (sync?.waitingFor) {
    // Later waves wait for this one: the next sync, woken by its objects, applies them.
    const waited = waitingOrTimedOut(input, at);
    return waited.state === 'failed'
      ? waited
      : { state: 'progressing', reason: 'WaitingForWave', message: `${at}: ${sync.waitingFor}` };
  }
  switch (health.state) {
    case 'Healthy':
    case 'Suspended':
      return {
        state: 'ready',
        reason: 'Synced',
        message: `${at} applied and ${health.state.toLowerCase()}: ${health.message}`,
      };
    case 'Degraded':
      return { state: 'failed', reason: 'HealthDegraded', message: `${at}: ${health.message}` };
    case 'Missing':
      return { state: 'failed', reason: 'ObjectsMissing', message: `${at}: ${health.message}` };
    case 'Progressing':
    case 'Unknown':
      return waitingOrTimedOut(input, at);
  }
}

/** Still rolling out: wait, until the rollout's health timeout (a revision healthy once has none). */
function waitingOrTimedOut(input: JudgeInput, at: string): Outcome {
  const rollout = input.status.rollout;
  if (rollout?.revision === input.sha) {
    const waitedMs = input.now.getTime() - Date.parse(rollout.startedAt);
    if (waitedMs > input.healthTimeoutMs)
      return {
        state: 'failed',
        reason: 'HealthTimeout',
        message: `${at}: not healthy after ${Math.round(input.healthTimeoutMs / 1000)} s: ${input.health.message}`,
      };
  }
  return { state: 'progressing', reason: 'Progressing', message: `${at}: ${input.health.message}` };
}

/** When the health timeout of the rollout in `status` ends, or undefined when nothing waits. */
export function healthDeadline(status: ApplicationStatus, healthTimeoutMs: number): number | undefined {
  if (!status.rollout) return undefined;
  return Date.parse(status.rollout.startedAt) + healthTimeoutMs;
}

function syncFailed(sync: SyncResult, at: string): Outcome {
  const failures = sync.objects
    .filter((o) => o.action === 'failed')
    .map((o) => `${o.ref.kind}/${o.ref.name}: ${o.reason}`);
  // No object failed: a wave did not become healthy, and the ones after it were not applied.
  const notApplied = sync.objects.find((o) => o.action === 'skipped' && o.reason?.startsWith('not applied'));
  if (failures.length === 0 && notApplied?.reason) failures.push(notApplied.reason);
  return {
    state: 'failed',
    reason: 'SyncFailed',
    message: `${at}: ${failures.slice(0, 3).join('; ') || 'sync failed'}`,
  };
}

/** "2 created, 1 configured, 5 unchanged". */
export function summarize(result: SyncResult): string {
  const counts = new Map<string, number>();
  for (const o of result.objects) counts.set(o.action, (counts.get(o.action) ?? 0) + 1);
  return [...counts].map(([action, n]) => `${n} ${action}`).join(', ') || 'no objects';
}

/** A commit's first 12 hex digits; an artifact's version and short digest (1.2.3@sha256:0123…). */
export function short(sha: string): string {
  return shortRevision(sha);
}
