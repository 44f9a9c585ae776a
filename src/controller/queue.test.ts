import { describe, expect, it } from 'vitest';
import { FakeClock, settle } from '../../test/support/fake-clock.js';
import { WorkQueue, type Result, type WorkQueueOptions } from './queue.js';

interface Run {
  readonly key: string;
  readonly signal: AbortSignal;
  readonly startedAtMs: number;
  finish(result?: Result): void;
  fail(error?: Error): void;
}

/** A handler whose runs stay in flight until the test finishes or fails them. */
function controlledHandler(clock: FakeClock): {
  handler: WorkQueueOptions<string>['handler'];
  runs: Run[];
  open: () => Run[];
  maxInFlight: () => number;
} {
  const runs: Run[] = [];
  let settled = new Set<Run>();
  let inFlight = 0;
  let maxInFlight = 0;
  const handler = (key: string, signal: AbortSignal): Promise<Result> =>
    new Promise<Result>((resolve, reject) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      const done = (run: Run): void => {
        inFlight--;
        settled = new Set([...settled, run]);
      };
      const run: Run = {
        key,
        signal,
        startedAtMs: clock.elapsedMs,
        finish: (result) => {
          done(run);
          resolve(result);
        },
        fail: (error = new Error(`${key} failed`)) => {
          done(run);
          reject(error);
        },
      };
      runs.push(run);
    });
  return { handler, runs, open: () => runs.filter((r) => !settled.has(r)), maxInFlight: () => maxInFlight };
}

function queueWith(
  clock: FakeClock,
  handler: WorkQueueOptions<string>['handler'],
  options: Partial<WorkQueueOptions<string>> = {},
): WorkQueue<string> {
  return new WorkQueue<string>({ concurrency: 1, handler, clock, random: () => 0, ...options });
}

describe('WorkQueue coalescing', () => {
  it('runs a key added ten times while it waits once', async () => {
    const clock = new FakeClock();
    const { handler, runs } = controlledHandler(clock);
    const queue = queueWith(clock, handler);
    queue.add('busy');
    for (let i = 0; i < 10; i++) queue.add('a');
    expect(queue.depth()).toBe(1);
    runs[0]!.finish();
    await settle();
    expect(runs.map((r) => r.key)).toEqual(['busy', 'a']);
    runs[1]!.finish();
    await clock.advanceAsync(60_000);
    expect(runs).toHaveLength(2);
  });

  it('runs a key added during its run exactly once more, never two at a time', async () => {
    const clock = new FakeClock();
    const { handler, runs, maxInFlight } = controlledHandler(clock);
    const queue = queueWith(clock, handler, { concurrency: 4 });
    queue.add('a');
    await settle();
    for (let i = 0; i < 5; i++) queue.add('a');
    await settle();
    expect(queue.inFlight()).toBe(1);
    expect(queue.depth()).toBe(0);
    expect(runs).toHaveLength(1);
    runs[0]!.finish();
    await settle();
    expect(runs).toHaveLength(2);
    runs[1]!.finish();
    await clock.advanceAsync(60_000);
    expect(runs).toHaveLength(2);
    expect(maxInFlight()).toBe(1);
  });
});

describe('WorkQueue urgency', () => {
  it('starts urgent keys before every waiting key, in their own arrival order', async () => {
    const clock = new FakeClock();
    const { handler, runs, open } = controlledHandler(clock);
    const queue = queueWith(clock, handler);
    queue.add('busy');
    for (const key of ['a', 'b', 'c', 'd']) queue.add(key);
    queue.add('u1', { urgent: true });
    queue.add('c', { urgent: true }); // a waiting key moves up
    queue.add('u1'); // a plain add does not move it down
    expect(queue.depth()).toBe(5);
    while (open().length > 0) {
      open()[0]!.finish();
      await settle();
    }
    expect(runs.map((r) => r.key)).toEqual(['busy', 'u1', 'c', 'a', 'b', 'd']);
  });

  it('keeps the urgency of a key added while in flight for its next run', async () => {
    const clock = new FakeClock();
    const { handler, runs, open } = controlledHandler(clock);
    const queue = queueWith(clock, handler);
    queue.add('a');
    queue.add('b');
    queue.add('a', { urgent: true }); // in flight: runs again when done, before b
    runs[0]!.finish();
    await settle();
    while (open().length > 0) {
      open()[0]!.finish();
      await settle();
    }
    expect(runs.map((r) => r.key)).toEqual(['a', 'a', 'b']);
  });
});

describe('WorkQueue concurrency', () => {
  it('never runs more than `concurrency` handlers, and starts ready keys in FIFO order', async () => {
    const clock = new FakeClock();
    const { handler, runs, open, maxInFlight } = controlledHandler(clock);
    const depths: number[] = [];
    const queue = queueWith(clock, handler, { concurrency: 3, onDepthChange: (d) => depths.push(d) });
    const keys = Array.from({ length: 10 }, (_, i) => `k${i}`);
    for (const key of keys) queue.add(key);
    expect(queue.inFlight()).toBe(3);
    expect(queue.depth()).toBe(7);
    while (open().length > 0) {
      expect(queue.inFlight()).toBeLessThanOrEqual(3);
      open()[0]!.finish();
      await settle();
    }
    expect(runs.map((r) => r.key)).toEqual(keys);
    expect(maxInFlight()).toBe(3);
    expect(queue.inFlight()).toBe(0);
    expect(depths.at(-1)).toBe(0);
    expect(Math.max(...depths)).toBe(7);
  });

  it('rejects a concurrency below 1 and a jitter outside [0, 1]', () => {
    const handler = async (): Promise<void> => {};
    expect(() => new WorkQueue({ concurrency: 0, handler })).toThrow(RangeError);
    expect(() => new WorkQueue({ concurrency: 1, handler, backoff: { jitter: 1.5 } })).toThrow(RangeError);
  });
});

describe('WorkQueue backoff', () => {
  /** Fails `times` times, then succeeds; returns the gaps between runs. */
  async function gapsBetweenRuns(random: () => number, runsWanted: number): Promise<number[]> {
    const clock = new FakeClock();
    const started: number[] = [];
    const queue = new WorkQueue<string>({
      concurrency: 1,
      clock,
      random,
      backoff: { initialMs: 1000, maxMs: 10_000, jitter: 0.2 },
      handler: async () => {
        started.push(clock.elapsedMs);
        throw new Error('still broken');
      },
    });
    queue.add('a');
    while (started.length < runsWanted) await clock.advanceAsync(500);
    await queue.shutdown();
    return started.slice(1).map((at, i) => at - started[i]!);
  }

  it('doubles from the base after each failure and stops at the cap', async () => {
    expect(await gapsBetweenRuns(() => 0, 8)).toEqual([1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
  });

  it('shortens each delay by at most the jitter fraction', async () => {
    expect(await gapsBetweenRuns(() => 0.5, 6)).toEqual(
      [1000, 2000, 4000, 8000, 10_000].map((ms) => ms * 0.9),
    );
    const clock = new FakeClock();
    let seed = 7;
    const random = (): number => {
      seed = (seed * 16807) % 2147483647;
      return (seed - 1) / 2147483646;
    };
    const queue = new WorkQueue<string>({
      concurrency: 1,
      clock,
      random,
      backoff: { initialMs: 1000, maxMs: 10_000, jitter: 0.2 },
      handler: async () => {
        throw new Error('still broken');
      },
    });
    queue.add('a');
    await settle();
    // Read the delay of each retry from the timer the queue sets.
    const delays: number[] = [];
    const setTimeout = clock.setTimeout.bind(clock);
    clock.setTimeout = (callback, ms) => {
      delays.push(ms);
      return setTimeout(callback, ms);
    };
    await clock.advanceAsync(200_000);
    await queue.shutdown();
    expect(delays.length).toBeGreaterThan(10);
    delays.forEach((ms, i) => {
      const capped = Math.min(10_000, 1000 * 2 ** (i + 1));
      expect(ms).toBeGreaterThanOrEqual(capped * 0.8);
      expect(ms).toBeLessThanOrEqual(capped);
    });
  });

  it('counts failures, and a success resets them so the next failure waits the base delay again', async () => {
    const clock = new FakeClock();
    const { handler, runs } = controlledHandler(clock);
    const queue = queueWith(clock, handler);
    queue.add('a');
    runs[0]!.fail();
    await settle();
    expect(queue.failures('a')).toBe(1);
    await clock.advanceAsync(1000);
    runs[1]!.fail();
    await settle();
    expect(queue.failures('a')).toBe(2);
    await clock.advanceAsync(1999);
    expect(runs).toHaveLength(2);
    await clock.advanceAsync(1);
    runs[2]!.finish();
    await settle();
    expect(queue.failures('a')).toBe(0);
    queue.add('a');
    runs[3]!.fail();
    await settle();
    await clock.advanceAsync(1000);
    expect(runs).toHaveLength(5);
  });

  it('a handler that throws synchronously counts as a failure', async () => {
    const clock = new FakeClock();
    let calls = 0;
    const queue = queueWith(clock, () => {
      calls++;
      throw new Error('sync');
    });
    queue.add('a');
    await settle();
    expect(queue.failures('a')).toBe(1);
    await clock.advanceAsync(1000);
    expect(calls).toBe(2);
    await queue.shutdown();
  });
});

describe('WorkQueue scheduling', () => {
  it('runs again after requeueAfterMs, and an add now supersedes the scheduled run', async () => {
    const clock = new FakeClock();
    const { handler, runs } = controlledHandler(clock);
    const queue = queueWith(clock, handler);
    queue.add('a');
    runs[0]!.finish({ requeueAfterMs: 30_000 });
    await clock.advanceAsync(29_999);
    expect(runs).toHaveLength(1);
    await clock.advanceAsync(1);
    expect(runs.map((r) => r.startedAtMs)).toEqual([0, 30_000]);

    runs[1]!.finish({ requeueAfterMs: 30_000 });
    await clock.advanceAsync(10_000);
    queue.add('a');
    expect(runs.map((r) => r.startedAtMs)).toEqual([0, 30_000, 40_000]);
    runs[2]!.finish();
    await clock.advanceAsync(60_000);
    expect(runs).toHaveLength(3);
    expect(clock.pendingTimers).toBe(0);
  });

  it('keeps the earliest of several delayed adds', async () => {
    const clock = new FakeClock();
    const { handler, runs } = controlledHandler(clock);
    const queue = queueWith(clock, handler);
    queue.addAfter('a', 5000);
    queue.addAfter('a', 1000);
    queue.addAfter('b', 1000);
    queue.addAfter('b', 5000);
    expect(queue.depth()).toBe(0);
    await clock.advanceAsync(1000);
    runs[0]!.finish();
    await settle();
    runs[1]!.finish();
    await clock.advanceAsync(10_000);
    expect(runs.map((r) => [r.key, r.startedAtMs])).toEqual([
      ['a', 1000],
      ['b', 1000],
    ]);
  });

  it('a delayed add that falls due during a run makes the key run once more after it', async () => {
    const clock = new FakeClock();
    const { handler, runs } = controlledHandler(clock);
    const queue = queueWith(clock, handler);
    queue.add('a');
    queue.addAfter('a', 1000);
    await clock.advanceAsync(5000);
    expect(runs).toHaveLength(1);
    runs[0]!.finish();
    await settle();
    expect(runs.map((r) => r.startedAtMs)).toEqual([0, 5000]);
  });

  it('forget drops the scheduled retry and the failure count', async () => {
    const clock = new FakeClock();
    const { handler, runs } = controlledHandler(clock);
    const queue = queueWith(clock, handler);
    queue.add('a');
    runs[0]!.fail();
    await settle();
    expect(queue.failures('a')).toBe(1);
    queue.forget('a');
    expect(queue.failures('a')).toBe(0);
    expect(clock.pendingTimers).toBe(0);
    await clock.advanceAsync(600_000);
    expect(runs).toHaveLength(1);
  });
});

describe('WorkQueue shutdown', () => {
  it('without drain: aborts in-flight handlers, drops waiting and scheduled keys, resolves when idle', async () => {
    const clock = new FakeClock();
    const { handler, runs } = controlledHandler(clock);
    const queue = queueWith(clock, handler);
    queue.add('a');
    queue.add('b');
    queue.addAfter('c', 1000);
    let idle = false;
    const stopped = queue.shutdown().then(() => (idle = true));
    expect(runs[0]!.signal.aborted).toBe(true);
    expect(queue.depth()).toBe(0);
    expect(clock.pendingTimers).toBe(0);
    await settle();
    expect(idle).toBe(false);
    runs[0]!.fail(new Error('aborted'));
    await stopped;
    queue.add('d');
    await clock.advanceAsync(10_000);
    expect(runs.map((r) => r.key)).toEqual(['a']);
    expect(queue.inFlight()).toBe(0);
    // A failure caused by the shutdown is not a retry to schedule.
    expect(queue.failures('a')).toBe(0);
  });

  it('with drain: lets in-flight handlers finish with their signals intact', async () => {
    const clock = new FakeClock();
    const { handler, runs } = controlledHandler(clock);
    const queue = queueWith(clock, handler, { concurrency: 2 });
    queue.add('a');
    queue.add('b');
    queue.add('c');
    let idle = false;
    const stopped = queue.shutdown({ drain: true }).then(() => (idle = true));
    expect(runs.every((r) => !r.signal.aborted)).toBe(true);
    runs[0]!.finish({ requeueAfterMs: 10 });
    await settle();
    expect(idle).toBe(false);
    runs[1]!.finish();
    await stopped;
    await clock.advanceAsync(10_000);
    expect(runs.map((r) => r.key)).toEqual(['a', 'b']);
  });

  it('with a drain timeout: aborts the handlers still running when it passes', async () => {
    const clock = new FakeClock();
    const { handler, runs } = controlledHandler(clock);
    const queue = queueWith(clock, handler, { concurrency: 2 });
    queue.add('quick');
    queue.add('slow');
    const stopped = queue.shutdown({ drain: true, drainTimeoutMs: 5_000 });
    runs[0]!.finish();
    await settle();
    await clock.advanceAsync(4_999);
    expect(runs[1]!.signal.aborted).toBe(false);
    await clock.advanceAsync(1);
    expect(runs[1]!.signal.aborted).toBe(true);
    runs[1]!.finish();
    await stopped;
    expect(runs[0]!.signal.aborted).toBe(false);
  });

  it('resolves at once when nothing is running', async () => {
    const queue = queueWith(new FakeClock(), async () => {});
    await expect(queue.shutdown()).resolves.toBeUndefined();
  });

  it('a later shutdown without drain aborts what a draining one let run', async () => {
    const clock = new FakeClock();
    const { handler, runs } = controlledHandler(clock);
    const queue = queueWith(clock, handler);
    queue.add('a');
    void queue.shutdown({ drain: true });
    expect(runs[0]!.signal.aborted).toBe(false);
    const stopped = queue.shutdown();
    expect(runs[0]!.signal.aborted).toBe(true);
    runs[0]!.finish();
    await stopped;
  });
});
