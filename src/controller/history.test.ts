import { describe, expect, it } from 'vitest';
import { MAX_HISTORY, type ApplicationStatus, type HistoryEntry } from '../api/v1alpha1.js';
import type { KubeObject, ObjectRef } from '../core/objects.js';
import { KubeApiError } from '../kube/errors.js';
import type { KubeClient } from '../kube/types.js';
import {
  appendToStatus,
  ConfigMapHistoryStore,
  countChanges,
  historyConfigMapName,
  historyEntry,
  queuedSyncTrigger,
  recordHistory,
  requestedByOf,
  serialize,
  syncTrigger,
  type HistoryApp,
  type HistoryStore,
  type TriggerFacts,
} from './history.js';

const SHA = 'a'.repeat(40);
const T0 = new Date('2026-03-01T12:00:00Z');
const later = (ms: number) => new Date(T0.getTime() + ms);
const app: HistoryApp = {
  apiVersion: 'capstan.dev/v1alpha1',
  kind: 'Application',
  metadata: { name: 'web', namespace: 'shop', uid: 'uid-1' },
};

function entry(overrides: Partial<HistoryEntry> = {}): HistoryEntry {
  return {
    revision: SHA,
    trigger: 'commit',
    startedAt: T0.toISOString(),
    finishedAt: later(1500).toISOString(),
    durationSeconds: 1.5,
    result: 'Succeeded',
    ...overrides,
  };
}

const apiError = (status: number, reason: string) =>
  new KubeApiError({ status, reason, message: reason, target: { method: 'PUT', path: '/' } });
const conflict = () => apiError(409, 'Conflict');

/** ConfigMaps in memory, with the API server's create/update rules (resourceVersion, AlreadyExists). */
function fakeKube() {
  const objects = new Map<string, KubeObject>();
  let version = 0;
  const writes: { verb: 'create' | 'update'; object: KubeObject }[] = [];
  const key = (namespace: string | undefined, name: string | undefined) => `${namespace}/${name}`;
  let beforeWrite: (() => Promise<unknown>) | undefined;
  let conflicts = 0;
  const kube = {
    get: async (ref: ObjectRef) => structuredClone(objects.get(key(ref.namespace, ref.name))),
    create: async (object: KubeObject) => {
      await beforeWrite?.();
      const k = key(object.metadata.namespace, object.metadata.name);
      if (objects.has(k)) throw conflict();
      const stored = { ...object, metadata: { ...object.metadata, resourceVersion: String(++version) } };
      objects.set(k, stored);
      writes.push({ verb: 'create', object });
      return structuredClone(stored);
    },
    update: async (object: KubeObject) => {
      await beforeWrite?.();
      const k = key(object.metadata.namespace, object.metadata.name);
      const live = objects.get(k);
      if (!live) throw apiError(404, 'NotFound');
      if (object.metadata.resourceVersion !== live.metadata.resourceVersion) {
        conflicts++;
        throw conflict();
      }
      const stored = { ...object, metadata: { ...object.metadata, resourceVersion: String(++version) } };
      objects.set(k, stored);
      writes.push({ verb: 'update', object });
      return structuredClone(stored);
    },
  } as unknown as KubeClient;
  return {
    kube,
    objects,
    writes,
    configMap: (name = 'capstan-history-web') =>
      objects.get(key('shop', name)) as KubeObject & {
        data?: Record<string, string>;
      },
    conflicts: () => conflicts,
    /** Runs once before the next write: another writer getting in between. */
    interleave(fn: () => Promise<unknown>) {
      beforeWrite = () => {
        beforeWrite = undefined;
        return fn();
      };
    },
  };
}

describe('syncTrigger', () => {
  const facts = (overrides: Partial<TriggerFacts>): TriggerFacts => ({
    request: false,
    dependencyReleased: false,
    specChanged: false,
    newRevision: false,
    changed: false,
    ...overrides,
  });

  it('names the most specific cause', () => {
    expect(syncTrigger(facts({ rollbackOf: SHA, request: true, newRevision: true }))).toBe('rollback');
    expect(syncTrigger(facts({ request: true, newRevision: true, specChanged: true }))).toBe('request');
    expect(syncTrigger(facts({ dependencyReleased: true, newRevision: true }))).toBe('dependency');
    expect(syncTrigger(facts({ specChanged: true, newRevision: true }))).toBe('spec');
    expect(syncTrigger(facts({ newRevision: true }))).toBe('commit');
    expect(syncTrigger(facts({ newRevision: true, viaWebhook: true }))).toBe('webhook');
    expect(syncTrigger(facts({ changed: true }))).toBe('drift');
    // A dependency that released nothing new: self-heal of what was applied, i.e. drift.
    expect(syncTrigger(facts({ dependencyReleased: true, changed: true }))).toBe('drift');
    expect(syncTrigger(facts({}))).toBe('resync');
  });
});

describe('queuedSyncTrigger', () => {
  it('lets a pending request outrank the event that queued the app, except a rollback', () => {
    expect(queuedSyncTrigger('drift', true)).toBe('request');
    expect(queuedSyncTrigger('rollback', true)).toBe('rollback');
    expect(queuedSyncTrigger('drift', false)).toBe('drift');
    expect(queuedSyncTrigger(undefined, true)).toBe('request');
    expect(queuedSyncTrigger(undefined, false)).toBe('resync');
  });
});

describe('historyEntry', () => {
  const sync = (actions: string[], overrides: Partial<{ mode: 'apply' | 'diff'; failed: boolean }> = {}) => ({
    mode: 'apply' as const,
    changed: actions.some((a) => a !== 'unchanged'),
    failed: false,
    objects: actions.map((action) => ({ action }) as { action: 'created' }),
    ...overrides,
  });

  it('records revision, commit, trigger, timing, result, health and counts', () => {
    expect(
      historyEntry({
        revision: SHA,
        commit: {
          message: `web: blue ${'x'.repeat(300)}\n\nbody token=hunter2`,
          author: { name: 'Ada', email: 'ada@example.com' },
        },
        trigger: 'commit',
        requestedBy: 'alice',
        started: T0,
        finished: later(4567),
        sync: sync(['created', 'configured', 'configured', 'unchanged', 'pruned']),
        health: 'Current',
      }),
    ).toEqual({
      revision: SHA,
      commit: { message: `web: blue ${'x'.repeat(189)}…`, author: 'Ada <ada@example.com>' },
      trigger: 'commit',
      startedAt: '2026-03-01T12:00:00.000Z',
      finishedAt: '2026-03-01T12:00:04.567Z',
      durationSeconds: 4.57,
      result: 'Succeeded',
      health: 'Current',
      changes: { created: 1, configured: 2, recreated: 0, pruned: 1, failed: 0, unchanged: 1, skipped: 0 },
    });
  });

  it('derives Failed and OutOfSync, keeps requestedBy for requests only, and redacts', () => {
    const failed = historyEntry({
      revision: SHA,
      trigger: 'request',
      requestedBy: '  alice@example.com\n',
      started: T0,
      finished: later(10),
      message: `clone of https://bob:s3cret@git.example.com/x failed\n${'y'.repeat(1000)}`,
    });
    expect(failed).toMatchObject({ result: 'Failed', requestedBy: 'alice@example.com', trigger: 'request' });
    expect(failed.changes).toBeUndefined();
    expect(failed.message).not.toContain('s3cret');
    expect(failed.message!.length).toBeLessThanOrEqual(512);

    expect(
      historyEntry({
        revision: SHA,
        trigger: 'drift',
        started: T0,
        finished: T0,
        sync: sync(['configured'], { mode: 'diff' }),
      }).result,
    ).toBe('OutOfSync');
    expect(
      historyEntry({
        revision: SHA,
        trigger: 'commit',
        started: T0,
        finished: T0,
        sync: sync(['failed'], { failed: true }),
        result: 'RolledBack',
      }).result,
    ).toBe('RolledBack');
    expect(
      historyEntry({ revision: SHA, trigger: 'drift', requestedBy: 'alice', started: T0, finished: T0 })
        .requestedBy,
    ).toBeUndefined();
    expect(
      historyEntry({
        revision: 'b'.repeat(40),
        trigger: 'rollback',
        rollbackOf: SHA,
        requestedBy: 'alice',
        started: T0,
        finished: T0,
        sync: sync(['configured']),
      }),
    ).toMatchObject({ trigger: 'rollback', rollbackOf: SHA, requestedBy: 'alice', result: 'Succeeded' });
  });

  it('counts every action', () => {
    expect(countChanges([{ action: 'skipped' }, { action: 'recreated' }, { action: 'failed' }])).toEqual({
      created: 0,
      configured: 0,
      recreated: 1,
      pruned: 0,
      failed: 1,
      unchanged: 0,
      skipped: 1,
    });
  });
});

describe('appendToStatus', () => {
  it('numbers entries, newest first, and keeps MAX_HISTORY of them', () => {
    // Entries from before ids: the first new one is 1.
    const status: ApplicationStatus = { history: [entry({ trigger: undefined })] };
    expect(appendToStatus(status, entry()).id).toBe(1);
    for (let i = 0; i < 20; i++) appendToStatus(status, entry());
    expect(status.history).toHaveLength(MAX_HISTORY);
    expect(status.history!.map((h) => h.id)).toEqual([21, 20, 19, 18, 17, 16, 15, 14, 13, 12]);
    // An id given (by the store) is kept.
    expect(appendToStatus(status, entry({ id: 40 })).id).toBe(40);
    expect(appendToStatus(status, entry()).id).toBe(41);
  });
});

describe('requestedByOf', () => {
  const annotations = {
    'capstan.dev/requested-at': '2026-03-01T12:00:00Z-abcd',
    'capstan.dev/requested-by': 'alice',
  };
  const owns = (...keys: string[]) => ({
    'f:metadata': { 'f:annotations': Object.fromEntries(keys.map((k) => [`f:${k}`, {}])) },
  });

  it('trusts requested-by only when written with the current requested-at', () => {
    expect(requestedByOf({ metadata: { annotations } })).toBe('alice');
    expect(
      requestedByOf({
        metadata: {
          annotations,
          managedFields: [
            {
              manager: 'capstan',
              operation: 'Update',
              fieldsV1: owns('capstan.dev/requested-at', 'capstan.dev/requested-by'),
            },
          ],
        },
      }),
    ).toBe('alice');
    // Someone set requested-at by hand later: the old requester did not ask for this one.
    expect(
      requestedByOf({
        metadata: {
          annotations,
          managedFields: [
            { manager: 'capstan', operation: 'Update', fieldsV1: owns('capstan.dev/requested-by') },
            { manager: 'kubectl-annotate', operation: 'Update', fieldsV1: owns('capstan.dev/requested-at') },
          ],
        },
      }),
    ).toBeUndefined();
    expect(requestedByOf({ metadata: {} })).toBeUndefined();
  });
});

describe('serialize', () => {
  it('keeps the newest entries within the entry and byte limits', () => {
    const entries = Array.from({ length: 50 }, (_, i) => entry({ id: 50 - i, message: 'm'.repeat(400) }));
    const byCount = JSON.parse(serialize(entries, { entries: 10, bytes: 1 << 20 })).entries as HistoryEntry[];
    expect(byCount.map((e) => e.id)).toEqual([50, 49, 48, 47, 46, 45, 44, 43, 42, 41]);

    const text = serialize(entries, { entries: 100, bytes: 4096 });
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(4096);
    const kept = JSON.parse(text).entries as HistoryEntry[];
    expect(kept[0]!.id).toBe(50);
    expect(kept.length).toBeGreaterThan(3);
    // One more would not have fitted.
    expect(
      Buffer.byteLength(serialize(entries.slice(0, kept.length + 1), { entries: 100, bytes: 1 << 20 })),
    ).toBeGreaterThan(4096);
  });

  it('stays under the ConfigMap default cap with 100 entries of the largest size', () => {
    const huge = entry({
      id: 1,
      message: '€'.repeat(512),
      commit: { message: '€'.repeat(200), author: '€'.repeat(256) },
      requestedBy: '€'.repeat(256),
    });
    const text = serialize(
      Array.from({ length: 200 }, () => huge),
      { entries: 100, bytes: 256 * 1024 },
    );
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(256 * 1024);
  });
});

describe('ConfigMapHistoryStore', () => {
  it('creates the ConfigMap owned by the Application, labelled, and reads entries newest first', async () => {
    const fake = fakeKube();
    const store = new ConfigMapHistoryStore(fake.kube);
    expect(await store.read({ namespace: 'shop', name: 'web' })).toBeUndefined();

    expect((await store.append(app, entry({ id: 1 }))).id).toBe(1);
    expect((await store.append(app, entry({ id: 2, trigger: 'drift' }))).id).toBe(2);
    const cm = fake.configMap();
    expect(cm.metadata).toMatchObject({
      name: 'capstan-history-web',
      namespace: 'shop',
      labels: { 'app.kubernetes.io/managed-by': 'capstan', 'capstan.dev/history-of': 'web' },
      ownerReferences: [
        {
          apiVersion: 'capstan.dev/v1alpha1',
          kind: 'Application',
          name: 'web',
          uid: 'uid-1',
          blockOwnerDeletion: false,
        },
      ],
    });
    expect(fake.writes.map((w) => w.verb)).toEqual(['create', 'update']);
    const read = await store.read({ namespace: 'shop', name: 'web', uid: 'uid-1' });
    expect(read!.map((e) => [e.id, e.trigger])).toEqual([
      [2, 'drift'],
      [1, 'commit'],
    ]);
    // A deleted namesake's record is not this app's.
    expect(await store.read({ namespace: 'shop', name: 'web', uid: 'uid-2' })).toBeUndefined();
  });

  it('keeps ids increasing past what status knows, and starts afresh for a new incarnation', async () => {
    const fake = fakeKube();
    const store = new ConfigMapHistoryStore(fake.kube);
    await store.append(app, entry({ id: 5 }));
    // The status write after it was lost (a conflict): status proposes 5 again.
    expect((await store.append(app, entry({ id: 5 }))).id).toBe(6);
    const reborn = { ...app, metadata: { ...app.metadata, uid: 'uid-2' } };
    expect((await store.append(reborn, entry({ id: 1 }))).id).toBe(1);
    expect(await store.read({ namespace: 'shop', name: 'web', uid: 'uid-2' })).toHaveLength(1);
    expect(fake.configMap().metadata.ownerReferences).toEqual([expect.objectContaining({ uid: 'uid-2' })]);
  });

  it('adds to what another writer stored in between (optimistic concurrency)', async () => {
    const fake = fakeKube();
    const store = new ConfigMapHistoryStore(fake.kube);
    const other = new ConfigMapHistoryStore(fake.kube);
    await store.append(app, entry({ id: 1 }));
    fake.interleave(() => other.append(app, entry({ id: 2, trigger: 'drift' })));
    const mine = await store.append(app, entry({ id: 2, trigger: 'request' }));
    expect(fake.conflicts()).toBe(1);
    expect(mine.id).toBe(3);
    const read = (await store.read({ namespace: 'shop', name: 'web' }))!;
    expect(read.map((e) => [e.id, e.trigger])).toEqual([
      [3, 'request'],
      [2, 'drift'],
      [1, 'commit'],
    ]);
  });

  it('caps entries and bytes, and stores no Secret value', async () => {
    const fake = fakeKube();
    const store = new ConfigMapHistoryStore(fake.kube, { entries: 5, bytes: 100_000 });
    for (let i = 1; i <= 8; i++)
      await store.append(
        app,
        entry({ id: i, message: `pull from https://user:tok3n@git.example.com failed (${i})` }),
      );
    const read = (await store.read({ namespace: 'shop', name: 'web' }))!;
    expect(read.map((e) => e.id)).toEqual([8, 7, 6, 5, 4]);
    expect(fake.configMap().data!.history).not.toContain('tok3n');

    const kube = fakeKube();
    const small = new ConfigMapHistoryStore(kube.kube, { entries: 100, bytes: 1024 });
    for (let i = 1; i <= 20; i++) await small.append(app, entry({ id: i, message: 'x'.repeat(200) }));
    expect(Buffer.byteLength(kube.configMap().data!.history!)).toBeLessThanOrEqual(1024);
    const kept = (await small.read({ namespace: 'shop', name: 'web' }))!;
    expect(kept[0]!.id).toBe(20);
    expect(kept.length).toBeLessThan(20);
  });

  it('leaves alone a ConfigMap of that name that is not a history, and reports damage', async () => {
    const fake = fakeKube();
    fake.objects.set('shop/capstan-history-web', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'capstan-history-web', namespace: 'shop', resourceVersion: '1' },
      data: { mine: 'yes' },
    });
    const store = new ConfigMapHistoryStore(fake.kube);
    await expect(store.append(app, entry())).rejects.toThrow(/not the history of Application web/);
    expect(fake.writes).toEqual([]);
    expect(await store.read({ namespace: 'shop', name: 'web' })).toBeUndefined();

    fake.objects.set('shop/capstan-history-web', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'capstan-history-web',
        namespace: 'shop',
        labels: { 'capstan.dev/history-of': 'web' },
      },
      data: { history: '{not json' },
    });
    await expect(store.read({ namespace: 'shop', name: 'web' })).rejects.toThrow(/unreadable/);
  });

  it('names long apps within the limits', () => {
    const name = `${'a'.repeat(200)}.${'b'.repeat(52)}`;
    const cm = historyConfigMapName({ name });
    expect(cm.length).toBeLessThanOrEqual(253);
    expect(cm).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/);
    expect(historyConfigMapName({ name: 'web' })).toBe('capstan-history-web');
  });
});

describe('recordHistory', () => {
  it('writes the store, then status with the same id; a failing store still records status', async () => {
    const fake = fakeKube();
    const store = new ConfigMapHistoryStore(fake.kube);
    const status: ApplicationStatus = {};
    const first = await recordHistory(store, app, status, entry());
    expect(first.id).toBe(1);
    expect(status.history![0]!.id).toBe(1);
    expect((await store.read({ namespace: 'shop', name: 'web' }))![0]!.id).toBe(1);

    const errors: unknown[] = [];
    const broken: HistoryStore = {
      append: () => Promise.reject(new Error('apiserver down')),
      read: () => Promise.resolve(undefined),
    };
    const second = await recordHistory(broken, app, status, entry(), (e) => errors.push(e));
    expect(second.id).toBe(2);
    expect(status.history!.map((h) => h.id)).toEqual([2, 1]);
    expect(errors).toHaveLength(1);
  });
});
