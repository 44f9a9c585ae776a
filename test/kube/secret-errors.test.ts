/**
 * Secret values never reach output through the API server's errors. A Secret whose stringData holds
 * values of the wrong type (a number, a map, a list) makes server-side apply answer 500 "failed to
 * create typed patch object" with those values printed in the message. The kube client keeps only the
 * status, the reason and the field paths of a failure about a Secret, whatever the request; these
 * tests follow it to every front end: the client itself, the engine's results and events, `capstan
 * diff` and `capstan apply` (text and JSON), and the controller's status, Events and log.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { describeError } from '../../src/core/errors.js';
import { createKubeClient, KubeApiError, type HttpKubeClient } from '../../src/kube/index.js';
import { capstan } from '../support/cli.js';
import { freshNamespace, kubectlOk } from '../support/cluster.js';
import { createApp, eventually, getApp, repository, startTestController } from '../support/controller.js';
import { configMap, createTestEngine, gitApp, type TestEngine } from '../support/engine.js';
import { createTestRepo, makeTempDir, type TestRepo } from '../support/git-servers.js';

const PIN = 987654321;
const INNER = 'inner-value-q7x2m9';
const LISTED = 'listed-value-k3v8p1';
const LEAKS = [String(PIN), INNER, LISTED];

const typedSecret = (namespace?: string) => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: 'typed', ...(namespace ? { namespace } : {}) },
  stringData: { pin: PIN, nested: { inner: INNER } },
});
/** The same mistake in a Secret inside a `kind: List`, which the renderer flattens into its items. */
const listedSecret = {
  apiVersion: 'v1',
  kind: 'List',
  items: [
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'listed' }, stringData: { tokens: [LISTED] } },
  ],
};
const FILES = {
  'app/typed.yaml': JSON.stringify(typedSecret()),
  'app/listed.yaml': JSON.stringify(listedSecret),
  'app/settings.yaml': configMap('settings', { color: 'blue' }),
};

function expectNoValue(where: string, text: string): void {
  for (const leak of LEAKS) expect(text.includes(leak), `${where} shows ${leak}:\n${text}`).toBe(false);
}

async function repoWith(files: Record<string, string>): Promise<TestRepo> {
  const repo = await createTestRepo(await makeTempDir('secret-errors'));
  await repo.commit(files);
  return repo;
}

let kube: HttpKubeClient;
let engine: TestEngine;
beforeAll(async () => {
  kube = await createKubeClient({ kubeconfig: inject('kubeconfig') });
  engine = await createTestEngine();
});
afterAll(() => {
  kube.close();
  engine.close();
});

describe('a Secret with values of the wrong type', () => {
  it('fails every kind of request with status, reason and field paths only', async () => {
    const namespace = await freshNamespace('secret-kube');
    const secret = typedSecret(namespace);
    const ref = { group: '', kind: 'Secret', namespace, name: 'typed' };
    const failures = {
      apply: await kube.apply(secret).catch((e: unknown) => e),
      dryRun: await kube.apply(secret, { dryRun: true }).catch((e: unknown) => e),
      create: await kube.create(secret).catch((e: unknown) => e),
      update: await kube.update(secret).catch((e: unknown) => e),
      patch: await kube.patch(ref, { stringData: secret.stringData }, 'merge').catch((e: unknown) => e),
    };
    for (const [request, error] of Object.entries(failures)) {
      expect(error, request).toBeInstanceOf(KubeApiError);
      expectNoValue(request, `${describeError(error)}\n${JSON.stringify(error)}\n${String(error)}`);
    }
    // Server-side apply's type error: a 500 that keeps its kind, and says which fields are wrong.
    expect(failures.apply).toMatchObject({ status: 500, reason: 'InternalError', kind: 'transient' });
    expect((failures.apply as KubeApiError).message).toBe(
      'Secret "typed": PATCH failed with HTTP 500 InternalError: .stringData.nested: expected string; .stringData.pin: expected string',
    );
    expect((failures.dryRun as KubeApiError).message).toBe((failures.apply as KubeApiError).message);
    // Nothing was stored, and a read or delete of the missing Secret is scrubbed the same way.
    expect(await kube.get(ref)).toBeUndefined();
    expect(await kube.delete(ref)).toBe(false);
  });

  it('fails in the engine with field paths, in diff and apply, with no value in results or events', async () => {
    const namespace = await freshNamespace('secret-engine');
    const app = gitApp((await repoWith(FILES)).fileUrl, namespace, 'app');
    for (const mode of ['diff', 'apply'] as const) {
      const result = await engine.sync(app, mode);
      expect(result.failed).toBe(true);
      const typed = result.objects.find((o) => o.ref.name === 'typed');
      expect(typed).toMatchObject({ action: 'failed' });
      expect(typed?.reason).toContain('.stringData.pin: expected string');
      expect(result.objects.find((o) => o.ref.name === 'listed')?.reason).toContain(
        '.stringData.tokens: expected string',
      );
      expectNoValue(`the ${mode} result`, JSON.stringify(result));
    }
    expect(
      JSON.parse(await kubectlOk(['get', 'configmap', 'settings', '-n', namespace, '-o', 'json'])).data,
    ).toEqual({
      color: 'blue',
    });
    expectNoValue('the engine events', JSON.stringify(engine.events));
  });

  it('capstan diff and capstan apply name the fields and print no value, as text or JSON', async () => {
    const namespace = await freshNamespace('secret-cli');
    const repo = await repoWith(FILES);
    const gitArgs = ['--repo', repo.fileUrl, '--ref', 'main', '--path', 'app', '-n', namespace];
    const runs = {
      diff: await capstan(['diff', ...gitArgs]),
      'diff -o json': await capstan(['diff', ...gitArgs, '-o', 'json']),
      apply: await capstan(['apply', ...gitArgs]),
      'apply -o json': await capstan(['apply', ...gitArgs, '-o', 'json']),
    };
    for (const [command, run] of Object.entries(runs)) {
      expect(run.code, `${command}: ${run.stderr}`).not.toBe(0);
      expect(`${run.stdout}${run.stderr}`, command).toContain('.stringData.pin: expected string');
      expectNoValue(`capstan ${command}`, `${run.stdout}\n${run.stderr}`);
    }
    expect(runs.apply.code).toBe(1);
    const json = JSON.parse(runs['apply -o json'].stdout);
    expect(json.objects).toContainEqual(expect.objectContaining({ name: 'typed', action: 'failed' }));
  });

  it('the controller records the failure in status, Events and its log without a value', async () => {
    const namespace = await freshNamespace('secret-ctl');
    const log: string[] = [];
    const record = (fields: Record<string, unknown>, message: string) =>
      void log.push(`${message} ${JSON.stringify(fields)}`);
    const t = await startTestController({
      namespace,
      log: { debug: record, info: record, warn: record, error: record },
    });
    try {
      const repo = await repoWith(FILES);
      await t.kube.apply(repository(namespace, 'apps', { url: repo.fileUrl, interval: '1h' }));
      await createApp(t.kube, namespace, 'web', { path: 'app' });
      const app = await eventually('the Application reports the failed Secret', async () => {
        const current = await getApp(t.kube, namespace, 'web');
        return current.status?.resources?.some((r) => r.name === 'typed' && r.message) ? current : undefined;
      });
      const status = JSON.stringify(app.status);
      expect(status).toContain('.stringData.pin: expected string');
      expect(app.status?.lastError).toContain('Secret "typed"');
      expectNoValue('the Application status', status);
      const events = await kubectlOk(['get', 'events', '-n', namespace, '-o', 'json']);
      expect(events).toContain('SyncFailed');
      expectNoValue('the Events', events);
      expectNoValue('the controller log', log.join('\n'));
    } finally {
      await t.stop();
    }
  });
});

describe('an immutable Secret', () => {
  it('refuses a change with a clear message naming the fix, and is re-created when allowed', async () => {
    const first = 'first-immutable-value-3hd8';
    const second = 'second-immutable-value-9zq1';
    const secret = (value: string) =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'fixed' },
        immutable: true,
        stringData: { password: value },
      });
    const namespace = await freshNamespace('secret-immutable');
    const repo = await repoWith({ 'app/secret.yaml': secret(first) });
    const app = gitApp(repo.fileUrl, namespace, 'app');
    expect((await engine.sync(app)).failed).toBe(false);

    await repo.commit({ 'app/secret.yaml': secret(second) });
    const refused = await engine.sync(app);
    const object = refused.objects.find((o) => o.ref.name === 'fixed');
    expect(object?.action).toBe('failed');
    expect(object?.reason).toContain('data: FieldValueForbidden (field is immutable)');
    expect(object?.reason).toContain('must be re-created');
    for (const value of [first, second]) expect(JSON.stringify(refused)).not.toContain(value);

    const recreated = await engine.sync({ ...app, forceRecreate: true });
    expect(recreated.objects.find((o) => o.ref.name === 'fixed')?.action).toBe('recreated');
    const stored = JSON.parse(await kubectlOk(['get', 'secret', 'fixed', '-n', namespace, '-o', 'json']));
    expect(Buffer.from(stored.data.password, 'base64').toString()).toBe(second);
  });
});
