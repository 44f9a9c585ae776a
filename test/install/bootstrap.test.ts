/**
 * `capstan bootstrap` and `capstan uninstall` through the real CLI, against a Gitea repository and
 * the shared control plane. kwok's pods run nothing, so a controller in the test process, watching
 * the install's namespace, stands in for the in-cluster one (the Deployment is installed all the
 * same and rolls out as kwok fakes). The controller is installed with --arg=--namespace=<ns>, so
 * uninstall touches the Applications of that namespace only, not those of other test files.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createKubeClient, type KubeClient } from '../../src/kube/index.js';
import { capstan } from '../support/cli.js';
import { kubectl, kubectlOk } from '../support/cluster.js';
import {
  createApp,
  eventually,
  getApp,
  gitFixture,
  startTestController,
  type TestController,
} from '../support/controller.js';
import { configMap } from '../support/engine.js';
import { sharedForge } from '../support/forge.js';
import { git, makeTempDir } from '../support/git-servers.js';

const IMAGE = 'localhost/capstan:test';
let kube: KubeClient;
const controllers: TestController[] = [];

beforeAll(async () => {
  kube = await createKubeClient({ kubeconfig: inject('kubeconfig') });
});
afterAll(async () => {
  for (const c of controllers) await c.stop().catch(() => {});
  kube.close();
});

async function standIn(namespace: string): Promise<TestController> {
  const controller = await startTestController({ namespace, resyncMs: 30_000 });
  controllers.push(controller);
  return controller;
}

const replicasOf = async (namespace: string) =>
  (
    await kubectlOk([
      'get',
      'deployment',
      'capstan-controller',
      '-n',
      namespace,
      '-o',
      'jsonpath={.spec.replicas}',
    ])
  ).trim();

describe('capstan bootstrap', () => {
  it('puts Capstan in Git, manages it from there, changes nothing the second time, and uninstalls leaving apps in place', async () => {
    const forge = await sharedForge();
    const user = await forge.createUser();
    const repo = await forge.createRepo(user.username, 'fleet', { autoInit: true });
    const token = await forge.token(user, ['write:repository']);
    const namespace = `capstan-bs-${randomBytes(3).toString('hex')}`;
    const passwordFile = join(await makeTempDir('password'), 'token');
    await writeFile(passwordFile, `${token}\n`);
    const stop = await standIn(namespace);
    const args = [
      'bootstrap',
      ...['--repo', repo.cloneUrl, '--path', 'clusters/test', '--namespace', namespace],
      ...['--image', IMAGE, '--interval', '1s', '--username', user.username, '--password-file', passwordFile],
      `--arg=--namespace=${namespace}`,
      ...['--wait', '2m', '--sync-wait', '3m'],
    ];
    const env = { CAPSTAN_GIT_ALLOW_HTTP: '1' };
    const outputs: string[] = [];
    try {
      // (1) Bootstrap: files in Git in one commit by Capstan, the Application Ready at it.
      const first = await capstan(args, env);
      outputs.push(first.stdout, first.stderr);
      expect(first.stderr).not.toMatch(/^capstan: /m);
      expect(first.code).toBe(0);
      const work = await makeTempDir('fleet');
      const cloneUrl = forge.cloneUrl(user.username, 'fleet', { username: user.username, token });
      await git(work, 'clone', '--quiet', cloneUrl, 'fleet');
      const clone = join(work, 'fleet');
      const head = (await git(clone, 'rev-parse', 'HEAD')).trim();
      expect(first.stdout).toContain(`committed ${head.slice(0, 12)}`);
      expect(first.stdout).toContain(`Ready at ${head.slice(0, 12)}`);
      expect((await git(clone, 'log', '-1', '--format=%an <%ae>')).trim()).toBe(
        'Capstan <capstan@localhost>',
      );
      const dir = join(clone, 'clusters/test', namespace);
      const components = await readFile(join(dir, 'components.yaml'), 'utf8');
      expect(components).toContain(`image: ${IMAGE}`);
      expect(components).toContain('capstan.dev/adopt: "true"');
      expect(await readFile(join(dir, 'sync.yaml'), 'utf8')).toContain('serviceAccountName: capstan-self');
      const app = await getApp(kube, namespace, 'capstan');
      expect(app.status?.lastAppliedRevision?.sha).toBe(head);

      // (2) Again: nothing to commit, still Ready.
      const second = await capstan(args, env);
      outputs.push(second.stdout, second.stderr);
      expect(second.code).toBe(0);
      expect(second.stdout).toContain('no commit');
      expect((await git(clone, 'ls-remote', cloneUrl, 'refs/heads/main')).split('\t')[0]).toBe(head);

      // (3) A commit changes Capstan's replicas and adds an app: both applied from Git.
      expect(components).toMatch(/^ {2}replicas: 2$/m);
      await writeFile(
        join(dir, 'components.yaml'),
        components.replace(/^ {2}replicas: 2$/m, '  replicas: 3'),
      );
      await mkdir(join(clone, 'clusters/test/apps'), { recursive: true });
      await mkdir(join(clone, 'apps/demo'), { recursive: true });
      await writeFile(
        join(clone, 'clusters/test/apps/demo.yaml'),
        JSON.stringify({
          apiVersion: 'capstan.dev/v1alpha1',
          kind: 'Application',
          metadata: { name: 'demo', namespace },
          spec: {
            sourceRef: { name: 'capstan' },
            path: 'apps/demo',
            serviceAccountName: 'capstan-self',
            healthTimeout: '60s',
          },
        }),
      );
      await writeFile(join(clone, 'apps/demo/cm.yaml'), configMap('demo-config', { greeting: 'hello' }));
      await git(clone, 'add', '--all');
      await git(
        clone,
        '-c',
        'user.name=Ops',
        '-c',
        'user.email=ops@example.com',
        'commit',
        '--quiet',
        '-m',
        'three replicas, and the demo app',
      );
      await git(clone, 'push', '--quiet', 'origin', 'main');
      await eventually(
        'the Deployment scaled to 3 from Git',
        async () => (await replicasOf(namespace)) === '3',
        90_000,
      );
      await eventually(
        'the demo app applied',
        async () => (await kubectl(['get', 'configmap', 'demo-config', '-n', namespace])).code === 0,
        90_000,
      );
      // Deleting the controller's Deployment by hand is healed (selfHeal): a new one, three replicas.
      const uidOf = async () =>
        (
          await kubectl([
            'get',
            'deployment',
            'capstan-controller',
            '-n',
            namespace,
            '-o',
            'jsonpath={.metadata.uid}',
          ])
        ).stdout.trim();
      const before = await uidOf();
      await kubectlOk(['delete', 'deployment', 'capstan-controller', '-n', namespace, '--wait=false']);
      await eventually(
        'the Deployment healed',
        async () => {
          const uid = await uidOf();
          return uid !== '' && uid !== before && (await replicasOf(namespace)) === '3';
        },
        90_000,
      );

      // (4) The token is nowhere: Git history, CLI output, Events, status.
      outputs.push(await git(clone, 'log', '-p', '--all'));
      outputs.push(await kubectlOk(['get', 'events', '-n', namespace, '-o', 'yaml']));
      outputs.push(await kubectlOk(['get', 'applications,repositories', '-n', namespace, '-o', 'yaml']));

      // (5) Uninstall with the controller stopped: the apps' objects stay, their Applications let go.
      await stop.stop();
      const removed = await capstan(['uninstall', '--namespace', namespace, '--yes']);
      outputs.push(removed.stdout, removed.stderr);
      expect(removed.code).toBe(0);
      expect(removed.stdout).toMatch(/Application\(s\) released: their objects stay in place/);
      expect((await kubectl(['get', 'deployment', 'capstan-controller', '-n', namespace])).code).not.toBe(0);
      expect((await kubectl(['get', 'application', 'capstan', '-n', namespace])).code).not.toBe(0);
      const demo = await getApp(kube, namespace, 'demo');
      expect(demo.metadata.finalizers ?? []).not.toContain('capstan.dev/cleanup');
      await kubectlOk(['delete', 'application', 'demo', '-n', namespace, '--timeout=30s']);
      await kubectlOk(['get', 'configmap', 'demo-config', '-n', namespace]);
      const again = await capstan(['uninstall', '--namespace', namespace, '--yes']);
      expect(again.code).toBe(0);
      expect(again.stdout).toContain('nothing to do');
    } finally {
      for (const output of outputs) expect(output).not.toContain(token);
      await capstan(['uninstall', '--namespace', namespace, '--yes']);
      await kubectl(['delete', 'namespace', namespace, '--wait=false']);
    }
  });
});

describe('capstan uninstall --prune-applications', () => {
  it("has the controller delete the apps' objects before it goes", async () => {
    const namespace = `capstan-un-${randomBytes(3).toString('hex')}`;
    const fixture = await gitFixture(
      kube,
      { 'app/cm.yaml': configMap('pruned-config', { v: '1' }) },
      { prefix: 'prune' },
    );
    await standIn(fixture.namespace);
    try {
      const installed = await capstan([
        'install',
        '--namespace',
        namespace,
        '--image',
        IMAGE,
        `--arg=--namespace=${fixture.namespace}`,
        '--wait',
        '2m',
      ]);
      expect(installed.code).toBe(0);
      await createApp(kube, fixture.namespace, 'web', { path: 'app' });
      await eventually(
        'the app applied',
        async () =>
          (await kubectl(['get', 'configmap', 'pruned-config', '-n', fixture.namespace])).code === 0,
      );
      const removed = await capstan(['uninstall', '--namespace', namespace, '--prune-applications', '--yes']);
      expect(removed.stderr).not.toMatch(/^capstan: /m);
      expect(removed.code).toBe(0);
      expect(removed.stdout).toContain('1 Application(s) deleted with their objects');
      expect((await kubectl(['get', 'configmap', 'pruned-config', '-n', fixture.namespace])).code).not.toBe(
        0,
      );
      expect((await kubectl(['get', 'application', 'web', '-n', fixture.namespace])).code).not.toBe(0);
      expect((await kubectl(['get', 'deployment', 'capstan-controller', '-n', namespace])).code).not.toBe(0);
    } finally {
      await fixture.server.close();
      await capstan(['uninstall', '--namespace', namespace, '--yes']);
      await kubectl(['delete', 'namespace', namespace, '--wait=false']);
    }
  });
});
