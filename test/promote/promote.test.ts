/**
 * Promotion between environments, end to end: staging and production are branches of one Gitea
 * repository; `capstan promote` (the CLI, as a user runs it) asks, a controller performs it with
 * the Repository's token — a pull request on Gitea, or a push — and production converges once it
 * lands. A staging that is not Healthy is refused; automatic promotion keeps one pull request.
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Application } from '../../src/api/v1alpha1.js';
import type { ForgeClient } from '../../src/dev/forge.js';
import { webDeployment } from '../support/chaos.js';
import { capstan } from '../support/cli.js';
import { kubectl, kubectlOk } from '../support/cluster.js';
import {
  application,
  eventually,
  getApp,
  isolated,
  readyAt,
  startTestController,
  type TestController,
} from '../support/controller.js';
import { giteaRepository, giteaSecret, sharedForge } from '../support/forge.js';
import { createTestRepo, git, makeTempDir, type TestRepo } from '../support/git-servers.js';

const configMap = (name: string) =>
  JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { name } });

interface Pull {
  number: number;
  state: string;
  title: string;
  body: string;
  merged: boolean;
  head: { ref: string; sha: string };
  base: { ref: string };
  html_url: string;
}

let forge: ForgeClient;
let token: string;
let gitea: { fullName: string; cloneUrl: string; pushUrl: string };
let local: TestRepo;
let namespace: string;
let t: TestController;
let started = false;
let root: string | undefined;

/** Commits on `branch` of the local repository and pushes it to Gitea; returns the commit. */
async function commitTo(branch: string, files: Parameters<TestRepo['commit']>[0], message: string) {
  const sha = await local.commit(files, message, branch);
  await pushBranch(branch, sha);
  return sha;
}

async function pushBranch(branch: string, sha: string): Promise<void> {
  await git(local.bareDir, 'push', '--quiet', '--force', gitea.pushUrl, `${branch}:${branch}`);
  await eventually(`${sha.slice(0, 8)} on Gitea's ${branch}`, () =>
    forge.waitForBranch(gitea.fullName, branch, { sha, timeoutMs: 5_000 }),
  );
}

async function branchHead(branch: string): Promise<string> {
  const found = await forge.api<{ commit: { id: string } }>(
    'GET',
    `/repos/${gitea.fullName}/branches/${branch}`,
  );
  return found.commit.id;
}

async function fileOn(branch: string, path: string): Promise<string | undefined> {
  const result = await forge.api<{ content: string }>(
    'GET',
    `/repos/${gitea.fullName}/contents/${path}?ref=${encodeURIComponent(branch)}`,
    { expect: [200, 404] },
  );
  return result?.content === undefined ? undefined : Buffer.from(result.content, 'base64').toString('utf8');
}

async function openPulls(): Promise<Pull[]> {
  return forge.api<Pull[]>('GET', `/repos/${gitea.fullName}/pulls?state=open`);
}

async function imageOf(): Promise<string> {
  return (
    await kubectlOk([
      'get',
      'deployment',
      'web',
      '-n',
      namespace,
      '-o',
      'jsonpath={.spec.template.spec.containers[0].image}',
    ])
  ).trim();
}

async function healthyAt(name: string, sha: string): Promise<Application> {
  await readyAt(t.kube, namespace, name, sha, 90_000);
  return eventually(
    `${name} healthy at ${sha.slice(0, 8)}`,
    async () => {
      const app = await getApp(t.kube, namespace, name);
      return app.status?.lastHealthyRevision?.sha === sha && app.status.health?.status === 'Healthy'
        ? app
        : undefined;
    },
    90_000,
  );
}

const promote = (...extra: string[]) =>
  capstan(['promote', 'web', '--from', 'staging', '--to', 'production', '-n', namespace, '--wait', ...extra]);

describe('capstan promote', () => {
  let staged: string;

  beforeAll(async () => {
    forge = await sharedForge();
    const owner = await forge.createUser();
    // Pull requests, their comments (issues) and the token's own user, as Capstan's README asks.
    token = await forge.token(owner, ['write:repository', 'write:issue', 'read:user']);
    const repo = await forge.createRepo(owner.username, `envs-${Date.now().toString(36)}`);
    gitea = {
      fullName: repo.fullName,
      cloneUrl: repo.cloneUrl,
      pushUrl: forge.cloneUrl(repo.owner, repo.name, owner),
    };
    root = await makeTempDir('promote');
    local = await createTestRepo(root, 'local');

    // production: web 1 with a ConfigMap staging no longer has, and a folder promotion leaves alone.
    await local.commit({ 'README.md': 'environments\n' }, 'start');
    const production = await local.commit(
      {
        'web/deploy.yaml': webDeployment('1'),
        'web/old.yaml': configMap('old'),
        'other/keep.txt': 'production only\n',
      },
      'production: web 1',
      'production',
    );
    staged = await local.commit(
      {
        'web/deploy.yaml': webDeployment('2'),
        'web/old.yaml': null,
        'web/new.yaml': configMap('new'),
        'other/keep.txt': null,
      },
      'staging: web 2',
      'staging',
    );
    await pushBranch('production', production);
    await pushBranch('staging', staged);

    // Namespaces of the whole file (freshNamespace's belong to one test).
    namespace = `promote-${randomBytes(4).toString('hex')}`;
    await kubectlOk(['create', 'namespace', namespace]);
    await kubectlOk(['create', 'namespace', `${namespace}-staging`]);
    t = await startTestController({ namespace });
    started = true;
    await t.kube.apply(giteaSecret(namespace, forge, owner, token));
    await t.kube.apply(isolated(giteaRepository(namespace, 'envs', repo.cloneUrl)));
    for (const env of ['staging', 'production']) {
      const app = application(namespace, `web-${env}`, {
        sourceRef: { name: 'envs' },
        ref: env,
        path: 'web',
        healthTimeout: '20s',
        // Both environments in one namespace here: each its own target namespace.
        destination: { namespace: env === 'staging' ? `${namespace}-staging` : namespace },
      });
      await t.kube.apply(
        isolated({ ...app, metadata: { ...app.metadata, labels: { 'capstan.dev/app': 'web' } } }),
      );
    }
    await healthyAt('web-staging', staged);
    await healthyAt('web-production', production);
  }, 240_000);

  afterAll(async () => {
    if (started) await t.stop();
    if (root) await rm(root, { recursive: true, force: true });
    if (namespace)
      for (const name of [namespace, `${namespace}-staging`])
        await kubectl(['delete', 'namespace', name, '--wait=false']);
  });

  it('names what it found when an environment matches no Application (exit 2, nothing asked)', async () => {
    const result = await capstan(['promote', 'web', '--from', 'qa', '--to', 'production', '-n', namespace]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      "no Application of 'web' follows branch 'qa'; found: web-production (ref production), web-staging (ref staging)",
    );
    expect((await getApp(t.kube, namespace, 'web-production')).metadata.annotations).toBeUndefined();
  });

  it('opens a pull request making production equal staging; merged, production converges', async () => {
    const result = await promote();
    expect(result.stderr).not.toContain(token);
    expect(result.code, result.stderr).toBe(0);
    const url = /pull request (\S+)/.exec(result.stdout)?.[1];
    expect(url).toMatch(new RegExp(`^${forge.url}/${gitea.fullName}/pulls/\\d+$`));

    const app = await getApp(t.kube, namespace, 'web-production');
    expect(app.status?.promotion).toMatchObject({
      from: 'web-staging',
      sourceRevision: staged,
      state: 'PullRequestOpened',
      mode: 'pullRequest',
      url,
    });
    expect(JSON.stringify(app.status)).not.toContain(token);

    const pull = await forge.api<Pull>('GET', `/repos/${gitea.fullName}/pulls/${url!.split('/').pop()}`);
    expect(pull).toMatchObject({
      state: 'open',
      base: { ref: 'production' },
      head: { ref: `capstan/promote/${namespace}/web-production` },
    });
    expect(pull.title).toBe(`promote web: staging@${staged.slice(0, 12)} → production`);
    expect(pull.body).toContain('### Files changed (3)');
    expect(pull.body).toMatch(/added ` web\/new\.yaml `/);
    expect(pull.body).toMatch(/removed ` web\/old\.yaml `/);
    expect(pull.body).toMatch(/changed ` web\/deploy\.yaml `/);
    // The plan of the promotion commit: what merging it does to production (src/review).
    expect(pull.body).toContain('### Capstan plan:');
    expect(pull.body).toContain(`${namespace}/web-production`);
    expect(pull.body).not.toContain('could not be made');

    // The branch: production's web/ is staging's, and nothing else moved.
    const branch = `capstan/promote/${namespace}/web-production`;
    expect(await fileOn(branch, 'web/deploy.yaml')).toBe(webDeployment('2'));
    expect(await fileOn(branch, 'web/new.yaml')).toBe(configMap('new'));
    expect(await fileOn(branch, 'web/old.yaml')).toBeUndefined();
    expect(await fileOn(branch, 'other/keep.txt')).toBe('production only\n');
    const commit = await forge.api<{ commit: { message: string }; parents: { sha: string }[] }>(
      'GET',
      `/repos/${gitea.fullName}/git/commits/${pull.head.sha}`,
    );
    expect(commit.parents.map((p) => p.sha)).toEqual([await branchHead('production')]);
    expect(commit.commit.message).toContain(`Capstan-Promoted-Revision: ${staged}`);
    expect(commit.commit.message).toContain(`Capstan-Promoted-From: ${namespace}/web-staging`);

    await forge.api('POST', `/repos/${gitea.fullName}/pulls/${pull.number}/merge`, {
      auth: { token },
      body: { Do: 'merge' },
      expect: [200],
    });
    const merge = await eventually('merged', async () => {
      const head = await branchHead('production');
      return head !== commit.parents[0]!.sha ? head : undefined;
    });
    await healthyAt('web-production', merge);
    expect(await imageOf()).toBe('registry.example/web:2');
    expect((await kubectl(['get', 'configmap', 'new', '-n', namespace])).code).toBe(0);
    await eventually(
      'old ConfigMap pruned',
      async () => (await kubectl(['get', 'configmap', 'old', '-n', namespace])).code !== 0,
    );

    // Again: nothing left to promote.
    const again = await promote();
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('already up to date');
  }, 300_000);

  it('refuses a staging that is not Healthy, pushing nothing', async () => {
    const bad = await commitTo(
      'staging',
      { 'web/deploy.yaml': webDeployment('3', { failing: true }) },
      'staging: web 3 (fails)',
    );
    await eventually(
      'staging applied the failing revision and not Healthy',
      async () => {
        const app = await getApp(t.kube, namespace, 'web-staging');
        return app.status?.lastAppliedRevision?.sha === bad && app.status.health?.status !== 'Healthy';
      },
      90_000,
    );
    const before = {
      production: await branchHead('production'),
      pr: await branchHead(`capstan/promote/${namespace}/web-production`),
    };
    const result = await promote();
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /promotion .* refused: cannot promote: the source web-staging is not Healthy now/,
    );
    const app = await getApp(t.kube, namespace, 'web-production');
    expect(app.status?.promotion?.state).toBe('Refused');
    expect(await branchHead('production')).toBe(before.production);
    expect(await branchHead(`capstan/promote/${namespace}/web-production`)).toBe(before.pr);
    const events = JSON.parse(await kubectlOk(['get', 'events', '-n', namespace, '-o', 'json'])) as {
      items: { reason: string; message: string }[];
    };
    expect(
      events.items.some((e) => e.reason === 'PromotionRefused' && e.message.includes('not Healthy now')),
    ).toBe(true);
  }, 200_000);

  it('--push pushes the promotion to the production branch', async () => {
    const fixed = await commitTo('staging', { 'web/deploy.yaml': webDeployment('4') }, 'staging: web 4');
    await healthyAt('web-staging', fixed);
    const result = await promote('--push');
    expect(result.code, result.stderr).toBe(0);
    const sha = /pushed ([0-9a-f]{40})/.exec(result.stdout)?.[1];
    expect(sha).toBeDefined();
    expect(await branchHead('production')).toBe(sha);
    expect(await fileOn('production', 'web/deploy.yaml')).toBe(webDeployment('4'));
    await healthyAt('web-production', sha!);
    expect(await imageOf()).toBe('registry.example/web:4');
  }, 200_000);

  it('promotes automatically: one pull request, updated with each healthy staging revision', async () => {
    await t.kube.patch(
      { group: 'capstan.dev', kind: 'Application', namespace, name: 'web-production' },
      { spec: { promotion: { from: { name: 'web-staging' }, automatic: true } } },
      'merge',
    );
    const five = await commitTo('staging', { 'web/deploy.yaml': webDeployment('5') }, 'staging: web 5');
    await healthyAt('web-staging', five);
    const first = await eventually(
      'automatic pull request for web 5',
      async () => {
        const p = (await getApp(t.kube, namespace, 'web-production')).status?.promotion;
        if (p?.sourceRevision === five && p.state !== 'Pending' && p.state !== 'PullRequestOpened')
          throw new Error(`promotion ${p.state}: ${p.message}`);
        return p?.sourceRevision === five && p.state === 'PullRequestOpened' ? p : undefined;
      },
      90_000,
    );
    expect(first.automatic).toBe(true);

    const six = await commitTo('staging', { 'web/deploy.yaml': webDeployment('6') }, 'staging: web 6');
    await healthyAt('web-staging', six);
    const second = await eventually(
      'pull request updated for web 6',
      async () => {
        const p = (await getApp(t.kube, namespace, 'web-production')).status?.promotion;
        if (p?.sourceRevision === six && p.state !== 'Pending' && p.state !== 'PullRequestOpened')
          throw new Error(`promotion ${p.state}: ${p.message}`);
        return p?.sourceRevision === six && p.state === 'PullRequestOpened' ? p : undefined;
      },
      90_000,
    );
    expect(second.url).toBe(first.url);
    expect(second.sha).not.toBe(first.sha);
    const pulls = (await openPulls()).filter(
      (p) => p.head.ref === `capstan/promote/${namespace}/web-production`,
    );
    expect(pulls).toHaveLength(1);
    expect(pulls[0]!.head.sha).toBe(second.sha);
    expect(await fileOn(`capstan/promote/${namespace}/web-production`, 'web/deploy.yaml')).toBe(
      webDeployment('6'),
    );
    // The description tells of web 5; one comment, edited in place, tells of web 6.
    const comments = await forge.api<{ body: string }[]>(
      'GET',
      `/repos/${gitea.fullName}/issues/${pulls[0]!.number}/comments`,
    );
    const ours = comments.filter((c) => c.body.includes('<!-- capstan:promotion -->'));
    expect(ours).toHaveLength(1);
    expect(ours[0]!.body).toContain(six);
    // Production itself is untouched until the pull request is merged.
    expect(await fileOn('production', 'web/deploy.yaml')).toBe(webDeployment('4'));
  }, 300_000);
});
