import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../test/support/fake-clock.js';
import { DURATION_PATTERN as CRD_DURATION_PATTERN } from '../api/v1alpha1.js';
import { UserError } from './errors.js';
import {
  backoffDelay,
  checkBackoff,
  DURATION_PATTERN,
  formatDuration,
  isDuration,
  MAX_DURATION_MS,
  parseDuration,
  sleep,
  systemClock,
} from './time.js';

/** A seeded generator (Park–Miller), so failures reproduce. */
function seeded(seed: number): () => number {
  return () => {
    seed = (seed * 16807) % 2147483647;
    return (seed - 1) / 2147483646;
  };
}

describe('parseDuration', () => {
  it.each([
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['250ms', 250],
    ['1m1ms', 60_001],
    ['1ms5s', 5001],
    ['1s1h', 3_601_000], // any order, as the CRD pattern allows
    ['1s1s', 2000],
    ['007s', 7000],
    ['1.5h', 5_400_000],
    ['1.1s', 1100],
    ['0.3s', 300],
    ['0.5ms', 0.5],
    ['2562047h', 2562047 * 3_600_000], // about Go's longest duration
    [`${MAX_DURATION_MS}ms`, MAX_DURATION_MS],
  ])('reads %j as %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([
    '',
    '5',
    'm',
    's5',
    '5x',
    '5M',
    '5 m',
    ' 5m',
    '5m ',
    '1h30',
    '5mss',
    '1.s',
    '.5s',
    '1..5s',
    '1.5.5s',
    '-5s',
    '+5s',
    '1e3s',
    '1,5s',
    '5µs',
    '5ns',
    'Infinity',
    'NaN',
    'five minutes',
  ])('rejects %j', (text) => {
    expect(() => parseDuration(text)).toThrow(UserError);
    expect(() => parseDuration(text)).toThrow(`invalid duration '${text}': expected numbers with units`);
  });

  it('rejects zero unless allowed', () => {
    expect(() => parseDuration('0s')).toThrow("invalid duration '0s': must be greater than zero");
    expect(() => parseDuration('0ms0h')).toThrow('must be greater than zero');
    expect(parseDuration('0s', { allowZero: true })).toBe(0);
    expect(parseDuration('0ms0h', { allowZero: true })).toBe(0);
  });

  it('rejects what overflows, however many digits', () => {
    for (const text of [
      `${MAX_DURATION_MS + 1}ms`,
      '2562048h',
      `${'9'.repeat(400)}h`,
      `${'9'.repeat(400)}.5s`,
      `1.${'9'.repeat(400)}h${'9'.repeat(20)}h`,
      '1h'.repeat(2_600_000),
    ])
      expect(() => parseDuration(text)).toThrow(/longer than the longest duration/);
  });

  it('keeps error messages short for long input', () => {
    const error = (() => {
      try {
        parseDuration(`${'1'.repeat(100_000)}x`);
      } catch (caught) {
        return caught as Error;
      }
    })();
    expect(error?.message.length).toBeLessThan(200);
    expect(error?.message).toContain(`'${'1'.repeat(40)}…'`);
  });

  it('takes linear time on long input, valid or not', () => {
    const inputs = [
      '1s'.repeat(500_000),
      `${'1'.repeat(1_000_000)}x`,
      `${'1m'.repeat(500_000)}1`,
      `1.${'0'.repeat(1_000_000)}`,
      `${'1ms'.repeat(300_000)}m`,
    ];
    const started = performance.now();
    expect(parseDuration(inputs[0]!)).toBe(500_000_000);
    for (const text of inputs.slice(1)) expect(isDuration(text)).toBe(false);
    // A few ms each in practice; a quadratic scan of a million characters would take minutes.
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('accepts exactly what the CRD pattern accepts, zero and overflow aside', () => {
    expect(DURATION_PATTERN).toBe(CRD_DURATION_PATTERN);
    const pattern = new RegExp(DURATION_PATTERN);
    const random = seeded(42);
    const alphabet = '0123456789..mmsshh x';
    for (let n = 0; n < 20_000; n++) {
      const length = 1 + Math.floor(random() * 8);
      let text = '';
      for (let i = 0; i < length; i++) text += alphabet[Math.floor(random() * alphabet.length)];
      let verdict: 'ok' | 'overflow' | 'invalid' = 'ok';
      try {
        parseDuration(text, { allowZero: true });
      } catch (error) {
        verdict = /longer than/.test((error as Error).message) ? 'overflow' : 'invalid';
      }
      // The pattern cannot count: `3214960h` passes it, and the controller reports it as too long.
      expect([text, verdict !== 'invalid']).toEqual([text, pattern.test(text)]);
    }
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0ms'],
    [300, '300ms'],
    [999.4, '999ms'],
    [999.6, '1s'],
    [1500, '1.5s'],
    [45_000, '45s'],
    [45_320, '45.3s'],
    [60_000, '1m'],
    [90_000, '1m30s'],
    [120_000, '2m'],
    [3_600_000, '1h'],
    [3_600_500, '1h0.5s'],
    [5_400_000, '1h30m'],
    [100 * 3_600_000, '100h'],
  ])('writes %d ms as %j', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('writes what parseDuration reads back', () => {
    for (const ms of [1, 250, 1000, 1500, 61_000, 5_400_000, 3_600_500, 86_400_000])
      expect(parseDuration(formatDuration(ms))).toBe(ms);
  });
});

describe('backoffDelay', () => {
  it('grows by the factor from the initial delay to the cap, without jitter by default', () => {
    const policy = { initialMs: 100, maxMs: 1000 };
    expect([0, 1, 2, 3, 4, 10, 1e9].map((a) => backoffDelay(a, policy))).toEqual([
      100, 200, 400, 800, 1000, 1000, 1000,
    ]);
    expect([0, 1, 2].map((a) => backoffDelay(a, { ...policy, factor: 3 }))).toEqual([100, 300, 900]);
    expect(backoffDelay(-1, policy)).toBe(100);
    expect(backoffDelay(Number.MAX_SAFE_INTEGER, { initialMs: 1, maxMs: 1e12, factor: 10 })).toBe(1e12);
  });

  it('spreads around each step by the jitter fraction', () => {
    const policy = { initialMs: 100, maxMs: 1000, factor: 2, jitter: 0.5 };
    expect([0, 1, 2, 3, 4, 10].map((a) => backoffDelay(a, policy, () => 0.5))).toEqual([
      100, 200, 400, 800, 1000, 1000,
    ]);
    expect(backoffDelay(0, policy, () => 0)).toBe(50);
    expect(backoffDelay(0, policy, () => 0.999999)).toBe(150);
  });

  it('only shortens each step with jitterMode below', () => {
    const policy = { initialMs: 1000, maxMs: 10_000, jitter: 0.2, jitterMode: 'below' } as const;
    expect([0, 1, 2, 3, 4].map((a) => backoffDelay(a, policy, () => 0.5))).toEqual([
      900, 1800, 3600, 7200, 9000,
    ]);
    expect(backoffDelay(0, policy, () => 0)).toBe(1000);
  });

  it('stays within its bounds, in whole milliseconds', () => {
    const random = seeded(7);
    for (const jitterMode of ['around', 'below'] as const) {
      for (let attempt = 0; attempt < 2000; attempt++) {
        const policy = { initialMs: 7, maxMs: 5000, factor: 1.7, jitter: 0.3, jitterMode };
        const step = Math.min(5000, 7 * 1.7 ** attempt);
        const delay = backoffDelay(attempt, policy, random);
        expect(Number.isInteger(delay)).toBe(true);
        expect(delay).toBeGreaterThanOrEqual(Math.floor(step * 0.7));
        expect(delay).toBeLessThanOrEqual(Math.ceil(jitterMode === 'below' ? step : step * 1.3));
      }
    }
  });

  it('rejects a policy that makes no sense', () => {
    for (const policy of [
      { initialMs: -1, maxMs: 10 },
      { initialMs: 10, maxMs: 5 },
      { initialMs: 1, maxMs: 10, factor: 0.5 },
      { initialMs: 1, maxMs: 10, jitter: 1.5 },
      { initialMs: 1, maxMs: 10, jitter: -0.1 },
      { initialMs: Number.NaN, maxMs: 10 },
    ]) {
      expect(() => checkBackoff(policy)).toThrow(RangeError);
      expect(() => backoffDelay(0, policy)).toThrow(RangeError);
    }
    expect(() => checkBackoff({ initialMs: 1, maxMs: 10, jitter: 1.5 })).toThrow(
      'backoff jitter must be in [0, 1], got 1.5',
    );
  });
});

describe('sleep', () => {
  it('resolves once the time has passed on the given clock', async () => {
    const clock = new FakeClock();
    let done = false;
    void sleep(1000, { clock }).then(() => (done = true));
    await clock.advanceAsync(999);
    expect(done).toBe(false);
    await clock.advanceAsync(1);
    expect(done).toBe(true);
    expect(clock.pendingTimers).toBe(0);
  });

  it('resolves early, without rejecting, when its signal aborts, and leaves no timer behind', async () => {
    const clock = new FakeClock();
    const controller = new AbortController();
    let done = false;
    const slept = sleep(60_000, { clock, signal: controller.signal }).then(() => (done = true));
    await clock.advanceAsync(10);
    expect(done).toBe(false);
    controller.abort(new Error('stop'));
    await slept;
    expect(done).toBe(true);
    expect(clock.pendingTimers).toBe(0);
  });

  it('does not wait at all when the signal has already aborted', async () => {
    const clock = new FakeClock();
    await sleep(60_000, { clock, signal: AbortSignal.abort() });
    expect(clock.pendingTimers).toBe(0);
  });

  it('waits on the system clock by default', async () => {
    const started = performance.now();
    await sleep(20);
    expect(performance.now() - started).toBeGreaterThanOrEqual(15);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 10);
    const aborted = performance.now();
    await sleep(60_000, { signal: controller.signal });
    expect(performance.now() - aborted).toBeLessThan(5000);
  });
});

describe('systemClock', () => {
  it('caps timers Node would otherwise fire at once', async () => {
    let fired = false;
    const handle = systemClock.setTimeout(() => (fired = true), 2 ** 40);
    await sleep(20);
    expect(fired).toBe(false);
    systemClock.clearTimeout(handle);
  });
});

describe('FakeClock', () => {
  it('fires due timers in order, ties in the order set, each at its own time', () => {
    const clock = new FakeClock(0);
    const fired: string[] = [];
    const at = (name: string) => () => fired.push(`${name}@${clock.elapsedMs}`);
    clock.setTimeout(at('c'), 30);
    clock.setTimeout(at('a'), 10);
    clock.setTimeout(at('b1'), 20);
    clock.setTimeout(at('b2'), 20);
    const cancelled = clock.setTimeout(at('x'), 15);
    clock.clearTimeout(cancelled);
    // A timer set by a callback fires in the same advance when it is due by then.
    clock.setTimeout(() => clock.setTimeout(at('nested'), 5), 12);
    clock.advance(25);
    expect(fired).toEqual(['a@10', 'nested@17', 'b1@20', 'b2@20']);
    expect(clock.elapsedMs).toBe(25);
    expect(clock.pendingTimers).toBe(1);
    clock.set(new Date(30));
    expect(fired.at(-1)).toBe('c@30');
  });

  it('keeps timers on their delay when the wall clock is set back', () => {
    const clock = new FakeClock(new Date('2024-05-01T12:00:00Z'));
    let fired = false;
    clock.setTimeout(() => (fired = true), 1000);
    clock.set(new Date('2024-05-01T11:00:00Z'));
    expect(clock.now().toISOString()).toBe('2024-05-01T11:00:00.000Z');
    clock.advance(999);
    expect(fired).toBe(false);
    clock.advance(1);
    expect(fired).toBe(true);
  });

  it('lets awaited work set its next timer before moving on, with advanceAsync', async () => {
    const clock = new FakeClock(0);
    const ticks: number[] = [];
    const controller = new AbortController();
    const loop = (async () => {
      while (!controller.signal.aborted) {
        await sleep(100, { clock, signal: controller.signal });
        await Promise.resolve();
        ticks.push(clock.elapsedMs);
      }
    })();
    await clock.advanceAsync(350);
    expect(ticks).toEqual([100, 200, 300]);
    expect(await clock.until(() => ticks.length === 5, { stepMs: 10 })).toBe(500);
    controller.abort();
    await loop;
  });
});
