/**
 * Issue 8's tenancy model with `--default-service-account NAME` (Flux's flag): the controller, as
 * deploy/shared/controller.yaml's least-privilege ServiceAccount, applies an Application that names
 * no ServiceAccount as that NAME of the Application's own namespace — never as itself, never as a
 * ServiceAccount of another namespace. The tenant's manifests try kube-system, another team's
 * namespace and cluster-admin; RBAC refuses each as the team's ServiceAccount, and nothing changes.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it, onTestFinished } from 'vitest';
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

let kube: KubeClient;
let controller: ChildProcess | undefined;
let git: GitHttpServer | undefined;

beforeAll(async () => {
  kube = await createKubeClient({ kubeconfig: inject('kubeconfig') });
  await installCrds(kube);
  await installFromDeploy();
});
afterAll(async () => {
  controller?.kill('SIGTERM');
  await git?.close();
  kube.close();
});

describe('--default-service-account NAME on a shared cluster', () => {
  it('applies an Application that names none as NAME of its own namespace, and RBAC bounds it there', async () => {
    const team = await freshNamespace('dsa-team');
    const other = await freshNamespace('dsa-other');
    // The team's own applier: ConfigMaps in the team's namespace, nothing else.
    await kubectlOk(['create', 'serviceaccount', 'deployer', '-n', team]);
    await kubectlOk([
      'create',
      'role',
      'deployer',
      '-n',
      team,
      '--verb=get,list,watch,create,update,patch,delete',
      '--resource=configmaps',
    ]);
    await kubectlOk([
      'create',
      'rolebinding',
      'deployer',
      '-n',
      team,
      '--role=deployer',
      `--serviceaccount=${team}:deployer`,
    ]);
    // A ServiceAccount of the same name elsewhere, with more rights: it must never be the one used.
    await kubectlOk(['create', 'serviceaccount', 'deployer', '-n', other]);
    await kubectlOk([
      'create',
      'clusterrolebinding',
      `dsa-${other}`,
      '--clusterrole=cluster-admin',
      `--serviceaccount=${other}:deployer`,
    ]);
    onTestFinished(async () => {
      await kubectl([
        'delete',
        'clusterrolebinding',
        `dsa-${other}`,
        `dsa-pwned-${team}`,
        '--ignore-not-found',
      ]);
      await kubectl(['delete', 'configmap', `dsa-pwned-${team}`, '-n', 'kube-system', '--ignore-not-found']);
    });
    await kubectlOk(['create', 'configmap', 'theirs', '-n', other, '--from-literal=owner=other']);
    const theirsBefore = await kubectlOk([
      'get',
      'configmap',
      'theirs',
      '-n',
      other,
      '-o',
      'jsonpath={.metadata.resourceVersion}',
    ]);

    const gitRoot = await makeTempDir('dsa-git');
    const repo = await createTestRepo(gitRoot, 'apps');
    await repo.commit({
      'own/cm.yaml': configMap('settings', { v: '1' }),
      'escalate/kube-system.yaml': JSON.stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: `dsa-pwned-${team}`, namespace: 'kube-system' },
        data: { by: 'tenant' },
      }),
      'escalate/other-team.yaml': JSON.stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'theirs', namespace: other, annotations: { 'capstan.dev/adopt': 'true' } },
        data: { owner: 'tenant' },
      }),
      'escalate/cluster-admin.yaml': JSON.stringify({
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: `dsa-pwned-${team}` },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
        subjects: [{ kind: 'ServiceAccount', name: 'default', namespace: team }],
      }),
    });
    git = await startGitHttpServer({ root: gitRoot });
    await kube.apply(repository(team, 'apps', { url: git.url('apps'), interval: '1h' }));
    await kube.apply(application(team, 'own', { sourceRef: { name: 'apps' }, path: 'own' }));
    await kube.apply(application(team, 'escalate', { sourceRef: { name: 'apps' }, path: 'escalate' }));

    const kubeconfig = await serviceAccountKubeconfig('capstan-system', 'capstan-controller');
    const running = await spawnDeployedController(kubeconfig, team, ['--default-service-account=deployer']);
    controller = running.child;

    // What the team's ServiceAccount may do is done, as that ServiceAccount.
    await eventually('own Ready', async () => {
      const app = await getApp(kube, team, 'own');
      return condition(app, 'Ready')?.status === 'True' ? app : undefined;
    });
    const managers = await kubectlOk([
      'get',
      'configmap',
      'settings',
      '-n',
      team,
      '-o',
      'jsonpath={.metadata.annotations.capstan\\.dev/app}',
    ]);
    expect(managers).toBe(`${team}/own`);

    // What it may not do is refused by RBAC, naming the team's ServiceAccount: never the controller,
    // never the more powerful ServiceAccount of the same name in another namespace.
    const escalate = await eventually('escalate refused', async () => {
      const app = await getApp(kube, team, 'escalate');
      return condition(app, 'Ready')?.reason === 'SyncFailed' &&
        (app.status?.resources ?? []).every((r) => r.sync === 'failed')
        ? app
        : undefined;
    });
    const resources = escalate.status?.resources ?? [];
    expect(resources.map((r) => `${r.kind}/${r.namespace ?? ''}/${r.name}`).sort()).toEqual(
      [
        `ClusterRoleBinding//dsa-pwned-${team}`,
        `ConfigMap/kube-system/dsa-pwned-${team}`,
        `ConfigMap/${other}/theirs`,
      ].sort(),
    );
    for (const resource of resources)
      expect(resource.message).toContain(`User "system:serviceaccount:${team}:deployer" cannot`);

    // Nothing changed outside the team's namespace.
    expect((await kubectl(['get', 'configmap', `dsa-pwned-${team}`, '-n', 'kube-system'])).code).not.toBe(0);
    expect((await kubectl(['get', 'clusterrolebinding', `dsa-pwned-${team}`])).code).not.toBe(0);
    expect(
      await kubectlOk([
        'get',
        'configmap',
        'theirs',
        '-n',
        other,
        '-o',
        'jsonpath={.metadata.resourceVersion}',
      ]),
    ).toBe(theirsBefore);
  });
});
