import { afterEach, describe, expect, it } from 'vitest';
import {
  aggregatedDiscovery,
  sendJson,
  startFakeApiServer,
  status,
  type FakeApiServer,
} from '../../test/kube/fake-apiserver.js';
import { discover, discoveryFor } from './discovery.js';
import { createHttpTransport } from './transport.js';

let server: FakeApiServer;
afterEach(async () => {
  await server?.close();
});

describe('discovery', () => {
  it('reads aggregated discovery from /api and /apis, with the right Accept header', async () => {
    server = await startFakeApiServer((request, response) => {
      if (request.url === '/api') {
        sendJson(
          response,
          200,
          aggregatedDiscovery({
            '': {
              v1: [
                {
                  resource: 'namespaces',
                  kind: 'Namespace',
                  namespaced: false,
                  subresources: ['status', 'finalize'],
                },
              ],
            },
          }),
        );
      } else if (request.url === '/apis') {
        sendJson(
          response,
          200,
          aggregatedDiscovery({
            apps: {
              v1: [{ resource: 'deployments', kind: 'Deployment', subresources: ['status', 'scale'] }],
            },
          }),
        );
      } else sendJson(response, 404, status(404, 'NotFound', 'nope'));
    });
    const transport = createHttpTransport({ server: server.url });
    const snapshot = await discover(transport);
    expect(snapshot.aggregated).toBe(true);
    expect(server.requests).toHaveLength(2);
    expect(server.requests[0]!.headers.accept).toContain(
      'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList',
    );
    expect(snapshot.resources).toEqual([
      {
        group: '',
        version: 'v1',
        kind: 'Namespace',
        resource: 'namespaces',
        namespaced: false,
        verbs: expect.any(Array),
        subresources: ['status', 'finalize'],
      },
      {
        group: 'apps',
        version: 'v1',
        kind: 'Deployment',
        resource: 'deployments',
        namespaced: true,
        verbs: expect.any(Array),
        subresources: ['status', 'scale'],
      },
    ]);
    transport.close();
  });

  it('revalidates with ETags and returns the same snapshot when nothing changed', async () => {
    server = await startFakeApiServer((request, response) => {
      const etag = `"${request.url}-1"`;
      if (request.headers['if-none-match'] === etag) {
        response.writeHead(304, { etag });
        response.end();
        return;
      }
      const body =
        request.url === '/api'
          ? aggregatedDiscovery({ '': { v1: [{ resource: 'pods', kind: 'Pod' }] } })
          : aggregatedDiscovery({});
      sendJson(response, 200, body, { etag });
    });
    const transport = createHttpTransport({ server: server.url });
    const discoverAgain = discoveryFor(transport);
    const first = await discoverAgain();
    const second = await discoverAgain();
    expect(second).toBe(first);
    expect(server.requests.slice(2).map((r) => r.headers['if-none-match'])).toEqual([
      '"/api-1"',
      '"/apis-1"',
    ]);
    transport.close();
  });

  it('falls back to legacy discovery per group version, preferring the preferred version and tolerating a broken group', async () => {
    server = await startFakeApiServer((request, response) => {
      switch (request.url) {
        case '/api':
          return sendJson(response, 200, { kind: 'APIVersions', versions: ['v1'] });
        case '/apis':
          return sendJson(response, 200, {
            kind: 'APIGroupList',
            groups: [
              {
                name: 'apps',
                versions: [{ groupVersion: 'apps/v1', version: 'v1' }],
                preferredVersion: { groupVersion: 'apps/v1', version: 'v1' },
              },
              {
                name: 'metrics.k8s.io',
                versions: [{ groupVersion: 'metrics.k8s.io/v1beta1', version: 'v1beta1' }],
              },
            ],
          });
        case '/api/v1':
          return sendJson(response, 200, {
            kind: 'APIResourceList',
            groupVersion: 'v1',
            resources: [
              { name: 'pods', kind: 'Pod', namespaced: true, verbs: ['get'] },
              { name: 'pods/status', kind: 'Pod', namespaced: true, verbs: ['get'] },
              { name: 'pods/log', kind: 'Pod', namespaced: true, verbs: ['get'] },
            ],
          });
        case '/apis/apps/v1':
          return sendJson(response, 200, {
            kind: 'APIResourceList',
            groupVersion: 'apps/v1',
            resources: [
              { name: 'deployments', kind: 'Deployment', namespaced: true, verbs: ['get', 'list'] },
            ],
          });
        default:
          return sendJson(
            response,
            503,
            status(503, 'ServiceUnavailable', 'the server is currently unable to handle the request'),
          );
      }
    });
    const transport = createHttpTransport({ server: server.url });
    const snapshot = await discover(transport);
    expect(snapshot.aggregated).toBe(false);
    expect(snapshot.unavailable).toEqual(['metrics.k8s.io/v1beta1']);
    expect(
      snapshot.resources.map((r) => `${r.group}/${r.version}/${r.resource}[${r.subresources.join(',')}]`),
    ).toEqual(['/v1/pods[status,log]', 'apps/v1/deployments[]']);
    transport.close();
  });
});
