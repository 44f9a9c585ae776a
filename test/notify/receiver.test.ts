/**
 * Notifications end to end over real HTTP, without Kubernetes: the dispatcher with the node:http
 * transport and the real clock, sending to receivers on loopback that verify the HMAC as a user's
 * receiver would (and as webhook.ts documents), fail on purpose, or never answer.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { API_VERSION, type Notification, type NotificationSpec } from '../../src/api/v1alpha1.js';
import {
  ALLOW_INSECURE_HTTP_ANNOTATION,
  NOTIFICATION_URLS_ANNOTATION,
  NotificationDispatcher,
  verifyDelivery,
  type NotificationEvent,
  type NotificationLogEntry,
  type SecretObject,
  type WebhookPayload,
} from '../../src/notify/index.js';

const HMAC_KEY = 'integration-hmac-key-0123456789';
const SHA = '89abcdef0123456789abcdef0123456789abcdef';

interface Received {
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
  readonly verdict: 'accepted' | 'rejected';
  readonly reason?: string;
  readonly payload?: WebhookPayload;
}

const servers: Server[] = [];
const dispatchers: NotificationDispatcher[] = [];

afterEach(async () => {
  await Promise.all(dispatchers.splice(0).map((dispatcher) => dispatcher.close()));
  await Promise.all(
    servers.splice(0).map(
      (server) =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    ),
  );
});

/**
 * A receiver as a user would write one: HMAC first (constant time, over the raw bytes), then the
 * timestamp window, then replays by id. `answer` picks the status for the n-th request (from 1).
 */
async function receiver(answer: (n: number) => number | 'hang' = () => 200) {
  const received: Received[] = [];
  const seen = new Set<string>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const n = received.length + 1;
      const status = answer(n);
      // Recomputed here with node:crypto alone, to check the sender against the definition.
      const expected = `sha256=${createHmac('sha256', HMAC_KEY).update(body).digest('hex')}`;
      const given = String(req.headers['x-capstan-signature'] ?? '');
      const signed =
        given.length === expected.length && timingSafeEqual(Buffer.from(given), Buffer.from(expected));
      const verified = verifyDelivery(body, req.headers, HMAC_KEY);
      let verdict: Received['verdict'] = signed && verified.ok ? 'accepted' : 'rejected';
      let reason = verified.ok ? undefined : verified.reason;
      const payload = verified.ok ? verified.payload : undefined;
      if (payload && status === 200) {
        // Replay protection: an id is acted on once (retries of a failed attempt were not).
        if (seen.has(payload.id)) [verdict, reason] = ['rejected', 'replayed id'];
        seen.add(payload.id);
      }
      received.push({
        headers: req.headers,
        body,
        verdict,
        ...(reason ? { reason } : {}),
        ...(payload ? { payload } : {}),
      });
      if (status === 'hang') return;
      res.writeHead(verdict === 'accepted' ? status : 401).end(verdict === 'accepted' ? 'ok' : 'no');
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, received };
}

const notification = (
  name: string,
  spec: Partial<NotificationSpec> & Pick<NotificationSpec, 'target'>,
): Notification => ({
  apiVersion: API_VERSION,
  kind: 'Notification',
  metadata: { name, namespace: 'team-a', uid: `uid-${name}` },
  spec,
});

const event = (overrides: Partial<NotificationEvent> = {}): NotificationEvent => ({
  type: 'SyncSucceeded',
  application: { namespace: 'team-a', name: 'web' },
  revision: SHA,
  ref: 'main',
  message: 'applied 2 objects',
  health: 'Current',
  time: new Date(),
  repositoryUrl: 'https://git.example.com/acme/deploy.git',
  ...overrides,
});

const b64 = (text: string): string => Buffer.from(text).toString('base64');

function dispatcher(notifications: Notification[], secrets: Record<string, SecretObject>, timeoutMs = 2000) {
  const logs: NotificationLogEntry[] = [];
  const instance = new NotificationDispatcher({
    notificationsIn: (namespace) => notifications.filter((n) => n.metadata.namespace === namespace),
    readSecret: async (namespace, name) => secrets[`${namespace}/${name}`],
    log: (entry) => logs.push(entry),
    options: { initialBackoffMs: 50, maxBackoffMs: 200, timeoutMs, maxAttempts: 4 },
  });
  dispatchers.push(instance);
  return { instance, logs };
}

/** A Secret that holds the receiver's URL and the HMAC key, and allows plain http on loopback. */
const hookSecret = (url: string): SecretObject => ({
  metadata: { annotations: { [ALLOW_INSECURE_HTTP_ANNOTATION]: 'true' } },
  data: { url: b64(url), hmacKey: b64(HMAC_KEY) },
});

describe('notifications over HTTP', () => {
  it('arrive signed: the receiver verifies the HMAC, the timestamp and the delivery id', async () => {
    const hook = await receiver();
    const { instance, logs } = dispatcher(
      [notification('hook', { target: { type: 'webhook', secretRef: { name: 'hook' } } })],
      {
        'team-a/hook': hookSecret(`${hook.url}/capstan`),
      },
    );
    instance.notify(event());
    instance.notify(
      event({ type: 'HealthDegraded', health: 'Failed', message: 'Deployment/web: 0/2 available' }),
    );
    await instance.whenIdle();

    expect(hook.received.map((r) => r.verdict)).toEqual(['accepted', 'accepted']);
    const [first, second] = hook.received;
    expect(first?.payload).toMatchObject({
      type: 'SyncSucceeded',
      application: { namespace: 'team-a', name: 'web' },
      revision: SHA,
      summary: `team-a/web synced at ${SHA.slice(0, 12)}`,
    });
    expect(second?.payload?.type).toBe('HealthDegraded');
    expect(first?.headers['x-capstan-delivery']).toBe(first?.payload?.id);
    expect(first?.headers['x-capstan-timestamp']).toBe(String(first?.payload?.timestamp));
    expect(first?.payload?.id).not.toBe(second?.payload?.id);
    expect(instance.stats()).toMatchObject({ delivered: 2, failed: 0 });
    expect(JSON.stringify(logs)).not.toContain(HMAC_KEY);

    // What the receiver refuses: a replay of a captured request, a forged body, a stale one.
    const captured = first!;
    const replay = verifyDelivery(captured.body, captured.headers, HMAC_KEY);
    expect(replay.ok).toBe(true); // signature fine: only the receiver's id memory stops a replay
    const forged = Buffer.from(captured.body.toString().replace('"web"', '"api"'));
    expect(verifyDelivery(forged, captured.headers, HMAC_KEY)).toEqual({
      ok: false,
      reason: 'bad signature',
    });
    const later = new Date(Date.now() + 10 * 60_000);
    expect(verifyDelivery(captured.body, captured.headers, HMAC_KEY, { now: later }).ok).toBe(false);
  });

  it('retries a failing receiver (500, 500, then 200) with the same delivery id, freshly signed', async () => {
    const flaky = await receiver((n) => (n <= 2 ? 500 : 200));
    const { instance, logs } = dispatcher(
      [
        notification('flaky', {
          target: { type: 'webhook', url: `${flaky.url}/in`, secretRef: { name: 'key' } },
        }),
      ],
      {
        'team-a/key': {
          metadata: {
            annotations: {
              [ALLOW_INSECURE_HTTP_ANNOTATION]: 'true',
              [NOTIFICATION_URLS_ANNOTATION]: `${flaky.url}/in`,
            },
          },
          data: { hmacKey: b64(HMAC_KEY) },
        },
      },
    );
    instance.notify(event({ type: 'SyncFailed', message: 'apply failed: Deployment/web is invalid' }));
    await instance.whenIdle();

    expect(flaky.received).toHaveLength(3);
    expect(flaky.received.every((r) => r.verdict === 'accepted')).toBe(true);
    expect(new Set(flaky.received.map((r) => r.payload?.id)).size).toBe(1);
    expect(instance.stats()).toMatchObject({ delivered: 1, retried: 2, failed: 0 });
    expect(logs.filter((l) => l.level === 'warn').map((l) => l.message)).toEqual([
      expect.stringMatching(/answered HTTP 500: 'ok'; retrying in/),
      expect.stringMatching(/answered HTTP 500: 'ok'; retrying in/),
    ]);
  });

  it('never blocks the caller: a hanging receiver times out and is retried while others are served', async () => {
    const stuck = await receiver(() => 'hang');
    const healthy = await receiver();
    const { instance } = dispatcher(
      [
        notification('stuck', { target: { type: 'webhook', secretRef: { name: 'stuck' } } }),
        notification('healthy', { target: { type: 'webhook', secretRef: { name: 'healthy' } } }),
      ],
      { 'team-a/stuck': hookSecret(stuck.url), 'team-a/healthy': hookSecret(healthy.url) },
      300,
    );

    // A reconcile loop calling notify: each call only queues (nothing to await, nothing sent yet).
    for (let i = 0; i < 20; i++) expect(instance.notify(event({ message: `sync ${i}` }))).toBeUndefined();
    expect(healthy.received.length + stuck.received.length).toBe(0);

    // The healthy receiver gets all 20 while the stuck one holds its own queue only. (The dispatcher
    // counts a delivery once it has read the answer, a moment after the receiver recorded it.)
    await expect.poll(() => healthy.received.length, { timeout: 10_000 }).toBe(20);
    await expect.poll(() => stuck.received.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    await expect.poll(() => instance.stats().delivered, { timeout: 10_000 }).toBe(20);
    // Closing does not wait out the hanging receiver's retries (the test's timeout bounds it).
    await instance.close();
  });
});
