/**
 * Waits, by watching and never by polling, until a set of objects is healthy. It settles as soon as
 * the answer is known: every object Current, or one Failed (no point waiting out the timeout), or the
 * timeout, or the caller's signal (a newer revision has arrived and this wait is moot).
 */
import { CapstanError } from '../core/errors.js';
import { formatRef, refKey, type KubeObject, type ObjectRef } from '../core/objects.js';
import { formatDuration, systemClock, type Clock, type TimerHandle } from '../core/time.js';
import type { HealthStatus } from './result.js';
import { computeStatus, describeHealth } from './status.js';

/** What the waiter needs from a Kubernetes client; the engine adapts its client to it. */
export interface ObjectWatcher {
  /**
   * Yields the object's current state first, then its state after every change, until `signal`
   * aborts; `undefined` means the object does not exist (or was deleted). Reconnecting after a
   * dropped watch is the adapter's job: ending early or throwing ends the wait with an error.
   */
  watch(ref: ObjectRef, signal: AbortSignal): AsyncIterable<KubeObject | undefined>;
}

export interface ObjectHealth {
  readonly ref: ObjectRef;
  readonly status: HealthStatus;
  readonly message: string;
}

export type WaitOutcome = 'Current' | 'Failed' | 'TimedOut' | 'Aborted';

export interface WaitResult {
  readonly outcome: WaitOutcome;
  /** A first line saying what happened, then one line per object that kept the wait from succeeding. */
  readonly message: string;
  /** The last known health of every object, in the order they were asked for. */
  readonly objects: readonly ObjectHealth[];
}

export interface WaitOptions {
  readonly watcher: ObjectWatcher;
  readonly timeoutMs: number;
  /** Aborting it settles the wait with outcome `Aborted`. */
  readonly signal?: AbortSignal;
  readonly clock?: Clock;
  /** Called whenever an object's status or message changes. */
  readonly onProgress?: (health: ObjectHealth) => void;
}

interface Tracked {
  health: ObjectHealth;
  latest: KubeObject | undefined;
  /** Re-evaluates `latest` when time alone will change its verdict. */
  reevaluation: TimerHandle | undefined;
}

/**
 * Resolves with the outcome (never rejects for an unhealthy object); rejects only when a watch
 * throws or ends on its own, with that error.
 */
export function waitForHealth(refs: readonly ObjectRef[], options: WaitOptions): Promise<WaitResult> {
  const { watcher, timeoutMs, signal, clock = systemClock, onProgress } = options;
  const tracked = new Map<string, Tracked>();
  for (const ref of refs) {
    const health: ObjectHealth = { ref, status: 'Unknown', message: 'Waiting for the first watch event' };
    tracked.set(refKey(ref), { health, latest: undefined, reevaluation: undefined });
  }
  const everything = [...tracked.values()];
  const result = (outcome: WaitOutcome): WaitResult => summarise(outcome, everything, timeoutMs);

  if (everything.length === 0) return Promise.resolve(result('Current'));
  if (signal?.aborted) return Promise.resolve(result('Aborted'));

  return new Promise<WaitResult>((resolve, reject) => {
    const stopWatches = new AbortController();
    const finish = (settle: () => void): void => {
      if (stopWatches.signal.aborted) return;
      stopWatches.abort();
      clock.clearTimeout(timeout);
      for (const entry of everything) clock.clearTimeout(entry.reevaluation);
      signal?.removeEventListener('abort', onAbort);
      settle();
    };
    const timeout = clock.setTimeout(() => finish(() => resolve(result('TimedOut'))), timeoutMs);
    const onAbort = (): void => finish(() => resolve(result('Aborted')));
    signal?.addEventListener('abort', onAbort, { once: true });

    const evaluate = (entry: Tracked): void => {
      clock.clearTimeout(entry.reevaluation);
      entry.reevaluation = undefined;
      const now = clock.now();
      const { status, message, reevaluateAt } = computeStatus(entry.latest, now);
      if (reevaluateAt) {
        const again = (): void => {
          try {
            evaluate(entry);
          } catch (error) {
            finish(() => reject(error)); // onProgress threw; a timer has nobody else to tell.
          }
        };
        entry.reevaluation = clock.setTimeout(again, reevaluateAt.getTime() - now.getTime());
      }
      if (status !== entry.health.status || message !== entry.health.message) {
        entry.health = { ref: entry.health.ref, status, message };
        onProgress?.(entry.health);
      }
      if (status === 'Failed') finish(() => resolve(result('Failed')));
      const allCurrent = everything.every((each) => each.health.status === 'Current');
      if (allCurrent) finish(() => resolve(result('Current')));
    };

    const follow = async (entry: Tracked): Promise<void> => {
      try {
        for await (const object of watcher.watch(entry.health.ref, stopWatches.signal)) {
          if (stopWatches.signal.aborted) return;
          entry.latest = object;
          evaluate(entry);
        }
        const ended = `The watch on ${formatRef(entry.health.ref)} ended while the wait still needed it`;
        finish(() => reject(new CapstanError('internal', ended)));
      } catch (error) {
        finish(() => reject(error));
      }
    };
    for (const entry of everything) void follow(entry);
  });
}

function summarise(outcome: WaitOutcome, entries: readonly Tracked[], timeoutMs: number): WaitResult {
  const objects = entries.map((entry) => entry.health);
  const notCurrent = objects.filter((health) => health.status !== 'Current');
  const of = `${notCurrent.length} of ${objects.length}`;

  switch (outcome) {
    case 'Current':
      return { outcome, objects, message: `All ${objects.length} objects are healthy` };
    case 'Failed': {
      const failures = notCurrent.filter((health) => health.status === 'Failed');
      const heading = `${failures.length} of ${objects.length} objects failed`;
      const lines = failures.map((health) => describeHealth(health.ref, health));
      return { outcome, objects, message: [heading, ...lines].join('\n') };
    }
    case 'TimedOut': {
      const heading = `Timed out after ${formatDuration(timeoutMs)} with ${of} objects not healthy`;
      const lines = notCurrent.map((health) => `${describeHealth(health.ref, health)} (${health.status})`);
      return { outcome, objects, message: [heading, ...lines].join('\n') };
    }
    case 'Aborted':
      return { outcome, objects, message: `Stopped waiting with ${of} objects not yet healthy` };
  }
}
