/**
 * GitLab: the secret travels as a plain token in `X-Gitlab-Token` (GitLab does not sign bodies), the
 * event in `X-Gitlab-Event`. Project hooks send `Push Hook` / `Tag Push Hook`; system hooks send
 * `System Hook` with the same `object_kind`.
 */
import { tokenMatches } from './signature.js';
import { distinct, field, header, refField, requireUrls, urlField } from './payload.js';
import type { ParsedWebhook, WebhookHeaders } from './types.js';

export const signatureHeaders = ['x-gitlab-token'] as const;

export function verify(headers: WebhookHeaders, _rawBody: Buffer, secret: string): boolean {
  return tokenMatches(header(headers, 'x-gitlab-token'), secret);
}

const PUSH_KINDS = new Set(['push', 'tag_push']);

export function parse(body: unknown, headers: WebhookHeaders): ParsedWebhook {
  const event = header(headers, 'x-gitlab-event') ?? 'unknown';
  const objectKind = field(body, 'object_kind');
  if (typeof objectKind !== 'string' || !PUSH_KINDS.has(objectKind)) {
    return { kind: 'ignored', event, urls: [] };
  }
  const urls = distinct([
    urlField(body, 'project', 'git_http_url'),
    urlField(body, 'project', 'git_ssh_url'),
    urlField(body, 'project', 'web_url'),
    // Older GitLab versions, and the deprecated `repository` block that newer ones still send.
    urlField(body, 'project', 'http_url'),
    urlField(body, 'project', 'ssh_url'),
    urlField(body, 'repository', 'git_http_url'),
    urlField(body, 'repository', 'git_ssh_url'),
    urlField(body, 'repository', 'homepage'),
  ]);
  return { kind: 'push', event, urls: requireUrls(urls, event), ref: refField(body, 'ref') };
}
