/**
 * Live health and rollback, end to end: a controller, the real control plane (kwok's chaos stage
 * fails Pods that carry its label), and Git over HTTP.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { API_VERSION } from '../../src/api/v1alpha1.js';
import {
  ALLOW_INSECURE_HTTP_ANNOTATION,
  verifyDelivery,
  type WebhookPayload,
} from '../../src/notify/index.js';
import type { Application } from '../../src/api/v1alpha1.js';
import { ROLLBACK_ANNOTATION } from '../../src/api/v1alpha1.js';
import { sleep } from '../../src/core/time.js';
import { CHAOS_LABEL, webDeployment } from '../support/chaos.js';
import { freshNamespace, kubectl, kubectlOk } from '../support/cluster.js';
import { createTestRepo, git, makeTempDir, startGitHttpServer } from '../support/git-servers.js';
import {
  condition,
  application,
  isolated,
  eventually,
  getApp,
  readyAt as readyAtOn,
  repository,
  startTestController,
  type TestController,
} from '../support/controller.js';

/**
 * Each test's own controller, watching only its namespace: a cluster-wide one would also act on
 * the namespaces of test files running beside this one (and theirs on ours).
 */
let t: TestController;

const web = webDeployment;

const createApp = (namespace: string, name: string, spec: Partial<Application['spec']> & { path: string }) =>
  t.kube.apply(
    isolated(
      application(namespace, name, {
        sourceRef: { name: 'apps' },
        ref: 'main',
        healthTimeout: '60s',
        ...spec,
      }),
    ),
  );
const readyAt = (namespace: string, name: string, sha: string) =>
  readyAtOn(t.kube, namespace, name, sha, 90_000);

async function imageOf(namespace: string): Promise<string> {
  const result = await kubectlOk([
    'get',
    'deployment',
    'web',
    '-n',
    namespace,
    '-o',
    'jsonpath={.spec.template.spec.containers[0].image}',
  ]);
  return result.trim();
}

async function eventReasons(namespace: string): Promise<string[]> {
  const result = await kubectl(['get', 'events', '-n', namespace, '-o', 'json']);
  return (JSON.parse(result.stdout).items as { reason: string }[]).map((e) => e.reason);
}

describe('live health', () => {
  it('turns Degraded within seconds when Pods fail, without a commit or a sync, and Healthy again', async () => {
    const f = await pushableFixture('live');
    const sha = await f.repo.head();
    await createApp(f.namespace, 'web', { path: 'web' });
    const healthy = await readyAt(f.namespace, 'web', sha);
    await eventually(
      'Healthy',
      async () => (await getApp(t.kube, f.namespace, 'web')).status?.health?.status === 'Healthy',
    );
    expect(healthy.status?.health?.message).not.toMatch(/Waiting/);

    // Idle: nothing changes, so nothing is written.
    const idle = await getApp(t.kube, f.namespace, 'web');
    await sleep(3000);
    expect((await getApp(t.kube, f.namespace, 'web')).metadata.resourceVersion).toBe(
      idle.metadata.resourceVersion,
    );

    // The running Pod fails (its replacement does not carry the label, so it recovers by itself).
    await kubectlOk(['label', 'pod', '-n', f.namespace, '-l', 'app=web', `${CHAOS_LABEL}=true`]);
    const degraded = await eventually(
      'Degraded',
      async () => {
        const app = await getApp(t.kube, f.namespace, 'web');
        return app.status?.health?.status === 'Degraded' ? app : undefined;
      },
      30_000,
    );
    expect(condition(degraded, 'Ready')).toMatchObject({ status: 'False', reason: 'HealthDegraded' });
    expect(degraded.status?.health?.message).toMatch(/minimum availability/);
    // No sync ran for it: the revision and history are what they were.
    expect(degraded.status?.history?.length).toBe(healthy.status?.history?.length);

    const recovered = await eventually(
      'Healthy again',
      async () => {
        const app = await getApp(t.kube, f.namespace, 'web');
        return app.status?.health?.status === 'Healthy' && condition(app, 'Ready')?.status === 'True'
          ? app
          : undefined;
      },
      60_000,
    );
    expect(condition(recovered, 'Ready')?.reason).toBe('Synced');
    expect(await eventReasons(f.namespace)).toEqual(
      expect.arrayContaining(['HealthDegraded', 'HealthRecovered']),
    );
  });
});

const READ_ONLY = { username: 'reader', password: 'read-only-password-7c1f' };

/**
 * A namespace and a Repository `apps` on a Git server that accepts pushes (or, `readOnly`, refuses
 * them to the credentials the Repository has).
 */
async function pushableFixture(prefix: string, options: { readOnly?: boolean } = {}) {
  const namespace = await freshNamespace(prefix);
  t = await startTestController({ namespace, resyncMs: 60_000 });
  onTestFinished(() => t.stop());
  const root = await makeTempDir('git-root');
  const repo = await createTestRepo(root, 'apps');
  await repo.commit({ 'web/deploy.yaml': web('1') });
  const server = await startGitHttpServer({
    root,
    allowPush: true,
    ...(options.readOnly ? { readOnlyUsers: [READ_ONLY] } : {}),
  });
  const url = server.url('apps');
  if (options.readOnly)
    await t.kube.apply({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: 'git',
        namespace,
        annotations: { 'capstan.dev/git-urls': url, 'capstan.dev/allow-insecure-http': 'true' },
      },
      stringData: READ_ONLY,
    });
  await t.kube.apply(
    isolated(
      repository(namespace, 'apps', {
        url,
        interval: '1s',
        ...(options.readOnly ? { secretRef: { name: 'git' } } : {}),
      }),
    ),
  );
  return { namespace, repo, server, url };
}

/** A webhook receiver that keeps what it verified; the first `failures` deliveries get a 500. */
async function receiver(
  key: string,
  failures = 0,
): Promise<{ server: Server; url: string; received: WebhookPayload[]; attempts: () => number }> {
  const received: WebhookPayload[] = [];
  let attempts = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      attempts++;
      if (attempts <= failures) return void res.writeHead(500).end();
      const verified = verifyDelivery(Buffer.concat(chunks), req.headers, key);
      if (verified.ok) received.push(verified.payload);
      res.writeHead(verified.ok ? 200 : 401).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}/hook`, received, attempts: () => attempts };
}

async function notifyWebhook(namespace: string, url: string, key: string): Promise<void> {
  await t.kube.apply({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'hook', namespace, annotations: { [ALLOW_INSECURE_HTTP_ANNOTATION]: 'true' } },
    stringData: { url, hmacKey: key },
  });
  await t.kube.apply({
    apiVersion: API_VERSION,
    kind: 'Notification',
    metadata: { name: 'hook', namespace },
    spec: { target: { type: 'webhook', secretRef: { name: 'hook' } } },
  });
}

describe('rollback', () => {
  it('rolls a bad commit back by itself, rejects it, reverts it in Git, and applies the revert', async () => {
    const f = await pushableFixture('rollback');
    const good = await f.repo.head();
    // Notified by a signed webhook; its first delivery fails and is retried.
    const hook = await receiver('hmac-key-for-tests', 1);
    await notifyWebhook(f.namespace, hook.url, 'hmac-key-for-tests');
    await createApp(f.namespace, 'web', {
      path: 'web',
      healthTimeout: '8s',
      rollback: { automatic: true, gitRevert: 'commit' },
    });
    await readyAt(f.namespace, 'web', good);
    await eventually(
      'healthy at good',
      async () => (await getApp(t.kube, f.namespace, 'web')).status?.lastHealthyRevision?.sha === good,
    );

    const bad = await f.repo.commit(
      { 'web/deploy.yaml': web('2', { failing: true }) },
      'web 2 (its pods fail)',
    );
    await eventually('bad applied', async () => (await imageOf(f.namespace)) === 'registry.example/web:2');
    const rolledBack = await eventually(
      'rolled back',
      async () => {
        const app = await getApp(t.kube, f.namespace, 'web');
        return app.status?.rollback && app.status.lastAppliedRevision?.sha === good ? app : undefined;
      },
      60_000,
    );
    expect(rolledBack.status?.rollback).toMatchObject({ from: bad, to: good, automatic: true });
    expect(rolledBack.status?.rejectedRevisions?.map((r) => r.sha)).toEqual([bad]);
    expect(await imageOf(f.namespace)).toBe('registry.example/web:1');
    expect(rolledBack.spec.syncPolicy?.automated ?? true).toBe(true);
    expect(await eventReasons(f.namespace)).toContain('RolledBack');

    // The revert is on the branch, names the bad commit, and is applied as the new head.
    const revert = await eventually('revert pushed', async () => {
      const head = await f.repo.head();
      return head !== bad ? head : undefined;
    });
    const message = await git(f.repo.bareDir, 'log', '-1', '--format=%B', revert);
    expect(message).toContain(`Capstan-Rollback: ${bad}`);
    expect(message).toContain(`${f.namespace}/web`);
    const reverted = await readyAt(f.namespace, 'web', revert);
    expect(reverted.status?.rollback).toBeUndefined();
    expect(condition(reverted, 'RollbackRecorded')).toMatchObject({ status: 'True', reason: 'Pushed' });
    expect(await imageOf(f.namespace)).toBe('registry.example/web:1');
    // The rejected SHA was never applied again.
    const history = reverted.status?.history ?? [];
    expect(history.filter((h) => h.revision === bad).map((h) => h.result)).toEqual([
      'RolledBack',
      'Succeeded',
    ]);
    expect(history.find((h) => h.rollbackOf === bad)).toMatchObject({ revision: good, trigger: 'rollback' });

    await eventually('notified', async () => hook.received.some((p) => p.type === 'RolledBack'));
    expect(hook.received.map((p) => p.type)).toEqual(expect.arrayContaining(['SyncSucceeded', 'RolledBack']));
    expect(hook.received.find((p) => p.type === 'RolledBack')).toMatchObject({
      application: { namespace: f.namespace, name: 'web' },
      revision: good,
      previousRevision: bad,
    });
    expect(hook.attempts()).toBeGreaterThan(hook.received.length);
    hook.server.close();
  });

  it('stays rolled back when its credentials may not push, and says so', async () => {
    const f = await pushableFixture('refused', { readOnly: true });
    const good = await f.repo.head();
    await createApp(f.namespace, 'web', {
      path: 'web',
      healthTimeout: '8s',
      rollback: { automatic: true, gitRevert: 'commit' },
    });
    await readyAt(f.namespace, 'web', good);
    await eventually(
      'healthy at good',
      async () => (await getApp(t.kube, f.namespace, 'web')).status?.lastHealthyRevision?.sha === good,
    );
    const bad = await f.repo.commit(
      { 'web/deploy.yaml': web('2', { failing: true }) },
      'web 2 (its pods fail)',
    );
    const refused = await eventually(
      'revert refused',
      async () => {
        const app = await getApp(t.kube, f.namespace, 'web');
        return app.status?.rollback?.gitRevert?.state === 'Refused' ? app : undefined;
      },
      60_000,
    );
    expect(condition(refused, 'RollbackRecorded')).toMatchObject({ status: 'False', reason: 'Refused' });
    expect(refused.status?.rollback?.gitRevert?.message).not.toContain(READ_ONLY.password);
    expect(refused.status?.lastAppliedRevision?.sha).toBe(good);
    expect(await f.repo.head()).toBe(bad);
    expect(await eventReasons(f.namespace)).toContain('RevertRefused');
    expect(await imageOf(f.namespace)).toBe('registry.example/web:1');
  });

  it('rolls back by request with auto-sync on, does not flap, and --clear accepts the head again', async () => {
    const f = await pushableFixture('manual');
    const first = await f.repo.head();
    await createApp(f.namespace, 'web', { path: 'web' });
    await readyAt(f.namespace, 'web', first);
    await eventually(
      'healthy at first',
      async () => (await getApp(t.kube, f.namespace, 'web')).status?.lastHealthyRevision?.sha === first,
    );
    const second = await f.repo.commit({ 'web/deploy.yaml': web('2') }, 'web 2');
    await readyAt(f.namespace, 'web', second);

    const request = (body: Record<string, unknown>) =>
      kubectlOk([
        'annotate',
        '--overwrite',
        'application',
        'web',
        '-n',
        f.namespace,
        `${ROLLBACK_ANNOTATION}=${JSON.stringify(body)}`,
      ]);
    await request({ id: '1', to: first.slice(0, 10), by: 'alice' });
    const back = await readyAt(f.namespace, 'web', first);
    expect(back.status?.rejectedRevisions?.[0]).toMatchObject({ sha: second, by: 'alice' });
    expect(condition(back, 'Ready')).toMatchObject({
      reason: 'RolledBack',
      message: expect.stringContaining('rejected'),
    });
    await sleep(4000);
    expect(await imageOf(f.namespace)).toBe('registry.example/web:1');

    await request({ id: '2', clear: true });
    const cleared = await readyAt(f.namespace, 'web', second);
    expect(cleared.status?.rejectedRevisions).toBeUndefined();

    // A request for a revision it never applied is refused with an Event; nothing moves.
    await request({ id: '3', to: 'deadbeefdeadbeef' });
    await eventually('refused', async () => (await eventReasons(f.namespace)).includes('RollbackRefused'));
    expect((await getApp(t.kube, f.namespace, 'web')).status?.lastAppliedRevision?.sha).toBe(second);
  });
});
