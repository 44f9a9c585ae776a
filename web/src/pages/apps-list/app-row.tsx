/**
 * One app as a row. Memoized on the summary object: a live update replaces one app's object and
 * React Query's structural sharing keeps the others', so one change re-renders one row.
 */
import { memo } from 'react';
import { Link } from 'wouter';
import type { AppSummary } from '../../../../src/server/dashboard/schema.js';
import { HealthBadge, SyncBadge } from '../../components/badges.js';
import { ago, fullTime, shortSha } from '../../format.js';
import { appHref } from '../../routes.js';

export const AppRow = memo(function AppRow({ app, now }: { app: AppSummary; now: number }) {
  return (
    <tr data-app={`${app.namespace}/${app.name}`} data-health={app.health} className="app-row">
      <td className="col-name">
        <Link href={appHref(app.namespace, app.name)} className="app-name">
          {app.name}
        </Link>
        {/* Shown where their own columns are hidden (narrow screens). */}
        <span className="secondary truncate under-name">
          <span className="under-name-namespace">{app.namespace}</span>
          <span className="under-name-sync">
            <span className="separator"> · </span>
            {app.lastSyncAt ? `synced ${ago(app.lastSyncAt, now)}` : 'never synced'}
          </span>
        </span>
        <AppFlags app={app} />
      </td>
      <td className="col-namespace">
        <span className="truncate" title={app.namespace}>
          {app.namespace}
        </span>
      </td>
      <td className="col-health">
        <HealthBadge state={app.health} title={app.healthMessage} />
        {app.healthMessage && (
          <span className="secondary truncate wide-only" title={app.healthMessage}>
            {app.healthMessage}
          </span>
        )}
      </td>
      <td className="col-sync">
        <SyncBadge state={app.sync} />
      </td>
      <td className="col-ready">
        <ReadyCell app={app} />
      </td>
      <td className="col-source">
        <span className="truncate" title={app.repository}>
          {app.repository || '—'}
        </span>
        <span className="secondary truncate mono" title={`${app.ref} · ${app.path || '/'}`}>
          {app.ref} · {app.path || '/'}
        </span>
      </td>
      <td className="col-revision">
        <RevisionCell app={app} />
      </td>
      <td className="col-last-sync">
        <LastSyncCell app={app} now={now} />
      </td>
    </tr>
  );
});

/** The conditions that change what the controller does with the app, as small tags. */
function AppFlags({ app }: { app: AppSummary }) {
  if (!app.suspended && !app.rolledBack && !app.reconciling && !app.stalled) return null;
  return (
    <span className="flags">
      {app.suspended && (
        <span className="flag flag-suspended" title="spec.suspend: the controller leaves it alone">
          <span aria-hidden="true">❚❚</span> suspended
        </span>
      )}
      {app.rolledBack && (
        <span className="flag flag-rolled-back" title="A rollback is in force (status.rollback)">
          <span aria-hidden="true">↶</span> rolled back
        </span>
      )}
      {app.reconciling && (
        <span className="flag flag-reconciling" title="Reconciling: the controller is working on it">
          <span aria-hidden="true">⟳</span> reconciling
        </span>
      )}
      {app.stalled && (
        <span className="flag flag-stalled" title="Stalled: it cannot progress without a change">
          <span aria-hidden="true">⚠</span> stalled
        </span>
      )}
    </span>
  );
}

/** The Ready condition: its reason first (what happened), its message below (why). */
function ReadyCell({ app }: { app: AppSummary }) {
  const word = app.reason ?? (app.ready === 'True' ? 'Ready' : app.ready === 'False' ? 'Not ready' : '—');
  const title = [word, app.message].filter(Boolean).join(': ');
  return (
    <>
      <span className={`truncate ready-${app.ready.toLowerCase()}`} title={title}>
        <span aria-hidden="true">{app.ready === 'True' ? '✓ ' : app.ready === 'False' ? '✗ ' : ''}</span>
        {word}
      </span>
      {app.message && (
        <span className="secondary truncate" title={app.message}>
          {app.message}
        </span>
      )}
    </>
  );
}

function RevisionCell({ app }: { app: AppSummary }) {
  const revision = app.revision;
  if (!revision) return <span className="muted">not applied yet</span>;
  return (
    <>
      <span className="mono" title={revision.sha}>
        {shortSha(revision.sha)}
      </span>
      {revision.message && (
        <span className="secondary truncate" title={revision.message}>
          {revision.message}
        </span>
      )}
    </>
  );
}

function LastSyncCell({ app, now }: { app: AppSummary; now: number }) {
  if (!app.lastSyncAt) return <span className="muted">never</span>;
  return (
    <>
      <time dateTime={app.lastSyncAt} title={fullTime(app.lastSyncAt)}>
        {ago(app.lastSyncAt, now)}
      </time>
      {app.lastSyncResult && (
        <span className={`secondary result-${app.lastSyncResult.toLowerCase()}`}>{app.lastSyncResult}</span>
      )}
    </>
  );
}
