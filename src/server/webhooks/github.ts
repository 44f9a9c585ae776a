/**
 * GitHub (and GitHub Enterprise Server): `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw
 * body>`, the event in `X-GitHub-Event`. JSON or form-encoded bodies (the server decodes both).
 */
import { hmacSha256Matches, withoutPrefix } from './signature.js';
import { distinct, field, header, refField, requireUrls, urlField } from './payload.js';
import type { ParsedWebhook, WebhookHeaders } from './types.js';

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
  if (event !== 'push') return { kind: 'ignored', event, urls: [] };
  return { kind: 'push', event, urls: requireUrls(urls, event), ref: refField(body, 'ref') };
}
