/**
 * `capstan controller` as a process: two replicas elect one leader and the other takes over when it
 * dies; a controller SIGKILLed in the middle of a sync is replaced by one that converges with nothing
 * orphaned or duplicated; a signed webhook to the real HTTP server triggers a reconcile at once, and
 * forged ones change nothing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../src/dev/controlplane.js';
import { createKubeClient, type KubeClient } from '../../src/kube/index.js';
import { kubectl, kubectlOk } from '../support/cluster.js';
import {
  application,
  eventually,
  getApp,
  gitFixture,
  installCrds,
  readyAt as readyAtOn,
} from '../support/controller.js';
import { configMap } from '../support/engine.js';
import { makeTempDir } from '../support/git-servers.js';

const root = new URL('../../', import.meta.url).pathname;
const running: ChildProcess[] = [];
let kube: KubeClient;

beforeAll(async () => {
  kube = await createKubeClient({ kubeconfig: inject('kubeconfig') });
  await installCrds(kube);
  return () => kube.close();
});
afterEach(async () => {
  for (const child of running.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  }
});

interface ControllerProcess {
  readonly child: ChildProcess;
  readonly port: number;
  readonly output: () => string;
}

async function startController(namespace: string, extra: string[] = []): Promise<ControllerProcess> {
  const started = await spawnController(namespace, extra);
  await eventually(
    'the controller to serve /healthz',
    async () => (await fetch(`http://127.0.0.1:${started.port}/healthz`)).ok,
    60_000,
  );
  return started;
}

async function spawnController(namespace: string, extra: string[] = []): Promise<ControllerProcess> {
  const port = await freePort();
  const stateDir = await makeTempDir('controller-state');
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'src/cli/main.ts',
      'controller',
      '--namespace',
      namespace,
      '--http-address',
      `127.0.0.1:${port}`,
      '--state-dir',
      stateDir,
      // The test apps name no ServiceAccount: they run as the single-team applier (installCrds).
      '--default-service-account',
      'capstan-system/capstan-applier',
      ...extra,
    ],
    {
      cwd: root,
      env: { ...process.env, KUBECONFIG: inject('kubeconfigPath') },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  running.push(child);
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  return { child, port, output: () => output };
}

async function leaseHolder(namespace: string): Promise<string> {
  const result = await kubectl([
    'get',
    'lease',
    `capstan-controller-${namespace}`,
    '-n',
    namespace,
    '-o',
    'jsonpath={.spec.holderIdentity}',
  ]);
  return result.code === 0 ? result.stdout.trim() : '';
}

const readyAt = (namespace: string, name: string, sha: string, timeoutMs?: number) =>
  readyAtOn(kube, namespace, name, sha, timeoutMs);

const exit = (child: ChildProcess): Promise<void> =>
  new Promise((resolve) =>
    child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve()),
  );

describe('capstan controller (process)', () => {
  it('two replicas elect one leader; the other takes over when the leader is killed', async () => {
    const git = await gitFixture(
      kube,
      { 'web/cm.yaml': configMap('web', { v: '1' }) },
      { interval: '1h', prefix: 'leader' },
    );
    const namespace = git.namespace;
    const flags = ['--leader-elect', '--lease-namespace', namespace, '--lease-duration', '3s'];
    const first = await startController(namespace, flags);
    const second = await startController(namespace, flags);
    await kube.apply(application(namespace, 'web', { sourceRef: { name: 'apps' }, path: 'web' }));
    await readyAt(namespace, 'web', await git.repo.head());

    const holder = await eventually('a leader', () => leaseHolder(namespace));
    const [leader, standby] = holder.endsWith(`-${first.child.pid}`) ? [first, second] : [second, first];
    expect(holder).toMatch(new RegExp(`-(${first.child.pid}|${second.child.pid})$`));
    expect(leader.output()).toContain('became the leader');
    expect(standby.output()).not.toContain('became the leader');

    leader.child.kill('SIGKILL');
    await exit(leader.child);
    await eventually(
      'the standby to take over',
      async () => (await leaseHolder(namespace)).endsWith(`-${standby.child.pid}`),
      30_000,
    );
    const sha = await git.repo.commit({ 'web/cm.yaml': configMap('web', { v: '2' }) });
    // The new leader polls on start (the Repository interval is an hour): the commit is picked up then or by the request.
    await kubectlOk([
      'annotate',
      'repositories.capstan.dev',
      'apps',
      '-n',
      namespace,
      `capstan.dev/requested-at=${Date.now()}`,
      '--overwrite',
    ]);
    await readyAt(namespace, 'web', sha);
    await git.server.close();
  });

  it('leader election is on by default; a replica without it is refused beside a renewing leader', async () => {
    const git = await gitFixture(
      kube,
      { 'web/cm.yaml': configMap('web', { v: '1' }) },
      { interval: '1h', prefix: 'election' },
    );
    const namespace = git.namespace;
    // No election flag at all: the Lease goes in the watched namespace.
    const first = await startController(namespace, ['--lease-duration', '3s']);
    const holder = await eventually('a leader', () => leaseHolder(namespace));
    expect(holder).toMatch(new RegExp(`-${first.child.pid}$`));
    const second = await startController(namespace, ['--lease-duration', '3s']);
    await kube.apply(application(namespace, 'web', { sourceRef: { name: 'apps' }, path: 'web' }));
    await readyAt(namespace, 'web', await git.repo.head());
    expect(second.output()).not.toContain('became the leader');

    const lone = await spawnController(namespace, ['--no-leader-elect']);
    await exit(lone.child);
    expect(lone.child.exitCode).not.toBe(0);
    expect(lone.output()).toContain(`another controller (${holder}) holds and renews the Lease`);
    expect(await leaseHolder(namespace)).toBe(holder);
    await git.server.close();
  });

  it('a controller SIGKILLed mid-sync is replaced by one that converges, with nothing orphaned or duplicated', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 300; i++)
      files[`big/cm-${String(i).padStart(3, '0')}.yaml`] = configMap(`cm-${i}`, { i: String(i) });
    const git = await gitFixture(kube, files, { interval: '1h', prefix: 'sigkill' });
    const namespace = git.namespace;
    const first = await startController(namespace, ['--concurrency', '1', '--lease-duration', '3s']);
    await kube.apply(application(namespace, 'big', { sourceRef: { name: 'apps' }, path: 'big' }));
    // Kill it once the apply is under way: some objects exist, not all.
    await eventually(
      'the sync to be under way',
      async () => {
        const count = JSON.parse(
          await kubectlOk([
            'get',
            'configmaps',
            '-n',
            namespace,
            '-l',
            'capstan.dev/managed=true',
            '-o',
            'json',
          ]),
        ).items.length;
        return count > 0 && count < 300;
      },
      60_000,
    );
    first.child.kill('SIGKILL');
    await exit(first.child);

    await startController(namespace, ['--lease-duration', '3s']);
    await readyAt(namespace, 'big', await git.repo.head(), 120_000);
    const managed = JSON.parse(
      await kubectlOk(['get', 'configmaps', '-n', namespace, '-l', 'capstan.dev/managed=true', '-o', 'json']),
    ).items;
    expect(managed).toHaveLength(300);
    expect(new Set(managed.map((m: { metadata: { name: string } }) => m.metadata.name)).size).toBe(300);
    const inventory = JSON.parse(
      JSON.parse(
        await kubectlOk(['get', 'configmap', 'capstan-inventory-big', '-n', namespace, '-o', 'json']),
      ).data.inventory,
    );
    expect(inventory.entries).toHaveLength(300);
    await git.server.close();
  });

  it('a signed webhook to the HTTP server reconciles at once; forged ones are refused and change nothing', async () => {
    const secretFile = join(await makeTempDir('secret'), 'webhook');
    await writeFile(secretFile, 'webhook-secret-for-tests\n');
    const git = await gitFixture(
      kube,
      { 'web/cm.yaml': configMap('web', { v: '1' }) },
      { interval: '1h', prefix: 'webhook' },
    );
    const namespace = git.namespace;
    const controller = await startController(namespace, ['--webhook-secret-file', secretFile]);
    await kube.apply(application(namespace, 'web', { sourceRef: { name: 'apps' }, path: 'web' }));
    await readyAt(namespace, 'web', await git.repo.head());
    const sha = await git.repo.commit({ 'web/cm.yaml': configMap('web', { v: '2' }) });

    const hook = `http://127.0.0.1:${controller.port}/hooks/github`;
    const body = JSON.stringify({
      ref: 'refs/heads/main',
      repository: { clone_url: git.url, html_url: git.url },
    });
    const sign = (text: string, secret: string) =>
      `sha256=${createHmac('sha256', secret).update(text).digest('hex')}`;
    const post = (headers: Record<string, string>, payload: string | Buffer = body) =>
      fetch(hook, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-github-event': 'push', ...headers },
        body: payload,
      });

    expect((await post({ 'x-hub-signature-256': sign(body, 'wrong-secret') })).status).toBe(401);
    expect((await post({})).status).toBe(401);
    expect(
      (await post({ 'x-hub-signature-256': sign(body, 'wrong-secret') }, Buffer.alloc(4 * 1024 * 1024, 'a')))
        .status,
    ).toBe(413);
    // Nothing happened: the app is still at the first commit (the poll interval is an hour).
    expect((await getApp(kube, namespace, 'web')).status?.lastAppliedRevision?.sha).not.toBe(sha);
    expect(controller.child.exitCode).toBeNull();

    expect((await post({ 'x-hub-signature-256': sign(body, 'webhook-secret-for-tests') })).status).toBe(202);
    await readyAt(namespace, 'web', sha);
    const metrics = await (await fetch(`http://127.0.0.1:${controller.port}/metrics`)).text();
    expect(metrics).toMatch(/capstan_webhook_requests_total\{provider="github",outcome="accepted"\} 1/);
    expect(metrics).toMatch(/capstan_webhook_requests_total\{provider="github",outcome="rejected"\} 2/);
    expect(controller.output()).not.toContain('webhook-secret-for-tests');
    await git.server.close();
  });
});
