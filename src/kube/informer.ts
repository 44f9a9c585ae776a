/**
 * An informer: a local copy of one kind's objects (optionally narrowed by namespace and selectors),
 * kept current by list + watch, with add/update/delete callbacks.
 *
 * It lists, then watches from the list's resourceVersion; bookmarks move that resourceVersion
 * forward so a reconnect does not replay old history. When the server says the resourceVersion is
 * too old (410 Gone / Expired) it relists and reports the difference as adds, updates and deletes.
 * Any other failure, and a stream that ends without delivering anything, reconnects after a jittered
 * exponential backoff. It never gives up; only its signal stops it.
 */
import type { KubeObject } from '../core/objects.js';
import { backoffDelay, checkBackoff, sleep, type BackoffPolicy } from '../core/time.js';
import { isGone } from './errors.js';
import type { KubeClient } from './types.js';

/** Reconnect delays: from 500 ms, doubling to 30 s, each spread ±50 %. */
export const INFORMER_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 30_000, factor: 2, jitter: 0.5 };

export interface InformerTimers {
  /** Waits `ms`; resolves early when `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
  /** In [0, 1). */
  random(): number;
}

export interface InformerOptions<T extends KubeObject> {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly namespace?: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /** Stops the informer (and its watch). */
  readonly signal: AbortSignal;
  readonly onAdd?: (object: T) => void;
  readonly onUpdate?: (previous: T, current: T) => void;
  /** With the object's last state (from the DELETED event, or from the store when a relist found it gone). */
  readonly onDelete?: (object: T) => void;
  /** Failures it recovers from (list/watch errors, throwing callbacks): for logs and metrics. */
  readonly onError?: (error: unknown) => void;
  /** Overrides parts of INFORMER_BACKOFF. */
  readonly backoff?: Partial<BackoffPolicy>;
  readonly timers?: InformerTimers;
  /** List page size. Default the client's. */
  readonly pageSize?: number;
}

export interface Informer<T extends KubeObject> {
  /** Resolves once the first list is in the store; rejects if stopped before that. */
  readonly synced: Promise<void>;
  /** Resolves when the informer has stopped (after its signal aborted). */
  readonly stopped: Promise<void>;
  readonly hasSynced: boolean;
  /** The resourceVersion the store reflects. */
  readonly resourceVersion: string | undefined;
  get(name: string, namespace?: string): T | undefined;
  list(): T[];
}

export type ListerWatcher = Pick<KubeClient, 'list' | 'watch'>;

export const realTimers: InformerTimers = {
  sleep: (ms, signal) => sleep(ms, { signal }),
  random: Math.random,
};

export function startInformer<T extends KubeObject>(
  client: ListerWatcher,
  options: InformerOptions<T>,
): Informer<T> {
  return new RunningInformer<T>(client, options);
}

export function storeKey(namespace: string | undefined, name: string | undefined): string {
  return namespace ? `${namespace}/${name ?? ''}` : (name ?? '');
}

class RunningInformer<T extends KubeObject> implements Informer<T> {
  readonly synced: Promise<void>;
  readonly stopped: Promise<void>;
  hasSynced = false;
  resourceVersion: string | undefined;
  private readonly store = new Map<string, T>();
  private readonly timers: InformerTimers;
  private readonly backoff: BackoffPolicy;
  private markSynced!: () => void;
  private failSync!: (error: unknown) => void;

  constructor(
    private readonly client: ListerWatcher,
    private readonly options: InformerOptions<T>,
  ) {
    this.timers = options.timers ?? realTimers;
    this.backoff = { ...INFORMER_BACKOFF, ...options.backoff };
    checkBackoff(this.backoff);
    this.synced = new Promise<void>((resolve, reject) => {
      this.markSynced = resolve;
      this.failSync = reject;
    });
    // Callers that never await `synced` must not get an unhandled rejection when stopped early.
    this.synced.catch(() => undefined);
    this.stopped = this.run();
  }

  get(name: string, namespace?: string): T | undefined {
    return this.store.get(storeKey(namespace, name));
  }

  list(): T[] {
    return [...this.store.values()];
  }

  private async run(): Promise<void> {
    const { signal } = this.options;
    let attempt = 0;
    let needList = true;
    while (!signal.aborted) {
      let delivered = false;
      try {
        if (needList) {
          await this.relist();
          needList = false;
          attempt = 0;
        }
        for await (const event of this.client.watch<T>(
          this.options.group,
          this.options.version,
          this.options.kind,
          {
            ...this.selection(),
            resourceVersion: this.resourceVersion,
            allowWatchBookmarks: true,
            signal,
          },
        )) {
          delivered = true;
          attempt = 0;
          this.handle(event.type, event.object);
        }
      } catch (error) {
        if (signal.aborted) break;
        if (isGone(error)) {
          // Our resourceVersion was compacted away: only a fresh list can tell what changed.
          needList = true;
          continue;
        }
        this.report(error);
        await this.timers.sleep(backoffDelay(attempt++, this.backoff, this.timers.random), signal);
        continue;
      }
      // The server closed the stream (its timeout). Reconnect at once if it was doing its job; a
      // server that closes watches straight away gets the backoff instead of a tight loop.
      if (!delivered && !signal.aborted) {
        await this.timers.sleep(backoffDelay(attempt++, this.backoff, this.timers.random), signal);
      }
    }
    if (!this.hasSynced) this.failSync(signal.reason ?? new Error('informer stopped before it synced'));
  }

  private selection(): { namespace?: string; labelSelector?: string; fieldSelector?: string } {
    const { namespace, labelSelector, fieldSelector } = this.options;
    return {
      ...(namespace === undefined ? {} : { namespace }),
      ...(labelSelector === undefined ? {} : { labelSelector }),
      ...(fieldSelector === undefined ? {} : { fieldSelector }),
    };
  }

  private async relist(): Promise<void> {
    const { items, resourceVersion } = await this.client.list<T>(
      this.options.group,
      this.options.version,
      this.options.kind,
      {
        ...this.selection(),
        ...(this.options.pageSize === undefined ? {} : { limit: this.options.pageSize }),
        signal: this.options.signal,
      },
    );
    const seen = new Set<string>();
    for (const item of items) {
      const key = storeKey(item.metadata.namespace, item.metadata.name);
      seen.add(key);
      const previous = this.store.get(key);
      this.store.set(key, item);
      if (!previous) this.call(() => this.options.onAdd?.(item));
      else if (previous.metadata.resourceVersion !== item.metadata.resourceVersion)
        this.call(() => this.options.onUpdate?.(previous, item));
    }
    for (const [key, previous] of this.store) {
      if (seen.has(key)) continue;
      this.store.delete(key);
      this.call(() => this.options.onDelete?.(previous));
    }
    this.resourceVersion = resourceVersion;
    if (!this.hasSynced) {
      this.hasSynced = true;
      this.markSynced();
    }
  }

  private handle(type: string, object: T): void {
    const resourceVersion = object.metadata?.resourceVersion;
    if (type === 'BOOKMARK') {
      if (resourceVersion) this.resourceVersion = resourceVersion;
      return;
    }
    // Skip (rather than retry forever on) an event that cannot name its object.
    if (!object.metadata?.name) return;
    const key = storeKey(object.metadata.namespace, object.metadata.name);
    const previous = this.store.get(key);
    if (type === 'DELETED') {
      this.store.delete(key);
      this.call(() => this.options.onDelete?.(object));
    } else {
      this.store.set(key, object);
      if (previous) this.call(() => this.options.onUpdate?.(previous, object));
      else this.call(() => this.options.onAdd?.(object));
    }
    if (resourceVersion) this.resourceVersion = resourceVersion;
  }

  private call(callback: () => void): void {
    try {
      callback();
    } catch (error) {
      // One failing handler must not stop the informer for everyone else.
      this.report(error);
    }
  }

  private report(error: unknown): void {
    try {
      this.options.onError?.(error);
    } catch {
      // Nothing sensible left to do with an error handler that throws.
    }
  }
}
