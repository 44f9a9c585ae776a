import { afterEach, describe, expect, it } from 'vitest';
import { API_VERSION, type AccessPolicy } from '../api/v1alpha1.js';
import type { KubeObject } from '../core/objects.js';
import type { ListerWatcher, ObjectList, WatchOptions } from '../kube/index.js';
import type { WatchEvent } from '../kube/watch.js';
import { checkObjects } from '../plan/index.js';
import { startPolicyIndex, type PolicyChange } from './policies.js';
import { sleep } from '../core/time.js';

const policyObject = (name: string, spec: unknown, resourceVersion = '1'): AccessPolicy =>
  ({
    apiVersion: API_VERSION,
    kind: 'AccessPolicy',
    metadata: { name, resourceVersion },
    spec,
  }) as AccessPolicy;

/** An API whose one list answers when released, and whose watch plays the events pushed to it. */
class FakeApi implements ListerWatcher {
  readonly listed: { namespace?: string }[] = [];
  private releaseList!: (list: ObjectList) => void;
  private readonly listAnswer = new Promise<ObjectList>((resolve) => (this.releaseList = resolve));
  private readonly events: WatchEvent[] = [];
  private wake: (() => void) | undefined;

  answerList(items: KubeObject[]): void {
    this.releaseList({ items, resourceVersion: '1' });
  }

  push(event: WatchEvent): void {
    this.events.push(event);
    this.wake?.();
  }

  async list<T extends KubeObject>(
    _g: string,
    _v: string,
    _k: string,
    options?: { namespace?: string },
  ): Promise<ObjectList<T>> {
    this.listed.push({ ...(options?.namespace ? { namespace: options.namespace } : {}) });
    return (await this.listAnswer) as ObjectList<T>;
  }

  async *watch<T extends KubeObject>(
    _g: string,
    _v: string,
    _k: string,
    options?: WatchOptions,
  ): AsyncGenerator<WatchEvent<T>> {
    const signal = options?.signal;
    while (!signal?.aborted) {
      const next = this.events.shift();
      if (next) {
        yield next as WatchEvent<T>;
        continue;
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        signal?.addEventListener('abort', () => resolve(), { once: true });
      });
    }
  }
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await sleep(2);
  expect(condition()).toBe(true);
}

const configMap = (namespace: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'c', namespace },
});

let abort: AbortController;
afterEach(() => abort.abort());

function start(api: FakeApi) {
  abort = new AbortController();
  const errors: unknown[] = [];
  const changes: PolicyChange[] = [];
  const index = startPolicyIndex(api, {
    signal: abort.signal,
    onError: (error) => errors.push(error),
    onChange: (change) => changes.push(change),
  });
  return { index, errors, changes };
}

describe('startPolicyIndex', () => {
  it('refuses to answer until the first list is in, then answers per namespace', async () => {
    const api = new FakeApi();
    const { index } = start(api);
    expect(index.hasSynced).toBe(false);
    expect(() => index.forNamespace('team-a')).toThrow(/not loaded yet/);

    api.answerList([policyObject('teams', { namespaces: ['team-*'] })]);
    await index.synced;
    // Cluster-scoped: listed across the cluster, no namespace.
    expect(api.listed).toEqual([{}]);
    expect(index.forNamespace('team-a')?.policies.map((p) => p.name)).toEqual(['teams']);
    expect(index.forNamespace('other')).toBeUndefined();
  });

  it('follows changes and says which namespaces each may affect (before and after)', async () => {
    const api = new FakeApi();
    const { index, changes } = start(api);
    api.answerList([policyObject('p', { namespaces: ['team-a'] })]);
    await index.synced;
    expect(changes).toEqual([]); // the first list precedes every reconcile

    api.push({ type: 'MODIFIED', object: policyObject('p', { namespaces: ['team-b'] }, '2') });
    await until(() => changes.length === 1);
    expect(['team-a', 'team-b', 'team-c'].map((ns) => changes[0]!.affects(ns))).toEqual([true, true, false]);
    expect(index.forNamespace('team-a')).toBeUndefined();
    expect(index.forNamespace('team-b')?.policies).toHaveLength(1);

    api.push({ type: 'DELETED', object: policyObject('p', { namespaces: ['team-b'] }, '3') });
    await until(() => changes.length === 2);
    expect(changes[1]!.affects('team-b')).toBe(true);
    expect(index.forNamespace('team-b')).toBeUndefined();
  });

  it('keeps an invalid policy as one that allows nothing where it binds, and reports it', async () => {
    const api = new FakeApi();
    const { index, errors } = start(api);
    api.answerList([
      policyObject('typo', { namespaces: ['team-a'], clusterResources: [{ kind: 'ClusterRole' }] }),
    ]);
    await index.synced;
    expect(String(errors[0])).toMatch(/AccessPolicy typo is invalid, so it allows nothing where it binds/);
    const policy = index.forNamespace('team-a')!;
    expect(checkObjects(policy, 'team-a', [configMap('team-a')])[0]?.message).toMatch(
      /AccessPolicy typo is invalid and allows nothing until it is fixed \(spec\.clusterResources\.0\.group/,
    );
    expect(index.forNamespace('team-b')).toBeUndefined();
  });

  it('binds every namespace with a policy whose namespaces cannot be read', async () => {
    const api = new FakeApi();
    const { index, errors } = start(api);
    api.answerList([policyObject('garbled', { namespaces: 'team-a' })]);
    await index.synced;
    expect(errors).toHaveLength(1);
    expect(index.forNamespace('anything')?.policies.map((p) => p.name)).toEqual(['garbled']);
  });
});
