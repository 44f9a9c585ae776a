/**
 * What differs between Git and the cluster, and why. Two modes, as the server answers:
 * - `dryRun`: what a sync would change now (a unified diff per object) and, per changed field, who
 *   owns it on the live object — "/spec/replicas — owned by kubectl-scale" is the answer to "why is
 *   this out of sync?" that a plain diff does not give;
 * - `live`: the dry-run could not be made; the objects the last sync found out of sync, as they are,
 *   with every field manager and the fields it owns.
 * Values are shown as the server sent them: it masks Secret data, and the page never tries to undo it.
 */
import { useState } from 'react';
import type { AppDiff, DriftObject, FieldChange } from '../../../../src/server/dashboard/schema.js';
import { SyncBadge } from '../../components/badges.js';
import { ago, fullTime, countOf } from '../../format.js';
import { RevisionLink } from './revision.js';
import { toYaml } from './yaml.js';

/** Capstan's own field manager: fields it owns changed in Git, not in the cluster. */
const CAPSTAN_MANAGER = 'capstan';

export function DiffView(props: {
  diff: AppDiff;
  /** The app's namespace: objects in it are named without it. */
  namespace: string;
  repositoryUrl: string | undefined;
  /** The app changed after this diff was computed. */
  outdated: boolean;
}) {
  const { diff } = props;
  return (
    <>
      <div className="diff-summary">
        <span className={`tag mode-${diff.mode}`}>
          {diff.mode === 'dryRun' ? 'Server-side dry-run' : 'Live state only'}
        </span>
        <SyncBadge state={diff.sync} />
        {diff.revision && (
          <span>
            at <RevisionLink sha={diff.revision} repositoryUrl={props.repositoryUrl} />
          </span>
        )}
        <span className="muted">
          {countOf(
            diff.objects.length + diff.omitted,
            diff.mode === 'dryRun' ? 'object would change' : 'object',
            diff.mode === 'dryRun' ? 'objects would change' : 'objects',
          )}
          {diff.unchanged !== undefined ? ` · ${diff.unchanged} unchanged` : ''}
        </span>
        {diff.computedAt && (
          <span className="muted" title={fullTime(diff.computedAt)}>
            computed {ago(diff.computedAt)}
          </span>
        )}
      </div>
      {diff.note && <p className="notice">{diff.note}</p>}
      {props.outdated && (
        <p className="notice warning" role="status">
          The application changed since this diff was computed: refresh it to see the current difference.
        </p>
      )}
      {diff.objects.length === 0 ? (
        <p className="empty">
          {diff.mode === 'dryRun'
            ? 'No difference: a sync would change nothing.'
            : 'No object is out of sync or failing as of the last sync.'}
        </p>
      ) : (
        <div className="diff-objects">
          {diff.objects.map((object) => (
            <DriftObjectView
              key={`${object.group}/${object.kind}/${object.namespace ?? ''}/${object.name}`}
              object={object}
              namespace={props.namespace}
            />
          ))}
        </div>
      )}
      {diff.omitted > 0 && (
        <p className="notice warning">
          {countOf(diff.omitted, 'more object', 'more objects')} not shown (the server sends at most{' '}
          {diff.objects.length}).
        </p>
      )}
    </>
  );
}

function DriftObjectView({ object, namespace }: { object: DriftObject; namespace: string }) {
  const id = `${object.kind}/${object.name}`;
  return (
    <article className="drift-object card" data-object={id} aria-label={`${object.kind} ${object.name}`}>
      <header className="drift-head">
        <h3>
          <span className="node-kind">{object.kind}</span>{' '}
          <span className="mono">
            {object.namespace && object.namespace !== namespace ? (
              <span className="muted">{object.namespace}/</span>
            ) : null}
            {object.name}
          </span>
        </h3>
        {object.action !== 'hidden' && <span className={`tag action-${object.action}`}>{object.action}</span>}
        {object.state !== 'found' && !(object.state === 'missing' && object.action === 'create') && (
          <span className="tag warning-tag">{object.state}</span>
        )}
      </header>
      {object.message && <p className={object.action === 'failed' ? 'error' : 'muted'}>{object.message}</p>}
      {object.state === 'forbidden' ? (
        <p className="notice warning">You may not read this object, so nothing of it is shown.</p>
      ) : object.state === 'missing' && !object.unifiedDiff ? (
        <p className="notice">It does not exist in the cluster: a sync would create it.</p>
      ) : null}
      {object.changes && object.changes.length > 0 && (
        <ChangesWhy changes={object.changes} omitted={object.changesOmitted ?? 0} />
      )}
      {object.unifiedDiff && (
        <UnifiedDiff
          text={object.unifiedDiff}
          truncated={object.unifiedDiffTruncated === true}
          label={`Changes to ${object.kind} ${object.name}`}
        />
      )}
      {!object.changes && object.owners.length > 0 && <FieldOwners owners={object.owners} />}
      {object.live && <LiveObject live={object.live} />}
    </article>
  );
}

/** Each changed field and who owns it now: the "why" of the difference. */
function ChangesWhy({ changes, omitted }: { changes: FieldChange[]; omitted: number }) {
  return (
    <div className="why">
      <h4>Why it differs</h4>
      <ul className="why-list">
        {changes.map((change) => {
          const others = change.managers.filter((manager) => manager !== CAPSTAN_MANAGER);
          return (
            <li key={`${change.op}:${change.path}`} className={others.length > 0 ? 'foreign' : ''}>
              {change.path === '/' ? (
                // The whole object: created or deleted, nobody's fields to name.
                <span className="field-path">
                  the whole object{' '}
                  {change.op === 'add'
                    ? '(not in the cluster yet)'
                    : change.op === 'remove'
                      ? '(pruned)'
                      : ''}
                </span>
              ) : (
                <>
                  <code className="field-path">{change.path}</code>{' '}
                  <span className={`op op-${change.op}`}>{change.op}</span> — {ownership(change.managers)}
                </>
              )}
            </li>
          );
        })}
        {omitted > 0 && <li className="muted">… and {countOf(omitted, 'more field')}</li>}
      </ul>
    </div>
  );
}

function ownership(managers: string[]) {
  if (managers.length === 0) return <span className="muted">no field manager owns it now</span>;
  return (
    <span>
      owned by{' '}
      {managers.map((manager, index) => (
        <span key={manager}>
          {index > 0 ? ', ' : ''}
          <strong className={manager === CAPSTAN_MANAGER ? 'manager own' : 'manager other'}>{manager}</strong>
        </span>
      ))}
      {managers.every((manager) => manager === CAPSTAN_MANAGER) ? (
        <span className="muted"> (Capstan itself: Git changed)</span>
      ) : (
        <span className="muted"> (changed outside Git)</span>
      )}
    </span>
  );
}

interface ParsedLine {
  kind: 'add' | 'del' | 'ctx' | 'hunk' | 'file' | 'note';
  text: string;
  old?: number;
  new?: number;
}

/** Unified diff lines with their old and new line numbers. */
function parseUnified(text: string): ParsedLine[] {
  const out: ParsedLine[] = [];
  let oldLine = 0;
  let newLine = 0;
  for (const line of text.replace(/\n$/, '').split('\n')) {
    if (line.startsWith('--- ') || line.startsWith('+++ ')) out.push({ kind: 'file', text: line });
    else if (line.startsWith('@@')) {
      const match = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@/.exec(line);
      oldLine = Number(match?.[1] ?? 0);
      newLine = Number(match?.[2] ?? 0);
      out.push({ kind: 'hunk', text: line });
    } else if (line.startsWith('+')) out.push({ kind: 'add', text: line, new: newLine++ });
    else if (line.startsWith('-')) out.push({ kind: 'del', text: line, old: oldLine++ });
    else if (line.startsWith('\\')) out.push({ kind: 'note', text: line });
    else out.push({ kind: 'ctx', text: line, old: oldLine++, new: newLine++ });
  }
  return out;
}

const SPOKEN: Partial<Record<ParsedLine['kind'], string>> = { add: 'added: ', del: 'removed: ' };

function UnifiedDiff({ text, label, truncated }: { text: string; label: string; truncated: boolean }) {
  const lines = parseUnified(text);
  const added = lines.filter((line) => line.kind === 'add').length;
  const removed = lines.filter((line) => line.kind === 'del').length;
  return (
    <figure className="unified">
      <figcaption className="muted">
        <span className="count-add">+{added}</span> <span className="count-del">−{removed}</span> lines ·{' '}
        <span className="mono">--- live</span> / <span className="mono">+++ desired</span>
      </figcaption>
      {/* Scrolls inside its own box: long lines never widen the page. */}
      <pre className="diff-box" tabIndex={0} aria-label={label}>
        <code>
          {lines.map((line, index) => (
            <span key={index} className={`diff-line ${line.kind}`}>
              <span className="ln" aria-hidden="true">
                {line.old ?? ''}
              </span>
              <span className="ln" aria-hidden="true">
                {line.new ?? ''}
              </span>
              <span className="visually-hidden">{SPOKEN[line.kind] ?? ''}</span>
              <span className="text">{line.text || ' '}</span>
              {'\n'}
            </span>
          ))}
        </code>
      </pre>
      {truncated && (
        <p className="notice warning">The diff is longer than the server sends (64 KiB): its end is cut.</p>
      )}
    </figure>
  );
}

type Owner = DriftObject['owners'][number];

/** Managers other than Capstan and the status writers: the likely authors of a drift. */
const suspicious = (owner: Owner): boolean =>
  owner.manager !== CAPSTAN_MANAGER && owner.subresource !== 'status';

function FieldOwners({ owners }: { owners: Owner[] }) {
  const sorted = [...owners].sort((a, b) => Number(suspicious(b)) - Number(suspicious(a)));
  const others = sorted.filter(suspicious);
  return (
    <div className="why">
      <h4>Who owns its fields</h4>
      {others.length > 0 ? (
        <p>
          Changed outside Git by{' '}
          {others.map((owner, index) => (
            <span key={`${owner.manager}/${owner.subresource ?? ''}/${owner.operation ?? ''}`}>
              {index > 0 ? ', ' : ''}
              <strong className="manager other">{owner.manager}</strong>
            </span>
          ))}
          : the fields they own are what a sync would take back.
        </p>
      ) : (
        <p className="muted">Only Capstan and the cluster&apos;s controllers own fields of it.</p>
      )}
      <ul className="owners">
        {sorted.map((owner) => (
          <li
            key={`${owner.manager}/${owner.subresource ?? ''}/${owner.operation ?? ''}`}
            className={suspicious(owner) ? 'foreign' : ''}
          >
            <details>
              <summary>
                <strong
                  className={`manager ${owner.manager === CAPSTAN_MANAGER ? 'own' : suspicious(owner) ? 'other' : 'system'}`}
                >
                  {owner.manager}
                </strong>{' '}
                <span className="muted">
                  {[owner.operation, owner.subresource && `/${owner.subresource}`].filter(Boolean).join(' ')}
                  {owner.time ? ` · ${ago(owner.time)}` : ''} ·{' '}
                  {countOf(owner.fields.length + (owner.fieldsOmitted ?? 0), 'field')}
                </span>
                {suspicious(owner) && owner.fields.length > 0 && (
                  <span className="field-preview mono">
                    {' '}
                    {owner.fields.slice(0, 3).join(', ')}
                    {owner.fields.length > 3 ? ', …' : ''}
                  </span>
                )}
              </summary>
              <ul className="field-list mono">
                {owner.fields.map((field) => (
                  <li key={field}>{field}</li>
                ))}
                {owner.fieldsOmitted ? <li className="muted">… and {owner.fieldsOmitted} more</li> : null}
              </ul>
            </details>
          </li>
        ))}
      </ul>
    </div>
  );
}

function LiveObject({ live }: { live: Record<string, unknown> }) {
  const [open, setOpen] = useState(false);
  return (
    <details className="live-object" onToggle={(event) => setOpen(event.currentTarget.open)}>
      <summary>Live object (as the cluster has it, values masked)</summary>
      {open && (
        <pre className="diff-box yaml" tabIndex={0}>
          <code>{toYaml(live)}</code>
        </pre>
      )}
    </details>
  );
}
