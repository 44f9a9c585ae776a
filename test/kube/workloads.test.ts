import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../src/core/objects.js';
import { freshNamespace } from '../support/cluster.js';
import { adminClient, watchUntil } from './helpers.js';

const client = await adminClient();

interface Deployment extends KubeObject {
  status?: {
    availableReplicas?: number;
    readyReplicas?: number;
    conditions?: { type: string; status: string }[];
  };
}

describe('workloads on the kwok node', () => {
  it('rolls a 2-replica Deployment out to Available, watched', async () => {
    const namespace = await freshNamespace('kube-deploy');
    await client.apply({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'web', image: 'registry.example/web:1.0' }] },
        },
      },
    });
    const available = await watchUntil<Deployment>(
      client,
      { group: 'apps', version: 'v1', kind: 'Deployment', namespace },
      'web',
      (d) => d.status?.availableReplicas === 2,
    );
    expect(available.status?.conditions?.some((c) => c.type === 'Available' && c.status === 'True')).toBe(
      true,
    );

    const pods = await client.list<KubeObject & { status?: { phase?: string } }>('', 'v1', 'Pod', {
      namespace,
      labelSelector: 'app=web',
    });
    expect(pods.items).toHaveLength(2);
    expect(pods.items.every((p) => p.status?.phase === 'Running')).toBe(true);
  });
});
