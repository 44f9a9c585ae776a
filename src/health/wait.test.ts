import { describe, expect, it } from 'vitest';
import { CapstanError } from '../core/errors.js';
import { refKey, type KubeObject, type ObjectRef } from '../core/objects.js';
import { FAKE_CLOCK_START, FakeClock, settle } from '../../test/support/fake-clock.js';
import {
  waitForHealth,
  type ObjectHealth,
  type ObjectWatcher,
  type WaitOptions,
  type WaitResult,
} from './wait.js';

const START = FAKE_CLOCK_START;

/** One watch per ref; the test pushes states into it, as the API server would. */
class FakeWatcher implements ObjectWatcher {
  private readonly streams = new Map<string, { push: (event: WatchEvent) => void; signal: AbortSignal }>();

  watch(ref: ObjectRef, signal: AbortSignal): AsyncIterable<KubeObject | undefined> {
    const queue: WatchEvent[] = [];
    let wake: (() => void) | undefined;
    const push = (event: WatchEvent): void => {
      queue.push(event);
      wake?.();
    };
    this.streams.set(refKey(ref), { push, signal });
    signal.addEventListener('abort', () => wake?.());
    return (async function* () {
      while (!signal.aborted) {
        const event = queue.shift();
        if (event === undefined) {
          await new Promise<void>((resolve) => (wake = resolve));
          continue;
        }
        if (event.kind === 'end') return;
        if (event.kind === 'error') throw event.error;
        yield event.object;
      }
    })();
  }
  emit(ref: ObjectRef, object: KubeObject | undefined): void {
    this.stream(ref).push({ kind: 'object', object });
  }
  fail(ref: ObjectRef, error: Error): void {
    this.stream(ref).push({ kind: 'error', error });
  }
  end(ref: ObjectRef): void {
    this.stream(ref).push({ kind: 'end' });
  }
  get watching(): number {
    return [...this.streams.values()].filter((stream) => !stream.signal.aborted).length;
  }
  private stream(ref: ObjectRef) {
    const stream = this.streams.get(refKey(ref));
    if (!stream) throw new Error(`nobody watches ${refKey(ref)}`);
    return stream;
  }
}

type WatchEvent =
  { kind: 'object'; object: KubeObject | undefined } | { kind: 'error'; error: Error } | { kind: 'end' };

/** Lets the waiter's watch loops take in what the test emitted. */

/** A promise whose outcome a test can inspect without awaiting it. */
function track(promise: Promise<WaitResult>) {
  const state: { result?: WaitResult; error?: unknown } = {};
  promise.then(
    (result) => (state.result = result),
    (error: unknown) => (state.error = error),
  );
  return state;
}

// --- Fixtures -----------------------------------------------------------------------------------

const web: ObjectRef = { group: 'apps', kind: 'Deployment', namespace: 'shop', name: 'web' };
const settings: ObjectRef = { group: '', kind: 'ConfigMap', namespace: 'shop', name: 'settings' };
const migrate: ObjectRef = { group: 'batch', kind: 'Job', namespace: 'shop', name: 'migrate' };
const worker: ObjectRef = { group: '', kind: 'Pod', namespace: 'shop', name: 'worker' };

function webDeployment(available: number, progressing = 'NewReplicaSetAvailable'): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'shop', generation: 2 },
    spec: { replicas: 3, progressDeadlineSeconds: 600 },
    status: {
      observedGeneration: 2,
      replicas: 3,
      updatedReplicas: 3,
      readyReplicas: available,
      availableReplicas: available,
      conditions: [
        { type: 'Available', status: available > 0 ? 'True' : 'False', reason: 'MinimumReplicasAvailable' },
        {
          type: 'Progressing',
          status: progressing === 'ProgressDeadlineExceeded' ? 'False' : 'True',
          reason: progressing,
          message: 'ReplicaSet "web-7c5b9d8f4" has timed out progressing.',
        },
      ],
    },
  };
}

const settingsMap: KubeObject = {
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'settings', namespace: 'shop' },
  data: { LOG_LEVEL: 'info' },
};

const runningJob: KubeObject = {
  apiVersion: 'batch/v1',
  kind: 'Job',
  metadata: { name: 'migrate', namespace: 'shop', generation: 1 },
  spec: { completions: 1 },
  status: { startTime: START.toISOString(), active: 1 },
};

const unschedulablePod: KubeObject = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'worker', namespace: 'shop', creationTimestamp: START.toISOString() },
  status: {
    phase: 'Pending',
    conditions: [
      { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/3 nodes are available.' },
    ],
  },
};

function setup(overrides: Partial<WaitOptions> = {}) {
  const clock = new FakeClock();
  const watcher = new FakeWatcher();
  const progress: ObjectHealth[] = [];
  const options: WaitOptions = {
    watcher,
    clock,
    timeoutMs: 120_000,
    onProgress: (health) => progress.push(health),
    ...overrides,
  };
  return { clock, watcher, progress, options };
}

// --- Tests --------------------------------------------------------------------------------------

describe('waitForHealth', () => {
  it('resolves once every object is Current, reporting progress on the way', async () => {
    const { clock, watcher, progress, options } = setup();
    const wait = track(waitForHealth([web, settings], options));
    await settle();

    watcher.emit(settings, settingsMap);
    watcher.emit(web, webDeployment(1));
    await settle();
    expect(wait.result).toBeUndefined();

    watcher.emit(web, webDeployment(3));
    await settle();
    expect(wait.result).toMatchObject({ outcome: 'Current', message: 'All 2 objects are healthy' });
    expect(wait.result?.objects.map((health) => health.status)).toEqual(['Current', 'Current']);
    expect(progress.map((health) => `${health.ref.name} ${health.status}`)).toEqual([
      'settings Current',
      'web InProgress',
      'web Current',
    ]);
    expect(watcher.watching).toBe(0);
    expect(clock.pendingTimers).toBe(0);
  });

  it('fails fast as soon as one object fails, without waiting for the timeout', async () => {
    const { clock, watcher, options } = setup();
    const wait = track(waitForHealth([web, settings], options));
    await settle();

    watcher.emit(settings, settingsMap);
    watcher.emit(web, webDeployment(1, 'ProgressDeadlineExceeded'));
    await settle();

    expect(wait.result?.outcome).toBe('Failed');
    expect(wait.result?.message).toBe(
      '1 of 2 objects failed\n' +
        'Deployment.apps/shop/web: Progress deadline exceeded: ReplicaSet "web-7c5b9d8f4" has timed out progressing.',
    );
    expect(watcher.watching).toBe(0);
    expect(clock.pendingTimers).toBe(0);
  });

  it('times out with a summary of what was not ready and why', async () => {
    const { clock, watcher, options } = setup();
    const wait = track(waitForHealth([web, settings, migrate], options));
    await settle();
    watcher.emit(settings, settingsMap);
    watcher.emit(migrate, runningJob);
    await settle();

    clock.advance(119_999);
    await settle();
    expect(wait.result).toBeUndefined();

    clock.advance(1);
    await settle();
    expect(wait.result?.outcome).toBe('TimedOut');
    expect(wait.result?.message).toBe(
      [
        'Timed out after 2m with 2 of 3 objects not healthy',
        'Deployment.apps/shop/web: Waiting for the first watch event (Unknown)',
        'Job.batch/shop/migrate: Job is running: 1 active, 0 of 1 completion succeeded, 0 failed (InProgress)',
      ].join('\n'),
    );
    expect(watcher.watching).toBe(0);
  });

  it('stops when the caller aborts (a newer revision arrived)', async () => {
    const abort = new AbortController();
    const { clock, watcher, options } = setup({ signal: abort.signal });
    const wait = track(waitForHealth([web, worker], options));
    await settle();
    watcher.emit(web, webDeployment(1));
    watcher.emit(worker, unschedulablePod);
    await settle();
    expect(clock.pendingTimers).toBe(2);

    abort.abort();
    await settle();
    expect(wait.result).toMatchObject({
      outcome: 'Aborted',
      message: 'Stopped waiting with 2 of 2 objects not yet healthy',
    });
    expect(watcher.watching).toBe(0);
    expect(clock.pendingTimers).toBe(0);
  });

  it('does not start watching when the signal is already aborted', async () => {
    const { watcher, options } = setup({ signal: AbortSignal.abort() });
    await expect(waitForHealth([web], options)).resolves.toMatchObject({ outcome: 'Aborted' });
    expect(() => watcher.emit(web, undefined)).toThrow('nobody watches');
  });

  it('keeps waiting through a deletion and succeeds when the object comes back healthy', async () => {
    const { watcher, progress, options } = setup();
    const wait = track(waitForHealth([web, settings], options));
    await settle();
    watcher.emit(web, webDeployment(3));
    watcher.emit(settings, undefined);
    await settle();
    expect(wait.result).toBeUndefined();

    watcher.emit(settings, settingsMap);
    await settle();
    expect(wait.result?.outcome).toBe('Current');
    expect(progress.map((health) => `${health.ref.name} ${health.status}`)).toEqual([
      'web Current',
      'settings NotFound',
      'settings Current',
    ]);
  });

  it('reports an object deleted while waiting in the timeout summary', async () => {
    const { clock, watcher, options } = setup({ timeoutMs: 30_000 });
    const wait = track(waitForHealth([settings], options));
    await settle();
    watcher.emit(settings, undefined);
    await settle();
    clock.advance(30_000);
    await settle();
    expect(wait.result?.message).toBe(
      'Timed out after 30s with 1 of 1 objects not healthy\n' +
        'ConfigMap/shop/settings: Object does not exist in the cluster (NotFound)',
    );
  });

  it('fails an unschedulable Pod once its grace ends, with no new event', async () => {
    const { clock, watcher, options } = setup();
    const wait = track(waitForHealth([worker], options));
    await settle();
    clock.advance(5_000);
    watcher.emit(worker, unschedulablePod);
    await settle();
    expect(wait.result).toBeUndefined();
    expect(clock.pendingTimers).toBe(2); // the overall timeout and the Pod's re-evaluation

    clock.advance(10_000);
    await settle();
    expect(wait.result?.outcome).toBe('Failed');
    expect(wait.result?.message).toContain('Pod cannot be scheduled: 0/3 nodes are available.');
  });

  it('drops the re-evaluation once the Pod is scheduled', async () => {
    const { clock, watcher, options } = setup();
    const wait = track(waitForHealth([worker], options));
    await settle();
    watcher.emit(worker, unschedulablePod);
    await settle();
    watcher.emit(worker, { ...unschedulablePod, status: { phase: 'Pending' } });
    await settle();
    expect(clock.pendingTimers).toBe(1);

    clock.advance(20_000);
    await settle();
    expect(wait.result).toBeUndefined();
  });

  it('rejects with the watch error when a watch fails', async () => {
    const { clock, watcher, options } = setup();
    const wait = waitForHealth([web, settings], options);
    await settle();
    const forbidden = new CapstanError('user', 'deployments.apps "web" is forbidden');
    watcher.fail(web, forbidden);
    await expect(wait).rejects.toBe(forbidden);
    expect(watcher.watching).toBe(0);
    expect(clock.pendingTimers).toBe(0);
  });

  it('rejects when a watch ends on its own', async () => {
    const { watcher, options } = setup();
    const wait = waitForHealth([web], options);
    await settle();
    watcher.end(web);
    await expect(wait).rejects.toThrow(
      'The watch on Deployment.apps/shop/web ended while the wait still needed it',
    );
  });

  it('resolves at once for no objects, and watches a repeated object once', async () => {
    const { watcher, options } = setup();
    await expect(waitForHealth([], options)).resolves.toMatchObject({ outcome: 'Current', objects: [] });

    const wait = waitForHealth([settings, { ...settings }], options);
    await settle();
    expect(watcher.watching).toBe(1);
    watcher.emit(settings, settingsMap);
    await expect(wait).resolves.toMatchObject({ outcome: 'Current', objects: [{ ref: settings }] });
  });
});
