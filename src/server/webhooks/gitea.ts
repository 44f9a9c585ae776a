/**
 * Gitea and Forgejo: `X-Gitea-Signature` / `X-Forgejo-Signature` carry the hex HMAC-SHA256 of the raw
 * body without a prefix; the event is in `X-Gitea-Event` / `X-Forgejo-Event`. Forgejo sends both
 * spellings with the same value.
 */
import { hmacSha256Matches } from './signature.js';
import { distinct, field, header, refField, requireUrls, urlField } from './payload.js';
import type { ParsedWebhook, WebhookHeaders } from './types.js';

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
  if (event !== 'push') return { kind: 'ignored', event, urls: [] };
  const repository = field(body, 'repository');
  const urls = distinct([
    urlField(repository, 'clone_url'),
    urlField(repository, 'ssh_url'),
    urlField(repository, 'html_url'),
  ]);
  return { kind: 'push', event, urls: requireUrls(urls, event), ref: refField(body, 'ref') };
}
