/**
 * A keyed work queue and its workers, after client-go's workqueue and controller-runtime's loop.
 *
 * - A key is either waiting (in the FIFO of ready keys), in flight, scheduled for later, or absent.
 *   Adding a waiting key does nothing; adding a key in flight marks it dirty, and it runs once more
 *   when the current run ends. So one key is never processed twice at once, and a burst of events
 *   for it costs at most one extra run.
 * - At most `concurrency` handlers run at once; ready keys start in the order they became ready,
 *   except that urgent keys (someone is waiting for them: a manual request, the app a commit
 *   touched) go before all others. Without that, at 1000 Applications on one branch the one app a
 *   commit changed waited behind 999 cheap no-op reconciles.
 * - A handler that throws is retried after a per-key exponential backoff with jitter; a handler that
 *   returns resets the key's failure count, and may ask to run again after `requeueAfterMs`.
 * - Nothing polls: the only timers are those of scheduled keys (one per key).
 */
import {
  backoffDelay,
  checkBackoff,
  systemClock,
  type BackoffPolicy,
  type Clock,
  type TimerHandle,
} from '../core/time.js';

/** What a handler returns: nothing, or when to run the key again (a poll interval, say). */
export type Result = { readonly requeueAfterMs?: number } | void;

export type Handler<K extends string> = (key: K, signal: AbortSignal) => Promise<Result>;

/**
 * Retry delays after failures: the first after `initialMs`, doubling (`factor`) up to `maxMs`, each
 * shortened by up to `jitter` of itself at random so retries spread out.
 */
export const QUEUE_BACKOFF: BackoffPolicy = {
  initialMs: 1000,
  maxMs: 5 * 60_000,
  factor: 2,
  jitter: 0.2,
  jitterMode: 'below',
};

export interface WorkQueueOptions<K extends string> {
  /** Handlers running at once, at least 1. */
  readonly concurrency: number;
  readonly handler: Handler<K>;
  readonly clock?: Clock;
  /** In [0, 1). Default Math.random. */
  readonly random?: () => number;
  /** Overrides parts of QUEUE_BACKOFF. */
  readonly backoff?: Partial<BackoffPolicy>;
  /** Called with the number of waiting keys whenever it changes (for a metric). */
  readonly onDepthChange?: (depth: number) => void;
}

export interface ShutdownOptions {
  /** Let in-flight handlers finish instead of aborting their signals. Default false. */
  readonly drain?: boolean;
  /** With `drain`: abort the handlers still running after this long. Default: wait for them. */
  readonly drainTimeoutMs?: number;
}

interface Scheduled {
  readonly atMs: number;
  readonly timer: TimerHandle;
}

export class WorkQueue<K extends string> {
  private readonly concurrency: number;
  private readonly handler: Handler<K>;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly backoff: BackoffPolicy;
  private readonly onDepthChange: ((depth: number) => void) | undefined;

  /** Ready keys in arrival order (a Set keeps insertion order and makes membership O(1)). */
  private readonly ready = new Set<K>();
  /** Ready keys that go before those in `ready`; a key is in one of the two at most. */
  private readonly urgent = new Set<K>();
  private readonly running = new Map<K, AbortController>();
  /** Keys in flight that were added again meanwhile, and whether urgently. */
  private readonly dirty = new Map<K, boolean>();
  private readonly scheduled = new Map<K, Scheduled>();
  private readonly failureCounts = new Map<K, number>();
  private shuttingDown = false;
  private idleWaiters: (() => void)[] = [];

  constructor(options: WorkQueueOptions<K>) {
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1)
      throw new RangeError(`concurrency must be a positive integer, got ${options.concurrency}`);
    this.backoff = { ...QUEUE_BACKOFF, ...options.backoff };
    checkBackoff(this.backoff);
    this.concurrency = options.concurrency;
    this.handler = options.handler;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.onDepthChange = options.onDepthChange;
  }

  /**
   * Makes `key` ready now; supersedes a later scheduled run of it. An urgent key goes before every
   * key that is not (a waiting key moves up); a key in flight runs again when done, either way.
   */
  add(key: K, options: { urgent?: boolean } = {}): void {
    if (this.shuttingDown) return;
    this.cancelScheduled(key);
    if (this.running.has(key)) {
      this.dirty.set(key, (this.dirty.get(key) ?? false) || options.urgent === true);
      return;
    }
    if (this.urgent.has(key)) return;
    if (options.urgent) {
      this.ready.delete(key);
      this.urgent.add(key);
    } else {
      if (this.ready.has(key)) return;
      this.ready.add(key);
    }
    this.depthChanged();
    this.startReady();
  }

  /** Makes `key` ready after `ms`, unless it is due sooner already (the earliest schedule wins). */
  addAfter(key: K, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) return this.add(key);
    // Waiting, or due to run again as soon as its current run ends: sooner than `ms` in both cases.
    if (this.isWaiting(key) || this.dirty.has(key)) return;
    const atMs = this.clock.now().getTime() + ms;
    const existing = this.scheduled.get(key);
    if (existing && existing.atMs <= atMs) return;
    if (existing) this.clock.clearTimeout(existing.timer);
    const timer = this.clock.setTimeout(() => {
      this.scheduled.delete(key);
      this.add(key);
    }, ms);
    this.scheduled.set(key, { atMs, timer });
  }

  /**
   * Drops the key's scheduled run (a retry or a requeue) and its failure count: for an object that is
   * gone. A waiting or in-flight run is left alone, so the handler still sees the deletion.
   */
  forget(key: K): void {
    this.cancelScheduled(key);
    this.failureCounts.delete(key);
  }

  /**
   * Stops taking work: later adds are ignored, waiting and scheduled keys are dropped, in-flight
   * handlers' signals abort (unless `drain`). Resolves when no handler is running.
   */
  shutdown(options: ShutdownOptions = {}): Promise<void> {
    this.shuttingDown = true;
    for (const key of [...this.scheduled.keys()]) this.cancelScheduled(key);
    this.dirty.clear();
    if (this.depth() > 0) {
      this.ready.clear();
      this.urgent.clear();
      this.depthChanged();
    }
    const abortRunning = (): void => {
      for (const controller of this.running.values()) controller.abort();
    };
    if (!options.drain) abortRunning();
    if (this.running.size === 0) return Promise.resolve();
    const deadline =
      options.drain && options.drainTimeoutMs !== undefined
        ? this.clock.setTimeout(abortRunning, options.drainTimeoutMs)
        : undefined;
    return new Promise<void>((resolve) => this.idleWaiters.push(resolve)).finally(() => {
      if (deadline !== undefined) this.clock.clearTimeout(deadline);
    });
  }

  /** Keys waiting for a worker (neither in flight nor scheduled for later). */
  depth(): number {
    return this.urgent.size + this.ready.size;
  }

  inFlight(): number {
    return this.running.size;
  }

  /** Consecutive failures of the key's handler since its last success (or `forget`). */
  failures(key: K): number {
    return this.failureCounts.get(key) ?? 0;
  }

  private startReady(): void {
    while (!this.shuttingDown && this.running.size < this.concurrency) {
      const from = this.urgent.size > 0 ? this.urgent : this.ready;
      const next = from.values().next();
      if (next.done) return;
      from.delete(next.value);
      this.depthChanged();
      void this.process(next.value);
    }
  }

  private async process(key: K): Promise<void> {
    const controller = new AbortController();
    this.running.set(key, controller);
    let outcome: { ok: true; result: Result } | { ok: false };
    try {
      outcome = { ok: true, result: await this.handler(key, controller.signal) };
    } catch {
      // The handler reports its own errors; the queue's part is to retry.
      outcome = { ok: false };
    }
    this.running.delete(key);
    if (!this.shuttingDown) {
      if (outcome.ok) this.failureCounts.delete(key);
      else this.failureCounts.set(key, this.failures(key) + 1);
      const dirty = this.dirty.get(key);
      if (dirty !== undefined) {
        // Something changed while it ran: run again now, whatever this run's outcome asked for.
        this.dirty.delete(key);
        this.add(key, { urgent: dirty });
      } else if (!outcome.ok) {
        this.addAfter(key, backoffDelay(this.failures(key) - 1, this.backoff, this.random));
      } else if (outcome.result?.requeueAfterMs !== undefined) {
        this.addAfter(key, outcome.result.requeueAfterMs);
      }
    }
    this.startReady();
    if (this.running.size === 0 && this.shuttingDown) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  private cancelScheduled(key: K): void {
    const existing = this.scheduled.get(key);
    if (!existing) return;
    this.clock.clearTimeout(existing.timer);
    this.scheduled.delete(key);
  }

  private isWaiting(key: K): boolean {
    return this.urgent.has(key) || this.ready.has(key);
  }

  private depthChanged(): void {
    this.onDepthChange?.(this.depth());
  }
}
