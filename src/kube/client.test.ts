import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UserError } from '../core/errors.js';
import type { KubeObject } from '../core/objects.js';
import {
  aggregatedDiscovery,
  sendJson,
  startFakeApiServer,
  status,
  type FakeApiServer,
  type Handler,
} from '../../test/kube/fake-apiserver.js';
import { HttpKubeClient } from './client.js';
import { discoveryFor } from './discovery.js';
import { serviceAccountIdentity } from './identity.js';
import { startInformer } from './informer.js';
import { RestMapper } from './mapper.js';
import { createHttpTransport, type Transport } from './transport.js';
import { sleep } from '../core/time.js';

const DISCOVERY = {
  core: aggregatedDiscovery({
    '': {
      v1: [
        { resource: 'configmaps', kind: 'ConfigMap' },
        { resource: 'secrets', kind: 'Secret' },
        { resource: 'namespaces', kind: 'Namespace', namespaced: false },
      ],
    },
  }),
  groups: aggregatedDiscovery({
    'rbac.authorization.k8s.io': {
      v1: [{ resource: 'clusterroles', kind: 'ClusterRole', namespaced: false }],
    },
    'example.com': { v1: [{ resource: 'MixedCases', kind: 'MixedCase', subresources: ['status'] }] },
  }),
};

let server: FakeApiServer;
let transport: Transport;
let client: HttpKubeClient;

/** Serves discovery itself and hands every other request to `handler`. */
function serve(handler: Handler): void {
  server.handle((request, response, raw) => {
    if (request.url === '/api') return sendJson(response, 200, DISCOVERY.core);
    if (request.url === '/apis') return sendJson(response, 200, DISCOVERY.groups);
    return handler(request, response, raw);
  });
}

/** The requests after discovery. */
function apiRequests() {
  return server.requests.filter((r) => r.url !== '/api' && r.url !== '/apis');
}

beforeEach(async () => {
  server = await startFakeApiServer();
  transport = createHttpTransport({ server: server.url });
  client = new HttpKubeClient({
    transport,
    mapper: new RestMapper({ discover: discoveryFor(transport) }),
    random: () => 0,
  });
});
afterEach(async () => {
  client.close();
  await server.close();
});

const echo: Handler = (request, response) =>
  sendJson(response, 200, request.body ? JSON.parse(request.body) : {});

describe('HttpKubeClient paths', () => {
  it('encodes every segment and never lower-cases the resource', async () => {
    serve(echo);
    await client.get({
      group: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: 'system:controller:x y',
    });
    await client.get({ group: 'example.com', kind: 'MixedCase', namespace: 'team-a', name: 'Thing.1' });
    expect(apiRequests().map((r) => r.url)).toEqual([
      '/apis/rbac.authorization.k8s.io/v1/clusterroles/system%3Acontroller%3Ax%20y',
      '/apis/example.com/v1/namespaces/team-a/MixedCases/Thing.1',
    ]);
  });

  it('refuses names that would change the URL, before sending anything', async () => {
    serve(echo);
    for (const name of ['', '..', 'a/b', '50%']) {
      await expect(
        client.get({ group: '', kind: 'ConfigMap', namespace: 'ns', name }),
      ).rejects.toBeInstanceOf(UserError);
    }
    await expect(client.get({ group: '', kind: 'ConfigMap', name: 'no-namespace' })).rejects.toThrow(
      'is namespaced but has no namespace',
    );
    expect(apiRequests()).toEqual([]);
  });

  it('refuses to write a cluster-scoped object that names a namespace, instead of dropping it', async () => {
    serve(echo);
    await expect(
      client.apply({
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: 'team-a', namespace: 'team-b' },
      }),
    ).rejects.toThrow('Namespace "team-a" is cluster-scoped but names namespace "team-b"');
    expect(apiRequests()).toEqual([]);
    await client.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' } });
    expect(apiRequests()[0]!.url).toMatch(/^\/api\/v1\/namespaces\/team-a\?/);
  });
});

describe('HttpKubeClient operations', () => {
  it('applies with apply-patch content, field manager, force and dry run, sending the object as JSON', async () => {
    serve(echo);
    const object: KubeObject = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'cfg', namespace: 'ns' },
      data: { a: '1' },
    };
    const result = await client.apply(object, { force: true, dryRun: true });
    expect(result).toEqual(object);
    await client.apply(object, { fieldManager: 'someone' });
    const [first, second] = apiRequests();
    expect(first!.method).toBe('PATCH');
    expect(first!.url).toBe(
      '/api/v1/namespaces/ns/configmaps/cfg?fieldManager=capstan&force=true&dryRun=All',
    );
    expect(first!.headers['content-type']).toBe('application/apply-patch+yaml');
    expect(JSON.parse(first!.body)).toEqual(object);
    expect(second!.url).toBe('/api/v1/namespaces/ns/configmaps/cfg?fieldManager=someone');
  });

  it('applies and updates status subresources', async () => {
    serve(echo);
    const widget = {
      apiVersion: 'example.com/v1',
      kind: 'MixedCase',
      metadata: { name: 'w', namespace: 'ns' },
      status: { ready: true },
    };
    await client.apply(widget, { subresource: 'status' });
    await client.update(widget, { subresource: 'status' });
    expect(apiRequests().map((r) => `${r.method} ${r.url}`)).toEqual([
      'PATCH /apis/example.com/v1/namespaces/ns/MixedCases/w/status?fieldManager=capstan',
      'PUT /apis/example.com/v1/namespaces/ns/MixedCases/w/status?fieldManager=capstan',
    ]);
  });

  it('creates in the collection and patches with the content type of each patch kind', async () => {
    serve(echo);
    await client.create({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { generateName: 'cfg-', namespace: 'ns' },
    });
    const ref = { group: '', kind: 'ConfigMap', namespace: 'ns', name: 'cfg' };
    await client.patch(ref, { data: { a: '1' } }, 'merge');
    await client.patch(ref, [{ op: 'add', path: '/data/b', value: '2' }], 'json');
    await client.patch(ref, { data: { c: '3' } }, 'strategic', { dryRun: true });
    expect(apiRequests().map((r) => [r.method, r.url, r.headers['content-type']])).toEqual([
      ['POST', '/api/v1/namespaces/ns/configmaps?fieldManager=capstan', 'application/json'],
      ['PATCH', '/api/v1/namespaces/ns/configmaps/cfg?fieldManager=capstan', 'application/merge-patch+json'],
      ['PATCH', '/api/v1/namespaces/ns/configmaps/cfg?fieldManager=capstan', 'application/json-patch+json'],
      [
        'PATCH',
        '/api/v1/namespaces/ns/configmaps/cfg?fieldManager=capstan&dryRun=All',
        'application/strategic-merge-patch+json',
      ],
    ]);
  });

  it('gets undefined on 404 and throws typed errors otherwise', async () => {
    serve((request, response) => {
      if (request.url.endsWith('/missing'))
        return sendJson(response, 404, status(404, 'NotFound', 'configmaps "missing" not found'));
      sendJson(
        response,
        403,
        status(403, 'Forbidden', 'configmaps "x" is forbidden: User "bob" cannot get resource'),
      );
    });
    expect(
      await client.get({ group: '', kind: 'ConfigMap', namespace: 'ns', name: 'missing' }),
    ).toBeUndefined();
    await expect(
      client.get({ group: '', kind: 'ConfigMap', namespace: 'ns', name: 'x' }),
    ).rejects.toMatchObject({
      status: 403,
      reason: 'Forbidden',
      kind: 'user',
    });
  });

  it('scrubs Secret values from errors of Secret writes', async () => {
    serve((_request, response) =>
      sendJson(
        response,
        422,
        status(422, 'Invalid', 'Secret "s" is invalid: data[x]: Invalid value: "s3cr3t": bad', {
          name: 's',
          kind: 'Secret',
          causes: [
            { reason: 'FieldValueInvalid', message: 'Invalid value: "s3cr3t": bad', field: 'data[x]' },
          ],
        }),
      ),
    );
    const error = await client
      .apply({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 's', namespace: 'ns' },
        stringData: { x: 's3cr3t' },
      })
      .catch((e: unknown) => e);
    expect(String(error)).not.toContain('s3cr3t');
    expect(JSON.stringify(error)).not.toContain('s3cr3t');
  });

  it('scrubs every kind of request about a Secret, whatever the status', async () => {
    const value = '987654321';
    serve((_request, response) =>
      sendJson(response, 500, status(500, 'InternalError', `something about ${value}`)),
    );
    const ref = { group: '', kind: 'Secret', namespace: 'ns', name: 's' };
    const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'ns' } };
    const requests = {
      get: () => client.get(ref),
      list: () => client.list('', 'v1', 'Secret', { namespace: 'ns' }),
      apply: () => client.apply(secret),
      dryRun: () => client.apply(secret, { dryRun: true }),
      create: () => client.create(secret),
      update: () => client.update(secret),
      patch: () => client.patch(ref, { data: {} }, 'merge'),
      delete: () => client.delete(ref),
      watch: async () => {
        for await (const _event of client.watch('', 'v1', 'Secret', { namespace: 'ns' })) break;
      },
    };
    for (const [name, request] of Object.entries(requests)) {
      const error = await (request() as Promise<unknown>).catch((e: unknown) => e);
      expect(error, name).toMatchObject({ status: 500, reason: 'InternalError', kind: 'transient' });
      expect(`${String(error)} ${JSON.stringify(error)}`, name).not.toContain(value);
    }
  });

  it('deletes with DeleteOptions, and reports an object already gone as false', async () => {
    serve((request, response) =>
      request.url.endsWith('/gone')
        ? sendJson(response, 404, status(404, 'NotFound', 'not found'))
        : sendJson(response, 200, { kind: 'Status', status: 'Success' }),
    );
    const ref = { group: '', kind: 'ConfigMap', namespace: 'ns', name: 'cfg' };
    expect(
      await client.delete(ref, {
        propagationPolicy: 'Foreground',
        dryRun: true,
        preconditions: { uid: 'u-1' },
      }),
    ).toBe(true);
    expect(await client.delete({ ...ref, name: 'gone' })).toBe(false);
    const [first] = apiRequests();
    expect(first!.method).toBe('DELETE');
    expect(JSON.parse(first!.body)).toEqual({
      apiVersion: 'v1',
      kind: 'DeleteOptions',
      propagationPolicy: 'Foreground',
      dryRun: ['All'],
      preconditions: { uid: 'u-1' },
    });
  });

  it('lists every page, filling in apiVersion and kind', async () => {
    serve((request, response) => {
      const url = new URL(request.url, 'http://x');
      const page = url.searchParams.get('continue') ?? '0';
      const items = [{ metadata: { name: `cm-${page}` } }];
      const next = page === '2' ? undefined : String(Number(page) + 1);
      sendJson(response, 200, {
        kind: 'ConfigMapList',
        apiVersion: 'v1',
        metadata: { resourceVersion: `10${page}`, ...(next ? { continue: next } : {}) },
        items,
      });
    });
    const list = await client.list('', 'v1', 'ConfigMap', {
      namespace: 'ns',
      labelSelector: 'app=web',
      limit: 1,
    });
    expect(list.items).toEqual(
      [0, 1, 2].map((i) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `cm-${i}` } })),
    );
    expect(list.resourceVersion).toBe('102');
    expect(apiRequests().map((r) => r.url)).toEqual([
      '/api/v1/namespaces/ns/configmaps?limit=1&labelSelector=app%3Dweb',
      '/api/v1/namespaces/ns/configmaps?limit=1&continue=1&labelSelector=app%3Dweb',
      '/api/v1/namespaces/ns/configmaps?limit=1&continue=2&labelSelector=app%3Dweb',
    ]);
  });

  it('starts over with one full list when a continue token expires', async () => {
    serve((request, response) => {
      const url = new URL(request.url, 'http://x');
      if (url.searchParams.get('continue'))
        return sendJson(response, 410, status(410, 'Expired', 'The provided continue parameter is too old'));
      if (url.searchParams.get('limit') === '0') {
        return sendJson(response, 200, {
          metadata: { resourceVersion: '50' },
          items: [{ metadata: { name: 'a' } }, { metadata: { name: 'b' } }],
        });
      }
      sendJson(response, 200, {
        metadata: { resourceVersion: '40', continue: 'tok' },
        items: [{ metadata: { name: 'a' } }],
      });
    });
    const list = await client.list('', 'v1', 'ConfigMap', { limit: 1 });
    expect(list.items.map((i) => i.metadata.name)).toEqual(['a', 'b']);
    expect(list.resourceVersion).toBe('50');
    expect(apiRequests().map((r) => r.url)).toEqual([
      '/api/v1/configmaps?limit=1',
      '/api/v1/configmaps?limit=1&continue=tok',
      '/api/v1/configmaps?limit=0',
    ]);
  });

  it('watches with bookmarks, a resourceVersion and a server-side timeout', async () => {
    serve((_request, response) => {
      response.writeHead(200);
      response.end(
        `${JSON.stringify({ type: 'ADDED', object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', resourceVersion: '6' } } })}\n`,
      );
    });
    const events = [];
    for await (const event of client.watch('', 'v1', 'ConfigMap', {
      namespace: 'ns',
      resourceVersion: '5',
      fieldSelector: 'metadata.name=a',
    }))
      events.push(event);
    expect(events.map((e) => e.type)).toEqual(['ADDED']);
    expect(apiRequests()[0]!.url).toBe(
      '/api/v1/namespaces/ns/configmaps?watch=1&allowWatchBookmarks=true&resourceVersion=5&fieldSelector=metadata.name%3Da&timeoutSeconds=300',
    );
  });

  it('impersonates with user and groups, replacing (not stacking) an earlier impersonation', async () => {
    serve(echo);
    const identity = {
      ...serviceAccountIdentity('team-a', 'deployer'),
      groups: ['system:serviceaccounts', 'system:serviceaccounts:team-a', 'system:authenticated'],
    };
    const asDeployer = client.impersonate(identity);
    const asOther = asDeployer.impersonate({ user: 'other' });
    await asDeployer.get({ group: '', kind: 'ConfigMap', namespace: 'team-a', name: 'x' });
    await asOther.get({ group: '', kind: 'ConfigMap', namespace: 'team-a', name: 'x' });
    await client.get({ group: '', kind: 'ConfigMap', namespace: 'team-a', name: 'x' });
    const [deployer, other, plain] = apiRequests();
    expect(deployer!.headers['impersonate-user']).toBe('system:serviceaccount:team-a:deployer');
    expect(deployer!.headers['impersonate-group']).toBe(
      'system:serviceaccounts, system:serviceaccounts:team-a, system:authenticated',
    );
    expect(other!.headers['impersonate-user']).toBe('other');
    expect(other!.headers['impersonate-group']).toBeUndefined();
    expect(plain!.headers['impersonate-user']).toBeUndefined();
    // One pool, one mapper: discovery ran once.
    expect(server.requests.filter((r) => r.url === '/api')).toHaveLength(1);
  });
});

describe('informer over HTTP', () => {
  it('survives a dropped connection and a 500, resuming the watch from its resourceVersion', async () => {
    let watches = 0;
    serve((request, response) => {
      const url = new URL(request.url, 'http://x');
      if (url.searchParams.get('watch') !== '1') {
        return sendJson(response, 200, {
          metadata: { resourceVersion: '1' },
          items: [{ metadata: { name: 'a', namespace: 'ns', resourceVersion: '1' } }],
        });
      }
      watches++;
      if (watches === 1) {
        response.writeHead(200);
        response.write(
          `${JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'b', namespace: 'ns', resourceVersion: '2' } } })}\n`,
        );
        setTimeout(() => server.dropConnections(), 10);
        return;
      }
      if (watches === 2) return sendJson(response, 500, status(500, 'InternalError', 'boom'));
      response.writeHead(200);
      response.write(
        `${JSON.stringify({ type: 'DELETED', object: { metadata: { name: 'a', namespace: 'ns', resourceVersion: '3' } } })}\n`,
      );
    });
    const errors: unknown[] = [];
    const controller = new AbortController();
    const informer = startInformer(client, {
      group: '',
      version: 'v1',
      kind: 'ConfigMap',
      signal: controller.signal,
      onError: (e) => errors.push(e),
      backoff: { initialMs: 5, maxMs: 20 },
    });
    await informer.synced;
    for (let i = 0; i < 500 && informer.resourceVersion !== '3'; i++) await sleep(5);
    expect(informer.list().map((o) => o.metadata.name)).toEqual(['b']);
    const watchUrls = apiRequests()
      .filter((r) => r.url.includes('watch=1'))
      .map((r) => new URL(r.url, 'http://x').searchParams.get('resourceVersion'));
    expect(watchUrls).toEqual(['1', '2', '2']);
    expect(errors.map((e) => (e as { kind: string }).kind)).toEqual(['transient', 'transient']);
    controller.abort();
    await informer.stopped;
  });
});
