/**
 * The shared control plane is a real one: server-side apply, CRDs, RBAC and workload roll-outs (via
 * kwok) behave as on any cluster. These tests use the built kubectl, so they check the harness and
 * not Capstan's own client (which test/kube covers).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, inject, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { FAKE_NODE_NAME, NODE_HEARTBEAT } from '../../src/dev/controlplane.js';
import { freshNamespace, kubectl, kubectlOk } from '../support/cluster.js';
import { sleep } from '../../src/core/time.js';

const run = promisify(execFile);
const fixtures = new URL('../fixtures/tools/', import.meta.url).pathname;

describe('the shared control plane', () => {
  it('server-side applies a Namespace and a ConfigMap and reads them back', async () => {
    const namespace = `ssa-${Date.now().toString(36)}`;
    const manifest = `
apiVersion: v1
kind: Namespace
metadata: { name: ${namespace} }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: settings, namespace: ${namespace} }
data: { color: blue }
`;
    await kubectlOk(['apply', '--server-side', '--field-manager=capstan-test', '-f', '-'], {
      input: manifest,
    });
    const configMap = JSON.parse(
      await kubectlOk([
        'get',
        'configmap',
        'settings',
        '-n',
        namespace,
        '-o',
        'json',
        '--show-managed-fields',
      ]),
    );
    expect(configMap.data).toEqual({ color: 'blue' });
    expect(configMap.metadata.managedFields.map((f: { manager: string }) => f.manager)).toContain(
      'capstan-test',
    );
    await kubectlOk(['delete', 'namespace', namespace, '--wait=false']);
  });

  it('installs a CRD, waits for Established, and creates a custom resource', async () => {
    const namespace = await freshNamespace();
    const group = `g${Date.now().toString(36)}.capstan.dev`;
    await kubectlOk(['apply', '--server-side', '-f', '-'], {
      input: `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: gadgets.${group} }
spec:
  group: ${group}
  names: { kind: Gadget, plural: gadgets, singular: gadget }
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec: { type: object, properties: { size: { type: integer } } }
`,
    });
    await kubectlOk(['wait', '--for=condition=Established', `crd/gadgets.${group}`, '--timeout=60s']);
    await kubectlOk(['apply', '--server-side', '-n', namespace, '-f', '-'], {
      input: `{"apiVersion":"${group}/v1","kind":"Gadget","metadata":{"name":"g1"},"spec":{"size":3}}`,
    });
    const gadget = JSON.parse(
      await kubectlOk(['get', `gadgets.${group}`, 'g1', '-n', namespace, '-o', 'json']),
    );
    expect(gadget.spec).toEqual({ size: 3 });
    await kubectlOk(['delete', 'crd', `gadgets.${group}`, '--wait=false']);
  });

  it('rolls a Deployment out to Available with Ready pods on the kwok node', async () => {
    const namespace = await freshNamespace();
    await kubectlOk(['apply', '--server-side', '-n', namespace, '-f', '-'], {
      input: `
apiVersion: apps/v1
kind: Deployment
metadata: { name: web }
spec:
  replicas: 2
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      containers: [{ name: web, image: registry.invalid/web:1 }]
`,
    });
    await kubectlOk(['rollout', 'status', 'deployment/web', '-n', namespace, '--timeout=60s']);
    await kubectlOk([
      'wait',
      '--for=condition=Available',
      'deployment/web',
      '-n',
      namespace,
      '--timeout=60s',
    ]);
    const pods = JSON.parse(await kubectlOk(['get', 'pods', '-n', namespace, '-l', 'app=web', '-o', 'json']));
    expect(pods.items).toHaveLength(2);
    for (const pod of pods.items) {
      expect(pod.spec.nodeName).toBe('capstan-node-0');
      expect(pod.status.conditions).toContainEqual(
        expect.objectContaining({ type: 'Ready', status: 'True' }),
      );
    }
  });

  it('keeps the fake Node heartbeating, so a Deployment stays Available past the node-monitor grace period', async () => {
    // Issue 9: without a Node Lease the controller-manager heard from the Node too rarely, marked every
    // pod Ready=False after its grace period, and kwok never set them back. The grace period counts
    // from when the controller-manager first saw the Node (about its creation) and is checked every
    // monitor period: watch until well past it, and at least two Lease renewals long.
    const namespace = await freshNamespace();
    await kubectlOk(['apply', '--server-side', '-n', namespace, '-f', '-'], {
      input: `
apiVersion: apps/v1
kind: Deployment
metadata: { name: steady }
spec:
  replicas: 2
  selector: { matchLabels: { app: steady } }
  template:
    metadata: { labels: { app: steady } }
    spec:
      containers: [{ name: steady, image: registry.invalid/steady:1 }]
`,
    });
    await kubectlOk([
      'wait',
      '--for=condition=Available',
      'deployment/steady',
      '-n',
      namespace,
      '--timeout=60s',
    ]);

    const node = JSON.parse(await kubectlOk(['get', 'node', FAKE_NODE_NAME, '-o', 'json']));
    const { leaseDurationSeconds, monitorGracePeriodSeconds, monitorPeriodSeconds } = NODE_HEARTBEAT;
    const pastGrace =
      Date.parse(node.metadata.creationTimestamp) +
      (monitorGracePeriodSeconds + 2 * monitorPeriodSeconds) * 1000;
    const until = Math.max(pastGrace, Date.now() + (leaseDurationSeconds / 2) * 1000);

    interface Condition {
      type: string;
      status: string;
      lastTransitionTime?: string;
    }
    const condition = (
      object: { status?: { conditions?: Condition[] } },
      type: string,
    ): Condition | undefined => object.status?.conditions?.find((c) => c.type === type);
    const observe = async (): Promise<{ renewTime: string; summary: Record<string, unknown> }> => {
      const [lease, current, deployment, pods] = (
        await Promise.all([
          kubectlOk(['get', 'lease', FAKE_NODE_NAME, '-n', 'kube-node-lease', '-o', 'json']),
          kubectlOk(['get', 'node', FAKE_NODE_NAME, '-o', 'json']),
          kubectlOk(['get', 'deployment', 'steady', '-n', namespace, '-o', 'json']),
          kubectlOk(['get', 'pods', '-l', 'app=steady', '-n', namespace, '-o', 'json']),
        ])
      ).map((json) => JSON.parse(json));
      expect(lease.spec.leaseDurationSeconds).toBe(leaseDurationSeconds);
      expect(lease.metadata.ownerReferences).toContainEqual(
        expect.objectContaining({ kind: 'Node', name: FAKE_NODE_NAME, uid: node.metadata.uid }),
      );
      return {
        renewTime: lease.spec.renewTime,
        summary: {
          nodeReady: condition(current, 'Ready')?.status,
          nodeTaints: (current.spec.taints ?? []).map((t: { key: string }) => t.key),
          available: condition(deployment, 'Available'),
          podsReady: pods.items.map(
            (pod: { metadata: { name: string }; status?: { conditions?: Condition[] } }) => ({
              name: pod.metadata.name,
              ready: condition(pod, 'Ready'),
            }),
          ),
        },
      };
    };

    const first = await observe();
    expect(first.summary).toMatchObject({
      nodeReady: 'True',
      nodeTaints: [],
      available: { status: 'True' },
    });
    expect(first.summary.podsReady).toHaveLength(2);
    const renewTimes = [first.renewTime];
    const watching = Date.now();
    while (Date.now() < until) {
      await sleep(2000);
      const { renewTime, summary } = await observe();
      // Nothing changed; no condition went False and back either (its lastTransitionTime would have moved).
      const seconds = ((Date.now() - watching) / 1000).toFixed(0);
      expect(summary, `after ${seconds} s of watching`).toEqual(first.summary);
      if (renewTime !== renewTimes.at(-1)) renewTimes.push(renewTime);
    }
    // kwok renewed the Lease, and each renewal is later than the one before.
    expect(renewTimes.length).toBeGreaterThanOrEqual(2);
    expect([...renewTimes].sort((a, b) => Date.parse(a) - Date.parse(b))).toEqual(renewTimes);
  });

  it('refuses the unprivileged user what RBAC does not grant', async () => {
    const namespace = await freshNamespace();
    const dir = await mkdtemp(join(tmpdir(), 'capstan-test-'));
    const kubeconfigPath = join(dir, 'kubeconfig');
    await writeFile(kubeconfigPath, inject('unprivilegedKubeconfig'), { mode: 0o600 });
    const user = inject('unprivilegedUser');

    const refused = await kubectl(['create', 'configmap', 'x', '-n', namespace], { kubeconfigPath });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(`User "${user}" cannot create resource "configmaps"`);

    await kubectlOk([
      'create',
      'role',
      'cm-writer',
      '-n',
      namespace,
      '--verb=create,get',
      '--resource=configmaps',
    ]);
    await kubectlOk([
      'create',
      'rolebinding',
      'cm-writer',
      '-n',
      namespace,
      '--role=cm-writer',
      `--user=${user}`,
    ]);
    await kubectlOk(['create', 'configmap', 'x', '-n', namespace], { kubeconfigPath });
    const elsewhere = await kubectl(['get', 'secrets', '-n', namespace], { kubeconfigPath });
    expect(elsewhere.stderr).toContain('forbidden');
  });

  it('runs helm template on a chart and kustomize build on an overlay', async () => {
    const { helm, kustomize } = inject('tools');
    const isolated = await mkdtemp(join(tmpdir(), 'capstan-helm-'));
    const helmEnv = {
      ...process.env,
      HELM_CACHE_HOME: isolated,
      HELM_CONFIG_HOME: isolated,
      HELM_DATA_HOME: isolated,
    };
    const chart = await run(
      helm!,
      [
        'template',
        'demo',
        join(fixtures, 'chart'),
        '--namespace',
        'apps',
        '--include-crds',
        '--set',
        'greeting=hi',
      ],
      {
        env: helmEnv,
      },
    );
    const rendered = parseAllDocuments(chart.stdout).map((d) => d.toJS());
    expect(rendered.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      'CustomResourceDefinition/widgets.example.capstan.dev',
      'ConfigMap/demo-greeting',
    ]);
    expect(rendered[1].data).toEqual({ greeting: 'hi' });
    expect(rendered[1].metadata.namespace).toBe('apps');

    const overlay = await run(kustomize!, ['build', join(fixtures, 'kustomize/overlays/staging')]);
    const built = parseAllDocuments(overlay.stdout).map((d) => d.toJS());
    expect(built).toEqual([
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'staging-settings', namespace: 'staging' },
        data: { environment: 'staging' },
      },
    ]);
  });
});
