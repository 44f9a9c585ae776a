/**
 * The plan of a change on the real control plane and a real Git server: ten apps of one repository
 * applied at `main` by a controller; then pull-request branches change them, and the plan says
 * what merging each would do — only the apps a head touches, dry-run at head, with warnings, no
 * Secret value — computed by the controller (as the apps' ServiceAccount), by the kubeconfig user's
 * rights, and by `capstan plan` end to end.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Application } from '../../src/api/v1alpha1.js';
import { engineParts } from '../../src/cli/wiring.js';
import { Controller } from '../../src/controller/controller.js';
import { SINGLE_TEAM_APPLIER } from '../../src/dev/single-team.js';
import { createKubeClient, type HttpKubeClient } from '../../src/kube/index.js';
import {
  formatPlanMarkdown,
  planChange,
  userReviewDeps,
  type ChangePlan,
  type ReviewDeps,
} from '../../src/review/index.js';
import { capstan } from '../support/cli.js';
import { kubectl, kubectlOk } from '../support/cluster.js';
import { application, installCrds, isolated, readyAt, repository } from '../support/controller.js';
import {
  createTestRepo,
  git,
  makeTempDir,
  startGitHttpServer,
  type GitHttpServer,
  type TestRepo,
} from '../support/git-servers.js';

const OLD_PASSWORD = 'old-Pa55word-in-main';
const NEW_PASSWORD = 'new-Pa55word-in-the-pr';
const b64 = (text: string): string => Buffer.from(text).toString('base64');

const configMap = (name: string, value: string): string =>
  JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { value } });
const secret = (password: string): string =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'db' },
    type: 'Opaque',
    data: { password: b64(password) },
  });
const namespaceObject = (name: string): string =>
  JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });

let admin: HttpKubeClient;
let namespace: string;
let extraNamespace: string;
let gitServer: GitHttpServer;
let repo: TestRepo;
let gitRoot: string;
let url: string;
let base: string;
let controller: Controller;
let stopController: () => Promise<void>;
let userDeps: ReviewDeps;

/**
 * apps/app-0 … app-9: one ConfigMap each; app-7 also owns a Namespace; app-8 is a kustomization of
 * base/; app-9 holds a Secret.
 */
function mainFiles(): Record<string, string> {
  const files: Record<string, string> = {};
  for (let i = 0; i < 10; i++) files[`apps/app-${i}/configmap.yaml`] = configMap(`cm-${i}`, 'v1');
  files['apps/app-7/namespace.yaml'] = namespaceObject(extraNamespace);
  files['apps/app-8/configmap.yaml'] = '';
  files['apps/app-8/kustomization.yaml'] = 'resources:\n  - ../../base\n';
  files['base/kustomization.yaml'] = 'resources:\n  - configmap.yaml\n';
  files['base/configmap.yaml'] = configMap('cm-8', 'v1');
  files['apps/app-9/secret.yaml'] = secret(OLD_PASSWORD);
  return Object.fromEntries(Object.entries(files).filter(([, content]) => content !== ''));
}

beforeAll(async () => {
  admin = await createKubeClient({ kubeconfig: inject('kubeconfig') });
  await installCrds(admin);
  namespace = `plan-${randomBytes(4).toString('hex')}`;
  extraNamespace = `${namespace}-extra`;
  await kubectlOk(['create', 'namespace', namespace]);

  gitRoot = await makeTempDir('plan-git');
  repo = await createTestRepo(gitRoot, 'apps');
  base = await repo.commit(mainFiles(), 'ten apps');
  gitServer = await startGitHttpServer({ root: gitRoot });
  url = gitServer.url('apps');

  const stateDir = await makeTempDir('plan-state');
  const parts = await engineParts({ stateDir, allowFileUrls: false });
  const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
  const controllerKube = await createKubeClient({ kubeconfig: inject('kubeconfig') });
  controller = new Controller({
    kube: controllerKube,
    git: parts.git,
    createEngine: (client) => parts.engineOn(client, controllerKube),
    tenancy: { defaultServiceAccount: SINGLE_TEAM_APPLIER },
    namespace,
    renderAt: parts.renderAt,
    log: quiet,
  });
  const abort = new AbortController();
  const running = controller.run(abort.signal);
  running.catch(() => {});
  stopController = async () => {
    abort.abort();
    await running;
    controllerKube.close();
  };
  userDeps = userReviewDeps({
    kube: admin,
    git: parts.git,
    engine: parts.engineOn(admin),
    renderAt: parts.renderAt,
    name: 'you (your kubeconfig user)',
  });

  await admin.apply(isolated(repository(namespace, 'apps', { url, interval: '1s' })));
  for (let i = 0; i < 10; i++)
    await admin.apply(
      isolated(
        application(namespace, `app-${i}`, {
          sourceRef: { name: 'apps' },
          ref: 'main',
          path: `apps/app-${i}`,
          healthTimeout: '60s',
        } as Application['spec']),
      ),
    );
  for (let i = 0; i < 10; i++) await readyAt(admin, namespace, `app-${i}`, base, 90_000);
});

afterAll(async () => {
  await stopController?.();
  await gitServer?.close();
  if (namespace) {
    await kubectl(['delete', 'namespace', namespace, '--wait=false']);
    await kubectl(['delete', 'namespace', extraNamespace, '--wait=false']);
  }
  admin?.close();
});

function expectNoPassword(text: string): void {
  for (const value of [OLD_PASSWORD, NEW_PASSWORD, b64(OLD_PASSWORD), b64(NEW_PASSWORD)])
    expect(text).not.toContain(value);
}

/** A pull-request branch starting at main (createTestRepo's working clone is `<root>/.work/<name>`). */
async function branchFromMain(name: string): Promise<string> {
  await git(join(gitRoot, '.work', 'apps'), 'branch', name, base);
  return name;
}

const appOf = (plan: ChangePlan, name: string) => plan.apps.find((app) => app.name === name);

describe('planChange', () => {
  it('plans only the app a head changes, as its ServiceAccount, with counts and diff', async () => {
    const head = await repo.commit(
      { 'apps/app-3/configmap.yaml': configMap('cm-3', 'v2') },
      'app-3 v2',
      'pr-one',
    );
    // The URL spelled another way (a trailing slash) is the same repository.
    const plan = await controller.planChange({ repositoryUrl: `${url}/`, base: 'main', head: 'pr-one' });
    expect(plan.base).toEqual({ ref: 'main', sha: base });
    expect(plan.head).toEqual({ ref: 'pr-one', sha: head });
    expect(plan.untouched).toBe(9);
    expect(plan.apps.map((app) => app.name)).toEqual(['app-3']);
    const app3 = plan.apps[0]!;
    expect(app3).toMatchObject({
      namespace,
      path: 'apps/app-3',
      result: 'changes',
      counts: { create: 0, update: 1, recreate: 0, prune: 0, failed: 0 },
      warnings: [],
      actor: `ServiceAccount ${SINGLE_TEAM_APPLIER.namespace}/${SINGLE_TEAM_APPLIER.name}`,
    });
    expect(app3.objects[0]!.ref).toMatchObject({ kind: 'ConfigMap', name: 'cm-3', namespace });
    expect(app3.objects[0]!.unifiedDiff).toMatch(/-\s+value: v1\n\+\s+value: v2/);

    const markdown = formatPlanMarkdown(plan);
    expect(markdown).toContain(`${base.slice(0, 7)}..${head.slice(0, 7)}`);
    expect(markdown).toContain('9 other app(s) on this branch render the same at head.');
  });

  it('flags a deleted Namespace, a taken object and a broken render; masks a Secret; plans the rest', async () => {
    const head = await repo.commit(
      {
        // app-8 pulls ../base: a change there is a change to app-8.
        'base/configmap.yaml': configMap('cm-8', 'v2'),
        'apps/app-7/namespace.yaml': null,
        'apps/app-9/secret.yaml': secret(NEW_PASSWORD),
        'apps/app-5/configmap.yaml': '{ this is: [not yaml',
        // app-6 now also renders app-2's ConfigMap.
        'apps/app-6/taken.yaml': configMap('cm-2', 'mine'),
        // A comment changes a file of app-1, not what it renders.
        'apps/app-1/README.md': '# nothing to render\n',
      },
      'many things',
      await branchFromMain('pr-mix'),
    );
    const plan = await planChange(userDeps, { repositoryUrl: url, base: 'refs/heads/main', head, namespace });
    expect(plan.head.sha).toBe(head);
    expect(plan.apps.map((app) => app.name)).toEqual(['app-5', 'app-6', 'app-7', 'app-8', 'app-9']);
    expect(plan.untouched).toBe(5);

    expect(appOf(plan, 'app-5')).toMatchObject({ result: 'error', objects: [] });
    expect(appOf(plan, 'app-5')!.error).toContain('does not render at head');

    const app6 = appOf(plan, 'app-6')!;
    expect(app6.result).toBe('error');
    expect(app6.warnings).toContainEqual(
      expect.objectContaining({
        kind: 'heldByOther',
        message: expect.stringContaining(`app ${namespace}/app-2`),
      }),
    );

    const app7 = appOf(plan, 'app-7')!;
    expect(app7).toMatchObject({ result: 'changes', counts: { prune: 1 } });
    expect(app7.warnings).toContainEqual(
      expect.objectContaining({
        kind: 'prunesNamespace',
        object: expect.objectContaining({ name: extraNamespace }),
      }),
    );
    expect(app7.actor).toBe('you (your kubeconfig user)');

    expect(appOf(plan, 'app-8')).toMatchObject({ result: 'changes', counts: { update: 1 } });
    const app9 = appOf(plan, 'app-9')!;
    expect(app9).toMatchObject({ result: 'changes', counts: { update: 1 } });
    expect(app9.objects[0]!.ref).toMatchObject({ kind: 'Secret', name: 'db' });

    const json = JSON.stringify(plan);
    const markdown = formatPlanMarkdown(plan);
    if (process.env.CAPSTAN_TEST_LOG) console.log(markdown);
    expectNoPassword(json);
    expectNoPassword(markdown);
    expect(markdown).toContain('deletes Namespace');
    // Nothing was applied: the cluster is as main left it.
    const cm = await admin.get({ group: '', kind: 'ConfigMap', namespace, name: 'cm-8' });
    expect((cm?.data as Record<string, string>).value).toBe('v1');
    expect(await admin.get({ group: '', kind: 'Namespace', name: extraNamespace })).toBeDefined();
  });
});

describe('capstan plan', () => {
  it('prints the plan as Markdown and as JSON, and fails when an app is in error', async () => {
    const head = await repo.head('pr-one');
    const markdown = await capstan(['plan', '--repo', url, '--ref', head, '--base', 'main', '-n', namespace]);
    expect(markdown.stderr).not.toContain('capstan:');
    expect(markdown.code).toBe(0);
    expect(markdown.stdout).toContain('### Capstan plan');
    expect(markdown.stdout).toMatch(/\| [^|]*app\\-3 \| changes \| 0 \| 1 \| 0 \| 0 \| 0 \|/);

    const json = await capstan(['plan', '--repo', url, '--ref', 'pr-one', '-n', namespace, '-o', 'json']);
    expect(json.code).toBe(0);
    const plan = JSON.parse(json.stdout) as ChangePlan;
    expect(plan).toMatchObject({ head: { ref: 'pr-one', sha: head }, untouched: 9 });
    expect(plan.apps.map((app) => [app.name, app.result, app.counts.update])).toEqual([
      ['app-3', 'changes', 1],
    ]);

    // --ref HEAD (the default): the commit this checkout is at, as CI checks a pull request out.
    const workClone = join(gitRoot, '.work', 'apps');
    await git(workClone, 'checkout', '--quiet', 'pr-one');
    const fromCheckout = await capstan(['plan', '--repo', url, '-n', namespace, '-o', 'json'], {
      GIT_DIR: join(workClone, '.git'),
    });
    expect(fromCheckout.code).toBe(0);
    expect(JSON.parse(fromCheckout.stdout)).toMatchObject({ head: { sha: head }, apps: [{ name: 'app-3' }] });

    const failing = await capstan(['plan', '--repo', url, '--ref', 'pr-mix', '-n', namespace, '-o', 'json']);
    expect(failing.code).toBe(1);
    expectNoPassword(failing.stdout);
    expect((JSON.parse(failing.stdout) as ChangePlan).apps.some((app) => app.result === 'error')).toBe(true);

    const bad = await capstan(['plan', '--repo', 'ext::sh -c id', '--ref', 'pr-one', '-n', namespace]);
    expect(bad.code).toBe(2);
  });
});
