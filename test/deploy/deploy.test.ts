/**
 * The install manifests on the real control plane: the controller, running as the ServiceAccount
 * deploy/shared/controller.yaml creates (its least-privilege RBAC, not admin), reconciles an app that names
 * a ServiceAccount, refuses an app that names none, and — the single-team setup of
 * deploy/single-team/ — applies such apps as the applier ServiceAccount.
 */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createKubeClient, type KubeClient } from '../../src/kube/index.js';
import { freshNamespace, kubectl, kubectlOk } from '../support/cluster.js';
import {
  application,
  condition,
  eventually,
  getApp,
  installCrds,
  repository,
} from '../support/controller.js';
import {
  installFromDeploy,
  serviceAccountKubeconfig,
  spawnDeployedController,
} from '../support/controller-process.js';
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
  kube.close();
});

describe('deploy/', () => {
  it('installs, and the controller works with exactly the rights it grants', async () => {
    await installFromDeploy();
    const kubeconfig = await serviceAccountKubeconfig('capstan-system', 'capstan-controller');

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

    controller = (await spawnDeployedController(kubeconfig, namespace)).child;

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
    // Shared-cluster mode: an app that names no ServiceAccount is refused, never applied as the controller.
    const refused = await eventually('cluster refused', async () => {
      const app = await getApp(kube, namespace, 'cluster');
      return condition(app, 'Stalled')?.reason === 'ServiceAccountRequired' ? app : undefined;
    });
    expect(condition(refused, 'Ready')?.status).toBe('False');
    expect((await kubectl(['get', 'service', 'web', '-n', `${namespace}-other`])).code).not.toBe(0);

    // Single-team mode (deploy/single-team/): such apps run as the applier ServiceAccount.
    await kubectlOk(['apply', '--server-side', '-f', join(root, 'deploy/single-team/applier.yaml')]);
    const rendered = await kubectlOk(['kustomize', join(root, 'deploy/single-team')]);
    expect(rendered).toContain('--default-service-account=capstan-system/capstan-applier');
    controller?.kill('SIGTERM');
    controller = (
      await spawnDeployedController(kubeconfig, namespace, [
        '--default-service-account=capstan-system/capstan-applier',
      ])
    ).child;
    await eventually(
      'cluster Ready as the single-team applier',
      async () => condition(await getApp(kube, namespace, 'cluster'), 'Ready')?.status === 'True',
    );
    await kubectlOk(['delete', 'namespace', `${namespace}-other`, '--wait=false']);
  });
});
