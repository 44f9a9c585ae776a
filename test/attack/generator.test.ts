/**
 * Attacks on ApplicationGenerators (src/generate/) on the real control plane: a tenant's template
 * trying to reach another namespace, to take over or delete Applications it did not make, or to
 * smuggle placeholders through element values.
 */
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { GENERATOR_LABEL, type ApplicationGenerator } from '../../src/api/generator.js';
import { API_VERSION, type Application } from '../../src/api/v1alpha1.js';
import { createKubeClient } from '../../src/kube/index.js';
import { freshNamespace } from '../support/cluster.js';
import {
  condition,
  eventually,
  gitFixture,
  installCrds,
  ISOLATED_LABEL,
  startTestController,
  type GitFixture,
  type TestController,
} from '../support/controller.js';
import { configMap } from '../support/engine.js';
import { sleep } from '../../src/core/time.js';

let t: TestController;
let f: GitFixture;
let victim: string;

async function setup(): Promise<void> {
  const kube = await createKubeClient({ kubeconfig: inject('kubeconfig') });
  await installCrds(kube);
  f = await gitFixture(kube, { 'dirs/one/cm.yaml': configMap('dir-one', { n: '1' }) }, { prefix: 'atkgen' });
  victim = await freshNamespace('atkvictim');
  kube.close();
  const controller = await startTestController({ namespace: f.namespace });
  t = controller;
  const server = f.server;
  onTestFinished(async () => {
    await controller.stop();
    await server.close();
  });
}

function generator(name: string, spec: Record<string, unknown>): ApplicationGenerator {
  return {
    apiVersion: API_VERSION,
    kind: 'ApplicationGenerator',
    metadata: { name, namespace: f.namespace, labels: { [ISOLATED_LABEL]: 'true' } },
    spec: { sourceRef: { name: 'apps' }, interval: '1s', ...spec } as ApplicationGenerator['spec'],
  };
}

const getGenerator = (name: string) =>
  t.kube.get<ApplicationGenerator>({
    group: 'capstan.dev',
    kind: 'ApplicationGenerator',
    namespace: f.namespace,
    name,
  });
const getApplication = (name: string, namespace = f.namespace) =>
  t.kube.get<Application>({ group: 'capstan.dev', kind: 'Application', namespace, name });
const listApps = async (namespace: string) =>
  (await t.kube.list<Application>('capstan.dev', 'v1alpha1', 'Application', { namespace })).items;

function generatorCondition(name: string, type: string, reason: string) {
  return eventually(`${name} ${type} ${reason}`, async () => {
    const found = condition((await getGenerator(name)) as never, type);
    return found?.reason === reason ? found : undefined;
  });
}

describe('ApplicationGenerator attacks', () => {
  it('a template naming another namespace, owner or generator makes Applications only in its own, owned by it', async () => {
    await setup();
    const applied = await t.kube
      .apply(
        generator('cross', {
          list: { elements: [{ name: 'one' }] },
          template: {
            metadata: {
              name: 'cross-{{name}}',
              namespace: victim,
              ownerReferences: [{ apiVersion: 'v1', kind: 'Namespace', name: victim, uid: 'x' }],
              labels: { [ISOLATED_LABEL]: 'true', [GENERATOR_LABEL]: 'someone-else' },
            },
            spec: { path: 'dirs/one', suspend: true, sourceRef: { name: 'apps' } },
          },
        }),
      )
      .then(
        () => true,
        (error: unknown) => {
          if (process.env.ATTACK_LOG) console.log('refused by the API server:', String(error));
          return false;
        },
      );
    if (!applied) {
      // The API server refused the template's extra fields; the label claim alone is accepted.
      await t.kube.apply(
        generator('cross', {
          list: { elements: [{ name: 'one' }] },
          template: {
            metadata: {
              name: 'cross-{{name}}',
              labels: { [ISOLATED_LABEL]: 'true', [GENERATOR_LABEL]: 'someone-else' },
            },
            spec: { path: 'dirs/one', suspend: true, sourceRef: { name: 'apps' } },
          },
        }),
      );
    }
    const app = await eventually('cross-one', async () => getApplication('cross-one'));
    const gen = await getGenerator('cross');
    expect(app.metadata.namespace).toBe(f.namespace);
    expect(app.metadata.labels?.[GENERATOR_LABEL]).toBe('cross');
    expect(app.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'ApplicationGenerator', name: 'cross', uid: gen!.metadata.uid }),
    ]);
    expect(await listApps(victim)).toEqual([]);
  });

  it("a second generator neither takes over nor deletes the first one's Applications, even with its label forged", async () => {
    await setup();
    await t.kube.apply(
      generator('first', {
        list: { elements: [{ name: 'a' }, { name: 'b' }] },
        template: {
          metadata: { name: 'shared-{{name}}', labels: { [ISOLATED_LABEL]: 'true' } },
          spec: { path: 'dirs/one', suspend: true },
        },
      }),
    );
    await eventually('first made both', async () =>
      (await getApplication('shared-a')) && (await getApplication('shared-b')) ? true : undefined,
    );
    const firstUid = (await getGenerator('first'))!.metadata.uid;
    // The tenant relabels first's Application for the second generator (as a hand edit may).
    await t.kube.patch(
      { group: 'capstan.dev', kind: 'Application', namespace: f.namespace, name: 'shared-b' },
      { metadata: { labels: { [GENERATOR_LABEL]: 'second' } } },
      'merge',
    );
    await t.kube.apply(
      generator('second', {
        list: { elements: [{ name: 'a' }, { name: 'z' }] },
        deletionGuard: { maxDeletions: 100 },
        template: {
          metadata: { name: 'shared-{{name}}', labels: { [ISOLATED_LABEL]: 'true' } },
          spec: { path: 'dirs/two', suspend: true },
        },
      }),
    );
    await generatorCondition('second', 'Ready', 'ApplicationNotOwned');
    await sleep(3_000);
    const a = await getApplication('shared-a');
    const b = await getApplication('shared-b');
    expect(a?.spec.path).toBe('dirs/one');
    expect(a?.metadata.ownerReferences?.map((r) => r.uid)).toEqual([firstUid]);
    expect(b).toBeDefined();
    expect(b?.metadata.deletionTimestamp).toBeUndefined();
    expect(b?.spec.path).toBe('dirs/one');
  });

  it('element values holding placeholders are inserted as text, never scanned again', async () => {
    await setup();
    await t.kube.apply(
      generator('smuggle', {
        list: { elements: [{ name: 'x', values: { p: '{{name}}/../../{{values.p}}' } }] },
        template: {
          metadata: {
            name: 'sm-{{name}}',
            labels: { [ISOLATED_LABEL]: 'true' },
            annotations: { v: '{{values.p}}' },
          },
          spec: { path: 'dirs/one', suspend: true },
        },
      }),
    );
    const app = await eventually('sm-x', async () => getApplication('sm-x'));
    expect(app.metadata.annotations?.v).toBe('{{name}}/../../{{values.p}}');
  });

  // Found by the red team (fixed): spec.interval has no floor (src/api/generator.ts
  // `interval` is only a duration pattern); "1ms" lists the branches (an ls-remote) continuously,
  // occupying the controller's generator workers and hammering the Git host.
  it('a generator with interval 1ms does not list its Repository continuously', async () => {
    await setup();
    // The Repository itself polls rarely, so what the Git server sees is the generator's listing.
    await t.kube.patch(
      { group: 'capstan.dev', kind: 'Repository', namespace: f.namespace, name: 'apps' },
      { spec: { interval: '1h' } },
      'merge',
    );
    await sleep(2_000);
    const before = f.server.requests.length;
    await t.kube.apply(
      generator('hot', {
        interval: '1ms',
        branches: { include: ['*'] },
        template: {
          metadata: { name: 'hot-{{branchSlug}}', labels: { [ISOLATED_LABEL]: 'true' } },
          spec: { ref: '{{branch}}', path: 'dirs/one', suspend: true },
        },
      }),
    );
    await eventually('hot-main', async () => getApplication('hot-main'));
    const start = f.server.requests.length;
    await sleep(5_000);
    const during = f.server.requests.length - start;
    if (process.env.ATTACK_LOG) console.log(`git requests: ${start - before} to start, ${during} in 5 s`);
    // A sane floor (say 10 s, or even 1 s) allows a handful of listings in 5 s.
    expect(during).toBeLessThan(25);
  });
});
