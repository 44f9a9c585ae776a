/**
 * A per-client token bucket for the webhook endpoints: each client may send `ratePerMinute` requests
 * in a burst and then one every `60 / ratePerMinute` seconds. Checked before the body is read, so a
 * flood costs us headers only.
 *
 * Memory stays bounded two ways: a bucket that has refilled completely is indistinguishable from a
 * new one, so idle buckets are swept (lazily, at most once per refill period); and the number of
 * buckets is capped, the least recently used one giving way when a new client arrives at the cap.
 */
import type { Clock } from '../core/time.js';

export interface RateLimiterOptions {
  /** Sustained requests per minute per client; also the burst size. */
  readonly ratePerMinute: number;
  /** Most clients tracked at once (default 10 000, a few hundred kilobytes). */
  readonly maxClients?: number;
  readonly clock: Pick<Clock, 'now'>;
}

export interface RateDecision {
  readonly allowed: boolean;
  /** When refused: whole seconds until one request would be allowed (for `Retry-After`). */
  readonly retryAfterSeconds: number;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
}

const MINUTE_MS = 60_000;

export class TokenBucketRateLimiter {
  readonly #capacity: number;
  readonly #tokensPerMs: number;
  readonly #maxClients: number;
  readonly #clock: Pick<Clock, 'now'>;
  /** Insertion order is recency order: a bucket is re-inserted whenever it is used. */
  readonly #buckets = new Map<string, Bucket>();
  #lastSweepAt = Number.NEGATIVE_INFINITY;

  constructor(options: RateLimiterOptions) {
    if (!(options.ratePerMinute > 0)) throw new RangeError('ratePerMinute must be positive');
    this.#capacity = options.ratePerMinute;
    this.#tokensPerMs = options.ratePerMinute / MINUTE_MS;
    this.#maxClients = Math.max(1, options.maxClients ?? 10_000);
    this.#clock = options.clock;
  }

  /** Takes one token for `client` (see `clientKey`), if it has one. */
  take(client: string): RateDecision {
    const now = this.#clock.now().getTime();
    this.#sweepIdle(now);
    const bucket = this.#refilled(client, now);
    this.#buckets.delete(client);
    this.#buckets.set(client, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true, retryAfterSeconds: 0 };
    }
    const waitMs = (1 - bucket.tokens) / this.#tokensPerMs;
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
  }

  /** How many clients are tracked (for tests and the curious). */
  get trackedClients(): number {
    return this.#buckets.size;
  }

  #refilled(client: string, now: number): Bucket {
    const existing = this.#buckets.get(client);
    if (existing === undefined) {
      while (this.#buckets.size >= this.#maxClients) {
        const oldest = this.#buckets.keys().next();
        if (oldest.done === true) break;
        this.#buckets.delete(oldest.value);
      }
      return { tokens: this.#capacity, updatedAt: now };
    }
    const elapsed = Math.max(0, now - existing.updatedAt);
    existing.tokens = Math.min(this.#capacity, existing.tokens + elapsed * this.#tokensPerMs);
    existing.updatedAt = now;
    return existing;
  }

  #sweepIdle(now: number): void {
    const refillMs = this.#capacity / this.#tokensPerMs;
    if (now - this.#lastSweepAt < refillMs) return;
    this.#lastSweepAt = now;
    for (const [client, bucket] of this.#buckets) {
      if (bucket.tokens + (now - bucket.updatedAt) * this.#tokensPerMs >= this.#capacity) {
        this.#buckets.delete(client);
      }
    }
  }
}

/**
 * The rate-limiting identity of a client address: IPv4 addresses as they are (IPv4-mapped IPv6 too),
 * IPv6 addresses by their /64, because one host commonly owns a whole /64 and could otherwise
 * rotate through addresses to escape its bucket.
 */
export function clientKey(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped?.[1] !== undefined) return mapped[1];
  if (!ip.includes(':')) return ip;
  const groups = expandIpv6(ip.replace(/%.*$/, ''));
  return groups === undefined ? ip : `${groups.slice(0, 4).join(':')}::/64`;
}

function expandIpv6(address: string): string[] | undefined {
  const halves = address.toLowerCase().split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] === '' || halves[0] === undefined ? [] : halves[0].split(':');
  const tail = halves[1] === undefined || halves[1] === '' ? [] : halves[1].split(':');
  const missing = 8 - head.length - tail.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return undefined;
  const groups = [...head, ...new Array<string>(missing).fill('0'), ...tail];
  if (!groups.every((group) => /^[0-9a-f]{1,4}$/.test(group))) return undefined;
  return groups.map((group) => group.replace(/^0+(?=.)/, ''));
}
