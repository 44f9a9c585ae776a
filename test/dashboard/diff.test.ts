/**
 * GET /api/v1/apps/:ns/:name/diff as a real server-side dry-run, on the real control plane: a
 * controller syncs an app as its own ServiceAccount; then the cluster drifts (a Deployment scaled by
 * a field manager called `intruder`) and Git moves on (a Secret's password changes), and the
 * dashboard shows what a sync would change — as that ServiceAccount, with the dry-run the engine
 * makes — to each user as far as their RBAC lets them see it, and never a Secret value.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import type { Application } from '../../src/api/v1alpha1.js';
import { userPlanDiff } from '../../src/cli/commands/dashboard-run.js';
import { createKubeClient, type HttpKubeClient } from '../../src/kube/index.js';
import { appDiffSchema, sessionSchema, type AppDiff } from '../../src/server/dashboard/schema.js';
import {
  startControllerDashboard,
  startLocalDashboard,
  type RunningDashboard,
} from '../../src/server/dashboard/serve.js';
import { kubectl, kubectlOk } from '../support/cluster.js';
import { applicationViewerToken } from '../support/dashboard.js';
import {
  application,
  eventually,
  getApp,
  installCrds,
  isolated,
  repository,
  startTestController,
  type TestController,
} from '../support/controller.js';
import {
  createTestRepo,
  makeTempDir,
  startGitHttpServer,
  type GitHttpServer,
  type TestRepo,
} from '../support/git-servers.js';

const OLD_PASSWORD = 'old-Pa55word-from-git';
const NEW_PASSWORD = 'new-Pa55word-from-git';
const b64 = (text: string): string => Buffer.from(text).toString('base64');
const tokenOf = (kubeconfig: string): string => /token: (\S+)/.exec(kubeconfig)![1]!;

function deployment(replicas: number): string {
  const labels = { app: 'web' };
  return JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web' },
    spec: {
      replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: { containers: [{ name: 'main', image: 'registry.example/web:1' }] },
      },
    },
  });
}

function secret(password: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'db' },
    type: 'Opaque',
    data: { password: b64(password) },
  });
}

let admin: HttpKubeClient;
let namespace: string;
let git: GitHttpServer;
let repo: TestRepo;
let controller: TestController;
let dashboard: RunningDashboard;
let viewerToken: string;
let head: string;

beforeAll(async () => {
  admin = await createKubeClient({ kubeconfig: inject('kubeconfig') });
  await installCrds(admin);
  namespace = `dash-diff-${randomBytes(4).toString('hex')}`;
  await kubectlOk(['create', 'namespace', namespace]);
  // The app applies as a ServiceAccount of its namespace, with `admin` there and nothing else.
  await kubectlOk(['create', 'serviceaccount', 'deployer', '-n', namespace]);
  await kubectlOk([
    'create',
    'rolebinding',
    'deployer',
    '-n',
    namespace,
    '--clusterrole=admin',
    `--serviceaccount=${namespace}:deployer`,
  ]);
  // A viewer: get and list Applications, nothing else.
  viewerToken = await applicationViewerToken(namespace);

  const gitRoot = await makeTempDir('dash-diff-git');
  repo = await createTestRepo(gitRoot, 'apps');
  const first = await repo.commit({
    'web/deployment.yaml': deployment(2),
    'web/secret.yaml': secret(OLD_PASSWORD),
  });
  git = await startGitHttpServer({ root: gitRoot });
  controller = await startTestController({ namespace });
  dashboard = await startControllerDashboard({
    kube: admin,
    source: { kubeconfig: inject('kubeconfig') },
    host: '127.0.0.1',
    port: 0,
    namespace,
    assets: false,
    planDiff: (app, signal) => controller.controller.previewSync(app, signal),
  });

  await admin.apply(isolated(repository(namespace, 'apps', { url: git.url('apps'), interval: '1s' })));
  await admin.apply(
    isolated(
      application(namespace, 'web', {
        sourceRef: { name: 'apps' },
        ref: 'main',
        path: 'web',
        serviceAccountName: 'deployer',
        syncPolicy: { automated: true, selfHeal: false },
      } as Application['spec']),
    ),
  );
  await eventually('web applied at the first commit', async () => {
    const app = await getApp(admin, namespace, 'web');
    return app.status?.lastAppliedRevision?.sha === first;
  });
  // From here on a sync only happens when asked for: what changes below stays to be synced.
  await admin.patch(
    { group: 'capstan.dev', kind: 'Application', namespace, name: 'web' },
    { spec: { syncPolicy: { automated: false } } },
    'merge',
  );
  await kubectlOk([
    'patch',
    'deployment',
    'web',
    '-n',
    namespace,
    '--type=merge',
    '-p',
    '{"spec":{"replicas":5}}',
    '--field-manager=intruder',
  ]);
  head = await repo.commit({ 'web/secret.yaml': secret(NEW_PASSWORD) });
  await eventually('the controller sees the new commit out of sync', async () => {
    const app = await getApp(admin, namespace, 'web');
    return app.status?.sync?.revision === head && app.status.sync.status === 'OutOfSync';
  });
});

afterAll(async () => {
  await dashboard?.close();
  await controller?.stop();
  await git?.close();
  if (namespace) await kubectl(['delete', 'namespace', namespace, '--wait=false']);
  admin?.close();
});

/** Logs in and GETs the app's diff; the raw body too, to search it for values. */
async function diffAs(
  token: string,
  on: RunningDashboard = dashboard,
): Promise<{ body: string; diff: AppDiff }> {
  const login = await fetch(`${on.url}/api/v1/session`, {
    method: 'POST',
    headers: { origin: on.url, 'content-type': 'application/json' },
    body: JSON.stringify({ token }),
  });
  expect(login.status).toBe(201);
  sessionSchema.parse(await login.json());
  const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
  const answer = await fetch(`${on.url}/api/v1/apps/${namespace}/web/diff`, { headers: { cookie } });
  expect(answer.status).toBe(200);
  const body = await answer.text();
  return { body, diff: appDiffSchema.parse(JSON.parse(body)) };
}

function expectNoPassword(body: string): void {
  for (const value of [OLD_PASSWORD, NEW_PASSWORD, b64(OLD_PASSWORD), b64(NEW_PASSWORD)])
    expect(body).not.toContain(value);
}

describe('the dashboard diff, a server-side dry-run', () => {
  it("shows the admin what a sync would change, as the app's ServiceAccount, with who owns it", async () => {
    const started = Date.now();
    const { body, diff } = await diffAs(tokenOf(inject('kubeconfig')));
    const elapsed = Date.now() - started;
    if (process.env.CAPSTAN_TEST_LOG) console.log(`[diff] first dry-run answered in ${elapsed} ms`);
    expect(diff.mode).toBe('dryRun');
    expect(diff.revision).toBe(head);
    expect(diff.note).toContain(`as ServiceAccount ${namespace}/deployer`);
    expect(diff.sync).toBe('OutOfSync');

    const web = diff.objects.find((o) => o.kind === 'Deployment' && o.name === 'web')!;
    expect(web).toMatchObject({ group: 'apps', namespace, action: 'update', state: 'found' });
    expect(web.changes).toContainEqual({ path: '/spec/replicas', op: 'replace', managers: ['intruder'] });
    expect(web.unifiedDiff).toMatch(/^-\s+replicas: 5$/m);
    expect(web.unifiedDiff).toMatch(/^\+\s+replicas: 2$/m);
    expect(web.owners.find((o) => o.manager === 'intruder')?.fields).toContain('/spec/replicas');

    const db = diff.objects.find((o) => o.kind === 'Secret' && o.name === 'db')!;
    expect(db).toMatchObject({ action: 'update', state: 'found' });
    expect(db.changes?.map((c) => c.path)).toContain('/data/password');
    expect(db.unifiedDiff).toContain('*** (before)');
    expect(db.unifiedDiff).toContain('*** (after)');
    expectNoPassword(body);
  });

  it('reuses the dry-run for a few seconds instead of rendering again', async () => {
    const started = Date.now();
    const first = await diffAs(tokenOf(inject('kubeconfig')));
    const second = await diffAs(tokenOf(inject('kubeconfig')));
    if (process.env.CAPSTAN_TEST_LOG) console.log(`[diff] two cached answers in ${Date.now() - started} ms`);
    expect(second.diff.computedAt).toBe(first.diff.computedAt);
  });

  it('names only, with nothing else, what a user may not get', async () => {
    const { body, diff } = await diffAs(viewerToken);
    expect(diff.mode).toBe('dryRun');
    expect(diff.objects.length).toBeGreaterThanOrEqual(2);
    for (const object of diff.objects) {
      expect(object.state).toBe('forbidden');
      expect(Object.keys(object).sort()).toEqual([
        'action',
        'group',
        'kind',
        'name',
        'namespace',
        'owners',
        'state',
      ]);
      expect(object.owners).toEqual([]);
    }
    expect(diff.objects.map((o) => `${o.kind}/${o.name}`).sort()).toEqual(['Deployment/web', 'Secret/db']);
    expect(body).not.toContain('intruder');
    expect(body).not.toContain('replicas');
    expectNoPassword(body);
  });

  it('shows a laptop user (capstan dashboard) the same diff, computed with their own rights', async () => {
    const local = await startLocalDashboard({
      kube: admin,
      namespaces: [namespace],
      assets: false,
      planDiff: userPlanDiff(admin, { stateDir: await makeTempDir('dash-diff-local') }),
    });
    onTestFinished(() => local.close());
    await local.cache.synced;
    const { body, diff } = await diffAs(local.accessToken, local);
    expect(diff.mode).toBe('dryRun');
    expect(diff.revision).toBe(head);
    expect(diff.note).toContain('as you (your kubeconfig user)');
    const web = diff.objects.find((o) => o.kind === 'Deployment')!;
    expect(web.changes).toContainEqual({ path: '/spec/replicas', op: 'replace', managers: ['intruder'] });
    expectNoPassword(body);
  });
});
