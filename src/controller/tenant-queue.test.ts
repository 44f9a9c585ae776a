import { describe, expect, it } from 'vitest';
import { TenantQueues } from './tenant-queue.js';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('TenantQueues', () => {
  it("runs other namespaces' keys while one namespace's handlers hang, and aborts them at shutdown", async () => {
    const started: string[] = [];
    const aborted: string[] = [];
    const queues = new TenantQueues({
      concurrency: 2,
      namespaceConcurrency: 5, // kept below the controller's limit
      namespaceOf: (key) => key.slice(0, key.indexOf('/')),
      handler: async (key, signal) => {
        started.push(key);
        if (!key.startsWith('evil/')) return;
        await new Promise<void>((resolve) =>
          signal.addEventListener('abort', () => {
            aborted.push(key);
            resolve();
          }),
        );
      },
    });
    for (const name of ['a', 'b', 'c']) queues.add(`evil/${name}`);
    await tick();
    queues.add('victim/x');
    queues.add('other/y');
    await tick();
    expect(started).toEqual(['evil/a', 'victim/x', 'other/y']);
    expect(queues.inFlight()).toBe(1);
    await queues.shutdown();
    expect(aborted).toEqual(['evil/a']);
    expect(started).toEqual(['evil/a', 'victim/x', 'other/y']);
  });

  it('gives free slots to the namespaces in the order they asked (round-robin)', async () => {
    const started: string[] = [];
    const release: (() => void)[] = [];
    const queues = new TenantQueues({
      concurrency: 2,
      namespaceConcurrency: 1,
      namespaceOf: (key) => key.slice(0, key.indexOf('/')),
      handler: async (key) => {
        started.push(key);
        await new Promise<void>((resolve) => release.push(resolve));
      },
    });
    for (const key of ['a/1', 'a/2', 'a/3', 'b/1', 'b/2', 'c/1']) queues.add(key);
    for (let round = 0; round < 6; round++) {
      await tick();
      release.shift()?.();
    }
    await tick();
    expect(started.slice(0, 4)).toEqual(['a/1', 'b/1', 'c/1', 'a/2']);
    release.splice(0).forEach((done) => done());
    await queues.shutdown({ drain: true });
  });
});
