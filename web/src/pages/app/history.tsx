/**
 * The sync history (what ran, why, who asked, what came of it) and the rollback state beside it:
 * the rollback in force, the revisions auto-sync refuses, and where a rollback would go.
 */
import type { AppDetail } from '../../../../src/server/dashboard/schema.js';
import { ago, duration, fullTime, httpUrl, shortSha } from '../../format.js';
import type { AppActions } from './actions.js';
import { RevisionLink } from './revision.js';
import { rollbackCandidates } from './rollback.js';

type Entry = AppDetail['history']['entries'][number];

const TRIGGER_TEXT: Record<NonNullable<Entry['trigger']>, string> = {
  commit: 'new commit',
  webhook: 'webhook',
  drift: 'drift',
  request: 'requested',
  rollback: 'rollback',
  dependency: 'dependency ready',
  spec: 'spec change',
  resync: 'resync',
};

const RESULT_ICON: Record<Entry['result'], string> = {
  Succeeded: '✓',
  Failed: '✖',
  RolledBack: '↶',
  OutOfSync: '≠',
};

function changeSummary(changes: Entry['changes']): string {
  if (!changes) return '—';
  const parts = (
    [
      ['created', changes.created],
      ['configured', changes.configured],
      ['recreated', changes.recreated],
      ['pruned', changes.pruned],
      ['failed', changes.failed],
      ['skipped', changes.skipped ?? 0],
    ] as const
  )
    .filter(([, count]) => count > 0)
    .map(([word, count]) => `${count} ${word}`);
  return parts.length > 0 ? parts.join(', ') : `${changes.unchanged} unchanged`;
}

export function HistoryPanel({ detail, actions }: { detail: AppDetail; actions: AppActions }) {
  const repositoryUrl = detail.repository.url;
  const { entries } = detail.history;
  const rollbackable = new Set(rollbackCandidates(detail).map((c) => c.sha));
  const offered = new Set<string>();
  const active = detail.rollback.active !== undefined;
  return (
    <>
      {/* A rollback in force is the first thing to know; otherwise it is a footnote. */}
      {active && <RollbackState detail={detail} />}
      <section aria-labelledby="history-title">
        <div className="panel-head">
          <h2 id="history-title">Sync history</h2>
          <p className="hint">
            {detail.history.source === 'configMap'
              ? 'From the history ConfigMap (up to 100 entries).'
              : 'From the status (the last 10 entries).'}
            {detail.history.note ? ` ${capitalise(detail.history.note)}.` : ''}
          </p>
        </div>
        {entries.length === 0 ? (
          <p className="empty">No sync recorded yet.</p>
        ) : (
          <div className="table-box">
            <table className="data-table stack-on-phone history-table">
              <thead>
                <tr>
                  <th scope="col">Revision</th>
                  <th scope="col">Trigger</th>
                  <th scope="col">Result</th>
                  <th scope="col">Changes</th>
                  <th scope="col">Duration</th>
                  <th scope="col">Finished</th>
                  <th scope="col">
                    <span className="visually-hidden">Action</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {entries.map((entry, index) => {
                  // One offer per revision, on its newest entry.
                  const offer = rollbackable.has(entry.revision) && !offered.has(entry.revision);
                  if (offer) offered.add(entry.revision);
                  return (
                    <tr key={entry.id ?? `${entry.startedAt}-${index}`} data-trigger={entry.trigger}>
                      <td data-label="Revision">
                        <RevisionLink sha={entry.revision} repositoryUrl={repositoryUrl} />
                        {entry.commit && (
                          <span
                            className="commit-line"
                            title={`${entry.commit.message} — ${entry.commit.author}`}
                          >
                            {' '}
                            {entry.commit.message}
                          </span>
                        )}
                        {entry.rollbackOf && (
                          <span className="muted small">
                            {' '}
                            (rolled back from {shortSha(entry.rollbackOf)})
                          </span>
                        )}
                      </td>
                      <td data-label="Trigger">
                        {entry.trigger ? TRIGGER_TEXT[entry.trigger] : '—'}
                        {entry.requestedBy && (
                          <span className="requester">
                            {' '}
                            by <strong>{entry.requestedBy}</strong>
                          </span>
                        )}
                      </td>
                      <td data-label="Result">
                        <span className={`badge result-${entry.result.toLowerCase()}`} title={entry.message}>
                          <span aria-hidden="true">{RESULT_ICON[entry.result]}</span> {entry.result}
                        </span>
                        {entry.health && <span className="muted small"> {entry.health}</span>}
                        {entry.message && entry.result !== 'Succeeded' && (
                          <span className="entry-message">{entry.message}</span>
                        )}
                      </td>
                      <td data-label="Changes">{changeSummary(entry.changes)}</td>
                      <td data-label="Duration">{duration(entry.durationSeconds)}</td>
                      <td data-label="Finished">
                        <time dateTime={entry.finishedAt} title={fullTime(entry.finishedAt)}>
                          {ago(entry.finishedAt)}
                        </time>
                      </td>
                      <td data-label="">
                        {offer && (
                          <button
                            type="button"
                            className="small-button"
                            disabled={actions.blocked !== undefined}
                            title={actions.blocked}
                            onClick={() => actions.ask({ kind: 'rollback', revision: entry.revision })}
                          >
                            Roll back to this revision
                            <span className="visually-hidden"> ({shortSha(entry.revision)})</span>
                          </button>
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </section>
      {!active && <RollbackState detail={detail} />}
    </>
  );
}

const capitalise = (text: string): string => text.charAt(0).toUpperCase() + text.slice(1);

function RollbackState({ detail }: { detail: AppDetail }) {
  const { active, rejectedRevisions, lastHealthyRevision, previousHealthyRevision } = detail.rollback;
  const repositoryUrl = detail.repository.url;
  const revertUrl = httpUrl(active?.gitRevert?.url);
  return (
    <section className="rollback-state" aria-labelledby="rollback-title">
      <h2 id="rollback-title">Rollback</h2>
      {active ? (
        <div className="notice warning">
          <p>
            <strong>Rolled back</strong> from <RevisionLink sha={active.from} repositoryUrl={repositoryUrl} />{' '}
            to <RevisionLink sha={active.to} repositoryUrl={repositoryUrl} />{' '}
            <span title={fullTime(active.at)}>{ago(active.at)}</span>{' '}
            {active.automatic ? '(automatically)' : active.by ? `by ${active.by}` : ''}
          </p>
          <p className="muted">{active.reason}</p>
          {active.gitRevert && (
            <p>
              Recorded in Git ({active.gitRevert.mode === 'pullRequest' ? 'pull request' : 'revert commit'}):{' '}
              {active.gitRevert.state} — {active.gitRevert.message}
              {revertUrl && (
                <>
                  {' '}
                  <a href={revertUrl} target="_blank" rel="noreferrer noopener">
                    open
                  </a>
                </>
              )}
            </p>
          )}
        </div>
      ) : (
        <p className="muted">No rollback in force: the app follows {detail.app.ref}.</p>
      )}
      <dl className="facts">
        <div>
          <dt>Last healthy revision</dt>
          <dd>
            {lastHealthyRevision ? (
              <>
                <RevisionLink sha={lastHealthyRevision.sha} repositoryUrl={repositoryUrl} />{' '}
                <span className="muted">{lastHealthyRevision.message}</span>
              </>
            ) : (
              <span className="muted">none yet</span>
            )}
          </dd>
        </div>
        <div>
          <dt>Healthy before it</dt>
          <dd>
            {previousHealthyRevision ? (
              <RevisionLink sha={previousHealthyRevision} repositoryUrl={repositoryUrl} />
            ) : (
              <span className="muted">none</span>
            )}
          </dd>
        </div>
      </dl>
      {rejectedRevisions.length > 0 && (
        <>
          <h3>Rejected revisions</h3>
          <p className="hint">Automatic sync does not apply these again until the branch moves past them.</p>
          <ul className="rejected">
            {rejectedRevisions.map((rejected) => (
              <li key={rejected.sha}>
                <RevisionLink sha={rejected.sha} repositoryUrl={repositoryUrl} /> {rejected.reason}{' '}
                <span className="muted" title={fullTime(rejected.rejectedAt)}>
                  {ago(rejected.rejectedAt)}
                  {rejected.by ? ` by ${rejected.by}` : ''}
                </span>
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}
