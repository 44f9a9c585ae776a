/**
 * GitHub (and GitHub Enterprise Server): `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw
 * body>`, the event in `X-GitHub-Event` (`push`, `pull_request`, `ping`). JSON or form-encoded bodies (the server decodes both).
 */
import { hmacSha256Matches, withoutPrefix } from './signature.js';
import { distinct, field, header, pullRequestChange, refField, requireUrls, urlField } from './payload.js';
import type { ParsedWebhook, PullRequestAction, WebhookHeaders } from './types.js';

export const signatureHeaders = ['x-hub-signature-256'] as const;

export function verify(headers: WebhookHeaders, rawBody: Buffer, secret: string): boolean {
  const signature = withoutPrefix(header(headers, 'x-hub-signature-256'), 'sha256=');
  return hmacSha256Matches(rawBody, secret, signature);
}

// Every URL a push payload gives for its repository; `url` is the web URL in push events.
const URL_FIELDS = ['clone_url', 'ssh_url', 'git_url', 'html_url', 'url'] as const;

export function parse(body: unknown, headers: WebhookHeaders): ParsedWebhook {
  const event = header(headers, 'x-github-event') ?? 'unknown';
  const repository = field(body, 'repository');
  const urls = distinct(URL_FIELDS.map((name) => urlField(repository, name)));
  if (event === 'ping') return { kind: 'ping', event, urls };
  if (event === 'pull_request') return pullRequest(body, event, urls);
  if (event !== 'push') return { kind: 'ignored', event, urls: [] };
  return { kind: 'push', event, urls: requireUrls(urls, event), ref: refField(body, 'ref') };
}

/** GitHub's actions that change what a plan would say; labels, reviews, edits and the rest do not. */
const ACTIONS: Readonly<Record<string, PullRequestAction>> = {
  opened: 'opened',
  synchronize: 'synchronized',
  reopened: 'reopened',
  closed: 'closed',
};

function pullRequest(body: unknown, event: string, urls: string[]): ParsedWebhook {
  const action = field(body, 'action');
  const mapped = typeof action === 'string' && Object.hasOwn(ACTIONS, action) ? ACTIONS[action] : undefined;
  if (mapped === undefined) return { kind: 'ignored', event, urls: [] };
  const pull = field(body, 'pull_request');
  // The head repository is null when the fork was deleted; unknown counts as a fork.
  const headRepo = field(pull, 'head', 'repo', 'id');
  const baseRepo = field(pull, 'base', 'repo', 'id');
  const change = pullRequestChange(
    {
      action: mapped,
      number: field(body, 'number') ?? field(pull, 'number'),
      headSha: field(pull, 'head', 'sha'),
      headRef: field(pull, 'head', 'ref'),
      baseRef: field(pull, 'base', 'ref'),
      merged: field(pull, 'merged'),
      fork: typeof headRepo !== 'number' || headRepo !== baseRepo,
    },
    event,
  );
  return { kind: 'pullRequest', event, urls: requireUrls(urls, event), pullRequest: change };
}
