/**
 * POST /api/v1/apps/:ns/:name/{sync,suspend,resume,rollback}: what `capstan sync`, `suspend`,
 * `resume` and `rollback` do (src/cli/commands/apps-run.ts), done with the user's own client, so the
 * API server decides with their RBAC (403 when they may not patch Applications there).
 *
 * - sync: `capstan.dev/requested-at` (a fresh id) and `capstan.dev/requested-by` (the user as the
 *   API server named them at login), together in one patch, as the controller expects;
 * - suspend / resume: `spec.suspend`;
 * - rollback: `capstan.dev/rollback` = JSON `{id, to?, clear?, by}`.
 *
 * Each is then recorded as an Event on the Application naming who did it (by the controller's
 * identity in controller mode, since users seldom may create Events; a failed Event does not undo
 * the action).
 */
import { randomBytes } from 'node:crypto';
import { GROUP, REQUESTED_AT_ANNOTATION, ROLLBACK_ANNOTATION, type Application } from '../../api/v1alpha1.js';
import { REQUESTED_BY_ANNOTATION } from '../../controller/history.js';
import type { EventRecorder } from '../../controller/events.js';
import { CapstanError } from '../../core/errors.js';
import type { KubeClient } from '../../kube/index.js';
import type { UserIdentity } from './identity.js';
import type { DashboardAction, RollbackRequest } from './schema.js';

export interface ActionInputs {
  readonly kube: KubeClient;
  readonly identity: UserIdentity;
  /** The Application as the user just read it. */
  readonly app: Application;
  readonly recordEvent: EventRecorder;
  readonly now: Date;
}

export interface ActionOutcome {
  readonly app: Application;
  readonly message: string;
}

function requestId(now: Date): string {
  return `${now.toISOString()}-${randomBytes(4).toString('hex')}`;
}

export async function runAction(
  action: DashboardAction,
  inputs: ActionInputs,
  body: RollbackRequest | Record<string, never>,
): Promise<ActionOutcome> {
  const { kube, identity, app, now } = inputs;
  const { namespace, name } = app.metadata;
  const ref = { group: GROUP, kind: 'Application', namespace, name };
  const who = identity.username;
  let patch: unknown;
  let reason: string;
  let message: string;
  switch (action) {
    case 'sync': {
      // The controller skips suspended apps, so the request would never be handled.
      if (app.spec.suspend)
        throw new CapstanError('conflict', `application ${namespace}/${name} is suspended; resume it first`);
      const id = requestId(now);
      patch = {
        metadata: { annotations: { [REQUESTED_AT_ANNOTATION]: id, [REQUESTED_BY_ANNOTATION]: who } },
      };
      reason = 'SyncRequested';
      message = `sync requested by ${who} from the dashboard (${REQUESTED_AT_ANNOTATION}=${id})`;
      break;
    }
    case 'suspend':
    case 'resume': {
      const suspend = action === 'suspend';
      patch = { spec: { suspend } };
      reason = suspend ? 'Suspended' : 'Resumed';
      message = `${suspend ? 'suspended' : 'resumed'} by ${who} from the dashboard`;
      break;
    }
    case 'rollback': {
      const request = body as RollbackRequest;
      const clear = 'clear' in request && request.clear === true;
      const to = 'revision' in request ? request.revision : undefined;
      const annotation = {
        id: requestId(now),
        ...(to ? { to } : {}),
        ...(clear ? { clear: true } : {}),
        by: who,
      };
      patch = { metadata: { annotations: { [ROLLBACK_ANNOTATION]: JSON.stringify(annotation) } } };
      reason = 'RollbackRequested';
      message = clear
        ? `rejected revisions cleared by ${who} from the dashboard: the branch head is applied again`
        : `rollback to ${to ?? 'the healthy revision before the one running'} requested by ${who} from the dashboard`;
      break;
    }
  }
  const patched = await kube.patch<Application>(ref, patch, 'merge', { fieldManager: 'capstan-dashboard' });
  await inputs.recordEvent(patched, 'Normal', reason, message);
  return { app: patched, message };
}
