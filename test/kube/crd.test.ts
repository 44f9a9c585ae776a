import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../src/core/objects.js';
import { UnknownKindError } from '../../src/kube/index.js';
import { freshNamespace } from '../support/cluster.js';
import { adminClient, watchUntil } from './helpers.js';

const client = await adminClient();

interface Crd extends KubeObject {
  status?: { conditions?: { type: string; status: string }[] };
}

describe('custom resources of a CRD applied in the same session', () => {
  it('waits for Established by watch and for the kind in discovery, then creates and reads a resource', async () => {
    const namespace = await freshNamespace('kube-crd');
    const group = `t${randomBytes(4).toString('hex')}.capstan.test`;
    // Map something first, so the mapper holds a snapshot from before the CRD existed.
    await client.mapper.mapping('', 'ConfigMap');
    expect(await client.mapper.tryMapping(group, 'Widget')).toBeUndefined();

    const crd: Crd = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `widgets.${group}` },
      spec: {
        group,
        scope: 'Namespaced',
        names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: {
              openAPIV3Schema: {
                type: 'object',
                properties: {
                  spec: { type: 'object', properties: { size: { type: 'integer' } } },
                  status: { type: 'object', properties: { ready: { type: 'boolean' } } },
                },
              },
            },
            subresources: { status: {} },
          },
        ],
      },
    };
    await client.apply(crd);
    try {
      await watchUntil<Crd>(
        client,
        { group: 'apiextensions.k8s.io', version: 'v1', kind: 'CustomResourceDefinition' },
        crd.metadata.name!,
        (o) => (o.status?.conditions ?? []).some((c) => c.type === 'Established' && c.status === 'True'),
      );

      // The apiserver publishes an Established CRD to discovery asynchronously (a refresh right
      // after Established misses it about a third of the time), so wait for the kind itself.
      await client.mapper.waitForMapping(group, 'Widget', { timeoutMs: 10_000 });
      const [mapping] = await Promise.all([
        client.mapper.mapping(group, 'Widget'),
        client.mapper.mapping(group, 'Widget', 'v1'),
      ]);
      expect(mapping).toMatchObject({
        group,
        version: 'v1',
        kind: 'Widget',
        resource: 'widgets',
        namespaced: true,
      });
      expect(mapping.subresources).toContain('status');

      const widget = await client.apply({
        apiVersion: `${group}/v1`,
        kind: 'Widget',
        metadata: { name: 'first', namespace },
        spec: { size: 3 },
      });
      expect(widget.metadata.uid).toBeTruthy();
      const read = await client.get({ group, kind: 'Widget', namespace, name: 'first' });
      expect(read?.spec).toEqual({ size: 3 });

      const withStatus = await client.apply(
        {
          apiVersion: `${group}/v1`,
          kind: 'Widget',
          metadata: { name: 'first', namespace },
          status: { ready: true },
        },
        { subresource: 'status' },
      );
      expect(withStatus.status).toEqual({ ready: true });
      expect(withStatus.spec).toEqual({ size: 3 });

      await expect(client.mapper.mapping(group, 'Widget', 'v2')).rejects.toBeInstanceOf(UnknownKindError);
      await expect(client.mapper.mapping(group, 'Gadget')).rejects.toMatchObject({ kind: 'notFound' });
    } finally {
      await client.delete({
        group: 'apiextensions.k8s.io',
        kind: 'CustomResourceDefinition',
        name: crd.metadata.name!,
      });
    }
  });

  it('lists every served kind with aggregated discovery', async () => {
    const resources = await client.mapper.resources();
    const deployments = resources.find((r) => r.group === 'apps' && r.kind === 'Deployment');
    expect(deployments).toMatchObject({ resource: 'deployments', version: 'v1', namespaced: true });
    expect(deployments?.verbs).toEqual(expect.arrayContaining(['get', 'list', 'watch', 'patch']));
    expect(deployments?.subresources).toEqual(expect.arrayContaining(['status', 'scale']));
    expect(resources.find((r) => r.kind === 'Namespace')?.namespaced).toBe(false);
  });
});
