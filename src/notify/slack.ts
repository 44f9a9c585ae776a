/**
 * A Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat, Discord's `/slack`
 * endpoint): `{ text, attachments: [{ color, title, text, fields, footer, ts }] }`.
 *
 * The URL is the credential (anyone holding it may post), so it belongs in the Secret's `url` and is
 * never printed: logs name the Secret, or only the URL's origin when it was written in the spec.
 * Text from Git (commit messages) is escaped, so `<!channel>` or a crafted link in a commit message
 * cannot ping a channel or disguise a link.
 */
import { UserError } from '../core/errors.js';
import { redactUrl } from '../source/redact.js';
import { boundedMessage, shortSha, summary } from './format.js';
import { secretValue } from './secrets.js';
import type { BuildTarget, NotificationEvent, NotificationEventType } from './types.js';
import { displayUrl } from './url.js';

/** Slack shows at most a few thousand characters per attachment text; keep messages short. */
const MAX_TEXT_CHARS = 1000;

const COLORS: Readonly<Record<NotificationEventType, string>> = {
  SyncSucceeded: 'good',
  HealthRecovered: 'good',
  RolledBack: 'warning',
  SyncFailed: 'danger',
  HealthDegraded: 'danger',
  RollbackFailed: 'danger',
};

export interface SlackField {
  readonly title: string;
  readonly value: string;
  readonly short: boolean;
}

export interface SlackPayload {
  readonly text: string;
  readonly attachments: readonly {
    readonly color: string;
    readonly fallback: string;
    readonly title: string;
    readonly text: string;
    readonly fields: readonly SlackField[];
    readonly footer: string;
    readonly ts: number;
  }[];
}

/** Slack's three control characters, as its docs ask: everything else is shown as written. */
export function escapeSlack(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function slackPayload(event: NotificationEvent): SlackPayload {
  const line = escapeSlack(summary(event));
  const fields: SlackField[] = [];
  if (event.revision)
    fields.push({ title: 'Revision', value: `\`${shortSha(event.revision)}\``, short: true });
  if (event.previousRevision) {
    fields.push({ title: 'Rolled back from', value: `\`${shortSha(event.previousRevision)}\``, short: true });
  }
  if (event.ref) fields.push({ title: 'Ref', value: escapeSlack(event.ref.slice(0, 255)), short: true });
  if (event.health)
    fields.push({ title: 'Health', value: escapeSlack(event.health.slice(0, 64)), short: true });
  if (event.repositoryUrl) {
    fields.push({ title: 'Repository', value: escapeSlack(redactUrl(event.repositoryUrl)), short: false });
  }
  return {
    text: line,
    attachments: [
      {
        color: COLORS[event.type],
        fallback: line,
        title: escapeSlack(event.type),
        text: escapeSlack(boundedMessage(event, MAX_TEXT_CHARS)),
        fields,
        footer: 'capstan',
        ts: Math.floor(event.time.getTime() / 1000),
      },
    ],
  };
}

export const build: BuildTarget = ({ event, target, secret }) => {
  const fromSecret = secretValue(secret, 'url');
  const url = fromSecret ?? target.url;
  if (url === undefined) {
    throw new UserError('a slack target needs a Secret (target.secretRef) with key url (or target.url)');
  }
  return {
    request: {
      method: 'POST',
      url,
      headers: { 'Content-Type': 'application/json', 'User-Agent': 'capstan-notifier' },
      body: JSON.stringify(slackPayload(event)),
    },
    urlSource: fromSecret === undefined ? 'spec' : 'secret',
    display:
      fromSecret === undefined || !secret
        ? displayUrl(url, { secretPath: true })
        : `the url of the Secret ${secret.namespace}/${secret.name}`,
  };
};
