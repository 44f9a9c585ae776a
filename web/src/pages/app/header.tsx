/**
 * Who the app is and how it is: name, health and sync, why it is (not) Ready, what revision runs
 * and where it comes from. Fed by the detail, whose `app` the event stream replaces as it changes.
 */
import type { ReactNode } from 'react';
import { Link } from 'wouter';
import type { AppDetail } from '../../../../src/server/dashboard/schema.js';
import { HealthBadge, SyncBadge } from '../../components/badges.js';
import { ago, fullTime } from '../../format.js';
import { RevisionLink } from './revision.js';

export function AppHeader({ detail, children }: { detail: AppDetail; children?: ReactNode }) {
  const { app } = detail;
  const repositoryUrl = detail.repository.url;
  const readyTone = app.ready === 'True' ? 'good' : app.ready === 'False' ? 'bad' : 'unknown';
  return (
    <header
      className="app-header card"
      data-health={app.health}
      data-sync={app.sync}
      data-ready={app.ready}
      data-suspended={app.suspended}
    >
      <nav aria-label="Breadcrumb" className="crumbs">
        <Link href="/">Applications</Link>
        <span aria-hidden="true"> / </span>
        <span>{app.namespace}</span>
      </nav>
      <div className="title-row">
        <h1>{app.name}</h1>
        <div className="state-badges">
          <HealthBadge state={app.health} title={app.healthMessage} />
          <SyncBadge state={app.sync} />
          {app.suspended && <span className="app-flag app-flag-suspended">❚❚ Suspended</span>}
          {app.rolledBack && <span className="app-flag app-flag-rolledback">↶ Rolled back</span>}
          {app.stalled && <span className="app-flag app-flag-stalled">✖ Stalled</span>}
          {app.reconciling && !app.stalled && (
            <span className="app-flag app-flag-reconciling">◐ Reconciling</span>
          )}
        </div>
      </div>
      <p className={`ready-line readiness-${readyTone}`}>
        <span className="ready-word">
          <span aria-hidden="true">{app.ready === 'True' ? '✓ ' : app.ready === 'False' ? '✖ ' : '? '}</span>
          {app.ready === 'True' ? 'Ready' : app.ready === 'False' ? 'Not ready' : 'Readiness unknown'}
        </span>
        {app.reason && <strong className="ready-reason">{app.reason}</strong>}
        {app.message && <span className="ready-message">{app.message}</span>}
      </p>
      {app.healthMessage && app.health !== 'Healthy' && (
        <p className="health-line">
          <span className="muted">Health:</span> {app.healthMessage}
        </p>
      )}
      <dl className="facts header-facts">
        <div className="wide">
          <dt>Revision</dt>
          <dd>
            {app.revision ? (
              <>
                <RevisionLink sha={app.revision.sha} repositoryUrl={repositoryUrl} />
                {app.revision.message && <span className="commit-line"> {app.revision.message}</span>}
                {(app.revision.author || app.revision.date) && (
                  <span className="muted small">
                    {app.revision.author ? ` — ${app.revision.author.replace(/\s?<[^<>]*>$/, '')}` : ''}
                    {app.revision.date ? `, ${ago(app.revision.date)}` : ''}
                  </span>
                )}
              </>
            ) : (
              <span className="muted">nothing applied yet</span>
            )}
          </dd>
        </div>
        <div>
          <dt>Source</dt>
          <dd>
            <span className="mono">{app.repository}</span> <span className="muted">at</span>{' '}
            <span className="mono">{app.ref}</span>
            {app.path && (
              <>
                {' '}
                <span className="muted">in</span> <span className="mono">{app.path}</span>
              </>
            )}
          </dd>
        </div>
        <div>
          <dt>Last sync</dt>
          <dd>
            {app.lastSyncAt ? (
              <>
                <span className={`result-word result-${(app.lastSyncResult ?? '').toLowerCase()}`}>
                  {app.lastSyncResult ?? '—'}
                </span>{' '}
                <time dateTime={app.lastSyncAt} title={fullTime(app.lastSyncAt)}>
                  {ago(app.lastSyncAt)}
                </time>
              </>
            ) : (
              <span className="muted">never</span>
            )}
          </dd>
        </div>
        {app.dependsOn.length > 0 && (
          <div>
            <dt>Depends on</dt>
            <dd className="mono">{app.dependsOn.join(', ')}</dd>
          </div>
        )}
      </dl>
      {children}
    </header>
  );
}
