/**
 * An automatic rollback recorded as a pull request on a real Gitea (the run's shared forge): the
 * Repository names its Git host (`spec.forge`), its Secret's token opens the pull request, and
 * merging it ends the rollback like any new commit.
 */
import { rm } from 'node:fs/promises';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { Application } from '../../src/api/v1alpha1.js';
import { freshNamespace, kubectl, kubectlOk } from '../support/cluster.js';
import {
  condition,
  createApp,
  eventually,
  getApp,
  isolated,
  readyAt,
  startTestController,
} from '../support/controller.js';
import { webDeployment } from '../support/chaos.js';
import { giteaRepository, giteaSecret, sharedForge } from '../support/forge.js';
import { createTestRepo, git, makeTempDir } from '../support/git-servers.js';

const web = webDeployment;

async function imageOf(namespace: string): Promise<string> {
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

async function eventReasons(namespace: string): Promise<string[]> {
  const result = await kubectl(['get', 'events', '-n', namespace, '-o', 'json']);
  return (JSON.parse(result.stdout).items as { reason: string }[]).map((e) => e.reason);
}

describe('gitRevert: pullRequest', () => {
  it('opens a pull request on Gitea for the rollback; merging it ends the rollback', async () => {
    const forge = await sharedForge();
    const owner = await forge.createUser();
    const token = await forge.token(owner, ['write:repository']);
    const repo = await forge.createRepo(owner.username, `apps-${Date.now().toString(36)}`);
    const root = await makeTempDir('pr-rollback');
    onTestFinished(() => rm(root, { recursive: true, force: true }));
    const local = await createTestRepo(root, 'local');
    const pushToForge = async (sha: string) => {
      await git(local.bareDir, 'push', '--quiet', forge.cloneUrl(repo.owner, repo.name, owner), 'main:main');
      // Gitea can answer 500 (a nil-pointer panic) for a branch of a repository whose first push
      // it is still taking in; waitForBranch takes only 200 and 404, so ask again.
      await eventually(`${sha.slice(0, 8)} on Gitea`, () =>
        forge.waitForBranch(repo.fullName, 'main', { sha, timeoutMs: 5_000 }),
      );
    };
    const good = await local.commit({ 'web/deploy.yaml': web('1') }, 'web 1');
    await pushToForge(good);

    // A controller of this namespace alone, so no other test's controller records the revert.
    const namespace = await freshNamespace('pr-rollback');
    const t = await startTestController({ namespace });
    onTestFinished(() => t.stop());
    await t.kube.apply(giteaSecret(namespace, forge, owner, token));
    await t.kube.apply(isolated(giteaRepository(namespace, 'apps', repo.cloneUrl)));
    await createApp(
      t.kube,
      namespace,
      'web',
      { path: 'web', healthTimeout: '8s', rollback: { automatic: true, gitRevert: 'pullRequest' } },
      { isolated: true },
    );
    await readyAt(t.kube, namespace, 'web', good, 90_000);
    await eventually(
      'healthy at good',
      async () => (await getApp(t.kube, namespace, 'web')).status?.lastHealthyRevision?.sha === good,
    );

    const bad = await local.commit({ 'web/deploy.yaml': web('2', { failing: true }) }, 'web 2 (pods fail)');
    await pushToForge(bad);
    const opened = await eventually(
      'pull request opened',
      async () => {
        const app = await getApp(t.kube, namespace, 'web');
        const state = app.status?.rollback?.gitRevert?.state;
        if (state !== undefined && state !== 'Pending' && state !== 'PullRequestOpened')
          throw new Error(`gitRevert ${state}: ${app.status?.rollback?.gitRevert?.message}`);
        return state === 'PullRequestOpened' ? app : undefined;
      },
      90_000,
    );
    expect(opened.status?.rollback).toMatchObject({ from: bad, to: good, automatic: true });
    expect(opened.status?.lastAppliedRevision?.sha).toBe(good);
    expect(await imageOf(namespace)).toBe('registry.example/web:1');
    const gitRevert = opened.status!.rollback!.gitRevert!;
    expect(gitRevert.mode).toBe('pullRequest');
    expect(gitRevert.url).toMatch(new RegExp(`^${forge.url}/${repo.fullName}/pulls/\\d+$`));
    expect(gitRevert.message).not.toContain(token);
    expect(condition(opened, 'RollbackRecorded')).toMatchObject({
      status: 'True',
      reason: 'PullRequestOpened',
    });
    await eventually('RevertRecorded Event', async () =>
      (await eventReasons(namespace)).includes('RevertRecorded'),
    );

    // The pull request, as Gitea has it: the revert of the bad commit, not merged yet.
    const number = Number(gitRevert.url!.split('/').pop());
    const pull = await forge.api<{
      state: string;
      title: string;
      body: string;
      head: { ref: string; sha: string };
      base: { ref: string };
      html_url: string;
      user: { login: string };
    }>('GET', `/repos/${repo.fullName}/pulls/${number}`);
    expect(pull).toMatchObject({
      state: 'open',
      html_url: gitRevert.url,
      base: { ref: 'main' },
      head: { ref: `capstan/rollback-${namespace}-web-${bad.slice(0, 12)}`, sha: gitRevert.sha },
      user: { login: owner.username },
    });
    expect(pull.title).toContain(bad.slice(0, 12));
    expect(pull.body).toContain(`Capstan-Rollback: ${bad}`);
    expect(await local.head()).toBe(bad);
    const onMain = await forge.api<{ commit: { id: string } }>(
      'GET',
      `/repos/${repo.fullName}/branches/main`,
    );
    expect(onMain.commit.id).toBe(bad);

    // Merged: the merge commit is the branch's new head, applied like any other; the rollback ends.
    await forge.api('POST', `/repos/${repo.fullName}/pulls/${number}/merge`, {
      auth: { token },
      body: { Do: 'merge' },
      expect: [200],
    });
    const merge = await eventually('merged', async () => {
      const branch = await forge.api<{ commit: { id: string } }>(
        'GET',
        `/repos/${repo.fullName}/branches/main`,
      );
      return branch.commit.id !== bad ? branch.commit.id : undefined;
    });
    const message = await forge.api<{ parents: { sha: string }[] }>(
      'GET',
      `/repos/${repo.fullName}/git/commits/${merge}`,
    );
    expect(message.parents.map((p) => p.sha)).toEqual([bad, gitRevert.sha]);
    const merged: Application = await readyAt(t.kube, namespace, 'web', merge, 90_000);
    expect(merged.status?.rollback).toBeUndefined();
    expect(await imageOf(namespace)).toBe('registry.example/web:1');
    await eventually(
      'healthy at the merge',
      async () => (await getApp(t.kube, namespace, 'web')).status?.lastHealthyRevision?.sha === merge,
    );
  });
});
