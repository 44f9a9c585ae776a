import { describe, expect, it } from 'vitest';
import { FakeClock, settle } from '../../test/support/fake-clock.js';
import { API_VERSION, type Notification, type NotificationSpec } from '../api/v1alpha1.js';
import { TransientError } from '../core/errors.js';
import { retryAfterMs } from '../core/time.js';
import { NotificationDispatcher, type DispatcherOptions, type NotificationLogEntry } from './dispatcher.js';
import type { SecretObject } from './secrets.js';
import { BlockedAddressError } from './transport.js';
import type { HttpRequest, HttpResponse, HttpTransport, NotificationEvent, SendOptions } from './types.js';
import { ALLOW_INSECURE_HTTP_ANNOTATION, NOTIFICATION_URLS_ANNOTATION } from './url.js';

const SHA = '0123456789abcdef0123456789abcdef01234567';
const TOKEN = 'ghp_SuperSecretToken987';
const HMAC_KEY = 'hmac-key-value-42';
const SLACK_URL = 'https://hooks.slack.com/services/T1/B2/s3cretPathPart';

const event = (overrides: Partial<NotificationEvent> = {}): NotificationEvent => ({
  type: 'SyncSucceeded',
  application: { namespace: 'team-a', name: 'web' },
  revision: SHA,
  message: 'applied',
  health: 'Current',
  time: new Date('2024-05-01T12:00:00Z'),
  repositoryUrl: 'https://github.com/acme/deploy.git',
  ...overrides,
});

const notification = (
  name: string,
  spec: Partial<NotificationSpec> & Pick<NotificationSpec, 'target'>,
  namespace = 'team-a',
): Notification => ({
  apiVersion: API_VERSION,
  kind: 'Notification',
  metadata: { name, namespace, uid: `uid-${name}` },
  spec,
});

const b64 = (text: string): string => Buffer.from(text).toString('base64');

type Answer =
  Partial<HttpResponse> | Error | 'hang' | ((request: HttpRequest) => Partial<HttpResponse> | Error);

/** A receiver scripted per request: each call takes the next answer (the last one repeats). */
class FakeTransport implements HttpTransport {
  readonly requests: { request: HttpRequest; options: SendOptions; at: number }[] = [];
  inFlight = 0;
  maxInFlight = 0;
  constructor(
    private readonly clock: FakeClock,
    private readonly answers: Answer[] = [{ status: 200 }],
  ) {}

  send(request: HttpRequest, options: SendOptions): Promise<HttpResponse> {
    this.requests.push({ request, options, at: this.clock.elapsedMs });
    const scripted = this.answers[Math.min(this.requests.length - 1, this.answers.length - 1)];
    const answer = typeof scripted === 'function' ? scripted(request) : scripted;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const done = <T>(value: T): T => {
      this.inFlight--;
      return value;
    };
    if (answer === 'hang') {
      // Answers only to the abort signal, as a real transport does.
      return new Promise((_, reject) =>
        options.signal?.addEventListener('abort', () => reject(done(new TransientError('aborted')))),
      );
    }
    if (answer instanceof Error) return Promise.reject(done(answer));
    return Promise.resolve(done({ status: 200, headers: {}, body: '', ...answer }));
  }
}

interface Setup {
  notifications?: Notification[];
  secrets?: Record<string, SecretObject>;
  answers?: ConstructorParameters<typeof FakeTransport>[1];
  options?: Partial<DispatcherOptions>;
}

function setup({ notifications = [], secrets = {}, answers, options }: Setup = {}) {
  const clock = new FakeClock();
  const transport = new FakeTransport(clock, answers);
  const logs: NotificationLogEntry[] = [];
  const metrics = { delivered: 0, retried: 0, failed: 0, dropped: 0, skipped: 0, deduplicated: 0 };
  let ids = 0;
  const dispatcher = new NotificationDispatcher({
    notificationsIn: (namespace) => notifications.filter((n) => n.metadata.namespace === namespace),
    readSecret: async (namespace, name) => secrets[`${namespace}/${name}`],
    transport,
    clock,
    random: () => 0.5, // no jitter: delays are exact
    newId: () => `d${++ids}`,
    log: (entry) => logs.push(entry),
    metrics: {
      delivered: () => metrics.delivered++,
      retried: () => metrics.retried++,
      failed: () => metrics.failed++,
      dropped: () => metrics.dropped++,
      skipped: () => metrics.skipped++,
      deduplicated: () => metrics.deduplicated++,
    },
    options: { initialBackoffMs: 1000, maxBackoffMs: 8000, ...options },
  });
  return { clock, transport, logs, metrics, dispatcher };
}

const webhookTo = (url = 'https://hooks.example.com/x', extra: Partial<NotificationSpec> = {}) =>
  notification('hook', { target: { type: 'webhook', url }, ...extra });

describe('NotificationDispatcher', () => {
  it('sends an event to each matching Notification of its namespace only', async () => {
    const { transport, dispatcher, metrics } = setup({
      notifications: [
        notification('all', { target: { type: 'webhook', url: 'https://a.example.com/' } }),
        notification('star', {
          applications: ['*'],
          target: { type: 'webhook', url: 'https://b.example.com/' },
        }),
        notification('named', {
          applications: ['web'],
          target: { type: 'webhook', url: 'https://c.example.com/' },
        }),
        notification('other-app', {
          applications: ['api'],
          target: { type: 'webhook', url: 'https://d.example.com/' },
        }),
        notification('failures', {
          events: ['SyncFailed'],
          target: { type: 'webhook', url: 'https://e.example.com/' },
        }),
        notification('off', { suspend: true, target: { type: 'webhook', url: 'https://f.example.com/' } }),
        notification('team-b', { target: { type: 'webhook', url: 'https://g.example.com/' } }, 'team-b'),
      ],
    });
    dispatcher.notify(event());
    await dispatcher.whenIdle();
    expect(transport.requests.map((r) => new URL(r.request.url).host).sort()).toEqual([
      'a.example.com',
      'b.example.com',
      'c.example.com',
    ]);
    expect(metrics.delivered).toBe(3);
  });

  it('never lets a tenant see another namespace, even if the lookup returns its Notifications', async () => {
    const clock = new FakeClock();
    const transport = new FakeTransport(clock);
    const dispatcher = new NotificationDispatcher({
      notificationsIn: () => [
        notification('spy', { target: { type: 'webhook', url: 'https://spy.example.com/' } }, 'team-b'),
      ],
      readSecret: async () => undefined,
      transport,
      clock,
    });
    dispatcher.notify(event());
    await dispatcher.whenIdle();
    expect(transport.requests).toHaveLength(0);
  });

  it('returns from notify at once, without calling anything, even when the receiver hangs', async () => {
    const { clock, transport, dispatcher, metrics } = setup({
      notifications: [webhookTo()],
      answers: ['hang'],
      options: { timeoutMs: 10_000, maxAttempts: 2 },
    });
    const started = performance.now();
    for (let i = 0; i < 50; i++) dispatcher.notify(event({ message: `event ${i}` }));
    expect(performance.now() - started).toBeLessThan(50);
    expect(transport.requests).toHaveLength(0); // nothing ran on the caller's stack
    await settle();
    expect(transport.requests).toHaveLength(1); // one at a time for one app × Notification
    await clock.advanceAsync(10_000);
    expect(transport.requests).toHaveLength(1); // timed out, waiting to retry
    await clock.advanceAsync(1000);
    expect(transport.requests).toHaveLength(2);
    await clock.advanceAsync(10_000);
    // Gave up on the first event; the next one goes.
    expect(metrics.failed).toBe(1);
    expect(transport.requests).toHaveLength(3);
    await dispatcher.close();
  });

  it('retries 5xx and network errors with exponential backoff, then gives up', async () => {
    const { clock, transport, dispatcher, metrics, logs } = setup({
      notifications: [webhookTo()],
      answers: [
        { status: 500 },
        new TransientError('the connection failed (ECONNRESET)'),
        { status: 502 },
        { status: 503 },
        { status: 500 },
      ],
      options: { maxAttempts: 5 },
    });
    dispatcher.notify(event());
    await clock.until(() => metrics.failed === 1);
    // 1 s, 2 s, 4 s, 8 s between the five attempts (jitter pinned to none).
    expect(transport.requests.map((r) => r.at)).toEqual([0, 1000, 3000, 7000, 15000]);
    expect(metrics.retried).toBe(4);
    expect(logs.at(-1)).toMatchObject({
      level: 'error',
      notification: 'team-a/hook',
      application: 'team-a/web',
    });
    expect(logs.at(-1)?.message).toMatch(/answered HTTP 500; gave up after 5 attempts/);
    // Every attempt of one delivery carries the same id.
    expect(new Set(transport.requests.map((r) => r.request.headers['X-Capstan-Delivery']))).toEqual(
      new Set(['d1']),
    );
  });

  it('delivers once the receiver recovers', async () => {
    const { clock, transport, dispatcher, metrics } = setup({
      notifications: [webhookTo()],
      answers: [{ status: 500 }, { status: 500 }, { status: 200 }],
    });
    dispatcher.notify(event());
    await clock.until(() => metrics.delivered === 1);
    expect(transport.requests).toHaveLength(3);
    expect(metrics.failed).toBe(0);
    await dispatcher.whenIdle();
  });

  it('does not retry other 4xx, redirects or blocked addresses', async () => {
    for (const answer of [
      { status: 404 },
      { status: 401 },
      { status: 302 },
      new BlockedAddressError('blocked'),
    ]) {
      const { transport, dispatcher, metrics, logs } = setup({
        notifications: [webhookTo()],
        answers: [answer],
      });
      dispatcher.notify(event());
      await dispatcher.whenIdle();
      expect(transport.requests).toHaveLength(1);
      expect(metrics.failed).toBe(1);
      expect(logs.at(-1)?.message).toMatch(/not retried/);
    }
  });

  it('honours Retry-After on 429, bounded', async () => {
    const { clock, transport, dispatcher, metrics } = setup({
      notifications: [webhookTo()],
      answers: [
        { status: 429, headers: { 'retry-after': '30' } },
        { status: 429, headers: { 'retry-after': '86400' } },
        { status: 200 },
      ],
      options: { maxRetryAfterMs: 60_000 },
    });
    dispatcher.notify(event());
    await clock.until(() => metrics.delivered === 1, { stepMs: 1000 });
    expect(transport.requests.map((r) => r.at)).toEqual([0, 30_000, 90_000]);
  });

  it('keeps events for one app and Notification in order across retries', async () => {
    const { clock, transport, dispatcher, metrics } = setup({
      notifications: [webhookTo()],
      answers: [{ status: 500 }, { status: 200 }],
    });
    dispatcher.notify(event({ type: 'HealthDegraded', health: 'Failed' }));
    dispatcher.notify(event({ type: 'HealthRecovered' }));
    await clock.until(() => metrics.delivered === 2);
    const types = transport.requests.map((r) => JSON.parse(r.request.body).type);
    expect(types).toEqual(['HealthDegraded', 'HealthDegraded', 'HealthRecovered']);
  });

  it('limits concurrency across apps, and a slow app does not hold up the others beyond it', async () => {
    const { clock, transport, dispatcher } = setup({
      notifications: [webhookTo()],
      answers: ['hang'],
      options: { concurrency: 2, maxAttempts: 1, timeoutMs: 1000 },
    });
    for (const name of ['a', 'b', 'c', 'd'])
      dispatcher.notify(event({ application: { namespace: 'team-a', name } }));
    await settle();
    expect(transport.requests).toHaveLength(2);
    expect(transport.maxInFlight).toBe(2);
    await clock.advanceAsync(1000);
    expect(transport.requests).toHaveLength(4);
    await clock.advanceAsync(1000);
    await dispatcher.whenIdle();
  });

  it('drops identical consecutive events, and sends one again after a failure gave up', async () => {
    const { clock, transport, dispatcher, metrics } = setup({
      notifications: [webhookTo()],
      answers: [{ status: 200 }, { status: 200 }, { status: 400 }, { status: 200 }],
    });
    dispatcher.notify(event({ type: 'SyncFailed', message: 'boom' }));
    dispatcher.notify(event({ type: 'SyncFailed', message: 'boom' }));
    await dispatcher.whenIdle();
    expect(transport.requests).toHaveLength(1);
    expect(metrics.deduplicated).toBe(1);
    dispatcher.notify(event({ type: 'SyncSucceeded' }));
    dispatcher.notify(event({ type: 'SyncFailed', message: 'boom' })); // not consecutive: sent
    await dispatcher.whenIdle();
    expect(transport.requests).toHaveLength(3); // the last one failed (400)
    dispatcher.notify(event({ type: 'SyncFailed', message: 'boom' }));
    await clock.advanceAsync(0);
    await dispatcher.whenIdle();
    expect(transport.requests).toHaveLength(4);
  });

  it('drops the oldest events when the queue is full, and counts them', async () => {
    const { transport, dispatcher, metrics, logs } = setup({
      notifications: [webhookTo()],
      options: { queueSize: 3 },
    });
    for (let i = 0; i < 10; i++) dispatcher.notify(event({ message: `event ${i}` }));
    await dispatcher.whenIdle();
    expect(metrics.dropped).toBe(7);
    expect(dispatcher.stats().dropped).toBe(7);
    expect(transport.requests.map((r) => JSON.parse(r.request.body).message)).toEqual([
      'event 7',
      'event 8',
      'event 9',
    ]);
    expect(logs.filter((l) => /queue is full/.test(l.message))).toHaveLength(1);
  });

  it('reads the Secret for each attempt and refuses URLs its annotations do not allow', async () => {
    const secrets: Record<string, SecretObject> = {
      'team-a/gh': { data: { token: b64(TOKEN) } },
    };
    const { transport, dispatcher, logs, metrics } = setup({
      notifications: [notification('status', { target: { type: 'github', secretRef: { name: 'gh' } } })],
      secrets,
    });
    dispatcher.notify(event());
    await dispatcher.whenIdle();
    expect(transport.requests).toHaveLength(0);
    expect(metrics.failed).toBe(1);
    expect(logs.at(-1)?.message).toMatch(/notification-urls/);

    secrets['team-a/gh'] = {
      metadata: { annotations: { [NOTIFICATION_URLS_ANNOTATION]: 'https://api.github.com/repos/acme/' } },
      data: { token: b64(TOKEN) },
    };
    dispatcher.notify(event({ message: 'again' }));
    await dispatcher.whenIdle();
    expect(transport.requests).toHaveLength(1);
    expect(transport.requests[0]?.request.headers.Authorization).toBe(`Bearer ${TOKEN}`);
    expect(metrics.delivered).toBe(1);
  });

  it('skips commit statuses for events without a commit, and fails on a missing Secret', async () => {
    const { transport, dispatcher, metrics, logs } = setup({
      notifications: [notification('status', { target: { type: 'gitea', secretRef: { name: 'absent' } } })],
    });
    dispatcher.notify(event({ revision: undefined }));
    await dispatcher.whenIdle();
    expect(metrics.failed).toBe(1);
    expect(logs.at(-1)?.message).toBe('not sent (not retried): the Secret team-a/absent does not exist');
    expect(transport.requests).toHaveLength(0);
  });

  it('never logs a Secret value, a Slack URL or a token a receiver echoes', async () => {
    const secrets: Record<string, SecretObject> = {
      'team-a/slack': { data: { url: b64(SLACK_URL) } },
      'team-a/hook': {
        metadata: { annotations: { [ALLOW_INSECURE_HTTP_ANNOTATION]: 'true' } },
        data: { url: b64('http://receiver.example.com/in'), hmacKey: b64(HMAC_KEY) },
      },
      'team-a/gh': {
        metadata: { annotations: { [NOTIFICATION_URLS_ANNOTATION]: 'https://api.github.com/' } },
        data: { token: b64(TOKEN) },
      },
    };
    // A receiver that echoes everything it was sent: URL, headers (the token) and body.
    const echo = (request: HttpRequest): string =>
      `bad credentials for ${request.url}: ${Object.values(request.headers).join(' ')}`;
    const { clock, dispatcher, logs, metrics } = setup({
      notifications: [
        notification('slack', { target: { type: 'slack', secretRef: { name: 'slack' } } }),
        notification('slack-inline', { target: { type: 'slack', url: SLACK_URL } }),
        notification('hook', { target: { type: 'webhook', secretRef: { name: 'hook' } } }),
        notification('gh', { target: { type: 'github', secretRef: { name: 'gh' } } }),
      ],
      secrets,
      answers: [
        (request) => ({ status: 500, body: echo(request) }),
        (request) => new TransientError(`connect failed to ${request.url}`),
        (request) => ({ status: 403, body: echo(request) }),
      ],
      options: { maxAttempts: 3 },
    });
    dispatcher.notify(event());
    await clock.until(() => metrics.failed === 4, { stepMs: 1000 });
    const text = JSON.stringify(logs);
    expect(logs.length).toBeGreaterThan(4);
    for (const secret of [TOKEN, HMAC_KEY, 's3cretPathPart', 'receiver.example.com/in']) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain('the url of the Secret team-a/slack');
    expect(text).toContain("'https://hooks.slack.com/…'");
  });

  it('survives throwing lookups, hooks and malformed events', async () => {
    const clock = new FakeClock();
    const transport = new FakeTransport(clock);
    let calls = 0;
    const dispatcher = new NotificationDispatcher({
      notificationsIn: () => {
        if (calls++ === 0) throw new Error('informer not synced');
        return [webhookTo()];
      },
      readSecret: async () => undefined,
      transport,
      clock,
      log: () => {
        throw new Error('log hook broke');
      },
      metrics: {
        delivered: () => {
          throw new Error('metrics hook broke');
        },
      },
    });
    expect(() => dispatcher.notify(event())).not.toThrow();
    expect(() => dispatcher.notify({} as NotificationEvent)).not.toThrow();
    expect(() => dispatcher.notify(null as unknown as NotificationEvent)).not.toThrow();
    dispatcher.notify(event({ message: 'second' }));
    await dispatcher.whenIdle();
    expect(transport.requests).toHaveLength(1);
    expect(dispatcher.stats().delivered).toBe(1);
  });

  it('stops retrying on close', async () => {
    const { clock, transport, dispatcher } = setup({
      notifications: [webhookTo()],
      answers: [{ status: 500 }],
    });
    dispatcher.notify(event());
    await settle();
    expect(dispatcher.stats().waitingToRetry).toBe(1);
    await dispatcher.close();
    await clock.advanceAsync(60_000);
    expect(transport.requests).toHaveLength(1);
    dispatcher.notify(event({ message: 'after close' }));
    await settle();
    expect(transport.requests).toHaveLength(1);
  });
});

describe('retryAfterMs', () => {
  const now = new Date('2024-05-01T12:00:00Z');
  it('reads seconds and HTTP dates', () => {
    expect(retryAfterMs('120', now)).toBe(120_000);
    expect(retryAfterMs('Wed, 01 May 2024 12:01:00 GMT', now)).toBe(60_000);
    expect(retryAfterMs('Wed, 01 May 2024 11:00:00 GMT', now)).toBe(0);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs(undefined, now)).toBeUndefined();
  });
});
