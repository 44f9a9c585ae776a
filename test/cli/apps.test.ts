/**
 * The operator CLI as a person runs it (a process with a kubeconfig) against the shared control
 * plane, with a controller running in the test process and Git served over HTTP.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { GROUP, REQUESTED_AT_ANNOTATION, type Application, type Repository } from '../../src/api/v1alpha1.js';
import { kubectlOk } from '../support/cluster.js';
import { capstan } from '../support/cli.js';
import {
  condition,
  eventually,
  createApp as createAppOn,
  getApp,
  gitFixture,
  readyAt as readyAtOn,
  startTestController,
  type GitFixture,
  type TestController,
} from '../support/controller.js';
import { configMap } from '../support/engine.js';

const deployment = (name: string, image: string): string =>
  JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'main', image }] },
      },
    },
  });

let t: TestController;
beforeAll(async () => {
  t = await startTestController({ resyncMs: 30_000 });
});
afterAll(() => t.stop());

/** A Repository polling only hourly: `sync` is what brings news. */
const fixture = (files: Record<string, string>): Promise<GitFixture> =>
  gitFixture(t.kube, files, { interval: '1h', prefix: 'cli-apps' });
const createApp = (namespace: string, name: string, spec: Partial<Application['spec']> & { path: string }) =>
  createAppOn(t.kube, namespace, name, spec);
const readyAt = (namespace: string, name: string, sha: string) => readyAtOn(t.kube, namespace, name, sha);

describe('capstan get / describe', () => {
  it('lists the app Ready at its revision, describes it, prints it as JSON and YAML', async () => {
    const f = await fixture({ 'web/settings.yaml': configMap('settings', { color: 'blue' }) });
    await createApp(f.namespace, 'web', { path: 'web' });
    const sha = await f.repo.head();
    await readyAt(f.namespace, 'web', sha);

    const table = await capstan(['get', 'apps', '-n', f.namespace]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(
      /^NAME\s+REPOSITORY\s+REF\s+REVISION\s+SYNC\s+HEALTH\s+READY\s+AGE\s+REASON\s+MESSAGE$/m,
    );
    expect(table.stdout).toMatch(
      new RegExp(
        `^web\\s+apps\\s+main\\s+${sha.slice(0, 12)}\\s+Synced\\s+Healthy\\s+True\\s+\\S+\\s+Synced\\s+`,
        'm',
      ),
    );
    expect(table.stdout).not.toContain('\u001b[');

    const everywhere = await capstan(['get', 'apps', '-A']);
    expect(everywhere.code).toBe(0);
    expect(everywhere.stdout).toMatch(new RegExp(`^${f.namespace}\\s+web\\s+apps\\s+main`, 'm'));

    const json = JSON.parse((await capstan(['get', 'apps', '-n', f.namespace, '-o', 'json'])).stdout);
    expect(json).toMatchObject({ kind: 'List', items: [{ metadata: { name: 'web' } }] });
    expect(json.items[0].status.lastAppliedRevision.sha).toBe(sha);
    expect(json.items[0].metadata.managedFields).toBeUndefined();
    const yaml = parseYaml((await capstan(['get', 'app', 'web', '-n', f.namespace, '-o', 'yaml'])).stdout);
    expect(yaml).toMatchObject({ kind: 'Application', metadata: { name: 'web' } });

    const repos = await capstan(['get', 'repos', '-n', f.namespace]);
    expect(repos.code).toBe(0);
    expect(repos.stdout).toMatch(
      new RegExp(`^apps\\s+${f.url.replace(/[.]/g, '\\.')}\\s+main@${sha.slice(0, 12)}\\s+True`, 'm'),
    );

    const described = await capstan(['describe', 'app', 'web', '-n', f.namespace]);
    expect(described.code).toBe(0);
    const text = described.stdout;
    expect(text).toMatch(
      new RegExp(`^Source:\\s+Repository apps \\(${f.url.replace(/[.]/g, '\\.')}\\)$`, 'm'),
    );
    expect(text).toMatch(/^Path:\s+web$/m);
    expect(text).toMatch(/Conditions:\n\s+TYPE.*\n\s+Ready\s+True\s+Synced\s+\S+\s+\w+ applied and healthy/);
    expect(text).toMatch(new RegExp(`^\\s+SHA:\\s+${sha}$`, 'm'));
    expect(text).toMatch(
      new RegExp(`^\\s+ConfigMap\\s+${f.namespace}\\s+settings\\s+(created|unchanged)\\s+Healthy`, 'm'),
    );
    expect(text).toMatch(
      new RegExp(`History:\\n.*\\n\\s+${sha.slice(0, 12)}\\s+.*ago\\s+Succeeded\\s+Healthy`),
    );
    expect(text).toMatch(new RegExp(`Events:\\n.*\\n\\s+Normal\\s+Synced\\s+\\S+\\s+${sha.slice(0, 12)}`));

    const asJson = JSON.parse(
      (await capstan(['describe', 'app', 'web', '-n', f.namespace, '-o', 'json'])).stdout,
    );
    expect(asJson).toMatchObject({ kind: 'Application', status: { sync: { status: 'Synced' } } });

    const missing = await capstan(['describe', 'app', 'nope', '-n', f.namespace]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`application ${f.namespace}/nope not found`);
    expect((await capstan(['get', 'apps', '-n', f.namespace, '-A'])).code).toBe(2);
    expect((await capstan(['get', 'apps', '-o', 'table'])).code).toBe(2);
    await f.server.close();
  });
});

describe('capstan sync', () => {
  it('asks for a sync that fetches a new commit, follows the rollout to Ready and exits 0', async () => {
    const f = await fixture({
      'web/settings.yaml': configMap('settings', { color: 'blue' }),
      'web/deployment.yaml': deployment('web', 'registry.invalid/web:1'),
    });
    await createApp(f.namespace, 'web', { path: 'web' });
    const head = await f.repo.head();
    await readyAt(f.namespace, 'web', head);
    // The Repository's first refresh may come after the app's own resolve (a loaded machine):
    // made after the commit below, it would bring the commit in before the request does.
    await eventually('the Repository to have fetched main', async () => {
      const repository = await t.kube.get<Repository>({
        group: GROUP,
        kind: 'Repository',
        namespace: f.namespace,
        name: 'apps',
      });
      return repository?.status?.revisions?.some((r) => r.ref === 'main' && r.sha === head);
    });
    // The Repository polls hourly: only the request can bring this commit in.
    const sha = await f.repo.commit(
      {
        'web/settings.yaml': configMap('settings', { color: 'green' }),
        'web/deployment.yaml': deployment('web', 'registry.invalid/web:2'),
      },
      'web 2, green',
    );

    const synced = await capstan(['sync', 'web', '-n', f.namespace, '--timeout', '2m']);
    expect(synced.stderr).toMatch(/requested a sync of .*\/web/);
    expect(synced.stderr).toContain(`applied ${sha.slice(0, 12)} (web 2, green)`);
    expect(synced.code).toBe(0);
    expect(synced.stdout).toMatch(
      new RegExp(`application ${f.namespace}/web synced: ${sha.slice(0, 12)} applied and healthy`),
    );

    const app = await getApp(t.kube, f.namespace, 'web');
    expect(app.status?.lastHandledRequest).toBeDefined();
    expect(app.status?.lastHandledRequest).toBe(app.metadata.annotations?.[REQUESTED_AT_ANNOTATION]);
    expect(app.status?.lastAppliedRevision?.sha).toBe(sha);
    expect(condition(app, 'Ready')?.status).toBe('True');

    const noWait = await capstan(['sync', 'web', '-n', f.namespace, '--no-wait']);
    expect(noWait.code).toBe(0);
    const requested = (await getApp(t.kube, f.namespace, 'web')).metadata.annotations?.[
      REQUESTED_AT_ANNOTATION
    ];
    expect(requested).not.toBe(app.metadata.annotations?.[REQUESTED_AT_ANNOTATION]);
    expect(noWait.stderr).toContain(requested);
    await f.server.close();
  });

  it('exits 1 with the reason when the sync fails, and when it times out', async () => {
    const f = await fixture({
      'limited/cm.yaml': configMap('fine', { v: '1' }),
      'limited/secret.yaml': JSON.stringify({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'nope' },
        stringData: { k: 'v' },
      }),
      'broken/bad.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: [unclosed\n',
      'waiting/cm.yaml': configMap('waiting', { v: '1' }),
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
    await createApp(f.namespace, 'broken', { path: 'broken' });
    await createApp(f.namespace, 'waiting', { path: 'waiting', dependsOn: [{ name: 'absent' }] });

    const [limited, broken] = await Promise.all([
      capstan(['sync', 'limited', '-n', f.namespace, '--timeout', '90s']),
      capstan(['sync', 'broken', '-n', f.namespace, '--timeout', '90s']),
    ]);
    expect(limited.code).toBe(1);
    expect(limited.stderr).toMatch(
      new RegExp(
        `sync of ${f.namespace}/limited failed: SyncFailed: .*system:serviceaccount:${f.namespace}:deployer.*cannot .*secrets`,
      ),
    );
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(new RegExp(`sync of ${f.namespace}/broken failed: \\w+: .*bad\\.yaml`));
    for (const name of ['limited', 'broken']) {
      const app = await getApp(t.kube, f.namespace, name);
      expect(app.status?.lastHandledRequest).toBe(app.metadata.annotations?.[REQUESTED_AT_ANNOTATION]);
    }

    const waiting = await capstan(['sync', 'waiting', '-n', f.namespace, '--timeout', '3s']);
    expect(waiting.code).toBe(1);
    expect(waiting.stderr).toMatch(/timed out after 3s waiting for the controller to handle the request/);
    expect(waiting.stderr).toContain('meanwhile DependencyNotReady: waiting for Application absent');

    const missing = await capstan(['sync', 'nope', '-n', f.namespace]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`application ${f.namespace}/nope not found`);
    expect((await capstan(['sync', 'limited', '-n', f.namespace, '--timeout', 'soon'])).code).toBe(2);
    await f.server.close();
  });
});

describe('capstan suspend / resume', () => {
  it('flips spec.suspend, and a suspended app refuses a sync', async () => {
    const f = await fixture({ 'web/settings.yaml': configMap('settings', { color: 'blue' }) });
    await createApp(f.namespace, 'web', { path: 'web' });
    await readyAt(f.namespace, 'web', await f.repo.head());

    const suspended = await capstan(['suspend', 'web', '-n', f.namespace]);
    expect(suspended.code).toBe(0);
    expect(suspended.stdout).toContain(`application ${f.namespace}/web suspended`);
    expect((await getApp(t.kube, f.namespace, 'web')).spec.suspend).toBe(true);
    expect((await capstan(['get', 'apps', '-n', f.namespace])).stdout).toMatch(/\sSuspended\s/);

    const refused = await capstan(['sync', 'web', '-n', f.namespace]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("is suspended; run 'capstan resume web' first");

    const resumed = await capstan(['resume', 'web', '-n', f.namespace]);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain(`application ${f.namespace}/web resumed`);
    expect((await getApp(t.kube, f.namespace, 'web')).spec.suspend).toBe(false);
    expect((await capstan(['sync', 'web', '-n', f.namespace, '--timeout', '60s'])).code).toBe(0);

    expect((await capstan(['suspend', 'nope', '-n', f.namespace])).stderr).toContain(
      `application ${f.namespace}/nope not found`,
    );
    await f.server.close();
  });
});

describe('capstan rollback', () => {
  it('goes back to the healthy revision before, names who asked, and --clear goes forward again', async () => {
    const f = await fixture({ 'web/settings.yaml': configMap('settings', { color: 'blue' }) });
    await createApp(f.namespace, 'web', { path: 'web' });
    const first = await f.repo.head();
    await readyAt(f.namespace, 'web', first);
    const second = await f.repo.commit(
      { 'web/settings.yaml': configMap('settings', { color: 'green' }) },
      'green',
    );
    expect((await capstan(['sync', 'web', '-n', f.namespace, '--timeout', '2m'])).code).toBe(0);

    const refused = await capstan(['rollback', 'web', 'HEAD~1', '-n', f.namespace]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/revision must be a commit SHA/);

    const rolledBack = await capstan(['rollback', 'web', '-n', f.namespace]);
    expect(rolledBack.code).toBe(0);
    const back = await readyAt(f.namespace, 'web', first);
    expect(condition(back, 'Ready')?.reason).toBe('RolledBack');
    expect(back.status?.rejectedRevisions?.[0]).toMatchObject({
      sha: second,
      by: expect.any(String) as string,
    });

    expect((await capstan(['rollback', 'web', '--clear', '-n', f.namespace])).code).toBe(0);
    await readyAt(f.namespace, 'web', second);
    await f.server.close();
  });
});
