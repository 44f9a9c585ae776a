import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import {
  HttpKubeClient,
  RestMapper,
  createHttpTransport,
  discoveryFor,
  loadConnection,
  type Transport,
} from '../../src/kube/index.js';
import { adminClient, watchUntil } from './helpers.js';

const observer = await adminClient();

/** A client whose discovery requests are counted, with the status each got. */
async function countingClient(): Promise<{ client: HttpKubeClient; discoveryStatuses: string[] }> {
  const connection = await loadConnection({ kubeconfig: inject('kubeconfig') });
  const transport = createHttpTransport({
    server: connection.server,
    tls: connection.tls,
    credentials: connection.credentials,
  });
  const discoveryStatuses: string[] = [];
  const counting: Transport = {
    request: async (request) => {
      const response = await transport.request(request);
      if (request.path === '/api' || request.path === '/apis')
        discoveryStatuses.push(`${request.path} ${response.status}`);
      return response;
    },
    stream: (request) => transport.stream(request),
    withHeaders: (headers) => transport.withHeaders(headers),
    close: () => transport.close(),
  };
  const client = new HttpKubeClient({
    transport: counting,
    mapper: new RestMapper({ discover: discoveryFor(counting) }),
  });
  afterAll(() => client.close());
  return { client, discoveryStatuses };
}

describe('discovery against a real API server', () => {
  it('uses aggregated discovery, and a refresh with nothing new costs two 304s', async () => {
    const { client, discoveryStatuses } = await countingClient();
    await client.mapper.mapping('apps', 'Deployment');
    expect(discoveryStatuses.sort()).toEqual(['/api 200', '/apis 200']);
    await client.mapper.refresh();
    expect(discoveryStatuses.slice(2).sort()).toEqual(['/api 304', '/apis 304']);
  });

  it('maps the kind of a new CRD on a miss, with one refresh shared by concurrent lookups', async () => {
    const { client, discoveryStatuses } = await countingClient();
    const group = `d${randomBytes(4).toString('hex')}.capstan.test`;
    await client.mapper.mapping('', 'ConfigMap');
    const name = `gizmos.${group}`;
    await client.apply({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name },
      spec: {
        group,
        scope: 'Cluster',
        names: { plural: 'gizmos', singular: 'gizmo', kind: 'Gizmo', listKind: 'GizmoList' },
        versions: [
          {
            name: 'v1alpha1',
            served: true,
            storage: true,
            schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
          },
        ],
      },
    });
    try {
      await watchUntil<{
        apiVersion: string;
        kind: string;
        metadata: { name?: string };
        status?: { conditions?: { type: string; status: string }[] };
      }>(
        client,
        { group: 'apiextensions.k8s.io', version: 'v1', kind: 'CustomResourceDefinition' },
        name,
        (o) => (o.status?.conditions ?? []).some((c) => c.type === 'Established' && c.status === 'True'),
      );
      // Another client waits until discovery serves the kind (the apiserver publishes it a little
      // after Established); then the counting client's first lookup is a miss that must refresh.
      await observer.mapper.waitForMapping(group, 'Gizmo');
      const before = discoveryStatuses.length;
      const mappings = await Promise.all(
        Array.from({ length: 10 }, () => client.mapper.mapping(group, 'Gizmo')),
      );
      expect(
        mappings.every((m) => m.resource === 'gizmos' && !m.namespaced && m.version === 'v1alpha1'),
      ).toBe(true);
      // One refresh: the core group is unchanged (304), the groups document has the new CRD.
      expect(discoveryStatuses.slice(before).sort()).toEqual(['/api 304', '/apis 200']);
      const created = await Promise.all(
        ['one', 'two'].map((n) =>
          client.apply({
            apiVersion: `${group}/v1alpha1`,
            kind: 'Gizmo',
            metadata: { name: n },
            spec: { n },
          }),
        ),
      );
      expect(created.map((c) => c.metadata.name)).toEqual(['one', 'two']);
      await Promise.all(['one', 'two'].map((n) => client.delete({ group, kind: 'Gizmo', name: n })));
    } finally {
      await client.delete({ group: 'apiextensions.k8s.io', kind: 'CustomResourceDefinition', name });
    }
  });
});
