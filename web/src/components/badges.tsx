/** The state words every page uses, each with a colour and a shape so colour is never the only cue. */
import type { HealthState, SyncState } from '../../../src/server/dashboard/schema.js';

const HEALTH_ICON: Record<HealthState, string> = {
  Healthy: '●',
  Progressing: '◐',
  Degraded: '✖',
  Missing: '◌',
  Suspended: '❚❚',
  Unknown: '?',
};

const SYNC_ICON: Record<string, string> = {
  Synced: '✓',
  OutOfSync: '≠',
  Waiting: '…',
  Failed: '✖',
  Skipped: '–',
  Unknown: '?',
};

export function HealthBadge({ state, title }: { state: HealthState; title?: string | undefined }) {
  return (
    <span className={`badge health-${state.toLowerCase()}`} title={title}>
      <span aria-hidden="true">{HEALTH_ICON[state]}</span> {state}
    </span>
  );
}

export function SyncBadge({ state, title }: { state: SyncState | string; title?: string | undefined }) {
  return (
    <span className={`badge sync-${state.toLowerCase()}`} title={title}>
      <span aria-hidden="true">{SYNC_ICON[state] ?? '?'}</span> {state}
    </span>
  );
}
