/**
 * Gitea and Forgejo: `X-Gitea-Signature` / `X-Forgejo-Signature` carry the hex HMAC-SHA256 of the raw
 * body without a prefix; the event is in `X-Gitea-Event` / `X-Forgejo-Event`. Forgejo sends both
 * spellings with the same value.
 */
import { hmacSha256Matches } from './signature.js';
import { distinct, field, header, pullRequestChange, refField, requireUrls, urlField } from './payload.js';
import type { ParsedWebhook, PullRequestAction, WebhookHeaders } from './types.js';

export const signatureHeaders = ['x-forgejo-signature', 'x-gitea-signature'] as const;

export function verify(headers: WebhookHeaders, rawBody: Buffer, secret: string): boolean {
  // The first present header is the one checked; a second, different one cannot help a forger.
  const signature = signatureHeaders
    .map((name) => header(headers, name))
    .find((value) => value !== undefined);
  return hmacSha256Matches(rawBody, secret, signature);
}

export function parse(body: unknown, headers: WebhookHeaders): ParsedWebhook {
  const event = header(headers, 'x-forgejo-event') ?? header(headers, 'x-gitea-event') ?? 'unknown';
  if (event !== 'push' && event !== 'pull_request') return { kind: 'ignored', event, urls: [] };
  const repository = field(body, 'repository');
  const urls = distinct([
    urlField(repository, 'clone_url'),
    urlField(repository, 'ssh_url'),
    urlField(repository, 'html_url'),
  ]);
  if (event === 'pull_request') return pullRequest(body, event, urls);
  return { kind: 'push', event, urls: requireUrls(urls, event), ref: refField(body, 'ref') };
}

/**
 * Gitea sends every pull-request event as `pull_request` (new commits as action `synchronized`, the
 * event type `pull_request_sync` only in `X-Gitea-Event-Type`); a merge is `closed` with `merged`.
 */
const ACTIONS: Readonly<Record<string, PullRequestAction>> = {
  opened: 'opened',
  synchronized: 'synchronized',
  reopened: 'reopened',
  closed: 'closed',
};

function pullRequest(body: unknown, event: string, urls: string[]): ParsedWebhook {
  const action = field(body, 'action');
  const mapped = typeof action === 'string' && Object.hasOwn(ACTIONS, action) ? ACTIONS[action] : undefined;
  if (mapped === undefined) return { kind: 'ignored', event, urls: [] };
  const pull = field(body, 'pull_request');
  const headRepo = field(pull, 'head', 'repo', 'id') ?? field(pull, 'head', 'repo_id');
  const baseRepo = field(pull, 'base', 'repo', 'id') ?? field(pull, 'base', 'repo_id');
  const change = pullRequestChange(
    {
      action: mapped,
      number: field(body, 'number') ?? field(pull, 'number'),
      headSha: field(pull, 'head', 'sha'),
      headRef: field(pull, 'head', 'ref'),
      baseRef: field(pull, 'base', 'ref'),
      merged: field(pull, 'merged'),
      // Unknown counts as a fork: the cautious answer.
      fork: typeof headRepo !== 'number' || headRepo !== baseRepo,
    },
    event,
  );
  return { kind: 'pullRequest', event, urls: requireUrls(urls, event), pullRequest: change };
}
