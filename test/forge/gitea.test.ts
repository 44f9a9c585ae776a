/**
 * The forge client against a real Gitea (the run's shared forge): pull requests opened, read and
 * listed; one marked comment per pull request edited in place, and never another user's; commit
 * statuses read back through Gitea's own API; closing and merging as the client then reports them.
 */
import { rm } from 'node:fs/promises';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createForge, type Forge } from '../../src/forge/index.js';
import { eventually } from '../support/controller.js';
import { sharedForge } from '../support/forge.js';
import { createTestRepo, git, makeTempDir } from '../support/git-servers.js';

interface GiteaComment {
  id: number;
  body: string;
  user: { login: string };
}

const MARKER = '<!-- capstan:plan -->';

async function setup() {
  const gitea = await sharedForge();
  const owner = await gitea.createUser();
  const token = await gitea.token(owner, ['write:repository', 'write:issue', 'read:user']);
  const repo = await gitea.createRepo(owner.username, `forge-${Date.now().toString(36)}`);
  const root = await makeTempDir('forge-client');
  onTestFinished(() => rm(root, { recursive: true, force: true }));
  const local = await createTestRepo(root, 'local');
  const shas: Record<string, string> = {};
  shas.main = await local.commit({ 'app/deploy.yaml': 'replicas: 1\n' }, 'first');
  shas.feature = await local.commit({ 'app/deploy.yaml': 'replicas: 2\n' }, 'two', 'feature');
  shas.release = await local.commit({ 'app/deploy.yaml': 'replicas: 1\n' }, 'release', 'release');
  shas.hotfix = await local.commit({ 'app/deploy.yaml': 'replicas: 3\n' }, 'three', 'hotfix');
  for (const branch of ['main', 'feature', 'release', 'hotfix']) {
    await git(
      local.bareDir,
      'push',
      '--quiet',
      gitea.cloneUrl(repo.owner, repo.name, owner),
      `${branch}:${branch}`,
    );
    // Gitea can answer 500 for a branch of a repository whose first push it is still taking in.
    await eventually(`${branch} on Gitea`, () =>
      gitea.waitForBranch(repo.fullName, branch, { sha: shas[branch]!, timeoutMs: 5_000 }),
    );
  }
  const forge: Forge = createForge({
    kind: 'gitea',
    apiUrl: `${gitea.url}/api/v1`,
    auth: { kind: 'token', token },
    allowInsecureHttp: true,
  });
  return { gitea, owner, token, repo, shas, forge };
}

describe('forge client on Gitea', () => {
  it('opens, reads, lists, comments once, sets statuses; reports closed and merged', async () => {
    const { gitea, owner, token, repo, shas, forge } = await setup();
    const input = {
      repo: repo.fullName,
      head: 'feature',
      base: 'main',
      title: 'Two replicas',
      body: 'Why: load',
    };

    // Opened once; asked again, the same one is reused.
    const opened = await forge.openPullRequest(input);
    expect(opened.reused).toBe(false);
    expect(await forge.openPullRequest(input)).toEqual({ ...opened, reused: true });
    const hotfix = await forge.openPullRequest({
      ...input,
      head: 'hotfix',
      base: 'release',
      title: 'Hotfix',
    });

    expect(await forge.getPullRequest(repo.fullName, opened.number)).toEqual({
      number: opened.number,
      url: opened.url,
      title: 'Two replicas',
      state: 'open',
      head: { ref: 'feature', sha: shas.feature, fork: false },
      base: { ref: 'main' },
      author: owner.username,
      labels: [],
    });
    const all = await forge.listOpenPullRequests(repo.fullName);
    expect(all.map((pr) => pr.number).sort()).toEqual([opened.number, hotfix.number].sort());
    const intoRelease = await forge.listOpenPullRequests(repo.fullName, { base: 'release' });
    expect(intoRelease.map((pr) => [pr.number, pr.head.ref, pr.head.sha])).toEqual([
      [hotfix.number, 'hotfix', shas.hotfix],
    ]);
    expect(await forge.listOpenPullRequests(repo.fullName, { limit: 1 })).toHaveLength(1);

    // One comment per marker, edited in place.
    const comments = () =>
      gitea.api<GiteaComment[]>('GET', `/repos/${repo.fullName}/issues/${opened.number}/comments`);
    const first = await forge.upsertComment(repo.fullName, opened.number, {
      marker: MARKER,
      body: 'plan: 1 app',
    });
    const second = await forge.upsertComment(repo.fullName, opened.number, {
      marker: MARKER,
      body: 'plan: 2 apps',
    });
    expect(first.created).toBe(true);
    expect(second).toEqual({ id: first.id, created: false });
    expect((await comments()).map((c) => c.body)).toEqual([`${MARKER}\nplan: 2 apps`]);
    const other = await forge.upsertComment(repo.fullName, opened.number, {
      marker: '<!-- capstan:other -->',
      body: 'another',
    });
    expect(other.created).toBe(true);
    expect(await comments()).toHaveLength(2);

    // A comment by another user carrying a marker is theirs: left alone, ours is created.
    const mallory = await gitea.createUser();
    const malloryToken = await gitea.token(mallory, ['write:issue', 'write:repository']);
    const planted = `<!-- capstan:third -->\nCapstan says: safe to merge`;
    await gitea.api('POST', `/repos/${repo.fullName}/issues/${opened.number}/comments`, {
      auth: { token: malloryToken },
      body: { body: planted },
      expect: [201],
    });
    const third = await forge.upsertComment(repo.fullName, opened.number, {
      marker: '<!-- capstan:third -->',
      body: 'the real plan',
    });
    expect(third.created).toBe(true);
    const after = await comments();
    expect(after.find((c) => c.user.login === mallory.username)?.body).toBe(planted);
    expect(after.find((c) => c.id === third.id)).toMatchObject({ user: { login: owner.username } });

    // Statuses: pending, then success, as Gitea reads them back.
    const status = { context: 'capstan/plan', targetUrl: 'http://capstan.example/plan/1' };
    await forge.setCommitStatus(repo.fullName, shas.feature!, {
      ...status,
      state: 'pending',
      description: 'planning',
    });
    const pending = await gitea.api<{ state: string }>(
      'GET',
      `/repos/${repo.fullName}/commits/${shas.feature}/status`,
    );
    expect(pending.state).toBe('pending');
    await forge.setCommitStatus(repo.fullName, shas.feature!, {
      ...status,
      state: 'success',
      description: `2 apps change ${'x'.repeat(300)}`,
    });
    const combined = await gitea.api<{
      state: string;
      statuses: { context: string; status: string; description: string; target_url: string }[];
    }>('GET', `/repos/${repo.fullName}/commits/${shas.feature}/status`);
    expect(combined.state).toBe('success');
    expect(combined.statuses).toHaveLength(1);
    expect(combined.statuses[0]).toMatchObject({
      context: 'capstan/plan',
      status: 'success',
      target_url: 'http://capstan.example/plan/1',
    });
    expect(Array.from(combined.statuses[0]!.description).length).toBeLessThanOrEqual(140);

    // Closed, then merged (the other one), as the client reports them.
    await gitea.api('PATCH', `/repos/${repo.fullName}/pulls/${opened.number}`, {
      auth: { token },
      body: { state: 'closed' },
      expect: [201],
    });
    expect((await forge.getPullRequest(repo.fullName, opened.number)).state).toBe('closed');
    // Gitea checks mergeability in the background after opening; it refuses to merge until then.
    await eventually('hotfix merged', async () => {
      const merged = await gitea.api('POST', `/repos/${repo.fullName}/pulls/${hotfix.number}/merge`, {
        auth: { token },
        body: { Do: 'merge' },
        expect: [200, 405],
      });
      return merged === undefined || (merged as { message?: string }).message === undefined;
    });
    expect((await forge.getPullRequest(repo.fullName, hotfix.number)).state).toBe('merged');
    expect(await forge.listOpenPullRequests(repo.fullName)).toEqual([]);
  });

  it('says notFound for a pull request that does not exist, and never shows the token', async () => {
    const { repo, token, forge } = await setup();
    const error = await forge.getPullRequest(repo.fullName, 9999).then(
      () => undefined,
      (thrown: unknown) => thrown as Error & { kind: string },
    );
    expect(error?.kind).toBe('notFound');
    expect(String(error?.message)).not.toContain(token);
  });
});
