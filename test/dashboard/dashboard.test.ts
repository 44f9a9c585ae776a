/**
 * The dashboard's API on the real control plane, as the people of a shared cluster use it: a
 * ServiceAccount whose Role allows only get/list of Applications in its own namespace, a user RBAC
 * grants nothing, and the admin. The dashboard's own (controller) client is the admin's, so every
 * refusal below is the user's RBAC at work, never a lack of rights on the server's side.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { request, type IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import { API_VERSION, type Application } from '../../src/api/v1alpha1.js';
import { createKubeClient, type HttpKubeClient, type KubeClient } from '../../src/kube/index.js';
import {
  actionResultSchema,
  appDetailSchema,
  appEventSchema,
  appListSchema,
  resourceTreeSchema,
  sessionSchema,
  type AppEvent,
} from '../../src/server/dashboard/schema.js';
import {
  startControllerDashboard,
  startLocalDashboard,
  type RunningDashboard,
} from '../../src/server/dashboard/serve.js';
import { freshNamespace, kubectl, kubectlOk } from '../support/cluster.js';
import { applicationViewerToken } from '../support/dashboard.js';
import {
  createApp,
  eventually,
  getApp,
  installCrds,
  isolated,
  readyAt,
  repository,
  startTestController,
} from '../support/controller.js';
import {
  installFromDeploy,
  serviceAccountKubeconfig,
  spawnDeployedController,
} from '../support/controller-process.js';
import { freePort } from '../../src/dev/controlplane.js';
import { configMap } from '../support/engine.js';
import {
  createTestRepo,
  makeTempDir,
  startGitHttpServer,
  type GitHttpServer,
} from '../support/git-servers.js';

const root = new URL('../../', import.meta.url).pathname;
const tokenOf = (kubeconfig: string): string => /token: (\S+)/.exec(kubeconfig)![1]!;

let admin: HttpKubeClient;
let dashboard: RunningDashboard;
let teamA: string;
let teamB: string;
let viewerToken: string;
let git: GitHttpServer;

function app(namespace: string, name: string, spec: Partial<Application['spec']> = {}): Application {
  return isolated({
    apiVersion: API_VERSION,
    kind: 'Application',
    metadata: { namespace, name },
    spec: { sourceRef: { name: 'apps' }, ref: 'main', path: name, healthTimeout: '60s', ...spec },
  });
}

beforeAll(async () => {
  admin = await createKubeClient({ kubeconfig: inject('kubeconfig') });
  await installCrds(admin);
  dashboard = await startControllerDashboard({
    kube: admin,
    source: { kubeconfig: inject('kubeconfig') },
    host: '127.0.0.1',
    port: 0,
  });
  await dashboard.cache.synced;
});
afterAll(async () => {
  await dashboard?.close();
  await git?.close();
  admin?.close();
});

function postSession(token: string, on: RunningDashboard): Promise<Response> {
  return fetch(`${on.url}/api/v1/session`, {
    method: 'POST',
    headers: { origin: on.url, 'content-type': 'application/json' },
    body: JSON.stringify({ token }),
  });
}

/** The status of a log-in attempt. */
async function tryLogin(token: string, on: RunningDashboard = dashboard): Promise<number> {
  return (await postSession(token, on)).status;
}

const namespaces: string[] = [];
afterAll(async () => {
  for (const name of namespaces) await kubectl(['delete', 'namespace', name, '--wait=false']);
});

/** A namespace shared by the tests of a describe block (freshNamespace is per test), deleted at the end. */
async function namespaceForThisFile(prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  await kubectlOk(['create', 'namespace', name]);
  namespaces.push(name);
  return name;
}

/** A logged-in browser, as far as the API can tell: the cookie, the CSRF token, our Origin. */
async function login(token: string, on: RunningDashboard = dashboard) {
  const origin = on.url;
  const response = await postSession(token, on);
  if (response.status !== 201) throw new Error(`log-in answered ${response.status}`);
  const session = sessionSchema.parse(await response.json());
  const cookie = response.headers.get('set-cookie')!.split(';')[0]!;
  const get = async (path: string) => {
    const answer = await fetch(`${on.url}${path}`, { headers: { cookie } });
    return { status: answer.status, body: (await answer.json()) as unknown };
  };
  const post = async (path: string, body: unknown = {}) => {
    const answer = await fetch(`${on.url}${path}`, {
      method: 'POST',
      headers: { cookie, origin, 'content-type': 'application/json', 'x-capstan-csrf': session.csrfToken },
      body: JSON.stringify(body),
    });
    return { status: answer.status, body: (await answer.json()) as unknown };
  };
  return { session, cookie, get, post };
}

/** GET /api/v1/events, its `app` events collected as they arrive. */
async function openStream(cookie: string, on: RunningDashboard = dashboard) {
  const events: AppEvent[] = [];
  let ready!: () => void;
  const readyReceived = new Promise<void>((resolve) => (ready = resolve));
  const url = new URL(`${on.url}/api/v1/events`);
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = request(url, { headers: { cookie, accept: 'text/event-stream' } }, (answer) =>
      resolve(answer),
    );
    req.on('error', reject);
    req.end();
  });
  expect(response.statusCode).toBe(200);
  expect(response.headers['content-type']).toContain('text/event-stream');
  expect(response.headers['content-security-policy']).toContain("default-src 'self'");
  let buffer = '';
  response.setEncoding('utf8');
  response.on('data', (chunk: string) => {
    buffer += chunk;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (frame.includes('event: ready')) ready();
      const data = /^event: app\ndata: (.*)$/m.exec(frame);
      if (data) events.push(appEventSchema.parse(JSON.parse(data[1]!)));
    }
  });
  response.on('error', () => {});
  onTestFinished(() => void response.destroy());
  await readyReceived;
  return { events, close: () => response.destroy() };
}

describe('the dashboard API on a shared cluster', () => {
  beforeAll(async () => {
    teamA = await namespaceForThisFile('dash-a');
    teamB = await namespaceForThisFile('dash-b');
    for (const [ns, name] of [
      [teamA, 'web'],
      [teamA, 'worker'],
      [teamB, 'api'],
    ] as const)
      await admin.apply(app(ns, name, name === 'worker' ? { dependsOn: [{ name: 'web' }] } : {}));
    // A viewer of team A: get and list Applications there, nothing else.
    viewerToken = await applicationViewerToken(teamA);
    await eventually('the dashboard cache has the apps', async () =>
      dashboard.cache.index.get(teamB, 'api') && dashboard.cache.index.get(teamA, 'worker')
        ? true
        : undefined,
    );
  });

  it("shows a viewer their namespace's apps only, and 403 for another namespace's", async () => {
    const viewer = await login(viewerToken);
    expect(viewer.session.user.username).toBe(`system:serviceaccount:${teamA}:viewer`);

    const list = appListSchema.parse((await viewer.get('/api/v1/apps?limit=500')).body);
    expect(list.items.map((a) => `${a.namespace}/${a.name}`)).toEqual([`${teamA}/web`, `${teamA}/worker`]);
    expect(list.namespaces).toEqual([teamA]);
    expect(list.total).toBe(2);
    const filtered = appListSchema.parse((await viewer.get(`/api/v1/apps?namespace=${teamB}`)).body);
    expect(filtered.total).toBe(0);

    const detail = await viewer.get(`/api/v1/apps/${teamA}/worker`);
    expect(detail.status).toBe(200);
    const parsed = appDetailSchema.parse(detail.body);
    expect(parsed.dependencies.edges).toEqual([{ from: 'worker', to: 'web' }]);
    expect(parsed.permissions.patch).toBe(false);
    // Its Role reads nothing but Applications: the Repository and the Events say so.
    expect(parsed.repository.state).toBe('forbidden');
    expect(parsed.eventsError).toBe('forbidden');
    expect(resourceTreeSchema.parse((await viewer.get(`/api/v1/apps/${teamA}/web/tree`)).body).nodes).toEqual(
      [],
    );

    expect((await viewer.get(`/api/v1/apps/${teamB}/api`)).status).toBe(403);
    expect((await viewer.get(`/api/v1/apps/${teamB}/api/tree`)).status).toBe(403);
  });

  it('refuses a sync from a user who may not patch Applications (403 from the server)', async () => {
    const viewer = await login(viewerToken);
    const before = await getApp(admin, teamA, 'web');
    const response = await viewer.post(`/api/v1/apps/${teamA}/web/sync`);
    expect(response.status).toBe(403);
    expect(response.body).toMatchObject({ error: 'forbidden' });
    const after = await getApp(admin, teamA, 'web');
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
  });

  it('shows nothing to a user RBAC grants nothing, and refuses a made-up token', async () => {
    const nobody = await login(tokenOf(inject('unprivilegedKubeconfig')));
    expect(nobody.session.user.username).toBe(inject('unprivilegedUser'));
    const list = appListSchema.parse((await nobody.get('/api/v1/apps')).body);
    expect(list.total).toBe(0);
    expect(list.namespaces).toEqual([]);
    expect(await tryLogin('not-a-token-anyone-issued')).toBe(401);
  });

  it('lets the admin sync; the annotation and an Event name them; the viewer sees the change live', async () => {
    const viewer = await login(viewerToken);
    const root = await login(tokenOf(inject('kubeconfig')));
    const stream = await openStream(viewer.cookie);

    // A change in team B first, then team A's sync: the viewer's stream must skip the first.
    await admin.patch(
      { group: 'capstan.dev', kind: 'Application', namespace: teamB, name: 'api' },
      { spec: { path: 'elsewhere' } },
      'merge',
    );
    const response = await root.post(`/api/v1/apps/${teamA}/web/sync`);
    expect(response.status).toBe(200);
    const result = actionResultSchema.parse(response.body);
    const adminName = root.session.user.username;
    expect(result.message).toContain(adminName);

    const web = await getApp(admin, teamA, 'web');
    expect(web.metadata.annotations?.['capstan.dev/requested-by']).toBe(adminName);
    expect(web.metadata.annotations?.['capstan.dev/requested-at']).toBeDefined();
    const event = await eventually('the SyncRequested Event', async () => {
      const { items } = await admin.list<{
        reason?: string;
        message?: string;
        metadata: { name?: string };
        involvedObject?: { name?: string; uid?: string };
        apiVersion: string;
        kind: string;
      }>('', 'v1', 'Event', { namespace: teamA, fieldSelector: 'involvedObject.name=web' });
      return items.find((e) => e.reason === 'SyncRequested');
    });
    expect(event.message).toContain(`by ${adminName}`);
    expect(event.involvedObject?.uid).toBe(web.metadata.uid);

    // Suspending is a change every viewer of the namespace sees, live.
    expect((await root.post(`/api/v1/apps/${teamA}/web/suspend`)).status).toBe(200);
    const update = await eventually('the suspension on the stream', async () =>
      stream.events.find((e) => e.type === 'updated' && e.app.name === 'web' && e.app.suspended),
    );
    expect(update.type).toBe('updated');
    expect(stream.events.every((e) => (e.type === 'deleted' ? e.namespace : e.app.namespace) === teamA)).toBe(
      true,
    );
    expect((await root.post(`/api/v1/apps/${teamA}/web/resume`)).status).toBe(200);
  });
});

describe('the dashboard with a controller: a sync asked for in the dashboard happens', () => {
  it('is handled by the controller, and the stream shows the app Ready', async () => {
    const namespace = await freshNamespace('dash-sync');
    const gitRoot = await makeTempDir('dash-git');
    const repo = await createTestRepo(gitRoot, 'apps');
    await repo.commit({ 'web/settings.yaml': configMap('settings', { color: 'blue' }) });
    git = await startGitHttpServer({ root: gitRoot });
    const t = await startTestController({ namespace });
    onTestFinished(() => t.stop());
    await admin.apply(isolated(repository(namespace, 'apps', { url: git.url('apps'), interval: '1h' })));
    await createApp(admin, namespace, 'web', { path: 'web' }, { isolated: true });
    await readyAt(admin, namespace, 'web', await repo.head());

    const root = await login(tokenOf(inject('kubeconfig')));
    const stream = await openStream(root.cookie);
    const response = await root.post(`/api/v1/apps/${namespace}/web/sync`);
    expect(response.status).toBe(200);
    const requested = (await getApp(admin, namespace, 'web')).metadata.annotations![
      'capstan.dev/requested-at'
    ]!;
    const handled = await eventually('the controller handles the request', async () => {
      const current = await getApp(admin, namespace, 'web');
      return current.status?.lastHandledRequest === requested ? current : undefined;
    });
    expect(handled.status?.history?.[0]).toMatchObject({
      trigger: 'request',
      requestedBy: root.session.user.username,
    });
    await eventually('the stream shows the request handled', async () =>
      stream.events.find(
        (e) =>
          e.type === 'updated' && e.app.namespace === namespace && e.app.ready === 'True' && e.app.lastSyncAt,
      ),
    );
    const tree = resourceTreeSchema.parse((await root.get(`/api/v1/apps/${namespace}/web/tree`)).body);
    expect(tree.source).toBe('inventory');
    expect(tree.nodes.map((n) => `${n.kind}/${n.name}:${n.health.state}`)).toEqual([
      'ConfigMap/settings:Healthy',
    ]);
  });
});

describe('capstan dashboard (local mode, as the kubeconfig user)', () => {
  it('serves as the user: their namespace only, no sync without patch rights', async () => {
    const kubeconfigPath = await serviceAccountKubeconfig(teamA, 'viewer');
    const kube: KubeClient = await createKubeClient({ kubeconfigPath });
    onTestFinished(() => kube.close());
    const local = await startLocalDashboard({ kube, defaultNamespace: teamA, fallbackUser: 'viewer' });
    onTestFinished(() => local.close());
    expect(local.namespaces).toEqual([teamA]);
    expect(local.identity.username).toBe(`system:serviceaccount:${teamA}:viewer`);
    expect(local.openUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/#token=[A-Za-z0-9_-]{43}$/);
    await local.cache.synced;

    // The user's Kubernetes token is not the way in: only the per-run access token is.
    expect(await tryLogin(viewerToken, local)).toBe(401);
    const me = await login(local.accessToken, local);
    expect(me.session.mode).toBe('local');
    const list = appListSchema.parse((await me.get('/api/v1/apps')).body);
    expect(list.items.map((a) => a.name)).toEqual(['web', 'worker']);
    expect((await me.post(`/api/v1/apps/${teamA}/web/sync`)).status).toBe(403);
  });

  it('runs as `capstan dashboard`: prints the URL, serves, stops cleanly on SIGTERM', async () => {
    const kubeconfigPath = await serviceAccountKubeconfig(teamA, 'viewer');
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'dashboard', '--kubeconfig', kubeconfigPath, '-n', teamA],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    onTestFinished(() => void child.kill('SIGKILL'));
    const url = await eventually(
      'the printed URL',
      async () => /open: +(http:\/\/\S+)/.exec(output)?.[1],
      60_000,
    );
    const { origin, hash } = new URL(url);
    expect(output).toContain(`for system:serviceaccount:${teamA}:viewer (namespaces ${teamA})`);
    const me = await login(hash.replace('#token=', ''), { url: origin } as RunningDashboard);
    const list = appListSchema.parse((await me.get('/api/v1/apps')).body);
    expect(list.items.map((a) => a.name)).toEqual(['web', 'worker']);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});

describe('capstan controller --dashboard-address (the controller as deploy/shared installs it)', () => {
  it("serves the dashboard with the controller's least-privilege identity, acting as each user", async () => {
    await installFromDeploy();
    const port = await freePort();
    const running = await spawnDeployedController(
      await serviceAccountKubeconfig('capstan-system', 'capstan-controller'),
      teamA,
      ['--dashboard-address', `127.0.0.1:${port}`],
    );
    onTestFinished(() => void running.child.kill('SIGTERM'));
    const on = { url: `http://127.0.0.1:${port}` } as RunningDashboard;
    const viewer = await eventually('the dashboard listening', async () =>
      login(viewerToken, on).catch(() => undefined),
    );
    const list = await eventually('the cache filled', async () => {
      const answer = appListSchema.parse((await viewer.get('/api/v1/apps')).body);
      return answer.synced && answer.total === 2 ? answer : undefined;
    });
    expect(list.items.map((a) => a.name)).toEqual(['web', 'worker']);
    expect((await viewer.post(`/api/v1/apps/${teamA}/web/sync`)).status).toBe(403);

    const root = await login(tokenOf(inject('kubeconfig')), on);
    const response = await root.post(`/api/v1/apps/${teamA}/worker/sync`);
    expect(response.status).toBe(200);
    // Recorded by the controller's identity, naming the user who asked.
    const event = await eventually('the SyncRequested Event', async () => {
      const { items } = await admin.list<{
        reason?: string;
        message?: string;
        apiVersion: string;
        kind: string;
        metadata: { name?: string };
        source?: { component?: string };
      }>('', 'v1', 'Event', { namespace: teamA, fieldSelector: 'involvedObject.name=worker' });
      return items.find((e) => e.reason === 'SyncRequested');
    });
    expect(event.message).toContain(`by ${root.session.user.username}`);
    expect(event.source?.component).toBe('capstan-dashboard');
    expect(running.output()).toContain('serving the dashboard API');
  });
});
