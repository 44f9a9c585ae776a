/**
 * `capstan install` and `capstan uninstall` through the real CLI on the shared control plane (kwok
 * runs the controller's pods as fakes): everything applied and rolled out, a second run changes
 * nothing, drift is repaired by running it again, and uninstall removes it all, twice. Each test
 * installs into a namespace of its own, so the cluster-wide RBAC is named after it and never meets
 * deploy/'s (which other test files install into capstan-system).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { KubeObject } from '../../src/core/objects.js';
import { createKubeClient, type KubeClient } from '../../src/kube/index.js';
import { capstan } from '../support/cli.js';
import { kubectl, kubectlOk } from '../support/cluster.js';

const IMAGE = 'localhost/capstan:test';

interface Deployment extends KubeObject {
  status?: { availableReplicas?: number };
}
let kube: KubeClient;

beforeAll(async () => {
  kube = await createKubeClient({ kubeconfig: inject('kubeconfig') });
});
afterAll(() => kube.close());

/** `capstan install` output lines `<ref> <action>` of the objects other than the CRDs (shared by every test file). */
function ownLines(stdout: string): string[] {
  return stdout
    .split('\n')
    .filter(
      (line) => / (created|configured|unchanged)$/.test(line) && !line.startsWith('CustomResourceDefinition'),
    );
}

describe('capstan install', () => {
  it('installs, rolls out, changes nothing the second time, and repairs drift', async () => {
    const namespace = `capstan-inst-${randomBytes(3).toString('hex')}`;
    try {
      const first = await capstan(['install', '--namespace', namespace, '--image', IMAGE, '--wait', '2m']);
      expect(first.stderr).not.toMatch(/capstan: /);
      expect(first.code).toBe(0);
      expect(ownLines(first.stdout).every((line) => line.endsWith(' created'))).toBe(true);
      expect(first.stdout).toMatch(/Capstan installed in .*the controller is rolled out/);
      const deployment = await kube.get<Deployment>({
        group: 'apps',
        kind: 'Deployment',
        namespace,
        name: 'capstan-controller',
      });
      expect(deployment?.status?.availableReplicas).toBe(2);
      for (const [kind, name] of [
        ['clusterrole', `capstan-controller-${namespace}`],
        ['clusterrolebinding', `capstan-controller-${namespace}`],
        ['service', 'capstan-controller'],
        ['serviceaccount', 'capstan-controller'],
        ['role', 'capstan-leader-election'],
        ['crd', 'applications.capstan.dev'],
      ] as const)
        await kubectlOk([
          'get',
          kind,
          name,
          ...(kind.startsWith('cluster') || kind === 'crd' ? [] : ['-n', namespace]),
        ]);

      const second = await capstan(['install', '--namespace', namespace, '--image', IMAGE, '--wait', '2m']);
      expect(second.code).toBe(0);
      const lines = ownLines(second.stdout);
      expect(lines.length).toBeGreaterThan(5);
      expect(lines.filter((line) => !line.endsWith(' unchanged'))).toEqual([]);

      // Drift: a ClusterRole deleted, the Deployment scaled by hand.
      await kubectlOk(['delete', 'clusterrole', `capstan-controller-${namespace}`]);
      await kubectlOk(['scale', 'deployment', 'capstan-controller', '-n', namespace, '--replicas=1']);
      const third = await capstan(['install', '--namespace', namespace, '--image', IMAGE, '--wait', '2m']);
      expect(third.code).toBe(0);
      expect(third.stdout).toContain(
        `ClusterRole.rbac.authorization.k8s.io/capstan-controller-${namespace} created`,
      );
      expect(third.stdout).toContain(`Deployment.apps/${namespace}/capstan-controller configured`);
      await kubectlOk(['get', 'clusterrole', `capstan-controller-${namespace}`]);
      expect(
        (
          await kubectlOk([
            'get',
            'deployment',
            'capstan-controller',
            '-n',
            namespace,
            '-o',
            'jsonpath={.spec.replicas}',
          ])
        ).trim(),
      ).toBe('2');

      const removed = await capstan(['uninstall', '--namespace', namespace, '--yes']);
      expect(removed.code).toBe(0);
      expect(removed.stdout).toContain(`Deployment.apps/${namespace}/capstan-controller deleted`);
      expect((await kubectl(['get', 'clusterrole', `capstan-controller-${namespace}`])).code).not.toBe(0);
      const again = await capstan(['uninstall', '--namespace', namespace, '--yes']);
      expect(again.code).toBe(0);
      expect(again.stdout).toContain('nothing to do');
      // The CRDs stay (other Capstan objects live on them).
      await kubectlOk(['get', 'crd', 'applications.capstan.dev']);
    } finally {
      await capstan(['uninstall', '--namespace', namespace, '--yes']);
      await kubectl(['delete', 'namespace', namespace, '--wait=false']);
    }
  });

  it('says what the API server refused: the verb and the resource', async () => {
    const namespace = `capstan-inst-${randomBytes(3).toString('hex')}`;
    try {
      // A ServiceAccount that may do nothing: the install is refused, naming verb and resource.
      const refused = await capstan([
        'install',
        '--namespace',
        namespace,
        '--image',
        IMAGE,
        '--kubeconfig',
        await nobodyKubeconfig(),
      ]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(
        /cannot apply CustomResourceDefinition.*forbidden.*cannot (get|patch) resource "customresourcedefinitions"/s,
      );
      expect(refused.stderr).toContain('cluster administrator');
    } finally {
      await kubectl(['delete', 'namespace', namespace, '--wait=false']);
    }
  });
});

/** A kubeconfig of a ServiceAccount with no rights at all. */
async function nobodyKubeconfig(): Promise<string> {
  const { serviceAccountKubeconfig } = await import('../support/controller-process.js');
  const namespace = `nobody-${randomBytes(3).toString('hex')}`;
  await kubectlOk(['create', 'namespace', namespace]);
  await kubectlOk(['create', 'serviceaccount', 'nobody', '-n', namespace]);
  return serviceAccountKubeconfig(namespace, 'nobody');
}
