/** The smaller sections: the app's Events, its conditions, and its Repository. */
import type { AppDetail } from '../../../../src/server/dashboard/schema.js';
import { ago, fullTime, shortSha } from '../../format.js';
import { RevisionLink } from './revision.js';

type Condition = AppDetail['conditions'][number];

export function EventsPanel({ detail }: { detail: AppDetail }) {
  const { events, eventsError } = detail;
  return (
    <section aria-labelledby="events-title">
      <div className="panel-head">
        <h2 id="events-title">Events</h2>
        <p className="hint">Kubernetes Events about this Application, newest first.</p>
      </div>
      {eventsError && (
        <p className="notice warning" role="note">
          The Events could not be read: {eventsError}
          {eventsError === 'forbidden' ? ' (your identity may not list Events in this namespace).' : '.'}
        </p>
      )}
      {events.length === 0 ? (
        !eventsError && <p className="empty">No Events (Kubernetes keeps them for about an hour).</p>
      ) : (
        <div className="table-box">
          <table className="data-table stack-on-phone events-table">
            <thead>
              <tr>
                <th scope="col">Type</th>
                <th scope="col">Reason</th>
                <th scope="col">Message</th>
                <th scope="col">Count</th>
                <th scope="col">Last seen</th>
              </tr>
            </thead>
            <tbody>
              {events.map((event, index) => (
                <tr key={`${event.lastTimestamp ?? ''}-${event.reason}-${index}`} data-reason={event.reason}>
                  <td data-label="Type">
                    <span className={`event-type ${event.type === 'Warning' ? 'warning' : 'normal'}`}>
                      <span aria-hidden="true">{event.type === 'Warning' ? '⚠ ' : 'ℹ '}</span>
                      {event.type}
                    </span>
                  </td>
                  <td data-label="Reason">
                    <strong>{event.reason}</strong>
                    {event.source && <span className="muted small"> {event.source}</span>}
                  </td>
                  <td data-label="Message" className="message-cell">
                    {event.message}
                  </td>
                  <td data-label="Count">{event.count}</td>
                  <td data-label="Last seen">
                    <time dateTime={event.lastTimestamp} title={fullTime(event.lastTimestamp)}>
                      {ago(event.lastTimestamp)}
                    </time>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

export function ConditionTable({ conditions, caption }: { conditions: Condition[]; caption: string }) {
  if (conditions.length === 0) return <p className="empty">No conditions reported yet.</p>;
  return (
    <div className="table-box">
      <table className="data-table stack-on-phone">
        <caption className="visually-hidden">{caption}</caption>
        <thead>
          <tr>
            <th scope="col">Type</th>
            <th scope="col">Status</th>
            <th scope="col">Reason</th>
            <th scope="col">Message</th>
            <th scope="col">Since</th>
          </tr>
        </thead>
        <tbody>
          {conditions.map((condition) => (
            <tr key={condition.type}>
              <td data-label="Type">
                <strong>{condition.type}</strong>
              </td>
              <td data-label="Status">
                <ConditionStatus condition={condition} />
              </td>
              <td data-label="Reason">{condition.reason}</td>
              <td data-label="Message" className="message-cell">
                {condition.message}
              </td>
              <td data-label="Since">
                <time dateTime={condition.lastTransitionTime} title={fullTime(condition.lastTransitionTime)}>
                  {ago(condition.lastTransitionTime)}
                </time>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/**
 * kstatus polarity: Ready=True is good, Reconciling/Stalled=True are not, so the colour follows
 * the meaning rather than the word.
 */
function ConditionStatus({ condition }: { condition: Condition }) {
  const abnormal = condition.type === 'Reconciling' || condition.type === 'Stalled';
  const good = abnormal ? condition.status === 'False' : condition.status === 'True';
  const tone =
    condition.status === 'Unknown'
      ? 'unknown'
      : good
        ? 'good'
        : abnormal && condition.type === 'Reconciling'
          ? 'busy'
          : 'bad';
  const icon = { good: '✓', bad: '✖', busy: '◐', unknown: '?' }[tone];
  return (
    <span className={`cond cond-${tone}`}>
      <span aria-hidden="true">{icon}</span> {condition.status}
    </span>
  );
}

export function ConditionsPanel({ detail }: { detail: AppDetail }) {
  const stale =
    detail.generation !== undefined &&
    detail.observedGeneration !== undefined &&
    detail.generation !== detail.observedGeneration;
  return (
    <section aria-labelledby="conditions-title">
      <div className="panel-head">
        <h2 id="conditions-title">Conditions</h2>
      </div>
      {stale && (
        <p className="notice" role="note">
          The controller has not caught up with the latest spec yet (generation {detail.generation}, observed{' '}
          {detail.observedGeneration}).
        </p>
      )}
      <ConditionTable conditions={detail.conditions} caption="Conditions of the Application" />
      <h3>Status</h3>
      <dl className="facts">
        {detail.lastError && (
          <div className="wide">
            <dt>Last error</dt>
            <dd>
              <pre className="error-text">{detail.lastError}</pre>
            </dd>
          </div>
        )}
        <div>
          <dt>Last attempted revision</dt>
          <dd>
            <RevisionLink sha={detail.lastAttemptedRevision} repositoryUrl={detail.repository.url} />
          </dd>
        </div>
        {detail.rollout && (
          <div>
            <dt>Rollout awaiting health</dt>
            <dd>
              <code>{shortSha(detail.rollout.revision)}</code> since{' '}
              <span title={fullTime(detail.rollout.startedAt)}>{ago(detail.rollout.startedAt)}</span>
            </dd>
          </div>
        )}
        {detail.inventory && (
          <div>
            <dt>Inventory</dt>
            <dd>
              <code>{detail.inventory.configMap}</code> ({detail.inventory.entries} objects)
            </dd>
          </div>
        )}
        {detail.lastHandledRequest && (
          <div>
            <dt>Last sync request handled</dt>
            <dd className="mono small">{detail.lastHandledRequest}</dd>
          </div>
        )}
        <div>
          <dt>Generation</dt>
          <dd>
            {detail.generation ?? '—'} (observed {detail.observedGeneration ?? '—'})
          </dd>
        </div>
      </dl>
    </section>
  );
}

export function RepositoryPanel({ detail }: { detail: AppDetail }) {
  const repository = detail.repository;
  return (
    <section aria-labelledby="repository-title">
      <div className="panel-head">
        <h2 id="repository-title">
          Repository <span className="mono">{repository.name}</span>
        </h2>
      </div>
      {repository.state === 'forbidden' ? (
        <p className="notice warning">
          You may not read the Repository <code>{repository.name}</code> in {detail.app.namespace}.
        </p>
      ) : repository.state === 'missing' ? (
        <p className="notice danger">
          There is no Repository <code>{repository.name}</code> in {detail.app.namespace}: the app cannot
          fetch anything until one exists.
        </p>
      ) : (
        <>
          <dl className="facts">
            <div className="wide">
              <dt>URL</dt>
              <dd className="mono break">{repository.url}</dd>
            </div>
            <div>
              <dt>Ready</dt>
              <dd>
                <span className={`cond cond-${readyTone(repository.ready)}`}>
                  <span aria-hidden="true">
                    {repository.ready === 'True' ? '✓' : repository.ready === 'False' ? '✖' : '?'}
                  </span>{' '}
                  {repository.ready ?? 'Unknown'}
                </span>{' '}
                {repository.reason && <strong>{repository.reason}</strong>}
                {repository.message && <span className="muted"> {repository.message}</span>}
              </dd>
            </div>
            <div>
              <dt>Polls every</dt>
              <dd>
                {repository.interval ?? '—'}
                {repository.suspended && <span className="tag warning-tag">suspended</span>}
              </dd>
            </div>
            {repository.lastError && (
              <div className="wide">
                <dt>Last error</dt>
                <dd>
                  <pre className="error-text">{repository.lastError}</pre>
                </dd>
              </div>
            )}
          </dl>
          <h3>Fetched revisions</h3>
          {repository.revisions && repository.revisions.length > 0 ? (
            <div className="table-box">
              <table className="data-table stack-on-phone">
                <thead>
                  <tr>
                    <th scope="col">Ref</th>
                    <th scope="col">Revision</th>
                    <th scope="col">Fetched</th>
                  </tr>
                </thead>
                <tbody>
                  {repository.revisions.map((revision) => (
                    <tr key={revision.ref}>
                      <td data-label="Ref" className="mono">
                        {revision.ref}
                      </td>
                      <td data-label="Revision">
                        <RevisionLink sha={revision.sha} repositoryUrl={repository.url} />
                      </td>
                      <td data-label="Fetched">
                        <time dateTime={revision.fetchedAt} title={fullTime(revision.fetchedAt)}>
                          {ago(revision.fetchedAt)}
                        </time>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ) : (
            <p className="empty">Nothing fetched yet.</p>
          )}
          <h3>Conditions</h3>
          <ConditionTable conditions={repository.conditions ?? []} caption="Conditions of the Repository" />
        </>
      )}
    </section>
  );
}

const readyTone = (ready: string | undefined): string =>
  ready === 'True' ? 'good' : ready === 'False' ? 'bad' : 'unknown';
