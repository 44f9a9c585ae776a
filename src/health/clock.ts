/**
 * Time, as a dependency: the waiter asks the clock for "now" and for its one timer, so tests can move
 * time forward without waiting. (A candidate for `core/` once another stage needs it.)
 */

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
  setTimeout: (callback, ms) => setTimeout(callback, Math.min(Math.max(ms, 0), LONGEST_TIMER_MS)),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};
