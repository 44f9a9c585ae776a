import { describe, expect, it } from 'vitest';
import { FINALIZER, type Application } from '../api/v1alpha1.js';
import type { ObjectResult } from '../apply/index.js';
import type { Engine } from '../engine/sync.js';
import type { KubeClient } from '../kube/index.js';
import type { ApplicationReconcilerDeps } from './application.js';
import { DELETION_ATTEMPTS, finalizeApplication } from './deletion.js';

const ref = (name: string) => ({ group: '', kind: 'ConfigMap', namespace: 'apps', name });

function deletedApp(spec: Partial<Application['spec']> = {}): Application {
  return {
    apiVersion: 'capstan.dev/v1alpha1',
    kind: 'Application',
    metadata: {
      name: 'web',
      namespace: 'apps',
      uid: 'uid-1',
      resourceVersion: '7',
      deletionTimestamp: '2026-11-26T00:00:00Z',
      finalizers: ['example.com/other', FINALIZER],
    },
    spec: { sourceRef: { name: 'apps' }, path: 'web', serviceAccountName: 'deployer', ...spec },
  };
}

function setup(uninstall: Engine['uninstall']) {
  const patches: unknown[] = [];
  const events: string[] = [];
  const uninstalls: unknown[] = [];
  const kube = {
    patch: async (_ref: unknown, body: unknown) => {
      patches.push(body);
      return { metadata: { resourceVersion: '8' } };
    },
  } as unknown as KubeClient;
  const deps = {
    kube,
    tenancy: {},
    engineFor: () => ({
      sync: () => Promise.reject(new Error('not expected')),
      uninstall: (app, options) => {
        uninstalls.push({ app, options });
        return uninstall(app, options);
      },
    }),
    recordEvent: async (_target, type, reason, message) => {
      events.push(`${type} ${reason}: ${message}`);
    },
  } as Partial<ApplicationReconcilerDeps> as ApplicationReconcilerDeps;
  return { deps, patches, events, uninstalls };
}

const pruned = (name: string): ObjectResult => ({ ref: ref(name), action: 'pruned' });
const failedToDelete = (name: string): ObjectResult => ({
  ref: ref(name),
  action: 'failed',
  reason: 'forbidden',
});

describe('finalizeApplication', () => {
  it('deletes what the app applied, then removes its finalizer and keeps the others', async () => {
    const { deps, patches, events, uninstalls } = setup(async () => ({
      objects: [pruned('a'), pruned('b')],
      failed: false,
    }));
    expect(await finalizeApplication(deps, deletedApp(), 0)).toEqual({});
    expect(uninstalls).toEqual([
      {
        app: { namespace: 'apps', name: 'web' },
        options: {
          owner: { apiVersion: 'capstan.dev/v1alpha1', kind: 'Application', name: 'web', uid: 'uid-1' },
          release: false,
        },
      },
    ]);
    expect(events).toEqual(['Normal Deleted: deleted 2 object(s)']);
    expect(patches).toEqual([{ metadata: { resourceVersion: '7', finalizers: ['example.com/other'] } }]);
  });

  it('retries (by throwing) while deletions fail, then lets the Application go and names the leftovers', async () => {
    const { deps, patches, events } = setup(async () => ({
      objects: [pruned('a'), failedToDelete('b')],
      failed: true,
    }));
    for (let attempt = 0; attempt < DELETION_ATTEMPTS - 1; attempt++) {
      await expect(finalizeApplication(deps, deletedApp(), attempt)).rejects.toThrow(
        'deleting Application apps/web: ConfigMap/apps/b (forbidden)',
      );
    }
    expect(patches).toEqual([]);
    expect(await finalizeApplication(deps, deletedApp(), DELETION_ATTEMPTS - 1)).toEqual({});
    expect(events).toEqual([
      'Warning DeletionIncomplete: deleted 1 object(s); left in place: ConfigMap/apps/b (forbidden)',
    ]);
    expect(patches).toHaveLength(1);
  });

  it('gives up on an unreachable API server after the last attempt, and says so', async () => {
    const { deps, patches, events } = setup(() => Promise.reject(new Error('connect ECONNREFUSED')));
    await expect(finalizeApplication(deps, deletedApp(), 0)).rejects.toThrow('ECONNREFUSED');
    expect(await finalizeApplication(deps, deletedApp(), DELETION_ATTEMPTS - 1)).toEqual({});
    expect(events).toEqual([
      'Warning DeletionIncomplete: gave up deleting its objects: connect ECONNREFUSED',
    ]);
    expect(patches).toHaveLength(1);
  });

  it('leaves the objects and releases them when prune is off', async () => {
    const released = (name: string): ObjectResult => ({
      ref: ref(name),
      action: 'skipped',
      reason: 'not pruned: left in place; released (no app owns it now)',
    });
    const { deps, events, uninstalls, patches } = setup(async () => ({
      objects: [released('a'), released('b')],
      failed: false,
    }));
    expect(await finalizeApplication(deps, deletedApp({ syncPolicy: { prune: false } }), 0)).toEqual({});
    expect(uninstalls).toMatchObject([{ options: { release: true } }]);
    expect(events).toEqual([
      'Normal Orphaned: prune is off: 2 object(s) left in place and released (no app owns them now)',
    ]);
    expect(patches).toHaveLength(1);
  });

  it('touches no object when suspended, when the spec is invalid, or with no ServiceAccount to act as', async () => {
    for (const [spec, why] of [
      [{ serviceAccountName: undefined }, 'it names no ServiceAccount to delete them as'],
      [{ suspend: true }, 'it is suspended'],
      [{ path: 42 as unknown as string }, 'its spec is invalid'],
    ] as const) {
      const { deps, events, uninstalls, patches } = setup(() => Promise.reject(new Error('not expected')));
      expect(await finalizeApplication(deps, deletedApp(spec), 0)).toEqual({});
      expect(uninstalls).toEqual([]);
      expect(events).toEqual([`Normal Orphaned: objects left in place: ${why}`]);
      expect(patches).toHaveLength(1);
    }
  });

  it('does nothing for an Application without its finalizer', async () => {
    const { deps, patches, uninstalls } = setup(() => Promise.reject(new Error('not expected')));
    const app = deletedApp();
    app.metadata.finalizers = ['example.com/other'];
    expect(await finalizeApplication(deps, app, 0)).toEqual({});
    expect(patches).toEqual([]);
    expect(uninstalls).toEqual([]);
  });
});
