/**
 * `destination.createNamespace` against the real control plane: the destination Namespace is one
 * more object of the app — created before its objects, inventoried, pruned with it — and meets the
 * same walls as any other (AccessPolicy, the applier's RBAC, no silent take-over).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { crds } from '../../src/api/crds.js';
import { API_VERSION, type AccessPolicy } from '../../src/api/v1alpha1.js';
import { ConfigMapInventoryStore } from '../../src/apply/index.js';
import { startPolicyIndex, type PolicyIndex } from '../../src/controller/policies.js';
import { uninstall } from '../../src/engine/uninstall.js';
import { createEngine } from '../../src/engine/sync.js';
import { serviceAccountIdentity } from '../../src/kube/index.js';
import { PolicyViolationError, type EffectivePolicy } from '../../src/plan/index.js';
import { sleep } from '../../src/core/time.js';
import { freshNamespace, kubectl, kubectlOk } from '../support/cluster.js';
import { actions, configMap, createTestEngine, gitApp, type TestEngine } from '../support/engine.js';
import { createTestRepo, makeTempDir } from '../support/git-servers.js';

let t: TestEngine;
let index: PolicyIndex;
const stop = new AbortController();

beforeAll(async () => {
  t = await createTestEngine();
  for (const crd of crds()) await t.kube.apply(crd, { force: true });
  await kubectlOk(['wait', '--for=condition=Established', 'crd/accesspolicies.capstan.dev', '--timeout=60s']);
  await t.kube.mapper.waitForMapping('capstan.dev', 'AccessPolicy', { timeoutMs: 30_000 });
  index = startPolicyIndex(t.kube, { signal: stop.signal });
  await index.synced;
});
afterAll(async () => {
  stop.abort();
  await index?.stopped;
  t.close();
});

/** A name for a namespace the test expects Capstan to create; deleted afterwards whatever happened. */
function previewName(): string {
  const name = `preview-${randomBytes(4).toString('hex')}`;
  onTestFinished(async () => {
    await kubectl(['delete', 'namespace', name, '--ignore-not-found', '--wait=false']);
  });
  return name;
}

async function namespacePhase(name: string): Promise<string | undefined> {
  const live = await t.kube.get({ group: '', kind: 'Namespace', name });
  return live ? ((live.status as { phase?: string } | undefined)?.phase ?? 'Active') : undefined;
}

async function gone(name: string): Promise<boolean> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const phase = await namespacePhase(name);
    if (phase === undefined || phase === 'Terminating') return true;
    if (Date.now() > deadline) return false;
    await sleep(200);
  }
}

/** What a sync ended with, as text: the error's message, or each object's result. */
async function outcomeText(sync: Promise<unknown>): Promise<string> {
  const result = await sync.catch((error: unknown) => error);
  return result instanceof Error ? result.message : JSON.stringify((result as { objects: unknown }).objects);
}

const configMapIn = (name: string, namespace: string): string =>
  JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace }, data: { a: '1' } });

describe('destination.createNamespace', () => {
  it('creates the destination namespace first, inventories it, and prunes it with the app', async () => {
    const home = await freshNamespace('createns');
    const preview = previewName();
    const repo = await createTestRepo(await makeTempDir('repo'));
    await repo.commit({ 'app/settings.yaml': configMap('settings', { a: '1' }) });
    const app = gitApp(repo.fileUrl, home, 'app', { destinationNamespace: preview, createNamespace: true });

    const planned = await t.sync(app, 'diff');
    expect(actions(planned)).toEqual({
      [`Namespace/${preview}`]: 'created',
      'ConfigMap/settings': 'created',
    });
    expect(await namespacePhase(preview)).toBeUndefined();

    const first = await t.sync(app);
    expect(actions(first)).toEqual({ [`Namespace/${preview}`]: 'created', 'ConfigMap/settings': 'created' });
    const live = await t.kube.get({ group: '', kind: 'Namespace', name: preview });
    expect(live?.metadata.annotations?.['capstan.dev/app']).toBe(`${home}/app`);
    expect(await kubectlOk(['get', 'configmap', 'settings', '-n', preview, '-o', 'name'])).toContain(
      'settings',
    );
    const inventory = await new ConfigMapInventoryStore(t.kube).read(app.identity);
    expect(inventory?.entries.map((e) => e.id)).toContain(`_${preview}__Namespace`);
    expect(actions(await t.sync(app))[`Namespace/${preview}`]).toBe('unchanged');

    // Deleting the app (prune on) removes what it applied, the namespace included.
    const removed = await uninstall(
      { kube: t.kube, inventory: new ConfigMapInventoryStore(t.kube), concurrency: 2 },
      app.identity,
    );
    expect(removed.failed).toBe(false);
    expect(await gone(preview)).toBe(true);
  });

  it('prunes the namespace when the option is turned off, and never makes the app namespace its own', async () => {
    const home = await freshNamespace('createns');
    const preview = previewName();
    const repo = await createTestRepo(await makeTempDir('repo'));
    await repo.commit({ 'app/settings.yaml': configMap('settings', { a: '1' }) });
    const app = gitApp(repo.fileUrl, home, 'app', { destinationNamespace: preview, createNamespace: true });
    await t.sync(app);
    const off = await t.sync({ ...app, createNamespace: false });
    expect(actions(off)[`Namespace/${preview}`]).toBe('pruned');
    expect(await gone(preview)).toBe(true);

    // The default destination is the app's own namespace, which exists: nothing to create or own.
    const own = await t.sync(
      gitApp(repo.fileUrl, home, 'app', {
        identity: { namespace: home, name: 'own' },
        createNamespace: true,
      }),
    );
    expect(Object.keys(actions(own))).not.toContain(`Namespace/${home}`);
  });

  it('lets a Namespace manifest of the same name in Git win', async () => {
    const home = await freshNamespace('createns');
    const preview = previewName();
    const repo = await createTestRepo(await makeTempDir('repo'));
    await repo.commit({
      'app/namespace.yaml': JSON.stringify({
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: preview, labels: { team: 'web' } },
      }),
      'app/settings.yaml': configMap('settings', { a: '1' }),
    });
    const app = gitApp(repo.fileUrl, home, 'app', { destinationNamespace: preview, createNamespace: true });
    const result = await t.sync(app);
    expect(result.objects.filter((o) => o.ref.kind === 'Namespace')).toHaveLength(1);
    const live = await t.kube.get({ group: '', kind: 'Namespace', name: preview });
    expect(live?.metadata.labels?.team).toBe('web');
  });

  it('refuses to take over an existing namespace no app manages', async () => {
    const home = await freshNamespace('createns');
    const existing = await freshNamespace('createns-existing');
    const repo = await createTestRepo(await makeTempDir('repo'));
    await repo.commit({ 'app/settings.yaml': configMap('settings', { a: '1' }) });
    const app = gitApp(repo.fileUrl, home, 'app', { destinationNamespace: existing, createNamespace: true });
    const text = await outcomeText(t.sync(app));
    expect(text).toMatch(/already exists and no app manages it/);
    const live = await t.kube.get({ group: '', kind: 'Namespace', name: existing });
    expect(live?.metadata.annotations?.['capstan.dev/app']).toBeUndefined();
  });

  it('is judged by the AccessPolicy like any Namespace: the kind and the name must be allowed', async () => {
    const home = await freshNamespace('createns');
    const preview = previewName();
    const policyName = `capstan-test-${home}`;
    onTestFinished(async () => {
      await kubectl(['delete', 'accesspolicies.capstan.dev', policyName, '--ignore-not-found']);
    });
    const put = async (spec: AccessPolicy['spec']): Promise<void> => {
      const policy: AccessPolicy = {
        apiVersion: API_VERSION,
        kind: 'AccessPolicy',
        metadata: { name: policyName },
        spec,
      };
      await t.kube.apply(policy, { force: true });
    };
    const policyWhen = async (check: (spec: AccessPolicy['spec']) => boolean): Promise<EffectivePolicy> => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const policy = index.forNamespace(home);
        const bound = policy?.policies[0];
        if (policy && bound?.valid && check(bound.spec)) return policy;
        if (Date.now() > deadline) throw new Error('the policy index never saw the policy');
        await sleep(100);
      }
    };
    const repo = await createTestRepo(await makeTempDir('repo'));
    await repo.commit({ 'app/settings.yaml': configMap('settings', { a: '1' }) });

    // Destination allowed, cluster-scoped kinds not: the implicit Namespace is refused.
    await put({ namespaces: [home], destinationNamespaces: ['preview-*'] });
    const noKinds = await policyWhen(
      (spec) => spec.destinationNamespaces?.[0] === 'preview-*' && !spec.clusterResources?.length,
    );
    const app = gitApp(repo.fileUrl, home, 'app', {
      destinationNamespace: preview,
      createNamespace: true,
      policy: noKinds,
    });
    const refused = await t.sync(app).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(PolicyViolationError);
    expect((refused as PolicyViolationError).message).toContain(`Namespace/${preview}`);
    expect(await namespacePhase(preview)).toBeUndefined();

    // Namespace allowed as a kind, but this name is not an allowed destination.
    await put({
      namespaces: [home],
      destinationNamespaces: ['other-*'],
      clusterResources: [{ group: '', kind: 'Namespace' }],
    });
    const wrongName = await policyWhen((spec) => spec.destinationNamespaces?.[0] === 'other-*');
    const refusedName = await t.sync({ ...app, policy: wrongName }).catch((error: unknown) => error);
    expect(refusedName).toBeInstanceOf(PolicyViolationError);
    expect((refusedName as PolicyViolationError).message).toContain('destinationNamespaces');

    // Both allowed: created.
    await put({
      namespaces: [home],
      destinationNamespaces: ['preview-*'],
      clusterResources: [{ group: '', kind: 'Namespace' }],
    });
    const allowed = await policyWhen(
      (spec) => spec.clusterResources?.length === 1 && spec.destinationNamespaces?.[0] === 'preview-*',
    );
    const synced = await t.sync({ ...app, policy: allowed });
    expect(actions(synced)[`Namespace/${preview}`]).toBe('created');
  });

  it("is applied as the app's ServiceAccount: without RBAC for namespaces, nothing is created", async () => {
    const home = await freshNamespace('createns');
    const preview = previewName();
    // The ServiceAccount may do anything in its own namespace, nothing cluster-wide.
    await kubectlOk(['create', 'serviceaccount', 'deployer', '-n', home]);
    await kubectlOk([
      'create',
      'rolebinding',
      'deployer',
      '-n',
      home,
      '--clusterrole=admin',
      `--serviceaccount=${home}:deployer`,
    ]);
    const client = t.kube.impersonate(serviceAccountIdentity(home, 'deployer'));
    const engine = createEngine({
      kube: client,
      git: (await import('../../src/source/index.js')).createGitSource({
        cacheDir: await makeTempDir('git'),
        allowFileUrls: true,
      }),
      renderer: t.renderer,
      inventory: new ConfigMapInventoryStore(client),
      workDir: await makeTempDir('work'),
    });
    const repo = await createTestRepo(await makeTempDir('repo'));
    await repo.commit({ 'app/settings.yaml': configMapIn('settings', preview) });
    const app = gitApp(repo.fileUrl, home, 'app', { destinationNamespace: preview, createNamespace: true });
    const failed = await outcomeText(engine.sync(app, { mode: 'apply' }));
    expect(failed).toMatch(/forbidden|cannot/i);
    expect(await namespacePhase(preview)).toBeUndefined();
  });
});
