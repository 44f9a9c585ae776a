/**
 * The operator end to end: a controller, the real control plane, and Git over HTTP.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Application } from '../../src/api/v1alpha1.js';
import { repositoryMatchKey } from '../../src/source/index.js';
import { kubectl, kubectlOk } from '../support/cluster.js';
import {
  application,
  condition,
  createApp as createAppOn,
  eventually,
  getApp,
  gitFixture,
  readyAt as readyAtOn,
  startTestController,
  type GitFixture,
  type TestController,
} from '../support/controller.js';
import { configMap } from '../support/engine.js';
import { startGitHttpServer } from '../support/git-servers.js';

let t: TestController;
beforeAll(async () => {
  t = await startTestController({ resyncMs: 30_000 });
});
afterAll(() => t.stop());

const fixture = (files: Record<string, string>, interval = '1s'): Promise<GitFixture> =>
  gitFixture(t.kube, files, { interval });
const createApp = (namespace: string, name: string, spec: Partial<Application['spec']> & { path: string }) =>
  createAppOn(t.kube, namespace, name, spec);
const readyAt = (namespace: string, name: string, sha: string) => readyAtOn(t.kube, namespace, name, sha);

const short = (sha: string): string => sha.slice(0, 12);

/** A Deployment no node can run (its selector matches none): it never becomes Available. */
function neverAvailable(name: string): string {
  const labels = { app: name };
  return JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas: 1,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          nodeSelector: { 'capstan.dev/no-such-node': 'true' },
          containers: [{ name: 'main', image: 'registry.invalid/app:1' }],
        },
      },
    },
  });
}

async function configMapData(namespace: string, name: string): Promise<Record<string, string> | undefined> {
  const result = await kubectl(['get', 'configmap', name, '-n', namespace, '-o', 'json']);
  return result.code === 0 ? JSON.parse(result.stdout).data : undefined;
}

describe('the controller', () => {
  it('applies a commit picked up by the poll, records it in status and events, and prunes a removed file', async () => {
    const f = await fixture({
      'web/settings.yaml': configMap('settings', { color: 'blue' }),
      'web/extra.yaml': configMap('extra', { a: 'b' }),
    });
    await createApp(f.namespace, 'web', { path: 'web' });
    const first = await readyAt(f.namespace, 'web', await f.repo.head());
    expect(first.status?.sync?.status).toBe('Synced');
    expect(first.status?.history?.[0]).toMatchObject({ result: 'Succeeded' });

    const sha = await f.repo.commit(
      { 'web/settings.yaml': configMap('settings', { color: 'green' }), 'web/extra.yaml': null },
      'green, and no extra',
    );
    const second = await readyAt(f.namespace, 'web', sha);
    expect(second.status?.lastAppliedRevision).toMatchObject({ sha, message: 'green, and no extra' });
    expect(await configMapData(f.namespace, 'settings')).toEqual({ color: 'green' });
    expect(await configMapData(f.namespace, 'extra')).toBeUndefined();
    const events = await kubectlOk([
      'get',
      'events',
      '-n',
      f.namespace,
      '--field-selector',
      'involvedObject.name=web',
      '-o',
      'json',
    ]);
    expect(
      JSON.parse(events)
        .items.map((e: { reason: string; message: string }) => `${e.reason}: ${e.message}`)
        .join('\n'),
    ).toContain(`Synced: ${sha.slice(0, 12)}`);
    await f.server.close();
  });

  it('reconciles at once when told of a push (webhook path), without waiting for the poll', async () => {
    const f = await fixture({ 'web/settings.yaml': configMap('settings', { v: '1' }) }, '1h');
    await createApp(f.namespace, 'web', { path: 'web' });
    await readyAt(f.namespace, 'web', await f.repo.head());
    const sha = await f.repo.commit({ 'web/settings.yaml': configMap('settings', { v: '2' }) });
    // The keys the webhook server computes for the URL it was told of (an https spelling of it).
    const pushed = repositoryMatchKey(f.url.replace('http://', 'https://'));
    // At least this one: other tests' fixtures are `127.0.0.1:<port>/apps.git` too, and the match key
    // drops the port by design (an extra poll is harmless; a missed push is not).
    expect(t.controller.repositoriesPushed(pushed ? [pushed] : [])).toBeGreaterThanOrEqual(1);
    await readyAt(f.namespace, 'web', sha);
    expect(await configMapData(f.namespace, 'settings')).toEqual({ v: '2' });
    await f.server.close();
  });

  it('heals edits and deletions with selfHeal, and only reports OutOfSync without it', async () => {
    const f = await fixture({
      'healed/cm.yaml': configMap('healed', { v: 'git' }),
      'watched/cm.yaml': configMap('watched', { v: 'git' }),
    });
    await createApp(f.namespace, 'healed', { path: 'healed' });
    await createApp(f.namespace, 'watched', { path: 'watched', syncPolicy: { selfHeal: false } });
    const head = await f.repo.head();
    await readyAt(f.namespace, 'healed', head);
    await readyAt(f.namespace, 'watched', head);

    await kubectlOk(['patch', 'configmap', 'healed', '-n', f.namespace, '-p', '{"data":{"v":"edited"}}']);
    await eventually(
      'the edit reverted',
      async () => (await configMapData(f.namespace, 'healed'))?.v === 'git',
    );
    await kubectlOk(['delete', 'configmap', 'healed', '-n', f.namespace]);
    await eventually(
      'the deleted object re-created',
      async () => (await configMapData(f.namespace, 'healed'))?.v === 'git',
    );

    await kubectlOk(['patch', 'configmap', 'watched', '-n', f.namespace, '-p', '{"data":{"v":"edited"}}']);
    const outOfSync = await eventually('watched shown OutOfSync', async () => {
      const app = await getApp(t.kube, f.namespace, 'watched');
      return app.status?.sync?.status === 'OutOfSync' ? app : undefined;
    });
    expect(condition(outOfSync, 'Ready')).toMatchObject({ status: 'False', reason: 'OutOfSync' });
    // Drift found with self-heal off is recorded as what it is, not as a failed sync.
    expect(outOfSync.status?.history?.[0]?.result).toBe('OutOfSync');
    expect(await configMapData(f.namespace, 'watched')).toEqual({ v: 'edited' });
    await f.server.close();
  });

  it('keeps the last revision and prunes nothing while Git is down, and converges when it is back', async () => {
    const f = await fixture({
      'web/a.yaml': configMap('a', { v: '1' }),
      'web/b.yaml': configMap('b', { v: '1' }),
    });
    await createApp(f.namespace, 'web', { path: 'web' });
    const first = await f.repo.head();
    await readyAt(f.namespace, 'web', first);

    const port = f.server.port;
    await f.server.close();
    // A commit that removes b lands while the server is unreachable.
    const sha = await f.repo.commit({ 'web/a.yaml': configMap('a', { v: '2' }), 'web/b.yaml': null });
    const repo = await eventually('the Repository to report Git unavailable', async () => {
      const r = await t.kube.get({
        group: 'capstan.dev',
        kind: 'Repository',
        namespace: f.namespace,
        name: 'apps',
      });
      return condition(r as never, 'Ready')?.reason === 'GitUnavailable' ? r : undefined;
    });
    expect(JSON.stringify(repo)).toContain('GitUnavailable');
    // Poke the app: it keeps its revision and its objects.
    await kubectlOk([
      'annotate',
      'applications.capstan.dev',
      'web',
      '-n',
      f.namespace,
      `capstan.dev/requested-at=${Date.now()}`,
      '--overwrite',
    ]);
    await eventually(
      'the request handled',
      async () => (await getApp(t.kube, f.namespace, 'web')).status?.lastHandledRequest !== undefined,
    );
    const during = await getApp(t.kube, f.namespace, 'web');
    expect(during.status?.lastAppliedRevision?.sha).toBe(first);
    expect(await configMapData(f.namespace, 'b')).toEqual({ v: '1' });

    const back = await startGitHttpServer({ root: f.repo.bareDir.replace(/\/apps\.git$/, ''), port });
    await readyAt(f.namespace, 'web', sha);
    expect(await configMapData(f.namespace, 'a')).toEqual({ v: '2' });
    expect(await configMapData(f.namespace, 'b')).toBeUndefined();
    await back.close();
  });

  it('waits for dependencies and reports a dependency cycle', async () => {
    const f = await fixture({
      'a/cm.yaml': configMap('a', { v: '1' }),
      'b/cm.yaml': configMap('b', { v: '1' }),
      'c/cm.yaml': configMap('c', { v: '1' }),
    });
    await createApp(f.namespace, 'b', { path: 'b', dependsOn: [{ name: 'a' }] });
    const waiting = await eventually('b waiting for a', async () => {
      const app = await getApp(t.kube, f.namespace, 'b');
      return condition(app, 'Ready')?.reason === 'DependencyNotReady' ? app : undefined;
    });
    expect(condition(waiting, 'Ready')?.message).toContain('waiting for Application a: it does not exist');
    expect(await configMapData(f.namespace, 'b')).toBeUndefined();

    await createApp(f.namespace, 'a', { path: 'a' });
    const head = await f.repo.head();
    await readyAt(f.namespace, 'a', head);
    await readyAt(f.namespace, 'b', head);

    await createApp(f.namespace, 'c', { path: 'c', dependsOn: [{ name: 'd' }] });
    await createApp(f.namespace, 'd', { path: 'c', dependsOn: [{ name: 'c' }] });
    const stalled = await eventually('c stalled on a cycle', async () => {
      const app = await getApp(t.kube, f.namespace, 'c');
      return condition(app, 'Stalled')?.reason === 'DependencyCycle' ? app : undefined;
    });
    expect(condition(stalled, 'Stalled')?.message).toBe('dependsOn forms a cycle: c → d → c');
    await f.server.close();
  });

  it('holds a new commit until its dependency is Ready at it, and heals what it applied meanwhile', async () => {
    const f = await fixture({
      'web/cm.yaml': configMap('web', { v: '1' }),
      'worker/cm.yaml': configMap('worker', { v: '1' }),
    });
    await createApp(f.namespace, 'web', { path: 'web' });
    await createApp(f.namespace, 'worker', { path: 'worker', dependsOn: [{ name: 'web' }] });
    const first = await f.repo.head();
    await readyAt(f.namespace, 'web', first);
    await readyAt(f.namespace, 'worker', first);

    // A push for both; web's part is a rollout that never ends (no node matches its selector), so
    // web stays Progressing at it — and right after the push web is still Ready, at `first`.
    const second = await f.repo.commit(
      {
        'web/deployment.yaml': neverAvailable('web'),
        'worker/cm.yaml': configMap('worker', { v: '2' }),
      },
      'web rolls out forever',
    );
    const held = await eventually('worker held while web progresses at the new commit', async () => {
      const app = await getApp(t.kube, f.namespace, 'worker');
      return condition(app, 'Ready')?.message.includes(`(it is at ${short(second)}: Progressing)`)
        ? app
        : undefined;
    });
    expect(condition(held, 'Ready')).toMatchObject({
      status: 'False',
      reason: 'DependencyNotReady',
      message: `waiting for Application web to be Ready at ${short(second)} (it is at ${short(second)}: Progressing); meanwhile ${short(first)} stays applied`,
    });
    expect(held.status?.lastAppliedRevision?.sha).toBe(first);
    expect(await configMapData(f.namespace, 'worker')).toEqual({ v: '1' });

    // Self-heal is not held: what worker applied (`first`) comes back while web is not Ready.
    await kubectlOk(['delete', 'configmap', 'worker', '-n', f.namespace]);
    await eventually(
      'the deleted object re-created',
      async () => (await configMapData(f.namespace, 'worker'))?.v === '1',
    );
    expect(condition(await getApp(t.kube, f.namespace, 'web'), 'Ready')).toMatchObject({
      status: 'False',
      reason: 'Progressing',
    });
    const healed = await getApp(t.kube, f.namespace, 'worker');
    expect(healed.status?.lastAppliedRevision?.sha).toBe(first);
    expect(condition(healed, 'Ready')?.reason).toBe('DependencyNotReady');

    // web's fix: worker applies it only once web is Ready at it, and never applied `second`.
    const third = await f.repo.commit({ 'web/deployment.yaml': null }, 'web without the rollout');
    const web = await readyAt(f.namespace, 'web', third);
    const worker = await readyAt(f.namespace, 'worker', third);
    expect(await configMapData(f.namespace, 'worker')).toEqual({ v: '2' });
    expect(worker.status?.history?.map((h) => h.revision)).not.toContain(second);
    expect(Date.parse(worker.status!.history![0]!.startedAt)).toBeGreaterThanOrEqual(
      Date.parse(web.status!.conditions!.find((c) => c.type === 'Ready')!.lastTransitionTime),
    );
    await f.server.close();
  });

  it('applies as the app ServiceAccount, and says clearly what it may not do', async () => {
    const f = await fixture({
      'limited/cm.yaml': configMap('fine', { v: '1' }),
      'limited/secret.yaml': JSON.stringify({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'nope' },
        stringData: { k: 'v' },
      }),
    });
    await kubectlOk(['create', 'serviceaccount', 'deployer', '-n', f.namespace]);
    await kubectlOk([
      'create',
      'role',
      'configmaps-only',
      '-n',
      f.namespace,
      '--verb=get,list,watch,create,update,patch,delete',
      '--resource=configmaps',
    ]);
    await kubectlOk([
      'create',
      'rolebinding',
      'deployer',
      '-n',
      f.namespace,
      '--role=configmaps-only',
      `--serviceaccount=${f.namespace}:deployer`,
    ]);
    await createApp(f.namespace, 'limited', { path: 'limited', serviceAccountName: 'deployer' });
    const failed = await eventually('limited to fail', async () => {
      const app = await getApp(t.kube, f.namespace, 'limited');
      return condition(app, 'Ready')?.reason === 'SyncFailed' ? app : undefined;
    });
    expect(condition(failed, 'Ready')?.message).toMatch(
      new RegExp(`system:serviceaccount:${f.namespace}:deployer.*cannot .*secrets`),
    );
    expect(failed.status?.resources?.find((r) => r.kind === 'Secret')).toMatchObject({ sync: 'failed' });
    expect((await kubectl(['get', 'secret', 'nope', '-n', f.namespace])).code).not.toBe(0);
    await f.server.close();
  });

  it('refuses or stalls bad specs, and the other apps carry on', async () => {
    const f = await fixture({ 'good/cm.yaml': configMap('good', { v: '1' }) });
    const refused = async (spec: Record<string, unknown>) =>
      t.kube
        .apply(
          application(f.namespace, 'bad', { sourceRef: { name: 'apps' }, path: 'good', ...spec } as never),
        )
        .then(
          () => 'accepted',
          (error: Error) => error.message,
        );
    expect(await refused({ render: { type: 'jsonnet' } })).toMatch(
      /spec\.render\.type.*Unsupported value: "jsonnet"/,
    );
    expect(await refused({ healthTimeout: 'soon' })).toMatch(/spec\.healthTimeout.*should match/);

    await t.kube.apply(application(f.namespace, 'orphan', { sourceRef: { name: 'missing' }, path: 'good' }));
    await createApp(f.namespace, 'good', { path: 'good' });
    await readyAt(f.namespace, 'good', await f.repo.head());
    const orphan = await eventually('orphan stalled', async () => {
      const app = await getApp(t.kube, f.namespace, 'orphan');
      return condition(app, 'Stalled') ? app : undefined;
    });
    expect(condition(orphan, 'Stalled')).toMatchObject({ status: 'True', reason: 'SourceNotFound' });
    expect(condition(orphan, 'Ready')?.message).toBe(`Repository ${f.namespace}/missing does not exist`);
    await f.server.close();
  });

  it('deleting an Application deletes what it applied; with prune off it releases it, suspended it leaves it', async () => {
    const f = await fixture({
      'gone/cm.yaml': configMap('gone', { v: '1' }),
      'gone/kept.yaml': configMap('kept-by-annotation', { v: '1' }, { 'capstan.dev/prune': 'disabled' }),
      'orphans/cm.yaml': configMap('orphan', { v: '1' }),
      'paused/cm.yaml': configMap('paused', { v: '1' }),
    });
    await createApp(f.namespace, 'gone', { path: 'gone' });
    await createApp(f.namespace, 'orphans', { path: 'orphans', syncPolicy: { prune: false } });
    await createApp(f.namespace, 'paused', { path: 'paused' });
    const head = await f.repo.head();
    const gone = await readyAt(f.namespace, 'gone', head);
    await readyAt(f.namespace, 'orphans', head);
    await readyAt(f.namespace, 'paused', head);
    expect(gone.metadata.finalizers).toContain('capstan.dev/cleanup');
    const inventory = JSON.parse(
      await kubectlOk(['get', 'configmap', 'capstan-inventory-gone', '-n', f.namespace, '-o', 'json']),
    );
    // Kubernetes' garbage collector deletes the inventory with its Application (not waited for here:
    // right after a CRD is installed, the collector takes up to ~40 s to watch the new kind).
    expect(inventory.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'Application', name: 'gone', uid: gone.metadata.uid }),
    ]);

    // kubectl waits for the finalizer: when it returns, the objects are gone.
    await kubectlOk(['delete', 'application', 'gone', '-n', f.namespace, '--timeout=60s']);
    expect(await configMapData(f.namespace, 'gone')).toBeUndefined();
    expect(await configMapData(f.namespace, 'kept-by-annotation')).toEqual({ v: '1' });

    await kubectlOk(['delete', 'application', 'orphans', '-n', f.namespace, '--timeout=60s']);
    expect(await configMapData(f.namespace, 'orphan')).toEqual({ v: '1' });
    // Left in place and released: no app's claim stays on it.
    const orphan = JSON.parse(
      await kubectlOk(['get', 'configmap', 'orphan', '-n', f.namespace, '-o', 'json']),
    );
    expect(orphan.metadata.annotations?.['capstan.dev/app']).toBeUndefined();
    await kubectlOk([
      'patch',
      'application',
      'paused',
      '-n',
      f.namespace,
      '--type=merge',
      '-p',
      '{"spec":{"suspend":true}}',
    ]);
    await eventually('paused suspended', async () => {
      const app = await getApp(t.kube, f.namespace, 'paused');
      return condition(app, 'Ready')?.reason === 'Suspended';
    });
    await kubectlOk(['delete', 'application', 'paused', '-n', f.namespace, '--timeout=60s']);
    expect(await configMapData(f.namespace, 'paused')).toEqual({ v: '1' });

    const events = JSON.parse(await kubectlOk(['get', 'events', '-n', f.namespace, '-o', 'json'])).items.map(
      (e: { involvedObject: { name: string }; reason: string; message: string }) =>
        `${e.involvedObject.name} ${e.reason}: ${e.message}`,
    );
    expect(events).toContain(
      `gone Deleted: deleted 1 object(s); left in place: ConfigMap/${f.namespace}/kept-by-annotation (not pruned: annotated capstan.dev/prune: disabled; released (no app owns it now))`,
    );
    expect(events).toContain(
      'orphans Orphaned: prune is off: 1 object(s) left in place and released (no app owns them now)',
    );
    expect(events).toContain('paused Orphaned: objects left in place: it is suspended');
    await f.server.close();
  });
});
