/**
 * Bitbucket Cloud: a hook with a secret sends `X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw
 * body>`; the event is in `X-Event-Key` (`repo:push`). The payload gives the web URL and
 * `full_name`; the clone URLs are derived from `full_name` because the payload does not carry them.
 */
import { hmacSha256Matches, withoutPrefix } from './signature.js';
import { distinct, field, header, refField, requireUrls, urlField } from './payload.js';
import type { ParsedWebhook, WebhookHeaders } from './types.js';

export const signatureHeaders = ['x-hub-signature'] as const;

export function verify(headers: WebhookHeaders, rawBody: Buffer, secret: string): boolean {
  const signature = withoutPrefix(header(headers, 'x-hub-signature'), 'sha256=');
  return hmacSha256Matches(rawBody, secret, signature);
}

/** `workspace/repo-slug`; anything else would make us build a URL out of arbitrary text. */
const FULL_NAME = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;
const BITBUCKET_HOST = 'bitbucket.org';

export function parse(body: unknown, headers: WebhookHeaders): ParsedWebhook {
  const event = header(headers, 'x-event-key') ?? 'unknown';
  if (event !== 'repo:push') return { kind: 'ignored', event, urls: [] };
  const fullName = field(body, 'repository', 'full_name');
  const derived =
    typeof fullName === 'string' && FULL_NAME.test(fullName)
      ? [`https://${BITBUCKET_HOST}/${fullName}.git`, `git@${BITBUCKET_HOST}:${fullName}.git`]
      : [];
  const urls = distinct([urlField(body, 'repository', 'links', 'html', 'href'), ...derived]);
  return { kind: 'push', event, urls: requireUrls(urls, event), ref: singleRef(body) };
}

/**
 * One push may move several refs (`push.changes[]`); a single `ref` is reported only when they all
 * agree, otherwise none, which tells the caller "any ref of this repository".
 */
function singleRef(body: unknown): string | undefined {
  const changes = field(body, 'push', 'changes');
  if (!Array.isArray(changes)) return undefined;
  const refs = new Set<string | undefined>();
  for (const change of changes as unknown[]) {
    // `new` is null when a branch or tag was deleted; the old side names the ref then.
    const side = field(change, 'new') ?? field(change, 'old');
    const name = refField(side, 'name');
    const type = field(side, 'type');
    const prefix = type === 'branch' ? 'refs/heads/' : type === 'tag' ? 'refs/tags/' : undefined;
    refs.add(name !== undefined && prefix !== undefined ? `${prefix}${name}` : undefined);
  }
  const [only] = refs;
  return refs.size === 1 ? only : undefined;
}
