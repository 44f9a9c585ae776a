/**
 * Sync history against the shared control plane: the ConfigMap store writes a real ConfigMap owned
 * by a real Application, `capstan history` reads it (and falls back to status), the CRD keeps every
 * new status field, `capstan sync` records who asked, and the garbage collector removes the record
 * with its Application.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { REQUESTED_AT_ANNOTATION, type Application, type HistoryEntry } from '../../src/api/v1alpha1.js';
import {
  ConfigMapHistoryStore,
  historyEntry,
  recordHistory,
  requestedByOf,
} from '../../src/controller/history.js';
import { createKubeClient, type KubeClient } from '../../src/kube/index.js';
import { freshNamespace, kubectlOk } from '../support/cluster.js';
import { capstan } from '../support/cli.js';
import { application, eventually, getApp, installCrds } from '../support/controller.js';
import { makeTempDir } from '../support/git-servers.js';

const SHA1 = '1'.repeat(40);
const SHA2 = '2'.repeat(40);

let kube: KubeClient;
beforeAll(async () => {
  kube = await createKubeClient({ kubeconfig: inject('kubeconfig') });
  await installCrds(kube);
});
afterAll(() => kube?.close());

async function createApplication(namespace: string, name: string): Promise<Application> {
  await kube.apply(application(namespace, name, { sourceRef: { name: 'apps' }, path: name, suspend: true }));
  return getApp(kube, namespace, name);
}

describe('sync history', () => {
  it('is kept in a ConfigMap owned by the Application, and capstan history prints it', async () => {
    const namespace = await freshNamespace('history');
    const app = await createApplication(namespace, 'web');
    const store = new ConfigMapHistoryStore(kube);
    const status = structuredClone(app.status ?? {});
    const t0 = new Date(Date.now() - 60_000);
    const at = (ms: number) => new Date(t0.getTime() + ms);

    await recordHistory(
      store,
      app,
      status,
      historyEntry({
        revision: SHA1,
        commit: { message: 'web: blue\n\nbody', author: { name: 'Ada', email: 'ada@example.com' } },
        trigger: 'commit',
        started: t0,
        finished: at(2500),
        sync: { mode: 'apply', changed: true, failed: false, objects: [{ action: 'created' }] },
        health: 'Current',
      }),
    );
    await recordHistory(
      store,
      app,
      status,
      historyEntry({
        revision: SHA2,
        trigger: 'request',
        requestedBy: 'alice',
        started: at(10_000),
        finished: at(11_000),
        message: 'pull from https://bob:hunter2@git.example.com/apps.git failed',
      }),
    );

    const configMap = await kube.get<{
      apiVersion: string;
      kind: string;
      metadata: Application['metadata'];
      data: Record<string, string>;
    }>({ group: '', kind: 'ConfigMap', namespace, name: 'capstan-history-web' });
    expect(configMap?.metadata.labels).toMatchObject({ 'capstan.dev/history-of': 'web' });
    expect(configMap?.metadata.ownerReferences).toEqual([
      {
        apiVersion: 'capstan.dev/v1alpha1',
        kind: 'Application',
        name: 'web',
        uid: app.metadata.uid,
        blockOwnerDeletion: false,
      },
    ]);
    expect(configMap?.data.history).not.toContain('hunter2');

    const json = await capstan(['history', 'web', '-n', namespace, '-o', 'json']);
    expect(json.code).toBe(0);
    const printed = JSON.parse(json.stdout) as { source: string; entries: HistoryEntry[] };
    expect(printed.source).toBe('configmap');
    expect(printed.entries.map((e) => [e.id, e.revision, e.trigger, e.result])).toEqual([
      [2, SHA2, 'request', 'Failed'],
      [1, SHA1, 'commit', 'Succeeded'],
    ]);
    expect(printed.entries[0]).toMatchObject({ requestedBy: 'alice' });
    expect(printed.entries[1]).toMatchObject({
      commit: { message: 'web: blue', author: 'Ada <ada@example.com>' },
      durationSeconds: 2.5,
      changes: { created: 1, configured: 0 },
    });

    const table = await capstan(['history', 'web', '-n', namespace]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(
      /^ID\s+REVISION\s+TRIGGER\s+BY\s+STARTED\s+DURATION\s+RESULT\s+HEALTH\s+CHANGES\s+MESSAGE$/m,
    );
    expect(table.stdout).toMatch(/^2\s+222222222222\s+request\s+alice\s+\S+ ago\s+1s\s+Failed\s+pull from/m);
    expect(table.stdout).toMatch(
      /^1\s+111111111111\s+commit\s+\S+ ago\s+2.5s\s+Succeeded\s+Current\s+1 created\s+web: blue$/m,
    );

    const limited = JSON.parse(
      (await capstan(['history', 'web', '-n', namespace, '-o', 'json', '--limit', '1'])).stdout,
    );
    expect(limited.entries).toHaveLength(1);
    expect((await capstan(['history', 'web', '-n', namespace, '--limit', 'x'])).code).toBe(2);
    const missing = await capstan(['history', 'nope', '-n', namespace]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`application ${namespace}/nope not found`);

    // The Application goes, and the garbage collector takes its history with it.
    await kubectlOk(['delete', 'application', 'web', '-n', namespace, '--wait=false']);
    await eventually(
      'history ConfigMap collected',
      async () => !(await kube.get({ group: '', kind: 'ConfigMap', namespace, name: 'capstan-history-web' })),
      90_000,
    );
  });

  it('falls back to status, whose new fields the CRD keeps', async () => {
    const namespace = await freshNamespace('history');
    await createApplication(namespace, 'api');
    const entry: HistoryEntry = {
      id: 7,
      ...historyEntry({
        revision: SHA1,
        commit: { message: 'api: v2', author: 'Ada <ada@example.com>' },
        trigger: 'rollback',
        rollbackOf: SHA2,
        requestedBy: 'alice',
        started: new Date(Date.now() - 5000),
        finished: new Date(),
        sync: { mode: 'apply', changed: true, failed: false, objects: [{ action: 'configured' }] },
        health: 'Current',
      }),
    };
    await kube.patch(
      { group: 'capstan.dev', kind: 'Application', namespace, name: 'api' },
      { status: { history: [entry] } },
      'merge',
      { subresource: 'status' },
    );
    expect((await getApp(kube, namespace, 'api')).status?.history).toEqual([entry]);

    const json = JSON.parse((await capstan(['history', 'api', '-n', namespace, '-o', 'json'])).stdout);
    expect(json).toEqual({ application: { namespace, name: 'api' }, source: 'status', entries: [entry] });
    const table = await capstan(['history', 'api', '-n', namespace]);
    expect(table.stdout).toMatch(/^7\s+111111111111\s+rollback from 222222222222\s+alice\s+/m);
  });

  it('capstan sync records who asked, and a later hand-made request is not credited to them', async () => {
    const namespace = await freshNamespace('history');
    await createApplication(namespace, 'web');
    // Suspended apps are refused by capstan sync: resume (no controller runs here to act on it).
    await kube.patch(
      { group: 'capstan.dev', kind: 'Application', namespace, name: 'web' },
      { spec: { suspend: false } },
      'merge',
    );
    // A kubeconfig whose user entry has a name of its own: the API server's name for the user counts.
    const config = parseYaml(inject('kubeconfig')) as {
      users: { name: string }[];
      contexts: { context: { user: string } }[];
    };
    const username = config.users[0]!.name;
    config.users[0]!.name = 'local-entry';
    for (const c of config.contexts) c.context.user = 'local-entry';
    const kubeconfigPath = join(await makeTempDir('kubeconfig'), 'config');
    await writeFile(kubeconfigPath, stringifyYaml(config), { mode: 0o600 });

    const synced = await capstan([
      'sync',
      'web',
      '-n',
      namespace,
      '--no-wait',
      '--kubeconfig',
      kubeconfigPath,
    ]);
    expect(synced.code).toBe(0);
    const app = await getApp(kube, namespace, 'web');
    expect(app.metadata.annotations?.[REQUESTED_AT_ANNOTATION]).toBeTruthy();
    expect(app.metadata.annotations?.['capstan.dev/requested-by']).toBe(username);
    const requester = requestedByOf(app);
    expect(requester).toBe(username);

    await kubectlOk([
      'annotate',
      'application',
      'web',
      '-n',
      namespace,
      '--overwrite',
      `${REQUESTED_AT_ANNOTATION}=by-hand`,
    ]);
    const annotated = await getApp(kube, namespace, 'web');
    expect(annotated.metadata.annotations?.['capstan.dev/requested-by']).toBe(requester);
    expect(requestedByOf(annotated)).toBeUndefined();
  });
});
