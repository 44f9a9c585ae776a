/**
 * Coalescing bursts of pushes. A merge of a branch, a tag and a CI bot's follow-up commit arrive
 * seconds apart; reconciling the repository once after the last of them is what the operator wants.
 *
 * Trailing edge with a ceiling: a push is held for `delayMs`; every further push naming the same
 * repository within that time restarts the wait, so the one delivery happens after the last push of
 * the burst. A burst that never pauses is still delivered `maxDelayMs` after its first push, so a
 * busy repository cannot be starved. The cost is `delayMs` of latency on a lone push, small next to
 * a fetch and a sync.
 *
 * "The same repository" means sharing any repository key: a GitHub push (five URL spellings) and a
 * generic push naming one of those URLs coalesce.
 */
import type { Clock, TimerHandle } from '../core/time.js';
import type { WebhookProvider } from './webhooks/index.js';

export interface PushEvent {
  /** The receiver that accepted the (last) push. */
  readonly provider: WebhookProvider;
  /** Every URL the payloads gave for the repository, as sent; for logs and diagnostics. */
  readonly urls: readonly string[];
  /**
   * The same repository as match keys (see `repositoryMatchKey`): a Repository whose
   * `repositoryMatchKey(spec.url)` is in this list is the one pushed to.
   */
  readonly repositoryKeys: readonly string[];
  /** The ref that moved, when every push of the burst named the same one; otherwise any ref. */
  readonly ref?: string;
}

export interface PushDebouncerOptions {
  readonly delayMs: number;
  /** Longest a push waits while the burst goes on (default 5 × delayMs). */
  readonly maxDelayMs?: number;
  /** Most repositories held at once; beyond it the oldest is delivered early (default 1000). */
  readonly maxPending?: number;
  readonly clock: Clock;
  readonly deliver: (event: PushEvent) => void;
}

interface Pending {
  provider: WebhookProvider;
  urls: Set<string>;
  keys: Set<string>;
  refs: Set<string | undefined>;
  firstAt: number;
  timer: TimerHandle;
}

export class PushDebouncer {
  readonly #delayMs: number;
  readonly #maxDelayMs: number;
  readonly #maxPending: number;
  readonly #clock: Clock;
  readonly #deliver: (event: PushEvent) => void;
  /** Each pending burst under every one of its keys. */
  readonly #byKey = new Map<string, Pending>();
  /** Each pending burst once, oldest first. */
  readonly #pending = new Set<Pending>();

  constructor(options: PushDebouncerOptions) {
    this.#delayMs = Math.max(0, options.delayMs);
    this.#maxDelayMs = Math.max(this.#delayMs, options.maxDelayMs ?? this.#delayMs * 5);
    this.#maxPending = Math.max(1, options.maxPending ?? 1000);
    this.#clock = options.clock;
    this.#deliver = options.deliver;
  }

  add(event: PushEvent): void {
    if (this.#delayMs === 0) {
      this.#deliver(event);
      return;
    }
    const now = this.#clock.now().getTime();
    const pending = event.repositoryKeys
      .map((key) => this.#byKey.get(key))
      .find((found) => found !== undefined);
    if (pending === undefined) {
      this.#makeRoom();
      const created: Pending = {
        provider: event.provider,
        urls: new Set(event.urls),
        keys: new Set(event.repositoryKeys),
        refs: new Set([event.ref]),
        firstAt: now,
        timer: undefined,
      };
      this.#pending.add(created);
      for (const key of created.keys) this.#byKey.set(key, created);
      this.#schedule(created, now);
      return;
    }
    pending.provider = event.provider;
    for (const url of event.urls) pending.urls.add(url);
    for (const key of event.repositoryKeys) {
      pending.keys.add(key);
      this.#byKey.set(key, pending);
    }
    pending.refs.add(event.ref);
    this.#clock.clearTimeout(pending.timer);
    this.#schedule(pending, now);
  }

  /** How many repositories are waiting. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Delivers everything now (e.g. in tests, or to drain before a planned handover). */
  flush(): void {
    for (const pending of [...this.#pending]) this.#fire(pending);
  }

  /** Drops everything held, without delivering: on shutdown the next start resyncs anyway. */
  cancel(): void {
    for (const pending of this.#pending) this.#clock.clearTimeout(pending.timer);
    this.#pending.clear();
    this.#byKey.clear();
  }

  #schedule(pending: Pending, now: number): void {
    const due = Math.min(now + this.#delayMs, pending.firstAt + this.#maxDelayMs);
    pending.timer = this.#clock.setTimeout(() => this.#fire(pending), Math.max(0, due - now));
  }

  #makeRoom(): void {
    while (this.#pending.size >= this.#maxPending) {
      const oldest = this.#pending.values().next();
      if (oldest.done === true) return;
      this.#fire(oldest.value);
    }
  }

  #fire(pending: Pending): void {
    if (!this.#pending.delete(pending)) return;
    this.#clock.clearTimeout(pending.timer);
    for (const key of pending.keys) {
      if (this.#byKey.get(key) === pending) this.#byKey.delete(key);
    }
    const [onlyRef] = pending.refs;
    this.#deliver({
      provider: pending.provider,
      urls: [...pending.urls],
      repositoryKeys: [...pending.keys],
      ...(pending.refs.size === 1 && onlyRef !== undefined ? { ref: onlyRef } : {}),
    });
  }
}
