/**
 * The one fake `Clock` for tests: time moves only when a test says so, and due timers fire in the
 * order they are due (ties in the order they were set), each at its own time.
 *
 * - `advance(ms)` / `set(date)` fire timers synchronously: for code whose timer callbacks do their
 *   work at once (a debouncer, a waiter).
 * - `advanceAsync(ms)` lets pending promise chains run before the first timer and after each one,
 *   so a timer that an awaited callback sets is still seen: for async loops (a queue, an elector).
 */
import type { Clock, TimerHandle } from '../../src/core/time.js';

/** The default start: a fixed instant, so timestamps in assertions are stable. */
export const FAKE_CLOCK_START = new Date('2024-05-01T12:00:00Z');

interface Timer {
  readonly at: number;
  readonly callback: () => void;
}

export class FakeClock implements Clock {
  readonly #start: number;
  #nowMs: number;
  #nextId = 1;
  readonly #timers = new Map<number, Timer>();

  constructor(start: Date | number = FAKE_CLOCK_START) {
    this.#start = typeof start === 'number' ? start : start.getTime();
    this.#nowMs = this.#start;
  }

  now(): Date {
    return new Date(this.#nowMs);
  }

  /** Milliseconds since the clock was made (time set back counts negative). */
  get elapsedMs(): number {
    return this.#nowMs - this.#start;
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    const id = this.#nextId++;
    this.#timers.set(id, { at: this.#nowMs + (ms > 0 ? ms : 0), callback });
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle as number);
  }

  get pendingTimers(): number {
    return this.#timers.size;
  }

  /** Moves time forward by `ms`, firing every timer due by then (including those they set). */
  advance(ms: number): void {
    const target = this.#nowMs + Math.max(0, ms);
    for (let due = this.#nextDue(target); due; due = this.#nextDue(target)) this.#fire(due);
    this.#nowMs = target;
  }

  /** Like `advance`, letting promise chains settle before the first timer, after each, and at the end. */
  async advanceAsync(ms: number): Promise<void> {
    const target = this.#nowMs + Math.max(0, ms);
    await settle();
    for (let due = this.#nextDue(target); due; due = this.#nextDue(target)) {
      this.#fire(due);
      await settle();
    }
    this.#nowMs = target;
    await settle();
  }

  /**
   * Sets the wall clock to `date`. Forward, it is `advance` (timers fire). Backward, only `now()`
   * moves: timers keep their remaining delay, as real timers are not tied to the wall clock.
   */
  set(date: Date | number): void {
    const to = typeof date === 'number' ? date : date.getTime();
    if (to >= this.#nowMs) return this.advance(to - this.#nowMs);
    const back = this.#nowMs - to;
    for (const [id, timer] of this.#timers) this.#timers.set(id, { ...timer, at: timer.at - back });
    this.#nowMs = to;
  }

  /**
   * `advanceAsync` in steps of `stepMs` until `condition` holds; returns `elapsedMs` then. Throws
   * when it still does not hold `limitMs` after the call.
   */
  async until(
    condition: () => boolean,
    options: { stepMs?: number; limitMs?: number } = {},
  ): Promise<number> {
    const { stepMs = 100, limitMs = 120_000 } = options;
    const deadline = this.#nowMs + limitMs;
    while (!condition()) {
      if (this.#nowMs >= deadline) throw new Error(`condition not met within ${limitMs} ms of fake time`);
      await this.advanceAsync(stepMs);
    }
    return this.elapsedMs;
  }

  #nextDue(target: number): [number, Timer] | undefined {
    let next: [number, Timer] | undefined;
    // Map order is insertion order, so `<` keeps the earlier-set timer first on a tie.
    for (const entry of this.#timers)
      if (entry[1].at <= target && (!next || entry[1].at < next[1].at)) next = entry;
    return next;
  }

  #fire([id, timer]: [number, Timer]): void {
    this.#timers.delete(id);
    this.#nowMs = Math.max(this.#nowMs, timer.at);
    timer.callback();
  }
}

/** Lets every pending promise chain run to its end (one macrotask turn). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
