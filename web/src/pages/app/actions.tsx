/**
 * Sync now, Suspend/Resume, Roll back and Clear rollback: each asks first, in a dialog that says
 * what will happen, then shows the server's answer — its message, or why it refused (403: RBAC or
 * read-only; 409: suspended) — in a live region screen readers announce. The server checks every
 * action again as the user; the buttons are only disabled here to say so before anyone tries.
 */
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useId, useState, type ReactElement, type ReactNode } from 'react';
import type { AppDetail, RollbackRequest } from '../../../../src/server/dashboard/schema.js';
import { api, ApiRequestError } from '../../api/client.js';
import { ConfirmDialog } from '../../components/confirm-dialog.js';
import { shortSha } from '../../format.js';
import { useSession } from '../../session.js';
import { appKeys, showSummary } from './data.js';
import { defaultRollbackTarget, rollbackCandidates } from './rollback.js';

export type ActionRequest =
  | { kind: 'sync' }
  | { kind: 'suspend' }
  | { kind: 'resume' }
  /** `revision` absent: the default target; the dialog still lets one choose. */
  | { kind: 'rollback'; revision?: string | undefined }
  | { kind: 'clearRollback' };

interface Outcome {
  ok: boolean;
  text: string;
}

export interface AppActions {
  /** Why nothing may be done here (read-only, no patch right, deleted); undefined: allowed. */
  blocked: string | undefined;
  ask(request: ActionRequest): void;
  /** The dialog and the result region, rendered once by the page. */
  ui: ReactElement;
  /** The id of the text saying why the buttons are disabled, for aria-describedby. */
  reasonId: string;
}

function describeError(error: unknown): string {
  if (error instanceof ApiRequestError) {
    const why =
      error.status === 403 && error.code === 'read_only'
        ? 'this dashboard is read-only'
        : error.status === 403
          ? `forbidden: ${error.message}`
          : error.message;
    return `Refused (${error.status}): ${why}`;
  }
  return `Failed: ${error instanceof Error ? error.message : String(error)}`;
}

export function useAppActions(detail: AppDetail | undefined, deleted: boolean): AppActions {
  const session = useSession();
  const queryClient = useQueryClient();
  const reasonId = useId();
  const [request, setRequest] = useState<ActionRequest | null>(null);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const namespace = detail?.app.namespace ?? '';
  const name = detail?.app.name ?? '';

  const mutation = useMutation({
    mutationFn: (asked: ActionRequest) => {
      const action = asked.kind === 'clearRollback' ? 'rollback' : asked.kind;
      const body: RollbackRequest | Record<string, never> =
        asked.kind === 'clearRollback'
          ? { clear: true }
          : asked.kind === 'rollback' && asked.revision
            ? { revision: asked.revision }
            : {};
      return api.act(namespace, name, action, body);
    },
    onSuccess: (result) => {
      showSummary(queryClient, result.app);
      // The Event naming the user was recorded before the answer: reload to show it.
      void queryClient.invalidateQueries({ queryKey: appKeys.detail(namespace, name) });
      setOutcome({ ok: true, text: `Done: ${result.message}` });
    },
    onError: (error) => setOutcome({ ok: false, text: describeError(error) }),
    onSettled: () => setRequest(null),
  });

  const blocked =
    session.readOnly || detail?.permissions.readOnly
      ? 'This dashboard is read-only: actions are turned off.'
      : deleted
        ? 'This application was deleted.'
        : detail && !detail.permissions.patch
          ? `You (${session.user.username}) may not patch Applications in namespace ${namespace}, so you can look but not act.`
          : undefined;

  const ask = (asked: ActionRequest) => {
    setOutcome(null);
    setRequest(asked);
  };

  const ui = (
    <>
      {detail && request && (
        <ActionDialog
          detail={detail}
          request={request}
          busy={mutation.isPending}
          onConfirm={(final) => mutation.mutate(final)}
          onCancel={() => setRequest(null)}
        />
      )}
      <div className="action-result" role="status" aria-live="polite" aria-atomic="true">
        {outcome && (
          <p className={outcome.ok ? 'result ok' : 'result failed'}>
            <span aria-hidden="true">{outcome.ok ? '✓ ' : '✖ '}</span>
            {outcome.text}
            <button
              type="button"
              className="link-button"
              onClick={() => setOutcome(null)}
              aria-label="Dismiss message"
            >
              ×
            </button>
          </p>
        )}
      </div>
    </>
  );
  return { blocked, ask, ui, reasonId };
}

/** The buttons of the header. */
export function ActionBar({ detail, actions }: { detail: AppDetail; actions: AppActions }) {
  const { app } = detail;
  const blocked = actions.blocked;
  const syncBlocked = blocked ?? (app.suspended ? 'Suspended: resume it to sync.' : undefined);
  const describedBy = blocked ? actions.reasonId : undefined;
  return (
    <div className="action-bar">
      <div className="action-buttons" role="group" aria-label="Actions">
        <ActionButton
          primary
          blockedBy={syncBlocked}
          describedBy={describedBy}
          onClick={() => actions.ask({ kind: 'sync' })}
        >
          Sync now
        </ActionButton>
        {app.suspended ? (
          <ActionButton
            blockedBy={blocked}
            describedBy={describedBy}
            onClick={() => actions.ask({ kind: 'resume' })}
          >
            Resume
          </ActionButton>
        ) : (
          <ActionButton
            blockedBy={blocked}
            describedBy={describedBy}
            onClick={() => actions.ask({ kind: 'suspend' })}
          >
            Suspend
          </ActionButton>
        )}
        <ActionButton
          blockedBy={blocked}
          describedBy={describedBy}
          onClick={() => actions.ask({ kind: 'rollback' })}
        >
          Roll back…
        </ActionButton>
        {detail.rollback.active && (
          <ActionButton
            blockedBy={blocked}
            describedBy={describedBy}
            onClick={() => actions.ask({ kind: 'clearRollback' })}
          >
            Clear rollback
          </ActionButton>
        )}
      </div>
      {blocked ? (
        <p id={actions.reasonId} className="action-reason">
          {blocked}
        </p>
      ) : app.suspended ? (
        <p className="action-reason">Suspended: Capstan does not reconcile it until resumed.</p>
      ) : null}
    </div>
  );
}

function ActionDialog(props: {
  detail: AppDetail;
  request: ActionRequest;
  busy: boolean;
  onConfirm(request: ActionRequest): void;
  onCancel(): void;
}) {
  const { detail, request } = props;
  const { app } = detail;
  const id = `${app.namespace}/${app.name}`;
  const source = `${app.repository} ${app.ref}${app.path ? ` (${app.path})` : ''}`;
  const common = { open: true, busy: props.busy, onCancel: props.onCancel };
  switch (request.kind) {
    case 'sync':
      return (
        <ConfirmDialog {...common} title={`Sync ${app.name} now?`} onConfirm={() => props.onConfirm(request)}>
          <p>
            Capstan will render <strong>{source}</strong> at its newest revision and apply it to the cluster
            now, as it does for a new commit, taking back any change made outside Git.
          </p>
          <p className="muted">The request is recorded on {id} as an Event naming you.</p>
        </ConfirmDialog>
      );
    case 'suspend':
      return (
        <ConfirmDialog {...common} title={`Suspend ${app.name}?`} onConfirm={() => props.onConfirm(request)}>
          <p>
            Capstan stops reconciling <strong>{id}</strong>: new commits are not applied and changes made in
            the cluster are not taken back, until someone resumes it. Nothing in the cluster changes now.
          </p>
        </ConfirmDialog>
      );
    case 'resume':
      return (
        <ConfirmDialog {...common} title={`Resume ${app.name}?`} onConfirm={() => props.onConfirm(request)}>
          <p>
            Capstan reconciles <strong>{id}</strong> again: it applies the newest revision of {source} if it
            changed while suspended.
          </p>
        </ConfirmDialog>
      );
    case 'clearRollback':
      return (
        <ConfirmDialog
          {...common}
          tone="danger"
          title={`Clear the rollback of ${app.name}?`}
          onConfirm={() => props.onConfirm(request)}
        >
          <p>
            The rejected revisions are forgiven and the head of <strong>{app.ref}</strong> is applied again
            {detail.rollback.active ? (
              <>
                {' '}
                — including <code>{shortSha(detail.rollback.active.from)}</code>, which was rolled back from
              </>
            ) : null}
            .
          </p>
        </ConfirmDialog>
      );
    case 'rollback':
      return <RollbackDialog {...props} request={request} />;
  }
}

function RollbackDialog(props: {
  detail: AppDetail;
  request: Extract<ActionRequest, { kind: 'rollback' }>;
  busy: boolean;
  onConfirm(request: ActionRequest): void;
  onCancel(): void;
}) {
  const { detail } = props;
  const fallback = defaultRollbackTarget(detail);
  const candidates = rollbackCandidates(detail);
  const [choice, setChoice] = useState<'default' | 'chosen'>(
    props.request.revision || !fallback ? 'chosen' : 'default',
  );
  const [revision, setRevision] = useState(props.request.revision ?? candidates[0]?.sha ?? '');
  const groupId = useId();
  const running = detail.app.revision?.sha;
  const target = choice === 'default' ? fallback?.sha : revision;
  const valid = target !== undefined && /^[0-9a-f]{7,64}$/.test(target);
  return (
    <ConfirmDialog
      open
      busy={props.busy}
      tone="danger"
      title={`Roll ${detail.app.name} back?`}
      canConfirm={valid}
      onCancel={props.onCancel}
      onConfirm={() => props.onConfirm({ kind: 'rollback', ...(choice === 'chosen' ? { revision } : {}) })}
    >
      <fieldset className="rollback-choice">
        <legend id={groupId}>Roll back to</legend>
        <label className="radio">
          <input
            type="radio"
            name="rollback-target"
            checked={choice === 'default'}
            disabled={!fallback}
            onChange={() => setChoice('default')}
          />
          <span>
            The previous healthy revision
            {fallback ? (
              <>
                : <code>{shortSha(fallback.sha)}</code>{' '}
                {fallback.message && <span className="muted">{fallback.message}</span>}
              </>
            ) : (
              <span className="muted"> (none known yet)</span>
            )}
          </span>
        </label>
        <label className="radio">
          <input
            type="radio"
            name="rollback-target"
            checked={choice === 'chosen'}
            disabled={candidates.length === 0 && !props.request.revision}
            onChange={() => setChoice('chosen')}
          />
          <span>A revision from the history</span>
        </label>
        {choice === 'chosen' && (
          <label className="revision-select">
            <span className="visually-hidden">Revision</span>
            <select value={revision} onChange={(event) => setRevision(event.target.value)}>
              {props.request.revision && !candidates.some((c) => c.sha === props.request.revision) && (
                <option value={props.request.revision}>{shortSha(props.request.revision)}</option>
              )}
              {candidates.map((candidate) => (
                <option key={candidate.sha} value={candidate.sha}>
                  {shortSha(candidate.sha)} {candidate.message ? `— ${candidate.message.slice(0, 60)}` : ''}
                </option>
              ))}
            </select>
          </label>
        )}
      </fieldset>
      <p>
        Capstan applies {target ? <code>{shortSha(target)}</code> : 'that revision'} and rejects the one
        running now
        {running ? (
          <>
            {' '}
            (<code>{shortSha(running)}</code>)
          </>
        ) : null}
        : automatic sync will not apply it again until {detail.app.ref} moves past it or someone clears the
        rollback.
      </p>
    </ConfirmDialog>
  );
}

/** One action of the bar: disabled, with the reason as its title, while it may not be done. */
function ActionButton(props: {
  blockedBy: string | undefined;
  describedBy: string | undefined;
  primary?: boolean;
  onClick: () => void;
  children: ReactNode;
}) {
  return (
    <button
      type="button"
      {...(props.primary ? { className: 'primary' } : {})}
      disabled={props.blockedBy !== undefined}
      title={props.blockedBy}
      aria-describedby={props.describedBy}
      onClick={props.onClick}
    >
      {props.children}
    </button>
  );
}
