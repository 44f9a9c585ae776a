/**
 * Who owns an object (issue 8, findings 1 and 8), on the real control plane: an object nobody
 * manages is never taken silently; an object an app leaves behind is released, so neither a
 * stranger nor the app that left it takes it again without saying so, and nobody is locked out; an
 * inventory entry naming an object the app does not own deletes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshNamespace, kubectl, kubectlOk } from '../support/cluster.js';
import { actions, configMap, createTestEngine, gitApp, type TestEngine } from '../support/engine.js';
import { createTestRepo, makeTempDir } from '../support/git-servers.js';

let t: TestEngine;
beforeAll(async () => {
  t = await createTestEngine();
});
afterAll(() => t.close());

async function liveConfigMap(namespace: string, name: string) {
  return JSON.parse(await kubectlOk(['get', 'configmap', name, '-n', namespace, '-o', 'json'])) as {
    metadata: {
      annotations?: Record<string, string>;
      labels?: Record<string, string>;
      resourceVersion: string;
    };
    data: Record<string, string>;
  };
}

describe('ownership', () => {
  it('never takes over an object it did not create, unless the manifest asks to adopt it', async () => {
    const namespace = await freshNamespace('adopt');
    await kubectlOk(['create', 'configmap', 'settings', '-n', namespace, '--from-literal=owner=admin']);
    const before = await liveConfigMap(namespace, 'settings');
    const repo = await createTestRepo(await makeTempDir('repo'));
    await repo.commit({ 'app/cm.yaml': configMap('settings', { owner: 'tenant' }) });

    const refused = await t.sync(gitApp(repo.fileUrl, namespace, 'app'));
    expect(actions(refused)).toEqual({ 'ConfigMap/settings': 'failed' });
    expect(refused.objects[0]!.reason).toContain('already exists and no app manages it');
    expect(refused.objects[0]!.reason).toContain('capstan.dev/adopt: "true"');
    expect((await liveConfigMap(namespace, 'settings')).metadata.resourceVersion).toBe(
      before.metadata.resourceVersion,
    );

    await repo.commit({
      'app/cm.yaml': configMap('settings', { owner: 'tenant' }, { 'capstan.dev/adopt': 'true' }),
    });
    const adopted = await t.sync(gitApp(repo.fileUrl, namespace, 'app'));
    expect(actions(adopted)).toEqual({ 'ConfigMap/settings': 'configured' });
    const after = await liveConfigMap(namespace, 'settings');
    expect(after.data.owner).toBe('tenant');
    expect(after.metadata.annotations?.['capstan.dev/app']).toBe(`${namespace}/app`);
  });

  it('releases what it leaves behind: nobody owns it, and nobody takes it without asking', async () => {
    const namespace = await freshNamespace('release');
    const repo = await createTestRepo(await makeTempDir('repo'));
    await repo.commit({
      'one/cm.yaml': configMap('kept', { by: 'one' }, { 'capstan.dev/prune': 'disabled' }),
      'one/other.yaml': configMap('other', { by: 'one' }),
      'two/cm.yaml': configMap('kept', { by: 'two' }),
    });
    const one = gitApp(repo.fileUrl, namespace, 'one');
    await t.sync(one);

    // It leaves Git with prune disabled: left in place, and released.
    await repo.commit({ 'one/cm.yaml': null });
    const left = await t.sync(one);
    expect(actions(left)).toEqual({ 'ConfigMap/other': 'unchanged', 'ConfigMap/kept': 'skipped' });
    expect(left.objects.find((o) => o.ref.name === 'kept')!.reason).toContain('released');
    const released = await liveConfigMap(namespace, 'kept');
    expect(released.metadata.annotations?.['capstan.dev/app']).toBeUndefined();
    expect(released.metadata.labels?.['capstan.dev/managed']).toBeUndefined();
    expect(released.data.by).toBe('one');

    // Another app may not take it silently…
    const stranger = await t.sync(gitApp(repo.fileUrl, namespace, 'two'));
    expect(actions(stranger)).toEqual({ 'ConfigMap/kept': 'failed' });
    expect(stranger.objects[0]!.reason).toContain('no app manages it');
    // …nor may the app that left it: both adopt it the same way, so neither is locked out.
    await repo.commit({
      'one/cm.yaml': configMap('kept', { by: 'one' }, { 'capstan.dev/adopt': 'true' }),
    });
    expect(actions(await t.sync(one))).toEqual({
      'ConfigMap/kept': 'configured',
      'ConfigMap/other': 'unchanged',
    });
    expect((await liveConfigMap(namespace, 'kept')).metadata.annotations?.['capstan.dev/app']).toBe(
      `${namespace}/one`,
    );
  });

  it('an inventory entry for an object the app does not own deletes nothing', async () => {
    const namespace = await freshNamespace('inventory');
    await kubectlOk(['create', 'configmap', 'precious', '-n', namespace, '--from-literal=v=1']);
    const repo = await createTestRepo(await makeTempDir('repo'));
    await repo.commit({ 'app/cm.yaml': configMap('mine', { v: '1' }) });
    const app = gitApp(repo.fileUrl, namespace, 'app');
    await t.sync(app);
    // A tenant who may edit ConfigMaps in its namespace adds someone else's object to the inventory.
    const inventory = await liveConfigMap(namespace, 'capstan-inventory-app');
    const recorded = JSON.parse(inventory.data.inventory!) as { entries: { id: string; v: string }[] };
    recorded.entries.push({ id: `${namespace}_precious__ConfigMap`, v: 'v1' });
    await kubectlOk(['apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'capstan-inventory-app', namespace },
        data: { inventory: JSON.stringify(recorded) },
      }),
    });

    const result = await t.sync(app);
    const precious = result.objects.find((o) => o.ref.name === 'precious');
    expect(precious?.action).toBe('skipped');
    expect(precious?.reason).toContain("does not carry this app's capstan.dev/app");
    expect((await kubectl(['get', 'configmap', 'precious', '-n', namespace])).code).toBe(0);
  });
});
