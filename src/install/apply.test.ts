import { describe, expect, it } from 'vitest';
import type { KubeObject, ObjectRef } from '../core/objects.js';
import type { KubeClient } from '../kube/index.js';
import { rolloutState, waitForRollout } from './apply.js';
import { watchedNamespace } from './uninstall.js';

/** Just enough of a cluster for the rollout wait: get by ref, list by kind and labels. */
function fakeKube(objects: KubeObject[]): KubeClient {
  const matches = (object: KubeObject, selector = '') =>
    selector
      .split(',')
      .filter(Boolean)
      .every((term) => {
        const [key, value] = term.split('=');
        return object.metadata.labels?.[key!] === value;
      });
  return {
    get: async (ref: ObjectRef) =>
      objects.find(
        (o) => o.kind === ref.kind && o.metadata.name === ref.name && o.metadata.namespace === ref.namespace,
      ),
    list: async (
      _group: string,
      _version: string,
      kind: string,
      options: { labelSelector?: string } = {},
    ) => ({
      items: objects.filter((o) => o.kind === kind && matches(o, options.labelSelector)),
      resourceVersion: '1',
    }),
  } as unknown as KubeClient;
}

const labels = { 'app.kubernetes.io/name': 'capstan-controller' };
const deployment = (status: Record<string, unknown>, revision = '2'): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: {
    name: 'capstan-controller',
    namespace: 'ops',
    uid: 'd1',
    generation: 2,
    annotations: { 'deployment.kubernetes.io/revision': revision },
  },
  spec: { replicas: 2, selector: { matchLabels: labels } },
  status: { observedGeneration: 2, ...status },
});
const replicaSet = (revision: string, hash: string): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'ReplicaSet',
  metadata: {
    name: `capstan-controller-${hash}`,
    namespace: 'ops',
    labels: { ...labels, 'pod-template-hash': hash },
    annotations: { 'deployment.kubernetes.io/revision': revision },
    ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'capstan-controller', uid: 'd1' }],
  },
});
const pod = (hash: string, reason: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: `pod-${hash}`, namespace: 'ops', labels: { ...labels, 'pod-template-hash': hash } },
  status: {
    containerStatuses: [
      { name: 'controller', state: { waiting: { reason, message: 'pull access denied' } } },
    ],
  },
});

describe('the rollout wait', () => {
  it('is done when every replica runs the newest spec and is available, with no old one left', () => {
    expect(rolloutState(deployment({ replicas: 2, updatedReplicas: 2, availableReplicas: 2 })).done).toBe(
      true,
    );
    expect(rolloutState(deployment({ replicas: 3, updatedReplicas: 2, availableReplicas: 2 })).done).toBe(
      false,
    );
    expect(
      rolloutState(deployment({ observedGeneration: 1, updatedReplicas: 2, availableReplicas: 2 })).done,
    ).toBe(false);
  });

  it("fails at once with the newest pods' waiting reason when waiting cannot help", async () => {
    const kube = fakeKube([
      deployment({ replicas: 2, updatedReplicas: 2 }),
      replicaSet('2', 'new'),
      pod('new', 'ImagePullBackOff'),
    ]);
    await expect(
      waitForRollout(kube, { namespace: 'ops', name: 'capstan-controller' }, 60_000),
    ).rejects.toThrow(
      /will not become available: pod pod-new is waiting: ImagePullBackOff \(pull access denied\)/,
    );
  });

  it("does not blame the rollout for an old pod's crash", async () => {
    const kube = fakeKube([
      deployment({ replicas: 3, updatedReplicas: 1 }),
      replicaSet('1', 'old'),
      replicaSet('2', 'new'),
      pod('old', 'CrashLoopBackOff'),
    ]);
    await expect(waitForRollout(kube, { namespace: 'ops', name: 'capstan-controller' }, 0)).rejects.toThrow(
      /was not available after 0s: 1\/2 updated/,
    );
  });
});

describe('watchedNamespace', () => {
  const withArgs = (args: string[]) =>
    ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: {},
      spec: { template: { spec: { containers: [{ name: 'controller', args }] } } },
    }) as KubeObject;
  it("reads the controller's --namespace, in any spelling; none means every namespace", () => {
    expect(watchedNamespace(withArgs(['controller', '--namespace=team-a']))).toBe('team-a');
    expect(watchedNamespace(withArgs(['controller', '-n', 'team-b']))).toBe('team-b');
    expect(watchedNamespace(withArgs(['controller', '--http-address=0.0.0.0:8080']))).toBeUndefined();
  });
});
