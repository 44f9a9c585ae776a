/**
 * Issue 9's audit, end to end (a controller, the real control plane with kwok's chaos stage, Git
 * over HTTP): a revision that never becomes healthy is a failed sync everywhere it is recorded, and
 * a manual rollback gives way to a newer commit by itself.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import type { Application } from '../../src/api/v1alpha1.js';
import { ROLLBACK_ANNOTATION } from '../../src/api/v1alpha1.js';
import { metricsHooks } from '../../src/cli/wiring.js';
import { CapstanMetrics } from '../../src/server/index.js';
import { webDeployment as web } from '../support/chaos.js';
import { freshNamespace, kubectl, kubectlOk } from '../support/cluster.js';
import { createTestRepo, makeTempDir, startGitHttpServer } from '../support/git-servers.js';
import {
  application,
  condition,
  eventually,
  getApp,
  isolated,
  readyAt as readyAtOn,
  repository,
  startTestController,
  type TestController,
} from '../support/controller.js';

let t: TestController;

/** A namespace with its own controller (its metrics in `metrics`) and a Repository `apps` holding web 1. */
async function fixture(prefix: string) {
  const namespace = await freshNamespace(prefix);
  const metrics = new CapstanMetrics({ defaultMetrics: false });
  t = await startTestController({ namespace, resyncMs: 60_000, hooks: metricsHooks(metrics) });
  onTestFinished(() => t.stop());
  const root = await makeTempDir('git-root');
  const repo = await createTestRepo(root, 'apps');
  await repo.commit({ 'web/deploy.yaml': web('1') });
  const server = await startGitHttpServer({ root });
  onTestFinished(() => server.close());
  await t.kube.apply(isolated(repository(namespace, 'apps', { url: server.url('apps'), interval: '1s' })));
  return { namespace, repo, metrics };
}

const createApp = (namespace: string, spec: Partial<Application['spec']>) =>
  t.kube.apply(
    isolated(
      application(namespace, 'web', {
        sourceRef: { name: 'apps' },
        ref: 'main',
        path: 'web',
        healthTimeout: '60s',
        ...spec,
      }),
    ),
  );
const readyAt = (namespace: string, sha: string) => readyAtOn(t.kube, namespace, 'web', sha, 90_000);
const healthyAt = (namespace: string, sha: string) =>
  eventually(
    `web healthy at ${sha.slice(0, 8)}`,
    async () => (await getApp(t.kube, namespace, 'web')).status?.lastHealthyRevision?.sha === sha,
  );

async function events(namespace: string): Promise<{ type: string; reason: string; message: string }[]> {
  const result = await kubectl(['get', 'events', '-n', namespace, '-o', 'json']);
  return JSON.parse(result.stdout).items;
}

async function syncsCounted(metrics: CapstanMetrics, result: 'succeeded' | 'failed'): Promise<number> {
  const line = (await metrics.exposition())
    .split('\n')
    .find((l) => l.startsWith(`capstan_syncs_total{result="${result}"}`));
  return Number(line?.split(' ')[1] ?? Number.NaN);
}

async function imageOf(namespace: string): Promise<string> {
  const image = await kubectlOk([
    'get',
    'deployment',
    'web',
    '-n',
    namespace,
    '-o',
    'jsonpath={.spec.template.spec.containers[0].image}',
  ]);
  return image.trim();
}

describe('a rollout that does not become healthy', () => {
  it('is a failed sync without automatic rollback: status, history, Event and metric', async () => {
    const f = await fixture('timeout');
    const good = await f.repo.head();
    await createApp(f.namespace, { healthTimeout: '8s' });
    await readyAt(f.namespace, good);
    await healthyAt(f.namespace, good);
    const failedBefore = await syncsCounted(f.metrics, 'failed');

    const bad = await f.repo.commit(
      { 'web/deploy.yaml': web('2', { failing: true }) },
      'web 2 (its pods fail)',
    );
    const timedOut = await eventually(
      'HealthTimeout',
      async () => {
        const app = await getApp(t.kube, f.namespace, 'web');
        return condition(app, 'Ready')?.reason === 'HealthTimeout' &&
          app.status?.lastAppliedRevision?.sha === bad
          ? app
          : undefined;
      },
      60_000,
    );
    // Status: not Ready, and why; nothing rolled back (automatic rollback is off).
    expect(condition(timedOut, 'Ready')).toMatchObject({
      status: 'False',
      message: expect.stringContaining('not healthy after 8 s'),
    });
    expect(timedOut.status?.lastHealthyRevision?.sha).toBe(good);
    expect(await imageOf(f.namespace)).toBe('registry.example/web:2');

    // History: the revision's rollout is recorded as Failed, with the evidence.
    const recorded = await eventually('a Failed history entry for bad', async () => {
      const app = await getApp(t.kube, f.namespace, 'web');
      return app.status?.history?.find((h) => h.revision === bad && h.result === 'Failed');
    });
    expect(recorded.message).toContain('not healthy after 8 s');
    // Events and metrics say it failed too.
    await eventually('a Warning Event naming bad', async () =>
      (await events(f.namespace)).some(
        (e) => e.type === 'Warning' && e.message.includes(bad.slice(0, 12)) && /not healthy/.test(e.message),
      ),
    );
    expect(await syncsCounted(f.metrics, 'failed')).toBeGreaterThan(failedBefore);
  });
});

describe('manual rollback', () => {
  it('gives way to a newer commit on the branch by itself, and never applies the rejected one again', async () => {
    const f = await fixture('manual-newer');
    const first = await f.repo.head();
    await createApp(f.namespace, {});
    await readyAt(f.namespace, first);
    await healthyAt(f.namespace, first);
    const second = await f.repo.commit({ 'web/deploy.yaml': web('2') }, 'web 2');
    await readyAt(f.namespace, second);
    await healthyAt(f.namespace, second);

    await kubectlOk([
      'annotate',
      '--overwrite',
      'application',
      'web',
      '-n',
      f.namespace,
      `${ROLLBACK_ANNOTATION}=${JSON.stringify({ id: '1', by: 'alice' })}`,
    ]);
    const back = await readyAt(f.namespace, first);
    expect(back.spec.syncPolicy?.automated ?? true).toBe(true);
    expect(back.status?.rejectedRevisions?.map((r) => r.sha)).toEqual([second]);

    // A newer commit (a fix on top of the rejected one) is applied without --clear.
    const third = await f.repo.commit({ 'web/deploy.yaml': web('3') }, 'web 3');
    const forward = await readyAt(f.namespace, third);
    expect(await imageOf(f.namespace)).toBe('registry.example/web:3');
    expect(forward.status?.rollback).toBeUndefined();
    expect(condition(forward, 'Ready')?.reason).toBe('Synced');
    // The rejected revision was applied once (before the rollback) and never since.
    const appliedSecond = (forward.status?.history ?? []).filter(
      (h) => h.revision === second && h.result === 'Succeeded',
    );
    expect(appliedSecond).toHaveLength(1);
  });
});
