/**
 * Attacks on `destination.createNamespace` (src/engine/sync.ts withDestinationNamespace) on the real
 * control plane: claiming kube-system, another team's namespace, or a namespace another team's app
 * created — and then deleting it by pruning.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { ConfigMapInventoryStore } from '../../src/apply/index.js';
import { uninstall } from '../../src/engine/uninstall.js';
import { freshNamespace, kubectl } from '../support/cluster.js';
import { configMap, createTestEngine, gitApp, type TestEngine } from '../support/engine.js';
import { createTestRepo, makeTempDir } from '../support/git-servers.js';

let t: TestEngine;
beforeAll(async () => {
  t = await createTestEngine();
});
afterAll(() => t.close());

async function outcomeText(sync: Promise<unknown>): Promise<string> {
  const result = await sync.catch((error: unknown) => error);
  return result instanceof Error ? result.message : JSON.stringify((result as { objects: unknown }).objects);
}

async function ownerOf(name: string): Promise<string | undefined | null> {
  const live = await t.kube.get({ group: '', kind: 'Namespace', name });
  if (!live) return null;
  return live.metadata.annotations?.['capstan.dev/app'];
}

async function repoWithConfigMap(): Promise<string> {
  const repo = await createTestRepo(await makeTempDir('atk-ns-repo'));
  await repo.commit({ 'app/settings.yaml': configMap('settings', { a: '1' }) });
  return repo.fileUrl;
}

describe('createNamespace attacks', () => {
  for (const target of ['kube-system', 'default', 'kube-public']) {
    it(`refuses to claim ${target}, and uninstalling the app leaves it`, async () => {
      const home = await freshNamespace('atk-ns');
      const url = await repoWithConfigMap();
      const app = gitApp(url, home, 'app', { destinationNamespace: target, createNamespace: true });
      const text = await outcomeText(t.sync(app));
      expect(text).toMatch(/already exists and no app manages it|refus|not allowed/i);
      expect(await ownerOf(target)).toBeUndefined();
      await uninstall(
        { kube: t.kube, inventory: new ConfigMapInventoryStore(t.kube), concurrency: 2 },
        app.identity,
      );
      expect(await ownerOf(target)).toBeUndefined();
      expect(
        (await t.kube.get({ group: '', kind: 'Namespace', name: target }))?.metadata.deletionTimestamp,
      ).toBeUndefined();
    });
  }

  it("refuses to claim another team's home namespace", async () => {
    const home = await freshNamespace('atk-ns');
    const other = await freshNamespace('atk-ns-other');
    const url = await repoWithConfigMap();
    const text = await outcomeText(
      t.sync(gitApp(url, home, 'app', { destinationNamespace: other, createNamespace: true })),
    );
    expect(text).toMatch(/already exists and no app manages it/);
    expect(await ownerOf(other)).toBeUndefined();
  });

  it("refuses to take a namespace another team's app created, and cannot prune it", async () => {
    const teamB = await freshNamespace('atk-ns-b');
    const teamA = await freshNamespace('atk-ns-a');
    const shared = `atk-made-${randomBytes(4).toString('hex')}`;
    onTestFinished(async () => {
      await kubectl(['delete', 'namespace', shared, '--ignore-not-found', '--wait=false']);
    });
    const url = await repoWithConfigMap();
    const bApp = gitApp(url, teamB, 'app', { destinationNamespace: shared, createNamespace: true });
    await t.sync(bApp);
    expect(await ownerOf(shared)).toBe(`${teamB}/app`);

    const aApp = gitApp(url, teamA, 'app', { destinationNamespace: shared, createNamespace: true });
    const text = await outcomeText(t.sync(aApp));
    expect(text).not.toMatch(/"Namespace\/[^"]*","action":"(configured|unchanged)"/);
    expect(await ownerOf(shared)).toBe(`${teamB}/app`);
    // A's app goes away (prune on): B's namespace stays.
    await uninstall(
      { kube: t.kube, inventory: new ConfigMapInventoryStore(t.kube), concurrency: 2 },
      aApp.identity,
    );
    const live = await t.kube.get({ group: '', kind: 'Namespace', name: shared });
    expect(live?.metadata.deletionTimestamp).toBeUndefined();
    expect(await ownerOf(shared)).toBe(`${teamB}/app`);
  });
});
