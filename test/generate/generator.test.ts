/**
 * ApplicationGenerators end to end: a controller scoped to one namespace, the real control plane,
 * and Git over HTTP. Generators and the Applications they make carry the isolation label, so the
 * cluster-wide controllers of other test files leave them to this one.
 */
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import {
  APPROVE_DELETIONS_ANNOTATION,
  GENERATOR_LABEL,
  type ApplicationGenerator,
} from '../../src/api/generator.js';
import { API_VERSION, type Application } from '../../src/api/v1alpha1.js';
import { createKubeClient } from '../../src/kube/index.js';
import { kubectl } from '../support/cluster.js';
import {
  application,
  condition,
  eventually,
  gitFixture,
  installCrds,
  isolated,
  ISOLATED_LABEL,
  startTestController,
  type GitFixture,
  type TestController,
} from '../support/controller.js';
import { configMap } from '../support/engine.js';
import { git } from '../support/git-servers.js';

let t: TestController;
let f: GitFixture;

/**
 * Each test: a namespace with a Git repository (folders dirs/one, dirs/two) and its Repository
 * `apps`, and a controller for that namespace only.
 */
async function setup(): Promise<void> {
  const kube = await createKubeClient({ kubeconfig: inject('kubeconfig') });
  await installCrds(kube);
  f = await gitFixture(kube, { 'dirs/one/cm.yaml': configMap('dir-one', { n: '1' }) }, { prefix: 'gen' });
  await f.repo.commit({ 'dirs/two/cm.yaml': configMap('dir-two', { n: '2' }), 'dirs/two/sub/.keep': '' });
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
    spec: {
      sourceRef: { name: 'apps' },
      interval: '1s',
      ...spec,
    } as ApplicationGenerator['spec'],
  };
}

/** A template whose Applications are isolated like the generator, with a short health timeout. */
function template(name: string, spec: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return {
    metadata: { name, labels: { [ISOLATED_LABEL]: 'true' }, ...extra },
    spec: { healthTimeout: '60s', ...spec },
  };
}

const getGenerator = (name: string) =>
  t.kube.get<ApplicationGenerator>({
    group: 'capstan.dev',
    kind: 'ApplicationGenerator',
    namespace: f.namespace,
    name,
  });
const getApplication = (name: string) =>
  t.kube.get<Application>({ group: 'capstan.dev', kind: 'Application', namespace: f.namespace, name });

async function appNames(generatorName: string): Promise<string[]> {
  const list = await t.kube.list<Application>('capstan.dev', 'v1alpha1', 'Application', {
    namespace: f.namespace,
    labelSelector: `${GENERATOR_LABEL}=${generatorName}`,
  });
  return list.items.map((app) => app.metadata.name).sort();
}

async function configMapExists(name: string): Promise<boolean> {
  return (await kubectl(['get', 'configmap', name, '-n', f.namespace])).code === 0;
}

function readyApp(name: string): Promise<Application> {
  return eventually(`${name} Ready`, async () => {
    const app = await getApplication(name);
    return condition(app, 'Ready')?.status === 'True' ? app : undefined;
  });
}

function generatorCondition(name: string, type: string, reason: string) {
  return eventually(`${name} ${type} ${reason}`, async () => {
    const found = condition((await getGenerator(name)) as never, type);
    return found?.reason === reason ? found : undefined;
  });
}

const deleteBranch = (branch: string) => git(f.repo.bareDir, 'branch', '-D', branch);

describe('ApplicationGenerator', () => {
  it('makes an Application per branch, applies it, and deletes it with its objects when the branch goes', async () => {
    await setup();
    await t.kube.apply(
      generator('env', {
        branches: { include: ['env/*'] },
        template: template('web-{{branchSlug}}', { ref: '{{branch}}', path: 'app' }),
      }),
    );
    await generatorCondition('env', 'Ready', 'Generated');
    expect(await appNames('env')).toEqual([]);

    await f.repo.commit({ 'app/cm.yaml': configMap('qa-settings', { env: 'qa' }) }, 'qa', 'env/qa');
    const app = await readyApp('web-env-qa');
    expect(app.spec).toMatchObject({ ref: 'env/qa', path: 'app', sourceRef: { name: 'apps' } });
    expect(app.metadata.ownerReferences?.[0]).toMatchObject({
      kind: 'ApplicationGenerator',
      name: 'env',
      controller: true,
      blockOwnerDeletion: true,
    });
    expect(await configMapExists('qa-settings')).toBe(true);
    const status = (await getGenerator('env'))?.status;
    expect(status?.applications).toEqual([{ name: 'web-env-qa', element: 'env/qa' }]);

    await deleteBranch('env/qa');
    await eventually('web-env-qa deleted', async () => (await getApplication('web-env-qa')) === undefined);
    await eventually('its ConfigMap pruned', async () => !(await configMapExists('qa-settings')));
  });

  it('holds a deletion of more Applications than maxDeletions until approved', async () => {
    await setup();
    const branches = ['a', 'b', 'c', 'd', 'e'].map((b) => `batch/${b}`);
    for (const branch of branches)
      await f.repo.commit({ 'app/cm.yaml': configMap(`cm-${branch.slice(6)}`, {}) }, branch, branch);
    await t.kube.apply(
      generator('batch', {
        branches: { include: ['batch/*'] },
        // Suspended Applications: this test is about the generator, not about syncing.
        template: template('b-{{branchSlug}}', { ref: '{{branch}}', path: 'app', suspend: true }),
      }),
    );
    const names = branches.map((b) => `b-${b.replace('/', '-')}`);
    await eventually('five Applications', async () => (await appNames('batch')).length === 5);

    for (const branch of branches) await deleteBranch(branch);
    const held = await generatorCondition('batch', 'Ready', 'DeletionHeld');
    expect(held.status).toBe('False');
    expect(held.message).toContain('5 Applications would be deleted at once');
    for (const name of names) expect(held.message).toContain(name);
    const generatorNow = await getGenerator('batch');
    const approval = generatorNow?.status?.deletionHeld?.approval ?? '';
    expect(approval).toMatch(/^5-[0-9a-f]{12}$/);
    expect(await appNames('batch')).toEqual(names);

    // A wrong approval (a count alone) lets nothing through.
    await annotate('batch', '5');
    await generatorCondition('batch', 'Ready', 'DeletionHeld');
    expect(await appNames('batch')).toEqual(names);

    await annotate('batch', approval);
    await eventually('all five deleted', async () => (await appNames('batch')).length === 0);
    await generatorCondition('batch', 'Ready', 'Generated');
  });

  it('makes one Application per list entry, rolls a template change out to all, and puts back a hand edit', async () => {
    await setup();
    await t.kube.apply(
      generator('list', {
        list: {
          elements: [
            { name: 'one', values: { dir: 'dirs/one' } },
            { name: 'two', values: { dir: 'dirs/two' } },
          ],
        },
        template: template('list-{{name}}', { ref: 'main', path: '{{values.dir}}' }),
      }),
    );
    await readyApp('list-one');
    await readyApp('list-two');
    expect((await getApplication('list-two'))?.spec.path).toBe('dirs/two');
    expect(await configMapExists('dir-two')).toBe(true);

    await t.kube.apply(
      generator('list', {
        list: {
          elements: [
            { name: 'one', values: { dir: 'dirs/one' } },
            { name: 'two', values: { dir: 'dirs/two' } },
          ],
        },
        template: template('list-{{name}}', { ref: 'main', path: '{{values.dir}}', healthTimeout: '90s' }),
      }),
    );
    for (const name of ['list-one', 'list-two'])
      await eventually(
        `${name} has the new template`,
        async () => (await getApplication(name))?.spec.healthTimeout === '90s',
      );

    // Someone edits a templated field by hand: the generator puts it back.
    await t.kube.patch(
      { group: 'capstan.dev', kind: 'Application', namespace: f.namespace, name: 'list-one' },
      { spec: { healthTimeout: '7m' } },
      'merge',
    );
    await eventually(
      'the hand edit is undone',
      async () => (await getApplication('list-one'))?.spec.healthTimeout === '90s',
    );
  });

  it('makes one Application per folder at a ref', async () => {
    await setup();
    await t.kube.apply(
      generator('dirs', {
        directories: { ref: 'main', include: ['dirs/*'], exclude: ['dirs/*/*'] },
        template: template('dir-{{path.basename}}', { ref: 'main', path: '{{path}}', suspend: true }),
      }),
    );
    await eventually('dir-one and dir-two', async () => {
      const names = await appNames('dirs');
      return names.join(',') === 'dir-one,dir-two' ? names : undefined;
    });
    expect((await getApplication('dir-two'))?.spec.path).toBe('dirs/two');
    const status = (await getGenerator('dirs'))?.status;
    expect(status?.applications).toEqual([
      { name: 'dir-one', element: 'dirs/one' },
      { name: 'dir-two', element: 'dirs/two' },
    ]);
  });

  it('never takes over an Application it did not make', async () => {
    await setup();
    await setup();
    await t.kube.apply(
      isolated(
        application(f.namespace, 'mine-taken', {
          sourceRef: { name: 'apps' },
          path: 'dirs/one',
          suspend: true,
        }),
      ),
    );
    await t.kube.apply(
      generator('mine', {
        list: { elements: [{ name: 'taken' }, { name: 'free' }] },
        template: template('mine-{{name}}', { ref: 'main', path: 'dirs/two', suspend: true }),
      }),
    );
    const refused = await generatorCondition('mine', 'Ready', 'ApplicationNotOwned');
    expect(refused.message).toContain('mine-taken');
    expect(await getApplication('mine-free')).toBeDefined();
    const taken = await getApplication('mine-taken');
    expect(taken?.metadata.ownerReferences).toBeUndefined();
    expect(taken?.metadata.labels?.[GENERATOR_LABEL]).toBeUndefined();
    expect(taken?.spec.path).toBe('dirs/one');
  });

  it('deletes nothing when the listing fails', async () => {
    await setup();
    await f.repo.commit({ 'app/cm.yaml': configMap('kept', {}) }, 'kept', 'env/kept');
    await t.kube.apply(
      generator('fails', {
        branches: { include: ['env/*'] },
        template: template('f-{{branchSlug}}', { ref: '{{branch}}', path: 'app', suspend: true }),
      }),
    );
    await eventually('f-env-kept', async () => (await getApplication('f-env-kept')) !== undefined);

    // The Repository now points at nothing: every branch seems gone, and none may be deleted for it.
    await t.kube.patch(
      { group: 'capstan.dev', kind: 'Repository', namespace: f.namespace, name: 'apps' },
      { spec: { url: f.server.url('missing') } },
      'merge',
    );
    const failed = await generatorCondition('fails', 'Ready', 'ListFailed');
    expect(failed.message).toContain('nothing was created or deleted');
    expect((await getGenerator('fails'))?.status?.lastError).toContain('listing failed');
    expect(await appNames('fails')).toEqual(['f-env-kept']);
  });

  it('stalls on a hostile template, naming the problem, and applies nothing', async () => {
    await setup();
    await t.kube.apply(
      generator('bad-placeholder', {
        list: { elements: [{ name: 'x' }] },
        template: template('bad-{{name}}', { ref: '{{branch}}', path: 'app' }),
      }),
    );
    const unknown = await generatorCondition('bad-placeholder', 'Stalled', 'InvalidTemplate');
    expect(unknown.message).toContain('unknown placeholder {{branch}}');
    expect(unknown.message).toContain('element "x": template.spec.ref');

    await f.repo.commit({ 'app/cm.yaml': configMap('slash', {}) }, 'bad', 'Bad_Branch');
    await t.kube.apply(
      generator('bad-name', {
        branches: { include: ['Bad_*'] },
        template: template('x-{{branch}}', { ref: '{{branch}}', path: 'app' }),
      }),
    );
    const invalid = await generatorCondition('bad-name', 'Stalled', 'InvalidTemplate');
    expect(invalid.message).toContain('"x-Bad_Branch" is not a valid name');

    await t.kube.apply(
      generator('two-kinds', {
        list: { elements: [{ name: 'x' }] },
        branches: { include: ['*'] },
        template: template('x-{{name}}', { path: 'app' }),
      }),
    );
    const both = await generatorCondition('two-kinds', 'Stalled', 'InvalidSpec');
    expect(both.message).toContain('exactly one generator');
    expect(await appNames('bad-placeholder')).toEqual([]);
    expect(await appNames('bad-name')).toEqual([]);
    expect(await appNames('two-kinds')).toEqual([]);
  });
});

async function annotate(name: string, value: string): Promise<void> {
  await t.kube.patch(
    { group: 'capstan.dev', kind: 'ApplicationGenerator', namespace: f.namespace, name },
    { metadata: { annotations: { [APPROVE_DELETIONS_ANNOTATION]: value } } },
    'merge',
  );
}
