/**
 * Issue 8's red-team scenario on the real control plane, against the shared-cluster install
 * (deploy/crds.yaml + deploy/shared/controller.yaml, the controller running as its own least-privilege
 * ServiceAccount): a tenant who may only create Applications and Repositories in its namespace tries
 * to write into kube-system, to repoint the platform team's Repository at its own Git server, to make
 * itself cluster-admin, and to receive a Git password it cannot read. Every step is refused, and the
 * cluster and the other team's objects are unchanged.
 */
import type { ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
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

const PLATFORM_PASSWORD = 'platform-password-0f3a9c';
const TEAM_PASSWORD = 'team-password-77d1e2';
let kube: KubeClient;
let controller: ChildProcess | undefined;
let git: GitHttpServer | undefined;
let capture: Server | undefined;

beforeAll(async () => {
  kube = await createKubeClient({ kubeconfig: inject('kubeconfig') });
  await installCrds(kube);
  await installFromDeploy();
});
afterAll(async () => {
  controller?.kill('SIGTERM');
  await git?.close();
  capture?.close();
  kube.close();
});

/** An HTTP server that records the Authorization headers Git clients send it. */
async function startCapturingServer(): Promise<{ url: string; authorizations: string[] }> {
  const authorizations: string[] = [];
  capture = createServer((request, response) => {
    if (request.headers.authorization) authorizations.push(request.headers.authorization);
    response.writeHead(401, { 'www-authenticate': 'Basic realm="git"' }).end();
  });
  await new Promise<void>((resolve) => capture!.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(capture.address() as AddressInfo).port}/team/apps.git`, authorizations };
}

describe('a cluster shared between teams (deploy/shared/controller.yaml)', () => {
  it('refuses every step of the red-team scenario, and the other team is untouched', async () => {
    // The platform team: a Repository with credentials, applied by a cluster-admin ServiceAccount.
    const platform = await freshNamespace('platform');
    await kubectlOk([
      'create',
      'secret',
      'generic',
      'platform-git',
      '-n',
      platform,
      '--from-literal=username=platform',
      `--from-literal=password=${PLATFORM_PASSWORD}`,
    ]);
    await kube.apply(
      repository(platform, 'infra', {
        url: 'https://git.platform.example/infra.git',
        secretRef: { name: 'platform-git' },
      }),
    );
    const platformBefore = JSON.stringify((await kube.get(repositoryRef(platform, 'infra')))?.spec);

    // The tenant: may create Applications and Repositories in its namespace, nothing else.
    const team = await freshNamespace('team');
    const tenant = inject('unprivilegedUser');
    await kubectlOk([
      'create',
      'role',
      'gitops-user',
      '-n',
      team,
      '--verb=get,list,watch,create,update,patch,delete',
      '--resource=applications.capstan.dev,repositories.capstan.dev',
    ]);
    await kubectlOk([
      'create',
      'rolebinding',
      'gitops-user',
      '-n',
      team,
      '--role=gitops-user',
      `--user=${tenant}`,
    ]);
    // A Git password of the team's, which the tenant user may not read.
    await kubectlOk([
      'create',
      'secret',
      'generic',
      'team-git',
      '-n',
      team,
      '--from-literal=username=team',
      `--from-literal=password=${TEAM_PASSWORD}`,
    ]);
    await kubectlOk([
      'annotate',
      'secret',
      'team-git',
      '-n',
      team,
      'capstan.dev/git-urls=https://git.team.example/team/',
    ]);

    // The tenant's manifests: the escalations of the report.
    const gitRoot = await makeTempDir('tenant-git');
    const repo = await createTestRepo(gitRoot, 'attack');
    await repo.commit({
      'escalate/kube-system.yaml': JSON.stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: `pwned-${team}`, namespace: 'kube-system' },
        data: { by: 'tenant' },
      }),
      'escalate/repository.yaml': JSON.stringify({
        apiVersion: 'capstan.dev/v1alpha1',
        kind: 'Repository',
        metadata: { name: 'infra', namespace: platform },
        spec: { url: 'http://127.0.0.1:1/tenant.git', secretRef: { name: 'platform-git' } },
      }),
      'escalate/cluster-admin.yaml': JSON.stringify({
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: `pwned-${team}` },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: tenant }],
      }),
      'harmless/cm.yaml': configMap('hello', { v: '1' }),
    });
    git = await startGitHttpServer({ root: gitRoot });
    const captured = await startCapturingServer();

    const asTenant = { kubeconfigPath: await tenantKubeconfig() };
    const create = (object: object) =>
      kubectlOk(['apply', '-f', '-'], { ...asTenant, input: JSON.stringify(object) });
    await create(repository(team, 'attack', { url: git.url('attack'), interval: '1h' }));
    await create(application(team, 'no-sa', { sourceRef: { name: 'attack' }, path: 'escalate' }));
    await create(
      application(team, 'as-default', {
        sourceRef: { name: 'attack' },
        path: 'escalate',
        serviceAccountName: 'default',
      }),
    );
    // The tenant's own Git server, with the team's password it cannot read.
    await create(
      repository(team, 'steal', { url: captured.url, secretRef: { name: 'team-git' }, interval: '1h' }),
    );
    await create(application(team, 'steal', { sourceRef: { name: 'steal' }, serviceAccountName: 'default' }));
    const kubeconfig = await serviceAccountKubeconfig('capstan-system', 'capstan-controller');
    const running = await spawnDeployedController(kubeconfig, team);
    controller = running.child;
    const output = running.output;

    // 1. An Application without a ServiceAccount is never applied with the controller's rights.
    const noSa = await eventually('no-sa refused', async () => {
      const app = await getApp(kube, team, 'no-sa');
      return condition(app, 'Stalled')?.reason === 'ServiceAccountRequired' ? app : undefined;
    });
    expect(condition(noSa, 'Ready')?.status).toBe('False');
    // 2. As the namespace's default ServiceAccount: RBAC refuses all three escalations.
    const asDefault = await eventually('as-default refused', async () => {
      const app = await getApp(kube, team, 'as-default');
      return condition(app, 'Ready')?.reason === 'SyncFailed' ? app : undefined;
    });
    const resources = asDefault.status?.resources ?? [];
    expect(resources.map((r) => `${r.kind}/${r.sync}`).sort()).toEqual([
      'ClusterRoleBinding/failed',
      'ConfigMap/failed',
      'Repository/failed',
    ]);
    for (const resource of resources)
      expect(resource.message).toContain(`User "system:serviceaccount:${team}:default" cannot`);
    // 3. The team's password is never sent to a URL its Secret does not name.
    const steal = await eventually('steal refused', async () => {
      const found = await kube.get(repositoryRef(team, 'steal'));
      const ready = (
        found?.status as { conditions?: { type: string; status: string; message: string }[] }
      )?.conditions?.find((c) => c.type === 'Ready');
      return ready?.status === 'False' ? JSON.stringify(found?.status) : undefined;
    });
    expect(steal).toContain('capstan.dev/git-urls');
    expect(captured.authorizations).toEqual([]);
    // 4. The second wall: an AccessPolicy binding the team's namespace (only its own namespace, no
    // cluster-scoped kinds, only its own ServiceAccounts, only these Git servers) — enforced even
    // where RBAC was granted too generously: the admin bound a ServiceAccount of the team to
    // cluster-admin by mistake.
    await kubectlOk(['create', 'serviceaccount', 'mighty', '-n', team]);
    await kubectlOk([
      'create',
      'clusterrolebinding',
      `mighty-${team}`,
      '--clusterrole=cluster-admin',
      `--serviceaccount=${team}:mighty`,
    ]);
    onTestFinished(async () => {
      await kubectl([
        'delete',
        'clusterrolebinding',
        `mighty-${team}`,
        `pwned-${team}`,
        '--ignore-not-found',
      ]);
      await kubectl(['delete', 'accesspolicy', `team-${team}`, '--ignore-not-found']);
    });
    await kube.apply({
      apiVersion: 'capstan.dev/v1alpha1',
      kind: 'AccessPolicy',
      metadata: { name: `team-${team}` },
      spec: {
        namespaces: [team],
        serviceAccounts: ['default', 'mighty'],
        sourceUrls: [new URL(git.url('attack')).origin + '/', captured.url.replace(/apps\.git$/, '')],
      },
    });

    await create(
      application(team, 'mighty', {
        sourceRef: { name: 'attack' },
        path: 'escalate',
        serviceAccountName: 'mighty',
      }),
    );
    await create(
      application(team, 'elsewhere', {
        sourceRef: { name: 'attack' },
        path: 'harmless',
        serviceAccountName: 'capstan-applier',
      }),
    );
    await create(
      repository(team, 'unlisted', { url: 'https://git.elsewhere.example/x.git', interval: '1h' }),
    );
    await create(
      application(team, 'unlisted', { sourceRef: { name: 'unlisted' }, serviceAccountName: 'default' }),
    );

    // The AccessPolicy refuses, before anything is applied, what RBAC would have let through…
    const mighty = await eventually('mighty refused by the policy', async () => {
      const app = await getApp(kube, team, 'mighty');
      return condition(app, 'Stalled')?.reason === 'PolicyViolation' ? app : undefined;
    });
    const refusal = condition(mighty, 'Ready')?.message ?? '';
    expect(refusal).toContain(`ClusterRoleBinding/pwned-${team}: cluster-scoped kinds are not allowed`);
    expect(refusal).toContain(`ConfigMap/pwned-${team} in kube-system`);
    expect(refusal).toContain(`Repository/infra in ${platform}`);
    // …a ServiceAccount it does not list, and a Git server it does not list.
    const elsewhere = await eventually('elsewhere refused by the policy', async () => {
      const app = await getApp(kube, team, 'elsewhere');
      return condition(app, 'Stalled')?.reason === 'PolicyViolation' ? app : undefined;
    });
    expect(condition(elsewhere, 'Ready')?.message).toContain('serviceAccounts');
    await eventually('unlisted refused by the policy', async () => {
      const found = await kube.get(repositoryRef(team, 'unlisted'));
      return JSON.stringify(found?.status).includes('PolicyViolation');
    });

    // Nothing changed: kube-system, the platform's Repository, the cluster's RBAC.
    expect((await kubectl(['get', 'configmap', `pwned-${team}`, '-n', 'kube-system'])).code).not.toBe(0);
    expect(JSON.stringify((await kube.get(repositoryRef(platform, 'infra')))?.spec)).toBe(platformBefore);
    expect((await kubectl(['get', 'clusterrolebinding', `pwned-${team}`])).code).not.toBe(0);
    expect((await kubectl(['auth', 'can-i', 'get', 'secrets', '-n', platform], asTenant)).stdout.trim()).toBe(
      'no',
    );
    // No secret byte anywhere the tenant can look, nor in the controller's log.
    for (const name of ['no-sa', 'as-default', 'steal']) {
      const app = await kubectlOk(['get', 'application', name, '-n', team, '-o', 'json'], asTenant);
      expect(app).not.toContain(TEAM_PASSWORD);
      expect(app).not.toContain(PLATFORM_PASSWORD);
    }
    expect(output()).not.toContain(TEAM_PASSWORD);
    expect(output()).not.toContain(PLATFORM_PASSWORD);
  });
});

function repositoryRef(namespace: string, name: string) {
  return { group: 'capstan.dev', kind: 'Repository', namespace, name };
}

async function tenantKubeconfig(): Promise<string> {
  const path = join(await makeTempDir('tenant-kubeconfig'), 'config');
  await writeFile(path, inject('unprivilegedKubeconfig'));
  return path;
}
