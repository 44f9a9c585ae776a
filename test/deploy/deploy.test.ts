/**
 * The install manifests on the real control plane: the controller, running as the ServiceAccount
 * deploy/controller.yaml creates (its least-privilege RBAC, not admin), reconciles an app that names
 * a ServiceAccount, is refused what it was not granted, and applies anything once
 * deploy/apply-all.yaml is installed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it, onTestFailed } from 'vitest';
import { freePort } from '../../src/dev/controlplane.js';
import { createKubeClient, type KubeClient } from '../../src/kube/index.js';
import { freshNamespace, kubectlOk } from '../support/cluster.js';
import {
  application,
  condition,
  eventually,
  getApp,
  installCrds,
  repository,
} from '../support/controller.js';
import { configMap } from '../support/engine.js';
import {
  createTestRepo,
  makeTempDir,
  startGitHttpServer,
  type GitHttpServer,
} from '../support/git-servers.js';

const root = new URL('../../', import.meta.url).pathname;
let kube: KubeClient;
let controller: ChildProcess | undefined;
let git: GitHttpServer | undefined;

beforeAll(async () => {
  kube = await createKubeClient({ kubeconfig: inject('kubeconfig') });
  await installCrds(kube);
});
afterAll(async () => {
  controller?.kill('SIGTERM');
  await git?.close();
  await kubectlOk(['delete', '-f', join(root, 'deploy/apply-all.yaml'), '--ignore-not-found']);
  kube.close();
});

describe('deploy/', () => {
  it('installs, and the controller works with exactly the rights it grants', async () => {
    await kubectlOk([
      'apply',
      '--server-side',
      '-f',
      join(root, 'deploy/crds.yaml'),
      '-f',
      join(root, 'deploy/controller.yaml'),
    ]);
    const token = (
      await kubectlOk(['create', 'token', 'capstan-controller', '-n', 'capstan-system', '--duration=1h'])
    ).trim();
    const kubeconfig = join(await makeTempDir('sa-kubeconfig'), 'config');
    await writeFile(kubeconfig, inject('kubeconfig').replace(/token: .*/, `token: ${token}`));

    const namespace = await freshNamespace('deploy');
    const gitRoot = await makeTempDir('git-root');
    const repo = await createTestRepo(gitRoot, 'apps');
    await repo.commit({
      'app/cm.yaml': configMap('hello', { v: '1' }),
      'other/svc.yaml': JSON.stringify({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'web' },
        spec: { ports: [{ port: 80 }] },
      }),
    });
    git = await startGitHttpServer({ root: gitRoot });
    await kube.apply(repository(namespace, 'apps', { url: git.url('apps'), interval: '1h' }));
    await kubectlOk(['create', 'serviceaccount', 'deployer', '-n', namespace]);
    await kubectlOk([
      'create',
      'role',
      'deployer',
      '-n',
      namespace,
      '--verb=get,list,watch,create,patch,update,delete',
      '--resource=configmaps',
    ]);
    await kubectlOk([
      'create',
      'rolebinding',
      'deployer',
      '-n',
      namespace,
      '--role=deployer',
      `--serviceaccount=${namespace}:deployer`,
    ]);

    const port = await freePort();
    controller = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli/main.ts',
        'controller',
        '--kubeconfig',
        kubeconfig,
        '--namespace',
        namespace,
        '--leader-elect',
        '--lease-namespace',
        'capstan-system',
        '--lease-duration',
        '3s',
        '--http-address',
        `127.0.0.1:${port}`,
        '--state-dir',
        await makeTempDir('state'),
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    controller.stdout!.on('data', (chunk) => (output += chunk));
    controller.stderr!.on('data', (chunk) => (output += chunk));
    onTestFailed(() => console.log(`controller output:\n${output}`));

    await kubectlOk(['create', 'namespace', `${namespace}-other`]);
    await kube.apply(
      application(namespace, 'tenant', {
        sourceRef: { name: 'apps' },
        path: 'app',
        serviceAccountName: 'deployer',
      }),
    );
    await kube.apply(
      application(namespace, 'cluster', {
        sourceRef: { name: 'apps' },
        path: 'other',
        destination: { namespace: `${namespace}-other` },
      }),
    );
    const head = await repo.head();
    await eventually('tenant Ready', async () => {
      const app = await getApp(kube, namespace, 'tenant');
      return condition(app, 'Ready')?.status === 'True' && app.status?.lastAppliedRevision?.sha === head;
    });
    // Without apply-all the controller itself may write nothing but inventories and events.
    const refused = await eventually('cluster refused', async () => {
      const app = await getApp(kube, namespace, 'cluster');
      return condition(app, 'Ready')?.reason === 'SyncFailed' ? app : undefined;
    });
    expect(condition(refused, 'Ready')?.message).toMatch(
      /system:serviceaccount:capstan-system:capstan-controller.*cannot patch resource "services"/,
    );

    await kubectlOk(['apply', '--server-side', '-f', join(root, 'deploy/apply-all.yaml')]);
    await kubectlOk([
      'annotate',
      'applications.capstan.dev',
      'cluster',
      '-n',
      namespace,
      `capstan.dev/requested-at=${Date.now()}`,
    ]);
    await eventually(
      'cluster Ready once apply-all is installed',
      async () => condition(await getApp(kube, namespace, 'cluster'), 'Ready')?.status === 'True',
    );
    await kubectlOk(['delete', 'namespace', `${namespace}-other`, '--wait=false']);
  });
});
