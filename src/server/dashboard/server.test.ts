import { request as httpRequest, type IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import type { Application } from '../../api/v1alpha1.js';
import type { KubeObject } from '../../core/objects.js';
import { FakeClock } from '../../../test/support/fake-clock.js';
import { kubeEventRecorder } from '../../controller/events.js';
import { AppIndex } from './app-index.js';
import { accessTokenAuthenticator, type Authenticator } from './identity.js';
import {
  actionResultSchema,
  apiErrorSchema,
  appDetailSchema,
  appDiffSchema,
  appListSchema,
  resourceTreeSchema,
  sessionSchema,
} from './schema.js';
import { createDashboardServer, type DashboardDependencies } from './server.js';
import { FakeCluster } from './testdata/fake-cluster.js';

const ORIGIN = 'http://dash.example';
const HOST = 'dash.example';

function app(namespace: string, name: string, extra: Partial<Application> = {}): Application {
  return {
    apiVersion: 'capstan.dev/v1alpha1',
    kind: 'Application',
    metadata: { namespace, name, uid: `uid-${namespace}-${name}` },
    spec: { sourceRef: { name: 'apps' }, ref: 'main', path: name },
    status: {
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'Synced',
          message: 'all good',
          lastTransitionTime: '2024-05-01T00:00:00Z',
        },
      ],
      sync: { status: 'Synced', revision: 'a'.repeat(40) },
      health: { status: 'Healthy', message: '2 objects healthy' },
    },
    ...extra,
  };
}

/**
 * Two teams and an admin: `alice` may get/list Applications (and read most things) in team-a only;
 * `bob` may also patch there; `admin` may do anything anywhere.
 */
function cluster(): FakeCluster {
  const fake = new FakeCluster();
  fake.addUser('alice-token', {
    username: 'alice',
    can: (verb, group, resource, namespace) =>
      namespace === 'team-a' && ['get', 'list'].includes(verb) && !(group === '' && resource === 'secrets'),
  });
  fake.addUser('bob-token', {
    username: 'bob',
    can: (verb, _group, _resource, namespace) =>
      namespace === 'team-a' && ['get', 'list', 'patch'].includes(verb),
  });
  fake.addUser('admin-token', { username: 'admin', groups: ['system:masters'], can: () => true });
  fake.addUser('controller-token', {
    username: 'system:serviceaccount:capstan-system:capstan-controller',
    can: () => true,
  });
  return fake;
}

const servers: { close(): Promise<unknown> }[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

function setup(options: Partial<DashboardDependencies> & { fake?: FakeCluster } = {}) {
  const fake = options.fake ?? cluster();
  const index = new AppIndex();
  for (const [ns, name] of [
    ['team-a', 'web'],
    ['team-a', 'worker'],
    ['team-b', 'api'],
  ] as const) {
    index.upsert(fake.put(app(ns, name)) as Application);
  }
  index.markSynced();
  const clock = new FakeClock();
  const authenticate: Authenticator = async (token) => {
    const user = fake.users.get(token);
    return user
      ? {
          identity: { username: user.username, groups: [...(user.groups ?? [])] },
          kube: fake.clientFor(token),
        }
      : undefined;
  };
  const controller = fake.clientFor('controller-token');
  const server = createDashboardServer({
    mode: 'controller',
    index,
    authenticate,
    eventRecorder: () => kubeEventRecorder(controller, 'capstan-dashboard'),
    clock,
    ...options,
  });
  servers.push(server);

  async function login(
    token: string,
  ): Promise<{ cookie: string; csrf: string; response: LightMyRequestResponse }> {
    const response = await server.inject({
      method: 'POST',
      url: '/api/v1/session',
      headers: { origin: ORIGIN, host: HOST, 'content-type': 'application/json' },
      payload: { token },
    });
    const setCookie = String(response.headers['set-cookie'] ?? '');
    return {
      cookie: setCookie.split(';')[0] ?? '',
      csrf: response.json<{ csrfToken: string }>().csrfToken,
      response,
    };
  }

  async function as(token: string) {
    const { cookie, csrf } = await login(token);
    return {
      cookie,
      csrf,
      get: (url: string) => server.inject({ method: 'GET', url, headers: { cookie, host: HOST } }),
      post: (url: string, payload: unknown = {}, headers: Record<string, string> = {}) =>
        server.inject({
          method: 'POST',
          url,
          headers: {
            cookie,
            host: HOST,
            origin: ORIGIN,
            'content-type': 'application/json',
            'x-capstan-csrf': csrf,
            ...headers,
          },
          payload: JSON.stringify(payload),
        }),
    };
  }

  return { server, fake, index, clock, login, as };
}

describe('the dashboard API: sessions', () => {
  it('logs in with a token the API server accepts, in an HttpOnly SameSite=Strict cookie', async () => {
    const { login } = setup();
    const { response } = await login('alice-token');
    expect(response.statusCode).toBe(201);
    const session = sessionSchema.parse(response.json());
    expect(session.user.username).toBe('alice');
    expect(session.mode).toBe('controller');
    const cookie = String(response.headers['set-cookie']);
    expect(cookie).toMatch(
      /^capstan-session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/,
    );
    // The token itself is neither in the cookie nor in the answer.
    expect(cookie).not.toContain('alice-token');
    expect(response.body).not.toContain('alice-token');
  });

  it('refuses an unknown token with 401, without a cookie', async () => {
    const { login } = setup();
    const { response } = await login('stolen-or-made-up');
    expect(response.statusCode).toBe(401);
    expect(response.headers['set-cookie']).toBeUndefined();
    expect(apiErrorSchema.parse(response.json()).error).toBe('unauthorized');
  });

  it('rate-limits log-in attempts per client', async () => {
    const { login } = setup({ limits: { loginsPerMinute: 3 } });
    const codes = [];
    for (let i = 0; i < 5; i++) codes.push((await login('wrong')).response.statusCode);
    expect(codes).toEqual([401, 401, 401, 429, 429]);
  });

  it('refuses a cross-origin log-in and a non-JSON one', async () => {
    const { server } = setup();
    const crossSite = await server.inject({
      method: 'POST',
      url: '/api/v1/session',
      headers: { origin: 'https://evil.example', host: HOST, 'content-type': 'application/json' },
      payload: { token: 'alice-token' },
    });
    expect(crossSite.statusCode).toBe(403);
    const form = await server.inject({
      method: 'POST',
      url: '/api/v1/session',
      headers: { origin: ORIGIN, host: HOST, 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'token=alice-token',
    });
    expect(form.statusCode).toBe(415);
  });

  it('needs a session for everything else, and ends it on logout', async () => {
    const { server, as } = setup();
    expect((await server.inject({ method: 'GET', url: '/api/v1/apps' })).statusCode).toBe(401);
    const alice = await as('alice-token');
    expect((await alice.get('/api/v1/session')).statusCode).toBe(200);
    const logout = await server.inject({
      method: 'DELETE',
      url: '/api/v1/session',
      headers: { cookie: alice.cookie, host: HOST, origin: ORIGIN, 'x-capstan-csrf': alice.csrf },
    });
    expect(logout.statusCode).toBe(200);
    expect(String(logout.headers['set-cookie'])).toContain('Max-Age=0');
    expect((await alice.get('/api/v1/session')).statusCode).toBe(401);
  });

  it('sets the security headers on every answer, errors included', async () => {
    const { server } = setup();
    for (const url of ['/api/v1/apps', '/nothing-here']) {
      const response = await server.inject({ method: 'GET', url });
      expect(response.headers['content-security-policy']).toContain("default-src 'self'");
      expect(response.headers['content-security-policy']).toContain("frame-ancestors 'none'");
      expect(response.headers['content-security-policy']).not.toContain('unsafe-inline');
      expect(response.headers['x-content-type-options']).toBe('nosniff');
      expect(response.headers['referrer-policy']).toBe('no-referrer');
      expect(response.headers['cache-control']).toBe('no-store');
    }
  });

  it('caps request bodies', async () => {
    const { server } = setup({ limits: { maxBodyBytes: 1024 } });
    const response = await server.inject({
      method: 'POST',
      url: '/api/v1/session',
      headers: { origin: ORIGIN, host: HOST, 'content-type': 'application/json' },
      payload: JSON.stringify({ token: 'x'.repeat(4096) }),
    });
    expect(response.statusCode).toBe(413);
  });
});

describe('the dashboard API: reading as the user', () => {
  it('lists only the apps of namespaces the user may list, with counts', async () => {
    const { as } = setup();
    const alice = await as('alice-token');
    const list = appListSchema.parse((await alice.get('/api/v1/apps')).json());
    expect(list.items.map((a) => `${a.namespace}/${a.name}`)).toEqual(['team-a/web', 'team-a/worker']);
    expect(list.total).toBe(2);
    expect(list.counts.health.Healthy).toBe(2);
    expect(list.namespaces).toEqual(['team-a']);

    const admin = await as('admin-token');
    const all = appListSchema.parse((await admin.get('/api/v1/apps')).json());
    expect(all.total).toBe(3);
    expect(all.namespaces).toEqual(['team-a', 'team-b']);
  });

  it('asks the API server once per namespace and then answers from its cache', async () => {
    const { as, fake } = setup();
    const alice = await as('alice-token');
    await alice.get('/api/v1/apps');
    const reviews = fake.calls.filter((c) => c.startsWith('alice review')).length;
    expect(reviews).toBe(3); // cluster-wide, team-a, team-b
    await alice.get('/api/v1/apps?health=Healthy');
    expect(fake.calls.filter((c) => c.startsWith('alice review')).length).toBe(reviews);
    // No list of Applications was ever made for a list request: the shared cache answered.
    expect(fake.calls.some((c) => c.startsWith('alice list capstan.dev/applications'))).toBe(false);
  });

  it('rejects bad list queries with 400', async () => {
    const { as } = setup();
    const alice = await as('alice-token');
    for (const query of [
      'limit=0',
      'sort=size',
      'health=Fine',
      'page=1&continue=x',
      'continue=garbage',
      'label==x',
    ])
      expect((await alice.get(`/api/v1/apps?${query}`)).statusCode, query).toBe(400);
  });

  it("shows one app with its history, repository, events and dependencies — and 403 on another team's", async () => {
    const { as, fake, index } = setup();
    fake.put({
      apiVersion: 'capstan.dev/v1alpha1',
      kind: 'Repository',
      metadata: { namespace: 'team-a', name: 'apps' },
      spec: { url: 'https://user:hunter22@git.example.com/team-a/apps.git' },
      status: {
        conditions: [
          { type: 'Ready', status: 'True', reason: 'Fetched', message: 'ok', lastTransitionTime: 'x' },
        ],
      },
    });
    fake.put({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { namespace: 'team-a', name: 'web.1' },
      involvedObject: {
        apiVersion: 'capstan.dev/v1alpha1',
        kind: 'Application',
        name: 'web',
        uid: 'uid-team-a-web',
      },
      type: 'Normal',
      reason: 'Synced',
      message: 'applied aaaaaaa',
      count: 1,
      lastTimestamp: '2024-05-01T00:00:00Z',
    });
    // worker depends on web, which is not Ready: web blocks worker.
    const web = app('team-a', 'web');
    web.status!.conditions![0] = { ...web.status!.conditions![0]!, status: 'False', reason: 'Progressing' };
    index.upsert(fake.put(web) as Application);
    index.upsert(
      fake.put(
        app('team-a', 'worker', { spec: { sourceRef: { name: 'apps' }, dependsOn: [{ name: 'web' }] } }),
      ) as Application,
    );

    const alice = await as('alice-token');
    const response = await alice.get('/api/v1/apps/team-a/worker');
    expect(response.statusCode).toBe(200);
    const detail = appDetailSchema.parse(response.json());
    expect(detail.repository.state).toBe('found');
    expect(detail.repository.url).not.toContain('hunter22');
    expect(detail.dependencies.visible).toBe(true);
    expect(detail.dependencies.edges).toEqual([{ from: 'worker', to: 'web' }]);
    expect(detail.dependencies.blockingPath).toEqual(['worker', 'web']);
    expect(detail.history.source).toBe('status');
    expect(detail.permissions).toEqual({ patch: false, readOnly: false });

    const webDetail = appDetailSchema.parse((await alice.get('/api/v1/apps/team-a/web')).json());
    expect(webDetail.events.map((e) => e.reason)).toEqual(['Synced']);
    expect(webDetail.dependencies.dependents.map((d) => d.name)).toEqual(['worker']);

    expect((await alice.get('/api/v1/apps/team-b/api')).statusCode).toBe(403);
    expect((await alice.get('/api/v1/apps/team-a/nope')).statusCode).toBe(404);
    expect((await alice.get('/api/v1/apps/Team_A/x')).statusCode).toBe(400);
  });

  it('builds the resource tree by owner references, with health, capped per object', async () => {
    const { as, fake, index } = setup({ limits: { tree: { childrenPerObject: 2 } } });
    const deployment = fake.put({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { namespace: 'team-a', name: 'web', generation: 1 },
      spec: { replicas: 3, selector: { matchLabels: { app: 'web' } } },
      status: {
        observedGeneration: 1,
        replicas: 3,
        updatedReplicas: 3,
        readyReplicas: 3,
        availableReplicas: 3,
        conditions: [
          { type: 'Available', status: 'True' },
          { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable' },
        ],
      },
    });
    const replicaSet = fake.put({
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        namespace: 'team-a',
        name: 'web-1',
        labels: { app: 'web' },
        ownerReferences: [
          {
            apiVersion: 'apps/v1',
            kind: 'Deployment',
            name: 'web',
            uid: deployment.metadata.uid!,
            controller: true,
          },
        ],
      },
      spec: { replicas: 3, selector: { matchLabels: { app: 'web' } } },
      status: { replicas: 3, readyReplicas: 3, availableReplicas: 3, fullyLabeledReplicas: 3 },
    });
    for (const i of [1, 2, 3])
      fake.put({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          namespace: 'team-a',
          name: `web-1-${i}`,
          labels: { app: 'web' },
          creationTimestamp: `2024-05-01T00:00:0${i}Z`,
          ownerReferences: [
            {
              apiVersion: 'apps/v1',
              kind: 'ReplicaSet',
              name: 'web-1',
              uid: replicaSet.metadata.uid!,
              controller: true,
            },
          ],
        },
        status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
      });
    fake.put({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { namespace: 'team-a', name: 'creds' },
      data: { password: 'c2VjcmV0LXZhbHVl' },
    });
    const withResources = app('team-a', 'web');
    withResources.status!.resources = [
      {
        group: 'apps',
        kind: 'Deployment',
        namespace: 'team-a',
        name: 'web',
        sync: 'unchanged',
        health: 'Healthy',
      },
      { group: '', kind: 'Secret', namespace: 'team-a', name: 'creds', sync: 'configured' },
    ];
    index.upsert(fake.put(withResources) as Application);

    const admin = await as('admin-token');
    const tree = resourceTreeSchema.parse((await admin.get('/api/v1/apps/team-a/web/tree')).json());
    expect(tree.source).toBe('status');
    const [deploymentNode, secretNode] = [
      tree.nodes.find((n) => n.kind === 'Deployment')!,
      tree.nodes.find((n) => n.kind === 'Secret')!,
    ];
    expect(deploymentNode.health.state).toBe('Healthy');
    expect(deploymentNode.sync?.status).toBe('Synced');
    expect(deploymentNode.children.map((c) => c.name)).toEqual(['web-1']);
    const pods = deploymentNode.children[0]!.children;
    expect(pods.map((p) => p.name)).toEqual(['web-1-3', 'web-1-2']); // newest first, two kept
    expect(deploymentNode.children[0]!.childrenOmitted).toBe(1);
    expect(tree.truncated).toBe(true);
    expect(secretNode.state).toBe('found');
    expect(JSON.stringify(tree)).not.toContain('c2VjcmV0LXZhbHVl');

    // Alice may not read Secrets: the node says so, nothing is fetched for her with other rights.
    const alice = await as('alice-token');
    const hers = resourceTreeSchema.parse((await alice.get('/api/v1/apps/team-a/web/tree')).json());
    expect(hers.nodes.find((n) => n.kind === 'Secret')!.state).toBe('forbidden');
  });

  it('shows out-of-sync objects live with their field owners, Secrets as metadata only', async () => {
    const { as, fake, index } = setup();
    fake.put({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        namespace: 'team-a',
        name: 'creds',
        annotations: { note: 'the password is s3cr3t-value' },
        managedFields: [
          { manager: 'kubectl-edit', operation: 'Update', fieldsV1: { 'f:data': { 'f:password': {} } } },
        ],
      },
      data: { password: Buffer.from('s3cr3t-value').toString('base64') },
    });
    fake.put({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        namespace: 'team-a',
        name: 'settings',
        managedFields: [
          { manager: 'capstan', operation: 'Apply', fieldsV1: { 'f:data': { 'f:mode': {} } } },
          { manager: 'kubectl-edit', operation: 'Update', fieldsV1: { 'f:data': { 'f:level': {} } } },
        ],
      },
      data: { mode: 'fast', level: 'debug' },
    });
    const drifted = app('team-a', 'web');
    drifted.status!.sync = { status: 'OutOfSync' };
    drifted.status!.resources = [
      { group: '', kind: 'Secret', namespace: 'team-a', name: 'creds', sync: 'configured' },
      { group: '', kind: 'ConfigMap', namespace: 'team-a', name: 'settings', sync: 'configured' },
      { group: '', kind: 'ConfigMap', namespace: 'team-a', name: 'same', sync: 'unchanged' },
    ];
    index.upsert(fake.put(drifted) as Application);
    const admin = await as('admin-token');
    const response = await admin.get('/api/v1/apps/team-a/web/diff');
    const diff = appDiffSchema.parse(response.json());
    expect(diff.objects.map((o) => o.name)).toEqual(['creds', 'settings']);
    const secret = diff.objects[0]!;
    expect(secret.live).not.toHaveProperty('data');
    expect(response.body).not.toContain('s3cr3t-value');
    expect(response.body).not.toContain(Buffer.from('s3cr3t-value').toString('base64'));
    expect(secret.owners[0]).toMatchObject({ manager: 'kubectl-edit', fields: ['/data/password'] });
    const settings = diff.objects[1]!;
    expect(settings.owners.map((o) => [o.manager, o.fields])).toEqual([
      ['capstan', ['/data/mode']],
      ['kubectl-edit', ['/data/level']],
    ]);
    expect(settings.live).not.toHaveProperty('metadata.managedFields');
  });
});

describe('the dashboard API: actions', () => {
  it('answers 403 when the user may not patch Applications, and changes nothing', async () => {
    const { as, fake } = setup();
    const alice = await as('alice-token');
    const before = JSON.stringify(fake.objects.get('capstan.dev/Application/team-a/web'));
    const response = await alice.post('/api/v1/apps/team-a/web/sync');
    expect(response.statusCode).toBe(403);
    expect(apiErrorSchema.parse(response.json()).error).toBe('forbidden');
    expect(JSON.stringify(fake.objects.get('capstan.dev/Application/team-a/web'))).toBe(before);
    expect(fake.created).toEqual([]);
  });

  it('syncs as the user, who is named in the annotation and in an Event', async () => {
    const { as, fake } = setup();
    const bob = await as('bob-token');
    const response = await bob.post('/api/v1/apps/team-a/web/sync');
    expect(response.statusCode).toBe(200);
    const result = actionResultSchema.parse(response.json());
    expect(result.message).toContain('by bob');
    const stored = fake.objects.get('capstan.dev/Application/team-a/web')!;
    expect(stored.metadata.annotations?.['capstan.dev/requested-by']).toBe('bob');
    expect(stored.metadata.annotations?.['capstan.dev/requested-at']).toMatch(
      /^2024-05-01T12:00:00.000Z-[0-9a-f]{8}$/,
    );
    // The patch went out as bob; the Event as the controller (bob may not create Events).
    expect(fake.calls).toContain('bob patch capstan.dev/applications team-a');
    const event = fake.created.find((o) => o.kind === 'Event') as KubeObject & {
      reason: string;
      message: string;
    };
    expect(event).toMatchObject({
      reason: 'SyncRequested',
      involvedObject: { kind: 'Application', name: 'web', uid: 'uid-team-a-web' },
    });
    expect(event.message).toContain('bob');
  });

  it('suspends, resumes and rolls back (with the revision validated)', async () => {
    const { as, fake } = setup();
    const bob = await as('bob-token');
    expect((await bob.post('/api/v1/apps/team-a/web/suspend')).statusCode).toBe(200);
    expect(
      (fake.objects.get('capstan.dev/Application/team-a/web')!.spec as { suspend: boolean }).suspend,
    ).toBe(true);
    // A suspended app would never handle a sync request.
    expect((await bob.post('/api/v1/apps/team-a/web/sync')).statusCode).toBe(409);
    expect((await bob.post('/api/v1/apps/team-a/web/resume')).statusCode).toBe(200);
    expect(
      (fake.objects.get('capstan.dev/Application/team-a/web')!.spec as { suspend: boolean }).suspend,
    ).toBe(false);

    expect(
      (await bob.post('/api/v1/apps/team-a/web/rollback', { revision: 'main; rm -rf' })).statusCode,
    ).toBe(400);
    expect(
      (await bob.post('/api/v1/apps/team-a/web/rollback', { revision: 'abcdef1', clear: true })).statusCode,
    ).toBe(400);
    expect((await bob.post('/api/v1/apps/team-a/web/rollback', { revision: 'abcdef1' })).statusCode).toBe(
      200,
    );
    const request = JSON.parse(
      fake.objects.get('capstan.dev/Application/team-a/web')!.metadata.annotations!['capstan.dev/rollback']!,
    );
    expect(request).toMatchObject({ to: 'abcdef1', by: 'bob' });
    expect((await bob.post('/api/v1/apps/team-a/web/rollback', { clear: true })).statusCode).toBe(200);
    expect(fake.created.map((e) => (e as { reason?: string }).reason)).toEqual([
      'Suspended',
      'Resumed',
      'RollbackRequested',
      'RollbackRequested',
    ]);
  });

  it('refuses actions without the CSRF header, from another origin, or not as JSON', async () => {
    const { as } = setup();
    const bob = await as('bob-token');
    expect(
      (await bob.post('/api/v1/apps/team-a/web/sync', {}, { 'x-capstan-csrf': 'guess' })).statusCode,
    ).toBe(403);
    expect(
      (await bob.post('/api/v1/apps/team-a/web/sync', {}, { origin: 'https://evil.example' })).statusCode,
    ).toBe(403);
    expect(
      (await bob.post('/api/v1/apps/team-a/web/sync', {}, { 'sec-fetch-site': 'cross-site' })).statusCode,
    ).toBe(403);
    expect(
      (await bob.post('/api/v1/apps/team-a/web/sync', {}, { 'content-type': 'text/plain' })).statusCode,
    ).toBe(415);
    expect((await bob.post('/api/v1/apps/team-a/web/sync', { force: true })).statusCode).toBe(400);
  });

  it('refuses every action in read-only mode', async () => {
    const { as, fake } = setup({ readOnly: true });
    const admin = await as('admin-token');
    for (const action of ['sync', 'suspend', 'resume', 'rollback']) {
      const response = await admin.post(`/api/v1/apps/team-a/web/${action}`);
      expect(response.statusCode).toBe(403);
      expect(response.json()).toMatchObject({ error: 'read_only' });
    }
    expect(fake.calls.some((c) => c.includes('patch'))).toBe(false);
  });

  it('ends the session when the API server stops accepting the token', async () => {
    const { as, fake } = setup();
    const alice = await as('alice-token');
    fake.users.delete('alice-token'); // revoked
    const response = await alice.get('/api/v1/apps/team-a/web');
    expect(response.statusCode).toBe(401);
    expect(String(response.headers['set-cookie'])).toContain('Max-Age=0');
    expect((await alice.get('/api/v1/session')).statusCode).toBe(401);
  });
});

describe('the local dashboard (capstan dashboard)', () => {
  it('logs in with the per-run access token only, and refuses other Host names', async () => {
    const fake = cluster();
    const { server } = setup({
      fake,
      mode: 'local',
      loopbackOnly: true,
      authenticate: accessTokenAuthenticator('per-run-token', {
        identity: { username: 'admin', groups: [] },
        kube: fake.clientFor('admin-token'),
      }),
    });
    await server.listen({ host: '127.0.0.1', port: 0 });
    const port = (server.server.address() as { port: number }).port;
    const post = (host: string, token: string) =>
      fetch(`http://127.0.0.1:${port}/api/v1/session`, {
        method: 'POST',
        headers: { host, origin: `http://${host}`, 'content-type': 'application/json' },
        body: JSON.stringify({ token }),
      });
    expect((await post(`127.0.0.1:${port}`, 'admin-token')).status).toBe(401);
    const ok = await post(`127.0.0.1:${port}`, 'per-run-token');
    expect(ok.status).toBe(201);
    expect(sessionSchema.parse(await ok.json()).mode).toBe('local');
    // A page on rebound-name.example resolving to 127.0.0.1 gets nothing.
    expect((await post(`rebound-name.example:${port}`, 'per-run-token')).status).toBe(403);
  });
});

describe('the dashboard API: details', () => {
  it('takes an action with an empty JSON body', async () => {
    const { as, server } = setup();
    const bob = await as('bob-token');
    const response = await server.inject({
      method: 'POST',
      url: '/api/v1/apps/team-a/web/sync',
      headers: {
        cookie: bob.cookie,
        host: HOST,
        origin: ORIGIN,
        'content-type': 'application/json',
        'x-capstan-csrf': bob.csrf,
      },
    });
    expect(response.statusCode).toBe(200);
  });

  it('uses a Secure __Host- cookie over https (behind a trusted proxy)', async () => {
    const { server } = setup({ trustProxy: true });
    const response = await server.inject({
      method: 'POST',
      url: '/api/v1/session',
      headers: {
        origin: `https://${HOST}`,
        host: HOST,
        'x-forwarded-proto': 'https',
        'content-type': 'application/json',
      },
      payload: { token: 'alice-token' },
    });
    expect(response.statusCode).toBe(201);
    expect(String(response.headers['set-cookie'])).toMatch(/^__Host-capstan-session=.*; Secure$/);
    expect(response.headers['strict-transport-security']).toBeDefined();
  });
});

describe('the dashboard API: the event stream over HTTP', () => {
  it('streams the changes a user may see, and closes cleanly with the server', async () => {
    const { server, index, fake, as } = setup();
    const alice = await as('alice-token');
    await server.listen({ host: '127.0.0.1', port: 0 });
    const port = (server.server.address() as { port: number }).port;
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = httpRequest(
        { host: '127.0.0.1', port, path: '/api/v1/events', headers: { cookie: alice.cookie } },
        (answer) => resolve(answer),
      );
      req.on('error', reject);
      req.end();
    });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-security-policy']).toContain("default-src 'self'");
    let received = '';
    response.setEncoding('utf8');
    const got = (text: string) =>
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (received.includes(text)) resolve();
          else response.once('data', check);
        };
        check();
      });
    response.on('data', (chunk: string) => (received += chunk));
    await got('event: ready');
    const api = fake.put(app('team-b', 'api', { spec: { sourceRef: { name: 'apps' }, suspend: true } }));
    index.upsert(api as Application);
    const web = fake.put(app('team-a', 'web', { spec: { sourceRef: { name: 'apps' }, suspend: true } }));
    index.upsert(web as Application);
    await got('"name":"web"');
    expect(received).not.toContain('"name":"api"');
    const ended = new Promise((resolve) => response.on('close', resolve));
    await server.close();
    await ended;
  });
});
