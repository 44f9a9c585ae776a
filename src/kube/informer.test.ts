import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../core/objects.js';
import { errorFromStatus, KubeTransportError } from './errors.js';
import { startInformer, type InformerTimers, type ListerWatcher } from './informer.js';
import type { ListOptions, ObjectList, WatchOptions } from './types.js';
import type { WatchEvent } from './watch.js';
import { sleep } from '../core/time.js';

const target = { method: 'GET', path: '/api/v1/configmaps' };

function cm(name: string, rv: string, data: Record<string, string> = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace: 'ns', resourceVersion: rv },
    data,
  };
}

type Step = { events: WatchEvent[]; then: 'end' | 'hang' | Error };

/**
 * A scripted API: each list answers from `lists` in turn, each watch plays the next script step.
 * Watches wait on the signal when the step says 'hang'.
 */
class ScriptedApi implements ListerWatcher {
  readonly calls: string[] = [];
  constructor(
    private readonly lists: (ObjectList | Error)[],
    private readonly steps: Step[],
  ) {}

  async list<T extends KubeObject>(
    _g: string,
    _v: string,
    _k: string,
    options?: ListOptions,
  ): Promise<ObjectList<T>> {
    const next = this.lists.shift();
    this.calls.push(`list${options?.labelSelector ? ` ${options.labelSelector}` : ''}`);
    if (!next) throw new Error('no more lists scripted');
    if (next instanceof Error) throw next;
    return next as ObjectList<T>;
  }

  async *watch<T extends KubeObject>(
    _g: string,
    _v: string,
    _k: string,
    options?: WatchOptions,
  ): AsyncGenerator<WatchEvent<T>> {
    this.calls.push(`watch@${options?.resourceVersion ?? ''}`);
    const step = this.steps.shift() ?? { events: [], then: 'hang' };
    for (const event of step.events) yield event as WatchEvent<T>;
    if (step.then instanceof Error) throw step.then;
    if (step.then === 'hang') {
      await new Promise<void>((resolve) => {
        if (options?.signal?.aborted) resolve();
        options?.signal?.addEventListener('abort', () => resolve(), { once: true });
      });
    }
  }
}

/** Timers that record the delays asked for and return at once. */
function instantTimers(): InformerTimers & { delays: number[] } {
  const delays: number[] = [];
  return { delays, sleep: async (ms) => void delays.push(ms), random: () => 0.5 };
}

function recorder() {
  const log: string[] = [];
  return {
    log,
    handlers: {
      onAdd: (o: KubeObject) => log.push(`add ${o.metadata.name}@${o.metadata.resourceVersion}`),
      onUpdate: (a: KubeObject, b: KubeObject) =>
        log.push(`update ${b.metadata.name}@${a.metadata.resourceVersion}->${b.metadata.resourceVersion}`),
      onDelete: (o: KubeObject) => log.push(`delete ${o.metadata.name}`),
    },
  };
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await sleep(2);
  expect(condition()).toBe(true);
}

describe('startInformer', () => {
  it('lists, then watches from the list resourceVersion, following events and bookmarks', async () => {
    const api = new ScriptedApi(
      [{ items: [cm('a', '10')], resourceVersion: '12' }],
      [
        {
          events: [
            { type: 'ADDED', object: cm('b', '13') },
            { type: 'MODIFIED', object: cm('a', '14', { x: '1' }) },
            {
              type: 'BOOKMARK',
              object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { resourceVersion: '20' } },
            },
            { type: 'DELETED', object: cm('b', '21') },
          ],
          then: 'hang',
        },
      ],
    );
    const { log, handlers } = recorder();
    const controller = new AbortController();
    const informer = startInformer(api, {
      group: '',
      version: 'v1',
      kind: 'ConfigMap',
      signal: controller.signal,
      ...handlers,
      timers: instantTimers(),
    });
    await informer.synced;
    expect(informer.hasSynced).toBe(true);
    await until(() => log.length === 4);
    expect(log).toEqual(['add a@10', 'add b@13', 'update a@10->14', 'delete b']);
    expect(api.calls).toEqual(['list', 'watch@12']);
    expect(informer.resourceVersion).toBe('21');
    expect(informer.get('a', 'ns')?.data).toEqual({ x: '1' });
    expect(informer.list().map((o) => o.metadata.name)).toEqual(['a']);
    controller.abort();
    await informer.stopped;
  });

  it('relists on 410 Expired and reports the difference as add, update and delete', async () => {
    const expired = errorFromStatus(
      { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' },
      target,
    );
    const api = new ScriptedApi(
      [
        { items: [cm('keep', '1'), cm('change', '2'), cm('gone', '3')], resourceVersion: '5' },
        { items: [cm('keep', '1'), cm('change', '8'), cm('new', '9')], resourceVersion: '10' },
      ],
      [
        { events: [{ type: 'BOOKMARK', object: cm('', '6') }], then: expired },
        { events: [], then: 'hang' },
      ],
    );
    const { log, handlers } = recorder();
    const errors: unknown[] = [];
    const timers = instantTimers();
    const controller = new AbortController();
    const informer = startInformer(api, {
      group: '',
      version: 'v1',
      kind: 'ConfigMap',
      signal: controller.signal,
      ...handlers,
      onError: (e) => errors.push(e),
      timers,
    });
    await until(() => api.calls.length === 4);
    expect(api.calls).toEqual(['list', 'watch@5', 'list', 'watch@10']);
    expect(log).toEqual([
      'add keep@1',
      'add change@2',
      'add gone@3',
      'update change@2->8',
      'add new@9',
      'delete gone',
    ]);
    // A relist is routine, not an error, and happens without a delay.
    expect(errors).toEqual([]);
    expect(timers.delays).toEqual([]);
    controller.abort();
    await informer.stopped;
  });

  it('reconnects after errors and dropped streams with growing, jittered delays, from the last resourceVersion', async () => {
    const serverError = errorFromStatus(
      { kind: 'Status', code: 500, reason: 'InternalError', message: 'etcd hiccup' },
      target,
    );
    const dropped = new KubeTransportError({ code: 'ECONNRESET', message: 'socket hang up', target });
    const api = new ScriptedApi(
      [
        new KubeTransportError({ code: 'ECONNREFUSED', message: 'refused', target }),
        { items: [], resourceVersion: '1' },
      ],
      [
        { events: [], then: serverError },
        { events: [], then: dropped },
        { events: [{ type: 'ADDED', object: cm('a', '2') }], then: dropped },
        { events: [], then: 'end' },
        { events: [{ type: 'ADDED', object: cm('b', '3') }], then: 'end' },
        { events: [], then: 'hang' },
      ],
    );
    const timers = instantTimers();
    const errors: unknown[] = [];
    const controller = new AbortController();
    const informer = startInformer(api, {
      group: '',
      version: 'v1',
      kind: 'ConfigMap',
      signal: controller.signal,
      onError: (e) => errors.push(e),
      backoff: { initialMs: 100, maxMs: 10_000 },
      timers,
    });
    await until(() => api.calls.length === 8);
    expect(api.calls).toEqual([
      'list',
      'list',
      'watch@1',
      'watch@1',
      'watch@1',
      'watch@2',
      'watch@2',
      'watch@3',
    ]);
    // refused list: 100; 500: 100 (reset after the list); reset: 200; event then reset: 100;
    // an empty clean end: 200; an end after an event: no delay.
    expect(timers.delays).toEqual([100, 100, 200, 100, 200]);
    expect(
      errors.map((e) => (e as { code?: string; status?: number }).code ?? (e as { status: number }).status),
    ).toEqual(['ECONNREFUSED', 500, 'ECONNRESET', 'ECONNRESET']);
    expect(
      informer
        .list()
        .map((o) => o.metadata.name)
        .sort(),
    ).toEqual(['a', 'b']);
    controller.abort();
    await informer.stopped;
  });

  it('keeps going when a handler throws, and rejects synced when stopped first', async () => {
    const api = new ScriptedApi(
      [{ items: [cm('a', '1')], resourceVersion: '1' }],
      [{ events: [{ type: 'ADDED', object: cm('b', '2') }], then: 'hang' }],
    );
    const errors: unknown[] = [];
    const added: string[] = [];
    const controller = new AbortController();
    const informer = startInformer(api, {
      group: '',
      version: 'v1',
      kind: 'ConfigMap',
      signal: controller.signal,
      onAdd: (o) => {
        added.push(o.metadata.name!);
        if (o.metadata.name === 'a') throw new Error('handler bug');
      },
      onError: (e) => errors.push(e),
      timers: instantTimers(),
    });
    await until(() => added.length === 2);
    expect(errors.map(String)).toEqual(['Error: handler bug']);
    controller.abort();
    await informer.stopped;

    const never = new ScriptedApi([], []);
    const stopping = new AbortController();
    const unsynced = startInformer(never, {
      group: '',
      version: 'v1',
      kind: 'ConfigMap',
      signal: stopping.signal,
      timers: instantTimers(),
    });
    stopping.abort(new Error('shutting down'));
    await expect(unsynced.synced).rejects.toThrow('shutting down');
    await unsynced.stopped;
  });
});
