/**
 * Work queues fair across tenants (namespaces), for the generator, preview-comment and image-policy workers: a
 * WorkQueue (src/controller/queue.ts, its dedupe, backoff and requeue kept) per namespace running
 * `namespaceConcurrency` handlers at most, and a limit on handlers for all namespaces together
 * (`concurrency`) whose free slots go to the namespaces waiting for one in the order they asked
 * (each asks for at most `namespaceConcurrency` at a time: round-robin in effect). A namespace whose
 * work hangs holds its own slots only, and `namespaceConcurrency` stays below `concurrency`.
 */
import type { BackoffPolicy, Clock } from '../core/time.js';
import { WorkQueue, type Handler, type ShutdownOptions } from './queue.js';

export interface TenantQueuesOptions {
  /** Handlers running at once, all namespaces together. */
  readonly concurrency: number;
  /** Handlers of one namespace running at once; kept below `concurrency` (when it is above 1). */
  readonly namespaceConcurrency: number;
  readonly handler: Handler<string>;
  /** The namespace of a key. */
  readonly namespaceOf: (key: string) => string;
  readonly clock?: Clock;
  readonly backoff?: Partial<BackoffPolicy>;
}

export class TenantQueues {
  private readonly queues = new Map<string, WorkQueue<string>>();
  private readonly namespaceConcurrency: number;
  private readonly slots: Slots;
  private closed = false;

  constructor(private readonly options: TenantQueuesOptions) {
    const concurrency = Math.max(1, options.concurrency);
    this.slots = new Slots(concurrency);
    this.namespaceConcurrency = Math.max(1, Math.min(options.namespaceConcurrency, concurrency - 1));
  }

  add(key: string, options: { urgent?: boolean } = {}): void {
    this.queueOf(key)?.add(key, options);
  }

  /** Makes `key` ready after `ms`, unless it is due sooner already (see WorkQueue.addAfter). */
  addAfter(key: string, ms: number): void {
    this.queueOf(key)?.addAfter(key, ms);
  }

  forget(key: string): void {
    this.queues.get(this.options.namespaceOf(key))?.forget(key);
  }

  failures(key: string): number {
    return this.queues.get(this.options.namespaceOf(key))?.failures(key) ?? 0;
  }

  /** Handlers running now, all namespaces together. */
  inFlight(): number {
    return this.slots.taken;
  }

  /** Shuts every namespace's queue down (see WorkQueue.shutdown). */
  async shutdown(options: ShutdownOptions = {}): Promise<void> {
    this.closed = true;
    const queues = [...this.queues.values()].map((queue) => queue.shutdown(options));
    this.slots.close();
    await Promise.all(queues);
  }

  private queueOf(key: string): WorkQueue<string> | undefined {
    if (this.closed) return undefined;
    const namespace = this.options.namespaceOf(key);
    let queue = this.queues.get(namespace);
    if (!queue) {
      queue = new WorkQueue<string>({
        concurrency: this.namespaceConcurrency,
        handler: async (queued, signal) => {
          const release = await this.slots.take(signal);
          if (!release) return;
          try {
            return await this.options.handler(queued, signal);
          } finally {
            release();
          }
        },
        ...(this.options.clock ? { clock: this.options.clock } : {}),
        ...(this.options.backoff ? { backoff: this.options.backoff } : {}),
      });
      this.queues.set(namespace, queue);
    }
    return queue;
  }
}

/** A counting semaphore, first come first served; a waiter whose signal aborts leaves the line. */
class Slots {
  taken = 0;
  private readonly waiters: ((release: (() => void) | undefined) => void)[] = [];
  private closed = false;

  constructor(private readonly size: number) {}

  /** A release function, or undefined when `signal` aborted (or the slots closed) first. */
  take(signal: AbortSignal): Promise<(() => void) | undefined> {
    if (this.closed || signal.aborted) return Promise.resolve(undefined);
    if (this.taken < this.size) {
      this.taken++;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve) => {
      const waiter = (release: (() => void) | undefined) => {
        signal.removeEventListener('abort', onAbort);
        resolve(release);
      };
      const onAbort = () => {
        const at = this.waiters.indexOf(waiter);
        if (at >= 0) this.waiters.splice(at, 1);
        resolve(undefined);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Those waiting get no slot: their handlers return without running. */
  close(): void {
    this.closed = true;
    for (const waiter of this.waiters.splice(0)) waiter(undefined);
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.closed ? undefined : this.waiters.shift();
      // The slot passes to the next in line as is; else it is free.
      if (next) next(this.releaser());
      else this.taken--;
    };
  }
}
