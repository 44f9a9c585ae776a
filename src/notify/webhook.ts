/**
 * A generic JSON webhook, signed the way Capstan's own receiver (server/webhooks/generic.ts) and
 * GitHub sign theirs: `X-Capstan-Signature: sha256=<hex HMAC-SHA256 of the raw body>` under the
 * Secret's `hmacKey`.
 *
 * The body carries the delivery's `id` and the attempt's `timestamp` (unix seconds), so the
 * signature covers both; the `X-Capstan-Delivery` and `X-Capstan-Timestamp` headers repeat them for
 * routing. A receiver verifies with `verifyDelivery` (or the same steps in its own language):
 *   1. the HMAC of the raw bytes, compared in constant time, before parsing anything;
 *   2. `timestamp` within ±5 minutes of its clock (an old captured request is refused);
 *   3. `id` not seen in the last 10 minutes (a replay inside the window is refused; and a retry
 *      whose first attempt did arrive carries the same id, so it is not acted on twice).
 */
import { createHmac } from 'node:crypto';
import { UserError } from '../core/errors.js';
import { hmacSha256Matches, withoutPrefix } from '../server/webhooks/signature.js';
import { redactUrl } from '../source/redact.js';
import { boundedMessage, summary } from './format.js';
import { secretValue } from './secrets.js';
import type { BuildTarget, NotificationEvent, NotificationEventType } from './types.js';
import { displayUrl } from './url.js';

export const SIGNATURE_HEADER = 'X-Capstan-Signature';
export const TIMESTAMP_HEADER = 'X-Capstan-Timestamp';
export const DELIVERY_HEADER = 'X-Capstan-Delivery';
export const EVENT_HEADER = 'X-Capstan-Event';

/** What a webhook receives (JSON). Stable: fields are only ever added. */
export interface WebhookPayload {
  /** The delivery: the same for every attempt of it. */
  readonly id: string;
  /** This attempt, in unix seconds. */
  readonly timestamp: number;
  readonly type: NotificationEventType;
  readonly application: { readonly namespace: string; readonly name: string };
  readonly revision?: string;
  readonly previousRevision?: string;
  readonly ref?: string;
  readonly health?: string;
  /** One line for people: `team-a/web synced at abc1234def56`. */
  readonly summary: string;
  readonly message: string;
  /** When it happened (ISO 8601). */
  readonly time: string;
  /** The Repository URL, credentials and query values redacted. */
  readonly repository?: string;
}

export function payloadOf(event: NotificationEvent, deliveryId: string, now: Date): WebhookPayload {
  return {
    id: deliveryId,
    timestamp: Math.floor(now.getTime() / 1000),
    type: event.type,
    application: { namespace: event.application.namespace, name: event.application.name },
    ...(event.revision ? { revision: event.revision } : {}),
    ...(event.previousRevision ? { previousRevision: event.previousRevision } : {}),
    ...(event.ref ? { ref: event.ref } : {}),
    ...(event.health ? { health: event.health } : {}),
    summary: summary(event),
    message: boundedMessage(event),
    time: event.time.toISOString(),
    ...(event.repositoryUrl ? { repository: redactUrl(event.repositoryUrl) } : {}),
  };
}

/** `sha256=<hex HMAC-SHA256 of body under key>`. */
export function signature(body: string | Buffer, key: string): string {
  return `sha256=${createHmac('sha256', key).update(body).digest('hex')}`;
}

export const build: BuildTarget = ({ event, target, secret, deliveryId, now }) => {
  const fromSecret = secretValue(secret, 'url');
  const url = fromSecret ?? target.url;
  if (url === undefined) {
    throw new UserError('a webhook needs target.url or a Secret (target.secretRef) with key url');
  }
  const payload = payloadOf(event, deliveryId, now);
  const body = JSON.stringify(payload);
  const hmacKey = secretValue(secret, 'hmacKey');
  return {
    request: {
      method: 'POST',
      url,
      headers: {
        'Content-Type': 'application/json',
        'User-Agent': 'capstan-notifier',
        [EVENT_HEADER]: event.type,
        [DELIVERY_HEADER]: deliveryId,
        [TIMESTAMP_HEADER]: String(payload.timestamp),
        ...(hmacKey === undefined ? {} : { [SIGNATURE_HEADER]: signature(body, hmacKey) }),
      },
      body,
    },
    urlSource: fromSecret === undefined ? 'spec' : 'secret',
    display:
      fromSecret === undefined || !secret
        ? displayUrl(url)
        : `the url of the Secret ${secret.namespace}/${secret.name}`,
  };
};

export type VerifyResult =
  { readonly ok: true; readonly payload: WebhookPayload } | { readonly ok: false; readonly reason: string };

/**
 * For receivers (and tests): checks the signature of the raw body, then the timestamp window.
 * Replays inside the window are the receiver's to refuse: remember `payload.id` for twice the
 * tolerance and refuse an id seen before.
 */
export function verifyDelivery(
  rawBody: Buffer,
  headers: Readonly<Record<string, string | readonly string[] | undefined>>,
  key: string,
  { now = new Date(), toleranceSeconds = 300 }: { now?: Date; toleranceSeconds?: number } = {},
): VerifyResult {
  const header = headers[SIGNATURE_HEADER.toLowerCase()];
  const hex = withoutPrefix(typeof header === 'string' ? header : undefined, 'sha256=');
  if (!hmacSha256Matches(rawBody, key, hex)) return { ok: false, reason: 'bad signature' };
  let payload: WebhookPayload;
  try {
    payload = JSON.parse(rawBody.toString('utf8')) as WebhookPayload;
  } catch {
    return { ok: false, reason: 'body is not JSON' };
  }
  if (typeof payload.timestamp !== 'number' || typeof payload.id !== 'string') {
    return { ok: false, reason: 'no id or timestamp' };
  }
  if (Math.abs(now.getTime() / 1000 - payload.timestamp) > toleranceSeconds) {
    return { ok: false, reason: 'timestamp outside the tolerance' };
  }
  return { ok: true, payload };
}
