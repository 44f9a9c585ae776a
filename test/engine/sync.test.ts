/**
 * The sync engine against the real control plane and real Git repositories (file://).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshNamespace, kubectlOk } from '../support/cluster.js';
import { actions, configMap, createTestEngine, gitApp, type TestEngine } from '../support/engine.js';
import { createTestRepo, makeTempDir } from '../support/git-servers.js';
import { eventually } from '../support/controller.js';

let t: TestEngine;
beforeAll(async () => {
  t = await createTestEngine();
});
afterAll(() => t.close());

async function resourceVersion(namespace: string, kind: string, name: string): Promise<string> {
  return (
    await kubectlOk(['get', kind, name, '-n', namespace, '-o', 'jsonpath={.metadata.resourceVersion}'])
  ).trim();
}

const deployment = (
  name: string,
  extra: Record<string, unknown> = {},
  labels: Record<string, string> = { app: name },
): string =>
  JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas: 1,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: { containers: [{ name: 'main', image: 'registry.invalid/app:1' }] },
      },
      ...extra,
    },
  });

describe('sync engine', () => {
  it('creates, updates, leaves unchanged objects unwritten, and prunes what left Git', async () => {
    const namespace = await freshNamespace('sync');
    const repo = await createTestRepo(await makeTempDir('repo'));
    await repo.commit({
      'app/a.yaml': configMap('a', { color: 'blue' }),
      'app/b.yaml': configMap('b', { size: '1' }),
    });
    const app = gitApp(repo.fileUrl, namespace, 'app');

    const first = await t.sync(app);
    expect(actions(first)).toEqual({ 'ConfigMap/a': 'created', 'ConfigMap/b': 'created' });
    const versionOfB = await resourceVersion(namespace, 'configmap', 'b');

    await repo.commit({ 'app/a.yaml': configMap('a', { color: 'green' }) });
    const second = await t.sync(app);
    expect(actions(second)).toEqual({ 'ConfigMap/a': 'configured', 'ConfigMap/b': 'unchanged' });
    expect(
      JSON.parse(await kubectlOk(['get', 'configmap', 'a', '-n', namespace, '-o', 'json'])).data,
    ).toEqual({ color: 'green' });
    // Not written at all: the resourceVersion is the one the first sync left.
    expect(await resourceVersion(namespace, 'configmap', 'b')).toBe(versionOfB);

    const third = await t.sync(app);
    expect(third.changed).toBe(false);
    expect(actions(third)).toEqual({ 'ConfigMap/a': 'unchanged', 'ConfigMap/b': 'unchanged' });

    await repo.commit({ 'app/b.yaml': null });
    const fourth = await t.sync(app);
    expect(actions(fourth)).toEqual({ 'ConfigMap/a': 'unchanged', 'ConfigMap/b': 'pruned' });
    const left = JSON.parse(
      await kubectlOk([
        'get',
        'configmaps',
        '-n',
        namespace,
        '-l',
        '!capstan.dev/inventory-of',
        '-o',
        'json',
      ]),
    );
    expect(left.items.map((i: { metadata: { name: string } }) => i.metadata.name).sort()).toEqual([
      'a',
      'kube-root-ca.crt',
    ]);
  });

  it('applies a CRD and its custom resource in one sync', async () => {
    const namespace = await freshNamespace('crd');
    const group = `g${Date.now().toString(36)}.capstan.dev`;
    const repo = await createTestRepo(await makeTempDir('repo'));
    await repo.commit({
      'app/crd.yaml': JSON.stringify({
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        metadata: { name: `widgets.${group}` },
        spec: {
          group,
          names: { kind: 'Widget', plural: 'widgets', singular: 'widget' },
          scope: 'Namespaced',
          versions: [
            {
              name: 'v1',
              served: true,
              storage: true,
              schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
            },
          ],
        },
      }),
      'app/widget.yaml': JSON.stringify({
        apiVersion: `${group}/v1`,
        kind: 'Widget',
        metadata: { name: 'w1' },
        spec: { size: 3 },
      }),
    });
    const result = await t.sync(gitApp(repo.fileUrl, namespace, 'app'));
    expect(actions(result)).toEqual({
      [`CustomResourceDefinition/widgets.${group}`]: 'created',
      'Widget/w1': 'created',
    });
    expect(
      JSON.parse(await kubectlOk(['get', `widgets.${group}`, 'w1', '-n', namespace, '-o', 'json'])).spec,
    ).toEqual({ size: 3 });
    // The namespaced custom resource got the destination namespace from the CRD rendered beside it.
    expect(result.objects.find((o) => o.ref.kind === 'Widget')?.ref.namespace).toBe(namespace);
    await kubectlOk(['delete', 'crd', `widgets.${group}`, '--wait=false']);
  });

  it('fails an immutable-field change without force, and re-creates the object with force', async () => {
    const namespace = await freshNamespace('immutable');
    const repo = await createTestRepo(await makeTempDir('repo'));
    await repo.commit({ 'app/web.yaml': deployment('web') });
    const app = gitApp(repo.fileUrl, namespace, 'app');
    await t.sync(app);
    const uid = (
      await kubectlOk(['get', 'deployment', 'web', '-n', namespace, '-o', 'jsonpath={.metadata.uid}'])
    ).trim();

    await repo.commit({ 'app/web.yaml': deployment('web', {}, { app: 'web', tier: 'front' }) });
    const refused = await t.sync(app);
    expect(refused.failed).toBe(true);
    const failure = refused.objects.find((o) => o.ref.kind === 'Deployment')!;
    expect(failure.action).toBe('failed');
    expect(failure.reason).toMatch(/field is immutable/);
    expect(failure.reason).toMatch(/allow it with --force/);
    expect(
      (
        await kubectlOk(['get', 'deployment', 'web', '-n', namespace, '-o', 'jsonpath={.metadata.uid}'])
      ).trim(),
    ).toBe(uid);

    const forced = await t.sync({ ...app, forceRecreate: true });
    expect(actions(forced)).toEqual({ 'Deployment/web': 'recreated' });
    const recreated = JSON.parse(
      await kubectlOk(['get', 'deployment', 'web', '-n', namespace, '-o', 'json']),
    );
    expect(recreated.metadata.uid).not.toBe(uid);
    expect(recreated.spec.selector.matchLabels).toEqual({ app: 'web', tier: 'front' });
  });

  it('applies waves in order, each healthy before the next', async () => {
    const namespace = await freshNamespace('waves');
    const repo = await createTestRepo(await makeTempDir('repo'));
    await repo.commit({
      'app/db.yaml': withAnnotation(deployment('db'), { 'capstan.dev/wave': '-1' }),
      'app/api.yaml': deployment('api'),
      'app/after.yaml': configMap('after', { ready: 'yes' }, { 'capstan.dev/wave': '1' }),
    });
    const start = t.events.length;
    const result = await t.sync(
      gitApp(repo.fileUrl, namespace, 'app', { health: { wait: true, timeoutSeconds: 60 } }),
    );
    expect(result.failed).toBe(false);
    expect(result.health?.outcome).toBe('Current');
    const order = t.events
      .slice(start)
      .map((e) =>
        e.type === 'object'
          ? `apply ${e.result.ref.name}`
          : e.type === 'stage' && e.stage !== 'source'
            ? e.message
            : '',
      )
      .filter((line) => /^apply |wave/.test(line));
    expect(order).toEqual([
      'apply db',
      'applied wave -1',
      'waiting for wave -1 to be healthy',
      'apply api',
      'applied wave 0',
      'waiting for wave 0 to be healthy',
      'apply after',
      'applied wave 1',
    ]);
  });

  it('without a health wait, stops at a wave that is not healthy yet, and fails once it fails its health', async () => {
    const namespace = await freshNamespace('waves');
    const repo = await createTestRepo(await makeTempDir('repo'));
    // No node matches the selector: the rollout misses its 1 s deadline and wave 0 fails its health.
    const stuck = JSON.parse(deployment('stuck', { progressDeadlineSeconds: 1 }));
    stuck.spec.template.spec.nodeSelector = { 'capstan.dev/no-such-node': 'true' };
    await repo.commit({
      'app/stuck.yaml': JSON.stringify(stuck),
      'app/after.yaml': configMap('after', { ready: 'yes' }, { 'capstan.dev/wave': '1' }),
    });
    // The controller's way: nobody waits on a rollout; the next sync goes on from where this stopped.
    const app = gitApp(repo.fileUrl, namespace, 'app', { health: { wait: false, timeoutSeconds: 60 } });
    const first = await t.sync(app);
    expect(actions(first)).toEqual({ 'Deployment/stuck': 'created', 'ConfigMap/after': 'skipped' });
    expect(first.waitingFor).toMatch(/^waiting: wave 0 is not healthy yet \(Deployment\.apps\/.*stuck/);
    expect(first.failed).toBe(false);

    const failed = await eventually('wave 0 failed', async () => {
      const result = await t.sync(app);
      return result.failed ? result : undefined;
    });
    expect(failed.objects.find((o) => o.ref.name === 'after')?.reason).toMatch(
      /^not applied: wave 0 failed its health \(.*ProgressDeadlineExceeded|progress deadline/i,
    );
    expect(failed.waitingFor).toBeUndefined();
  });

  it('waits for a Deployment to become Current, and fails fast on one that cannot progress', async () => {
    const namespace = await freshNamespace('health');
    const repo = await createTestRepo(await makeTempDir('repo'));
    await repo.commit({ 'good/web.yaml': deployment('web', { replicas: 2 }) });
    const good = await t.sync(
      gitApp(repo.fileUrl, namespace, 'good', { health: { wait: true, timeoutSeconds: 60 } }),
    );
    expect(good.health?.outcome).toBe('Current');
    expect(good.failed).toBe(false);

    // No node matches the selector: the pods stay Pending and the rollout misses its 1 s deadline.
    const stuck = JSON.parse(deployment('stuck', { progressDeadlineSeconds: 1 }));
    stuck.spec.template.spec.nodeSelector = { 'capstan.dev/no-such-node': 'true' };
    await repo.commit({ 'bad/stuck.yaml': JSON.stringify(stuck) });
    const started = Date.now();
    const bad = await t.sync(
      gitApp(repo.fileUrl, namespace, 'bad', { health: { wait: true, timeoutSeconds: 120 } }),
    );
    expect(bad.health?.outcome).toBe('Failed');
    expect(bad.failed).toBe(true);
    expect(bad.health?.message).toMatch(/ProgressDeadlineExceeded|progress deadline/i);
    // Failed well before the 120 s timeout (a bound on waiting, not a performance assertion).
    expect(Date.now() - started).toBeLessThan(100_000);
  });

  it('re-renders and re-applies only the app a commit touched', async () => {
    const namespace = await freshNamespace('mono');
    const repo = await createTestRepo(await makeTempDir('repo'));
    const first = await repo.commit({
      'apps/a/cm.yaml': configMap('a', { v: '1' }),
      'apps/b/cm.yaml': configMap('b', { v: '1' }),
    });
    const appA = gitApp(repo.fileUrl, namespace, 'apps/a');
    const appB = gitApp(repo.fileUrl, namespace, 'apps/b');
    await t.sync(appA);
    await t.sync(appB);
    const versionOfB = await resourceVersion(namespace, 'configmap', 'b');
    const rendersBefore = t.renderer.stats().renders;

    const second = await repo.commit({ 'apps/a/cm.yaml': configMap('a', { v: '2' }) }, 'touch app a only');
    const resultA = await t.sync(appA);
    const resultB = await t.sync(appB);
    expect(t.renderer.stats().renders - rendersBefore).toBe(1);
    expect(actions(resultA)).toEqual({ 'ConfigMap/a': 'configured' });
    expect(actions(resultB)).toEqual({ 'ConfigMap/b': 'unchanged' });
    expect(resultB.revision.commit?.message).toContain('touch app a only');
    expect(await resourceVersion(namespace, 'configmap', 'b')).toBe(versionOfB);
    // Each object records the commit that last changed it.
    const revisionOf = async (name: string) =>
      JSON.parse(await kubectlOk(['get', 'configmap', name, '-n', namespace, '-o', 'json'])).metadata
        .annotations['capstan.dev/revision'];
    expect(await revisionOf('a')).toBe(second);
    expect(await revisionOf('b')).toBe(first);
  });

  it('never takes over an object another app owns', async () => {
    const namespace = await freshNamespace('owner');
    const repo = await createTestRepo(await makeTempDir('repo'));
    await repo.commit({
      'one/cm.yaml': configMap('shared', { by: 'one' }),
      'two/cm.yaml': configMap('shared', { by: 'two' }),
    });
    await t.sync(gitApp(repo.fileUrl, namespace, 'one'));
    const second = await t.sync(gitApp(repo.fileUrl, namespace, 'two'));
    expect(second.objects[0]!.action).toBe('failed');
    expect(second.objects[0]!.reason).toContain(`belongs to app ${namespace}/one`);
    expect(
      JSON.parse(await kubectlOk(['get', 'configmap', 'shared', '-n', namespace, '-o', 'json'])).data,
    ).toEqual({ by: 'one' });
  });

  it('refuses to prune everything when the render becomes empty', async () => {
    const namespace = await freshNamespace('empty');
    const repo = await createTestRepo(await makeTempDir('repo'));
    await repo.commit({ 'app/cm.yaml': configMap('keep', { v: '1' }), 'app/README.md': 'docs' });
    const app = gitApp(repo.fileUrl, namespace, 'app');
    await t.sync(app);
    await repo.commit({ 'app/cm.yaml': null });
    const result = await t.sync(app);
    expect(result.pruneSkipped).toMatch(/the desired state is empty.*refusing/);
    await kubectlOk(['get', 'configmap', 'keep', '-n', namespace]);
    const allowed = await t.sync({ ...app, allowEmpty: true });
    expect(actions(allowed)).toEqual({ 'ConfigMap/keep': 'pruned' });
  });

  it('leaves fields owned by named managers alone', async () => {
    const namespace = await freshNamespace('managers');
    const repo = await createTestRepo(await makeTempDir('repo'));
    await repo.commit({ 'app/web.yaml': deployment('web') });
    const app = gitApp(repo.fileUrl, namespace, 'app', { leaveFieldsToManagers: ['autoscaler'] });
    await t.sync(app);
    // Someone (an autoscaler) takes spec.replicas with its own field manager.
    await kubectlOk([
      'patch',
      'deployment',
      'web',
      '-n',
      namespace,
      '--field-manager=autoscaler',
      '-p',
      '{"spec":{"replicas":4}}',
    ]);
    const result = await t.sync(app);
    expect(actions(result)).toEqual({ 'Deployment/web': 'unchanged' });
    expect(
      JSON.parse(await kubectlOk(['get', 'deployment', 'web', '-n', namespace, '-o', 'json'])).spec.replicas,
    ).toBe(4);
    // Without the exemption, Git wins.
    const strict = await t.sync({ ...app, leaveFieldsToManagers: [] });
    expect(actions(strict)).toEqual({ 'Deployment/web': 'configured' });
    expect(
      JSON.parse(await kubectlOk(['get', 'deployment', 'web', '-n', namespace, '-o', 'json'])).spec.replicas,
    ).toBe(1);
  });
});

function withAnnotation(manifest: string, annotations: Record<string, string>): string {
  const object = JSON.parse(manifest);
  object.metadata.annotations = { ...object.metadata.annotations, ...annotations };
  return JSON.stringify(object);
}
