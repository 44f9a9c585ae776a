/**
 * Time, as a dependency and as text: the `Clock` that waits, leases, queues and debouncers ask for
 * "now" and for timers (so tests can move time without waiting), an abortable `sleep`, the one
 * exponential backoff, and the duration grammar of the CRDs and CLI flags (`30s`, `5m`, `1h30m`,
 * `250ms`).
 */
import { UserError } from './errors.js';

// ── Clock ────────────────────────────────────────────────────────────────────────────────────────

/** Whatever `setTimeout` returned; only ever handed back to `clearTimeout`. */
export type TimerHandle = unknown;

export interface Clock {
  now(): Date;
  setTimeout(callback: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** Node caps timers at 2^31-1 ms and fires longer ones at once; cap them instead. */
const LONGEST_TIMER_MS = 2 ** 31 - 1;

/** The real clock. Stateless, so sharing it is safe. */
export const systemClock: Clock = {
  now: () => new Date(),
  setTimeout: (callback, ms) =>
    setTimeout(callback, Number.isNaN(ms) ? 0 : Math.min(Math.max(ms, 0), LONGEST_TIMER_MS)),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/**
 * Waits `ms` on `clock` (default the system clock). Resolves early, and never rejects, when `signal`
 * aborts: a caller that must stop then checks `signal.aborted` (or calls `signal.throwIfAborted()`).
 */
export function sleep(ms: number, options: { signal?: AbortSignal; clock?: Clock } = {}): Promise<void> {
  const { signal, clock = systemClock } = options;
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const wake = (): void => {
      clock.clearTimeout(timer);
      signal?.removeEventListener('abort', wake);
      resolve();
    };
    const timer = clock.setTimeout(wake, ms);
    signal?.addEventListener('abort', wake, { once: true });
  });
}

// ── Backoff ──────────────────────────────────────────────────────────────────────────────────────

export interface BackoffPolicy {
  /** The delay before the first retry (attempt 0). */
  readonly initialMs: number;
  /** The longest delay, before jitter. */
  readonly maxMs: number;
  /** Growth per attempt, at least 1. Default 2. */
  readonly factor?: number;
  /** The fraction of each delay left to chance, in [0, 1]. Default 0: none. */
  readonly jitter?: number;
  /**
   * `around` (default): each delay is in [1 − jitter, 1 + jitter) of its step, so it may exceed
   * `maxMs`. `below`: in (1 − jitter, 1] of its step, never above it.
   */
  readonly jitterMode?: 'around' | 'below';
}

/** Throws a RangeError naming what is wrong with `policy`. */
export function checkBackoff(policy: BackoffPolicy): void {
  const { initialMs, maxMs, factor = 2, jitter = 0 } = policy;
  if (!(initialMs >= 0)) throw new RangeError(`backoff initialMs must be at least 0, got ${initialMs}`);
  if (!(maxMs >= initialMs))
    throw new RangeError(`backoff maxMs must be at least initialMs (${initialMs}), got ${maxMs}`);
  if (!(factor >= 1)) throw new RangeError(`backoff factor must be at least 1, got ${factor}`);
  if (!(jitter >= 0 && jitter <= 1)) throw new RangeError(`backoff jitter must be in [0, 1], got ${jitter}`);
}

/**
 * The delay in whole milliseconds before retry number `attempt` (0-based):
 * `min(maxMs, initialMs × factor^attempt)`, then jittered. `random` returns a number in [0, 1).
 */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  checkBackoff(policy);
  const { initialMs, maxMs, factor = 2, jitter = 0, jitterMode = 'around' } = policy;
  const step = Math.min(maxMs, initialMs * factor ** Math.min(Math.max(attempt, 0), 64));
  if (jitter === 0) return Math.round(step);
  const spread = jitterMode === 'below' ? 1 - jitter * random() : 1 - jitter + 2 * jitter * random();
  return Math.max(0, Math.round(step * spread));
}

// ── Durations ────────────────────────────────────────────────────────────────────────────────────

/**
 * The shortest interval anything that polls on a tenant's schedule (a Repository, an
 * ApplicationGenerator) runs at: `interval: 1ms` would otherwise be a busy loop of git or forge
 * calls that one namespace points at everyone's controller.
 */
export const MIN_POLL_INTERVAL_MS = 1_000;

/** A tenant's poll interval, never shorter than MIN_POLL_INTERVAL_MS. */
export function pollInterval(text: string): number {
  return Math.max(MIN_POLL_INTERVAL_MS, parseDuration(text, { allowZero: true }));
}

/**
 * The grammar `parseDuration` reads, as the OpenAPI pattern the CRDs declare so the API server
 * rejects malformed durations: one or more `<number><unit>`, unit `ms`, `s`, `m` or `h`, as Flux
 * and Argo CD users write them. It cannot count, so zero and overflow are left to `parseDuration`.
 * Documentation and CRD generation only; nothing parses with it.
 */
export const DURATION_PATTERN = '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$';

/** Go's longest `time.Duration` (2^63−1 ns), in ms: what Go tools reading the same specs accept. */
export const MAX_DURATION_MS = 9_223_372_036_854;

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/**
 * `1h30m`, `30s`, `250ms`, `1.5h` → milliseconds (fractional only below a millisecond, to the
 * nanosecond). Components may come in any order and repeat. Throws a UserError (`invalid duration
 * '…': …`) for anything else, for zero unless `allowZero`, and for more than MAX_DURATION_MS.
 * One pass, no regular expression: linear in the length of `text`.
 */
export function parseDuration(text: string, options: { allowZero?: boolean } = {}): number {
  const fail = (reason: string): never => {
    const shown = text.length > 40 ? `${text.slice(0, 40)}…` : text;
    throw new UserError(`invalid duration '${shown}': ${reason}`);
  };
  const malformed = 'expected numbers with units ms, s, m or h, such as 30s, 5m, 1h30m or 250ms';
  if (text.length === 0) fail(malformed);
  let total = 0;
  let i = 0;
  while (i < text.length) {
    const whole = digitsAt(text, i);
    if (whole === i) fail(malformed);
    let end = whole;
    if (text[end] === '.') {
      end = digitsAt(text, end + 1);
      if (end === whole + 1) fail(malformed);
    }
    let unit: keyof typeof UNIT_MS;
    const c = text[end];
    if (c === 'm' && text[end + 1] === 's') unit = 'ms';
    else if (c === 'h' || c === 'm' || c === 's') unit = c;
    else return fail(malformed);
    total += Number(text.slice(i, whole)) * UNIT_MS[unit];
    // The fraction apart, to the nanosecond as Go keeps it: `0.3s` is 300, not 300.00000000000006.
    if (end > whole) total += Math.round(Number(`0${text.slice(whole, end)}`) * UNIT_MS[unit] * 1e6) / 1e6;
    if (!(total <= MAX_DURATION_MS)) fail('longer than the longest duration supported (about 292 years)');
    i = end + unit.length;
  }
  if (total === 0 && !options.allowZero) fail('must be greater than zero');
  return total;
}

/** Whether `text` is a duration `parseDuration` accepts. */
export function isDuration(text: string, options: { allowZero?: boolean } = {}): boolean {
  try {
    parseDuration(text, options);
    return true;
  } catch {
    return false;
  }
}

/** The index after the run of ASCII digits starting at `from`. */
function digitsAt(text: string, from: number): number {
  let i = from;
  while (i < text.length && text.charCodeAt(i) >= 48 && text.charCodeAt(i) <= 57) i++;
  return i;
}

/**
 * Milliseconds in the grammar people write (and `parseDuration` reads): `250ms`, `1.5s`, `45s`,
 * `2m`, `1m30s`, `1h30m`. Below a second to the millisecond, above it to a tenth of a second, and
 * without zero components.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms < 0) return `-${formatDuration(-ms)}`;
  if (Math.round(ms) < 1000) return `${Math.round(ms)}ms`;
  const tenths = Math.round(ms / 100);
  const hours = Math.floor(tenths / 36_000);
  const minutes = Math.floor((tenths % 36_000) / 600);
  const seconds = (tenths % 600) / 10;
  return [
    hours > 0 ? `${hours}h` : '',
    minutes > 0 ? `${minutes}m` : '',
    seconds > 0 ? `${seconds}s` : '',
  ].join('');
}

/**
 * For long synchronous loops over input from outside (100,000 tags, a large YAML file): call the
 * returned function every step, and await what it returns when it returns a promise — every
 * `sliceMs` of work it gives the event loop a turn, so health probes, lease renewals and watches
 * are not held up. Looking at the clock every step is cheap; the turn is taken at most once a slice.
 */
/**
 * Node's setImmediate (after pending I/O, without a timer's 1 ms floor); setTimeout where there is
 * none: this module is in the browser's build too (the API's duration pattern).
 */
const nextTurn: (callback: () => void) => unknown =
  (globalThis as { setImmediate?: (callback: () => void) => unknown }).setImmediate ??
  ((callback) => setTimeout(callback, 0));

export function eventLoopTurns(sliceMs = 20): () => Promise<void> | undefined {
  let sliceStarted = Date.now();
  return () => {
    if (Date.now() - sliceStarted < sliceMs) return undefined;
    return new Promise<void>((resolve) =>
      nextTurn(() => {
        sliceStarted = Date.now();
        resolve();
      }),
    );
  };
}

/**
 * A `Retry-After` header (seconds, or an HTTP date) as milliseconds from `now`; undefined when
 * absent or unreadable. Servers are not trusted with the length: past 64 characters it is ignored.
 */
export function retryAfterMs(value: string | undefined, now: Date | number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (text.length > 64) return undefined;
  if (/^\d{1,10}$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  const nowMs = typeof now === 'number' ? now : now.getTime();
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}
