/**
 * Container registries announcing a pushed image, so that the ImagePolicies of that image scan now
 * rather than at their next interval. Like a Git push, it is only a hint: the scan asks the
 * registry itself which tags exist, so a forged or stale event can cost a tag list and nothing else.
 *
 * Registries cannot sign their notifications, but they can send a fixed header: the CNCF
 * distribution registry's `notifications.endpoints[].headers`, Harbor's webhook "Auth Header". So
 * the receiver takes `Authorization: Bearer <secret>`, or Capstan's own `X-Capstan-Signature:
 * sha256=<HMAC of the body>` (CI jobs).
 *
 * Payloads:
 * - distribution: `{"events": [{"action": "push", "target": {"repository": "team/web", "tag": "1.2.0", …}}]}`
 *   (manifest pushes; blob pushes carry a layer media type and are ignored);
 * - Harbor: `{"type": "PUSH_ARTIFACT", "event_data": {"repository": {"repo_full_name": "team/web"}}}`;
 * - Capstan's: `{"repository": "team/web"}` (the image's path in the registry).
 */
import { UserError } from '../../core/errors.js';
import { field, header } from './payload.js';
import { hmacSha256Matches, tokenMatches, withoutPrefix } from './signature.js';
import type { ParsedWebhook, PushedImage, WebhookHeaders } from './types.js';

export const signatureHeaders = ['authorization', 'x-capstan-signature'] as const;

/** Images one notification may name; distribution batches, but not more than this. */
const MAX_IMAGES = 100;
/** An image path (`team/web`) as the distribution spec allows it, bounded. */
const REPOSITORY_PATH = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const MAX_REPOSITORY_LENGTH = 255;
/** Media types of manifests and indexes: what a push of an image (not of one of its layers) sends. */
const MANIFEST_TYPE = /manifest|index/;

export function verify(headers: WebhookHeaders, rawBody: Buffer, secret: string): boolean {
  const bearer = withoutPrefix(header(headers, 'authorization'), 'bearer ');
  if (bearer !== undefined) return tokenMatches(bearer.trim(), secret);
  const signature = withoutPrefix(header(headers, 'x-capstan-signature'), 'sha256=');
  return hmacSha256Matches(rawBody, secret, signature);
}

export function parse(body: unknown, _headers: WebhookHeaders): ParsedWebhook {
  const events = field(body, 'events');
  if (Array.isArray(events)) return distributionEvents(events);
  if (typeof field(body, 'type') === 'string') return harborEvent(body);
  const repository = imagePath(field(body, 'repository'));
  if (repository === undefined) {
    throw new UserError(
      'payload must be a registry notification ({"events": [...]}, Harbor\'s, or {"repository": "<image path>"})',
    );
  }
  return image('push', [{ repository }]);
}

function distributionEvents(events: readonly unknown[]): ParsedWebhook {
  if (events.length > MAX_IMAGES)
    throw new UserError(`the notification names more than ${MAX_IMAGES} events`);
  const images: PushedImage[] = [];
  for (const event of events) {
    if (field(event, 'action') !== 'push') continue;
    const mediaType = field(event, 'target', 'mediaType');
    if (typeof mediaType === 'string' && !MANIFEST_TYPE.test(mediaType)) continue;
    const repository = imagePath(field(event, 'target', 'repository'));
    if (repository === undefined) throw new UserError("an event's target.repository is not an image path");
    if (!images.some((known) => known.repository === repository)) images.push({ repository });
  }
  return images.length > 0 ? image('push', images) : ignored('events');
}

function harborEvent(body: unknown): ParsedWebhook {
  if (field(body, 'type') !== 'PUSH_ARTIFACT') return ignored(String(field(body, 'type')).slice(0, 64));
  const repository = imagePath(field(body, 'event_data', 'repository', 'repo_full_name'));
  if (repository === undefined)
    throw new UserError('event_data.repository.repo_full_name is not an image path');
  return image('PUSH_ARTIFACT', [{ repository }]);
}

function imagePath(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > MAX_REPOSITORY_LENGTH) return undefined;
  const path = value.toLowerCase();
  return REPOSITORY_PATH.test(path) ? path : undefined;
}

function image(event: string, images: PushedImage[]): ParsedWebhook {
  return { kind: 'image', event, urls: [], images };
}

function ignored(event: string): ParsedWebhook {
  return { kind: 'ignored', event, urls: [] };
}
