/**
 * The dispatcher: `notify(event)` queues the event and returns; in the background each event is
 * matched against the Notifications of its Application's namespace, and each match becomes one
 * delivery, sent with retries.
 *
 * - Bounded: at most `queueSize` events and `queueSize` deliveries wait; past that the oldest is
 *   dropped and counted. Retries wait on the clock, not in a slot; at most `concurrency` requests
 *   are in flight, each bounded by `timeoutMs`.
 * - In order: deliveries for one Application and Notification go one at a time, in event order (a
 *   retried "degraded" cannot land after the "recovered" that followed it).
 * - Deduplicated: an event identical to the last one accepted for the same Application and
 *   Notification is not sent again (a failing sync reports the same failure each reconcile).
 * - Retried: network errors, timeouts, 408 and 5xx with exponential backoff and jitter; 429 (and
 *   503) after their Retry-After, bounded; other 4xx, 3xx and configuration errors are not retried.
 * - Quiet about secrets: every log line is redacted with the values of the Secret in use, Slack URLs
 *   are never printed, receivers' replies are quoted short and redacted.
 */
import { randomUUID } from 'node:crypto';
import { isCapstanError, messageOf } from '../core/errors.js';
import { backoffDelay, retryAfterMs, systemClock, type Clock, type TimerHandle } from '../core/time.js';
import {
  notificationSpecSchema,
  type Notification,
  type NotificationSpec,
  type NotificationTargetType,
} from '../api/v1alpha1.js';
import { quote, redactText } from '../source/redact.js';
import { decodeSecret, secretValues, type ReadSecret } from './secrets.js';
import { targetBuilders } from './targets.js';
import { httpTransport } from './transport.js';
import {
  NOTIFICATION_EVENT_TYPES,
  type HttpResponse,
  type HttpTransport,
  type NotificationEvent,
  type NotificationSecret,
  type Notifier,
} from './types.js';
import { checkNotificationUrl } from './url.js';

export interface DispatcherOptions {
  /** Events, and deliveries, waiting at most; the oldest is dropped past it. Default 1000. */
  readonly queueSize: number;
  /** Requests in flight at most. Default 4. */
  readonly concurrency: number;
  /** Attempts per delivery, the first included. Default 5. */
  readonly maxAttempts: number;
  /** Backoff before the first retry; doubles each time, up to maxBackoffMs; ±25% jitter. */
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
  /** The longest Retry-After honoured; longer ones wait this long. Default 5 min. */
  readonly maxRetryAfterMs: number;
  /** One request, connect to last byte. Default 10 s. */
  readonly timeoutMs: number;
  /** The operator's switch (never a tenant's): allow link-local and metadata addresses. */
  readonly allowLinkLocal: boolean;
  /** Application × Notification pairs whose last event is remembered for dedupe. Default 10000. */
  readonly dedupeEntries: number;
}

export const DEFAULT_DISPATCHER_OPTIONS: DispatcherOptions = {
  queueSize: 1000,
  concurrency: 4,
  maxAttempts: 5,
  initialBackoffMs: 1000,
  maxBackoffMs: 60_000,
  maxRetryAfterMs: 5 * 60_000,
  timeoutMs: 10_000,
  allowLinkLocal: false,
  dedupeEntries: 10_000,
};

export interface NotificationLogEntry {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  /** Redacted; never a Secret value or a Slack URL. */
  readonly message: string;
  /** `namespace/name` of the Notification. */
  readonly notification?: string;
  /** `namespace/name` of the Application. */
  readonly application?: string;
  readonly target?: NotificationTargetType;
  readonly event?: string;
  readonly deliveryId?: string;
  readonly attempt?: number;
}

/** Counters for metrics; every hook is optional, and one that throws is ignored. */
export interface NotificationMetrics {
  delivered?(target: NotificationTargetType): void;
  retried?(target: NotificationTargetType): void;
  failed?(target: NotificationTargetType): void;
  skipped?(target: NotificationTargetType): void;
  dropped?(): void;
  deduplicated?(): void;
}

export interface DispatcherDeps {
  /** The Notifications of a namespace, e.g. from an informer's cache. */
  readonly notificationsIn: (namespace: string) => readonly Notification[] | Promise<readonly Notification[]>;
  /** The Secret (namespace, name); undefined when it does not exist. */
  readonly readSecret: ReadSecret;
  /** Default: httpTransport({ allowLinkLocal }). */
  readonly transport?: HttpTransport;
  readonly clock?: Clock;
  /** In [0, 1): backoff jitter. */
  readonly random?: () => number;
  /** Delivery ids. Default randomUUID. */
  readonly newId?: () => string;
  readonly log?: (entry: NotificationLogEntry) => void;
  readonly metrics?: NotificationMetrics;
  readonly options?: Partial<DispatcherOptions>;
}

export interface DispatcherStats {
  readonly queuedEvents: number;
  readonly queuedDeliveries: number;
  readonly inFlight: number;
  readonly waitingToRetry: number;
  readonly delivered: number;
  readonly failed: number;
  readonly retried: number;
  readonly skipped: number;
  readonly dropped: number;
  readonly deduplicated: number;
}

interface Delivery {
  readonly id: string;
  /** Application × Notification: one at a time, in order. */
  readonly key: string;
  readonly fingerprint: string;
  readonly event: NotificationEvent;
  readonly notification: {
    readonly namespace: string;
    readonly name: string;
    readonly spec: NotificationSpec;
  };
  /** Attempts made so far. */
  attempts: number;
}

type Outcome =
  | { readonly kind: 'delivered'; readonly status: number }
  | { readonly kind: 'skipped'; readonly reason: string }
  | { readonly kind: 'retry'; readonly reason: string; readonly afterMs?: number }
  | { readonly kind: 'failed'; readonly reason: string };

/** Receivers' replies are quoted at most this long in logs. */
const MAX_REPLY_SNIPPET = 200;
/** Drops are logged at most this often. */
const DROP_LOG_INTERVAL_MS = 60_000;
const EVENT_TYPES: ReadonlySet<string> = new Set(NOTIFICATION_EVENT_TYPES);

export class NotificationDispatcher implements Notifier {
  readonly #deps: DispatcherDeps;
  readonly #options: DispatcherOptions;
  readonly #clock: Clock;
  readonly #transport: HttpTransport;

  readonly #events: NotificationEvent[] = [];
  readonly #deliveries: Delivery[] = [];
  /** Retries whose backoff has elapsed: their key is still held, they go first. */
  readonly #ready: Delivery[] = [];
  /** Keys with a delivery in flight or waiting to retry. */
  readonly #busy = new Set<string>();
  /** key → fingerprint of the last event accepted for it. */
  readonly #lastAccepted = new Map<string, string>();
  readonly #timers = new Set<TimerHandle>();
  /** Requests in flight, aborted on close. */
  readonly #inFlight = new Set<AbortController>();
  #active = 0;
  #expanding = false;
  #scheduled = false;
  #closed = false;
  #lastDropLog = -Infinity;
  #idleWaiters: (() => void)[] = [];
  #counts = { delivered: 0, failed: 0, retried: 0, skipped: 0, dropped: 0, deduplicated: 0 };

  constructor(deps: DispatcherDeps) {
    this.#deps = deps;
    this.#options = { ...DEFAULT_DISPATCHER_OPTIONS, ...deps.options };
    this.#clock = deps.clock ?? systemClock;
    this.#transport = deps.transport ?? httpTransport({ allowLinkLocal: this.#options.allowLinkLocal });
  }

  notify(event: NotificationEvent): void {
    try {
      if (this.#closed) return;
      if (!isEvent(event)) {
        this.#log({ level: 'warn', message: 'ignored a malformed notification event' });
        return;
      }
      // Our own copy: the caller may reuse its object.
      this.#events.push({ ...event, application: { ...event.application } });
      if (this.#events.length > this.#options.queueSize) {
        this.#events.shift();
        this.#dropped();
      }
      this.#schedule();
    } catch {
      // notify never throws: a notification is never worth failing a reconcile for.
    }
  }

  stats(): DispatcherStats {
    return {
      queuedEvents: this.#events.length,
      queuedDeliveries: this.#deliveries.length + this.#ready.length,
      inFlight: this.#active,
      waitingToRetry: this.#timers.size,
      ...this.#counts,
    };
  }

  /** Resolves when nothing is queued, in flight or waiting to retry (tests, graceful shutdown). */
  whenIdle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Stops: drops what waits, cancels retries, aborts requests in flight; resolves when they ended. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const request of this.#inFlight) request.abort();
    for (const timer of this.#timers) this.#clock.clearTimeout(timer);
    this.#timers.clear();
    this.#events.length = 0;
    this.#deliveries.length = 0;
    this.#ready.length = 0;
    this.#busy.clear();
    await this.whenIdle();
  }

  // ── scheduling ──────────────────────────────────────────────────────────────────────────────

  /** Work starts on a microtask: never on the caller's stack. */
  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#pump();
    });
  }

  #pump(): void {
    if (!this.#closed && !this.#expanding && this.#events.length > 0) {
      this.#expanding = true;
      void this.#expandAll().finally(() => {
        this.#expanding = false;
        this.#pump();
      });
    }
    while (!this.#closed && this.#active < this.#options.concurrency) {
      const next = this.#takeNext();
      if (!next) break;
      this.#active++;
      void this.#attempt(next).finally(() => {
        this.#active--;
        this.#pump();
      });
    }
    this.#checkIdle();
  }

  /** A retry whose time has come, else the oldest delivery whose key is free. */
  #takeNext(): Delivery | undefined {
    const retry = this.#ready.shift();
    if (retry) return retry;
    const index = this.#deliveries.findIndex((delivery) => !this.#busy.has(delivery.key));
    if (index < 0) return undefined;
    const [next] = this.#deliveries.splice(index, 1);
    if (next) this.#busy.add(next.key);
    return next;
  }

  #isIdle(): boolean {
    return (
      this.#events.length === 0 &&
      this.#deliveries.length === 0 &&
      this.#ready.length === 0 &&
      this.#timers.size === 0 &&
      this.#active === 0 &&
      !this.#expanding
    );
  }

  #checkIdle(): void {
    if (this.#idleWaiters.length === 0 || !this.#isIdle()) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  // ── events → deliveries ─────────────────────────────────────────────────────────────────────

  /** One event at a time, in order, so deliveries are queued in event order. */
  async #expandAll(): Promise<void> {
    for (let event = this.#events.shift(); event; event = this.#events.shift()) {
      const { namespace, name } = event.application;
      let notifications: readonly Notification[];
      try {
        notifications = await this.#deps.notificationsIn(namespace);
      } catch (error) {
        this.#log({
          level: 'warn',
          message: `could not list the Notifications of namespace ${namespace}: ${messageOf(error)}`,
          application: `${namespace}/${name}`,
          event: event.type,
        });
        continue;
      }
      if (this.#closed) return;
      for (const notification of notifications) this.#match(event, notification);
      this.#pump();
    }
  }

  #match(event: NotificationEvent, notification: Notification): void {
    const { namespace, name } = notification.metadata;
    // A tenant's Notification sees its own namespace's Applications, whatever the lookup returned.
    if (namespace !== event.application.namespace) return;
    const parsed = notificationSpecSchema.safeParse(notification.spec);
    if (!parsed.success) {
      this.#log({
        level: 'warn',
        message: `invalid spec: ${parsed.error.issues.map((i) => `spec.${i.path.join('.')}: ${i.message}`).join('; ')}`,
        notification: `${namespace}/${name}`,
      });
      return;
    }
    const spec = parsed.data;
    if (spec.suspend) return;
    const apps = spec.applications;
    if (apps.length > 0 && !apps.includes('*') && !apps.includes(event.application.name)) return;
    if (spec.events.length > 0 && !spec.events.includes(event.type)) return;

    const key = `${namespace}/${name}/${notification.metadata.uid ?? ''}|${event.application.name}`;
    const fingerprint = JSON.stringify([
      event.type,
      event.revision,
      event.previousRevision,
      event.health,
      event.message,
    ]);
    if (this.#lastAccepted.get(key) === fingerprint) {
      this.#counts.deduplicated++;
      this.#hook((m) => m.deduplicated?.());
      return;
    }
    this.#remember(key, fingerprint);
    this.#deliveries.push({
      id: (this.#deps.newId ?? randomUUID)(),
      key,
      fingerprint,
      event,
      notification: { namespace, name, spec },
      attempts: 0,
    });
    if (this.#deliveries.length > this.#options.queueSize) {
      const dropped = this.#deliveries.shift();
      if (dropped) this.#forget(dropped);
      this.#dropped();
    }
  }

  #remember(key: string, fingerprint: string): void {
    this.#lastAccepted.delete(key);
    this.#lastAccepted.set(key, fingerprint);
    if (this.#lastAccepted.size > this.#options.dedupeEntries) {
      const oldest = this.#lastAccepted.keys().next().value;
      if (oldest !== undefined) this.#lastAccepted.delete(oldest);
    }
  }

  /** A delivery that never arrived: the same event later deserves another chance. */
  #forget(delivery: Delivery): void {
    if (this.#lastAccepted.get(delivery.key) === delivery.fingerprint)
      this.#lastAccepted.delete(delivery.key);
  }

  #dropped(): void {
    this.#counts.dropped++;
    this.#hook((m) => m.dropped?.());
    const now = this.#clock.now().getTime();
    if (now - this.#lastDropLog >= DROP_LOG_INTERVAL_MS) {
      this.#lastDropLog = now;
      this.#log({
        level: 'warn',
        message: `the notification queue is full (${this.#options.queueSize}): dropped the oldest; ${this.#counts.dropped} dropped so far`,
      });
    }
  }

  // ── one delivery ────────────────────────────────────────────────────────────────────────────

  async #attempt(delivery: Delivery): Promise<void> {
    delivery.attempts++;
    const redactions: string[] = [];
    let outcome: Outcome;
    try {
      outcome = await this.#tryOnce(delivery, redactions);
    } catch (error) {
      // Builders and checks throw UserError for configuration they cannot use; anything else is a bug.
      outcome = { kind: 'failed', reason: messageOf(error) };
      if (!isCapstanError(error)) outcome = { kind: 'failed', reason: `internal error: ${messageOf(error)}` };
    }
    if (this.#closed) return;
    const type = delivery.notification.spec.target.type;
    const context = {
      notification: `${delivery.notification.namespace}/${delivery.notification.name}`,
      application: `${delivery.event.application.namespace}/${delivery.event.application.name}`,
      target: type,
      event: delivery.event.type,
      deliveryId: delivery.id,
      attempt: delivery.attempts,
    };
    const log = (level: NotificationLogEntry['level'], message: string): void =>
      this.#log({ level, message, ...context }, redactions);

    switch (outcome.kind) {
      case 'delivered':
        this.#counts.delivered++;
        this.#hook((m) => m.delivered?.(type));
        log('debug', `delivered (HTTP ${outcome.status})`);
        return this.#release(delivery);
      case 'skipped':
        this.#counts.skipped++;
        this.#hook((m) => m.skipped?.(type));
        log('debug', `nothing to send: ${outcome.reason}`);
        return this.#release(delivery);
      case 'retry':
        if (delivery.attempts < this.#options.maxAttempts) {
          const delayMs = outcome.afterMs ?? this.#backoff(delivery.attempts);
          this.#counts.retried++;
          this.#hook((m) => m.retried?.(type));
          log('warn', `${outcome.reason}; retrying in ${Math.round(delayMs / 100) / 10} s`);
          const timer = this.#clock.setTimeout(() => {
            this.#timers.delete(timer);
            if (this.#closed) return;
            this.#ready.push(delivery);
            this.#pump();
          }, delayMs);
          this.#timers.add(timer);
          return;
        }
        this.#counts.failed++;
        this.#hook((m) => m.failed?.(type));
        log('error', `${outcome.reason}; gave up after ${delivery.attempts} attempts`);
        this.#forget(delivery);
        return this.#release(delivery);
      case 'failed':
        this.#counts.failed++;
        this.#hook((m) => m.failed?.(type));
        log('error', `not sent (not retried): ${outcome.reason}`);
        this.#forget(delivery);
        return this.#release(delivery);
    }
  }

  #release(delivery: Delivery): void {
    this.#busy.delete(delivery.key);
  }

  #backoff(attempts: number): number {
    return backoffDelay(
      attempts - 1,
      {
        initialMs: this.#options.initialBackoffMs,
        maxMs: this.#options.maxBackoffMs,
        jitter: 0.25,
      },
      this.#deps.random ?? Math.random,
    );
  }

  /** Reads the Secret, builds the request, checks its URL, sends it and judges the answer. */
  async #tryOnce(delivery: Delivery, redactions: string[]): Promise<Outcome> {
    const { namespace, spec } = delivery.notification;
    const target = spec.target;
    // A Slack URL is a credential wherever it is written.
    if (target.type === 'slack' && target.url) redactions.push(...urlSecrets(target.url));

    let secret: NotificationSecret | undefined;
    if (target.secretRef) {
      const secretName = `${namespace}/${target.secretRef.name}`;
      let object;
      try {
        object = await this.#deps.readSecret(namespace, target.secretRef.name);
      } catch (error) {
        return { kind: 'retry', reason: `could not read the Secret ${secretName}: ${messageOf(error)}` };
      }
      if (!object) return { kind: 'failed', reason: `the Secret ${secretName} does not exist` };
      secret = decodeSecret(namespace, target.secretRef.name, object);
      redactions.push(...secretValues(secret));
      const url = secret.data.url?.trim();
      if (url) redactions.push(...urlSecrets(url));
    }

    const built = targetBuilders[target.type]({
      event: delivery.event,
      target,
      secret,
      deliveryId: delivery.id,
      now: this.#clock.now(),
    });
    if ('skip' in built) return { kind: 'skipped', reason: built.skip };
    checkNotificationUrl({
      url: built.request.url,
      source: built.urlSource,
      display: built.display,
      secret,
      allowLinkLocal: this.#options.allowLinkLocal,
    });

    const timeoutMs = this.#options.timeoutMs;
    const abort = new AbortController();
    const timer = this.#clock.setTimeout(() => abort.abort(), timeoutMs);
    this.#inFlight.add(abort);
    let response: HttpResponse;
    try {
      response = await this.#transport.send(built.request, { timeoutMs, signal: abort.signal });
    } catch (error) {
      const reason = abort.signal.aborted ? `no answer within ${timeoutMs / 1000} s` : messageOf(error);
      const permanent = isCapstanError(error) && error.kind === 'user';
      return { kind: permanent ? 'failed' : 'retry', reason: `${built.display}: ${reason}` };
    } finally {
      this.#clock.clearTimeout(timer);
      this.#inFlight.delete(abort);
    }
    return this.#judge(response, built.display, redactions);
  }

  #judge(response: HttpResponse, display: string, redactions: readonly string[]): Outcome {
    const { status } = response;
    if (status >= 200 && status < 300) return { kind: 'delivered', status };
    const reply = replySnippet(response.body, redactions);
    const reason = `${display} answered HTTP ${status}${reply ? `: ${reply}` : ''}`;
    if (status === 429 || status === 503) {
      const afterMs = retryAfterMs(response.headers['retry-after'], this.#clock.now());
      return afterMs === undefined
        ? { kind: 'retry', reason }
        : { kind: 'retry', reason, afterMs: Math.min(afterMs, this.#options.maxRetryAfterMs) };
    }
    if (status === 408 || status >= 500) return { kind: 'retry', reason };
    if (status >= 300 && status < 400) {
      return {
        kind: 'failed',
        reason: `${display} answered with a redirect (HTTP ${status}), which is not followed`,
      };
    }
    return { kind: 'failed', reason };
  }

  // ── hooks ───────────────────────────────────────────────────────────────────────────────────

  #log(entry: NotificationLogEntry, redactions: readonly string[] = []): void {
    if (!this.#deps.log) return;
    try {
      this.#deps.log({ ...entry, message: redactText(entry.message, redactions) });
    } catch {
      // A broken log hook must not stop deliveries.
    }
  }

  #hook(call: (metrics: NotificationMetrics) => void): void {
    if (!this.#deps.metrics) return;
    try {
      call(this.#deps.metrics);
    } catch {
      // Nor a broken metrics hook.
    }
  }
}

function isEvent(event: NotificationEvent): boolean {
  return (
    typeof event === 'object' &&
    event !== null &&
    EVENT_TYPES.has(event.type) &&
    typeof event.application?.namespace === 'string' &&
    typeof event.application.name === 'string' &&
    typeof event.message === 'string' &&
    event.time instanceof Date &&
    !Number.isNaN(event.time.getTime())
  );
}

/** A URL that is itself a credential, and its path (where Slack keeps the secret part). */
function urlSecrets(url: string): string[] {
  try {
    const parsed = new URL(url);
    return [url, parsed.pathname + parsed.search].filter((part) => part.length > 1);
  } catch {
    return [url];
  }
}

/** A receiver's reply, short, on one line, redacted, quoted. */
function replySnippet(body: string, redactions: readonly string[]): string {
  const text = redactText(body.slice(0, MAX_REPLY_SNIPPET * 4), redactions)
    .replace(/\s+/g, ' ')
    .trim();
  return text === '' ? '' : quote(text, MAX_REPLY_SNIPPET);
}
