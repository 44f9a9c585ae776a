/**
 * Capstan's own format, for CI jobs and hosts without a receiver here: `X-Capstan-Signature:
 * sha256=<hex HMAC-SHA256 of the raw body>` and a JSON body
 * `{ "repository": "<url>", "ref": "refs/heads/main" }` (`ref` optional).
 */
import { UserError } from '../../core/errors.js';
import { hmacSha256Matches, withoutPrefix } from './signature.js';
import { field, header, refField, urlField } from './payload.js';
import type { ParsedWebhook, WebhookHeaders } from './types.js';

export const signatureHeaders = ['x-capstan-signature'] as const;

export function verify(headers: WebhookHeaders, rawBody: Buffer, secret: string): boolean {
  const signature = withoutPrefix(header(headers, 'x-capstan-signature'), 'sha256=');
  return hmacSha256Matches(rawBody, secret, signature);
}

export function parse(body: unknown, _headers: WebhookHeaders): ParsedWebhook {
  const repository = urlField(body, 'repository');
  if (repository === undefined) {
    throw new UserError('payload must be {"repository": "<url>", "ref"?: "<ref>"}');
  }
  const ref = field(body, 'ref');
  if (ref !== undefined && refField(body, 'ref') === undefined) {
    throw new UserError('"ref" must be a non-empty string');
  }
  return { kind: 'push', event: 'push', urls: [repository], ref: refField(body, 'ref') };
}
