/**
 * `helm install` of Capstan's chart into a namespace of the shared control plane (kwok runs the
 * pods): the controller Deployment turns Available, the webhook Secret holds the value and nothing
 * prints it, and `helm upgrade --set replicas=1` (then without leader election, which switches the
 * Deployment to Recreate) applies. The release name is unique, so its ClusterRole and bindings are
 * the test's own; `helm uninstall` removes them.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it, onTestFinished } from 'vitest';
import { CHART_DIR } from '../../src/dev/chart.js';
import { freshNamespace, kubectl, kubectlOk } from '../support/cluster.js';
import { eventually } from '../support/controller.js';
import { helm, helmOk } from './helm.js';

const WEBHOOK_SECRET = 'chart-webhook-secret-5be1';

interface DeploymentState {
  spec: { replicas: number; strategy: { type: string; rollingUpdate?: unknown } };
  status: { replicas?: number; availableReplicas?: number };
}

async function deployment(namespace: string, name: string): Promise<DeploymentState> {
  return JSON.parse(
    await kubectlOk(['get', 'deployment', name, '-n', namespace, '-o', 'json']),
  ) as DeploymentState;
}

function available(namespace: string, name: string): Promise<string> {
  return kubectlOk([
    'wait',
    '-n',
    namespace,
    `deployment/${name}`,
    '--for=condition=Available',
    '--timeout=90s',
  ]);
}

describe('helm install of Capstan’s chart', () => {
  it('installs an Available controller, and helm upgrade --set replicas=1 applies', async () => {
    const namespace = await freshNamespace('helm');
    const release = `capstan-${randomBytes(3).toString('hex')}`;
    const controller = `${release}-controller`;
    onTestFinished(async () => {
      await helm(['uninstall', release, '--namespace', namespace, '--wait', '--timeout', '60s']);
    });

    const installed = await helmOk([
      'install',
      release,
      CHART_DIR,
      '--namespace',
      namespace,
      '--set',
      'image.tag=helm-test',
      '--set',
      `webhook.secret=${WEBHOOK_SECRET}`,
      '--wait',
      '--timeout',
      '90s',
    ]);
    expect(installed).toContain(`Capstan 0.1.0 is installed in ${namespace}`);
    expect(installed).not.toContain(WEBHOOK_SECRET);
    await available(namespace, controller);
    expect((await deployment(namespace, controller)).spec.replicas).toBe(2);
    const secret = JSON.parse(
      await kubectlOk(['get', 'secret', `${release}-webhook`, '-n', namespace, '-o', 'json']),
    ) as { data: { secret: string } };
    expect(Buffer.from(secret.data.secret, 'base64').toString()).toBe(WEBHOOK_SECRET);
    await kubectlOk(['get', 'clusterrole', controller]);

    await helmOk([
      'upgrade',
      release,
      CHART_DIR,
      '-n',
      namespace,
      '--reuse-values',
      '--set',
      'replicas=1',
      '--wait',
    ]);
    await eventually(`${controller} at one replica`, async () => {
      const state = await deployment(namespace, controller);
      return state.spec.replicas === 1 && state.status.replicas === 1 && state.status.availableReplicas === 1;
    });
    expect((await deployment(namespace, controller)).spec.strategy.type).toBe('RollingUpdate');

    // Without a Lease: RollingUpdate → Recreate, which Helm's three-way merge must not leave half-done.
    await helmOk([
      'upgrade',
      release,
      CHART_DIR,
      '-n',
      namespace,
      '--reuse-values',
      '--set',
      'leaderElection=false',
      '--wait',
    ]);
    const recreated = await deployment(namespace, controller);
    expect(recreated.spec.strategy).toEqual({ type: 'Recreate' });
    await available(namespace, controller);
    expect(await helmOk(['history', release, '-n', namespace, '-o', 'json'])).toMatch(/"revision":3/);

    await helmOk(['uninstall', release, '--namespace', namespace, '--wait', '--timeout', '60s']);
    expect((await kubectl(['get', 'clusterrole', controller])).code).not.toBe(0);
  });
});
