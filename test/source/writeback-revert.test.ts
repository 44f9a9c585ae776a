/**
 * Recording a rollback in Git (revertCommits) against real git over HTTP: git http-backend with
 * pushes enabled, basic auth for a writer, read-only credentials, and a pre-receive hook guarding
 * a branch. No Kubernetes involved.
 */
import { readdir, rm } from 'node:fs/promises';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { describeError } from '../../src/core/errors.js';
import {
  createGitSource,
  createProcessRunner,
  revertCommits,
  type GitInvocation,
  type RevertRequest,
} from '../../src/source/index.js';
import { type PullRequestInput } from '../../src/forge/index.js';
import { FakeForge as SharedFakeForge } from '../forge/fake-forge.js';
import {
  createTestRepo,
  git,
  makeTempDir,
  protectBranch,
  startGitHttpServer,
  type GitHttpServer,
  type TestRepo,
} from '../support/git-servers.js';

const WRITER = { username: 'deployer', password: `w-s3cr3t-'"$(touch /tmp/capstan-pwned)@:/?#%` };
const READER = { username: 'reader', password: 'r-s3cr3t-read-only-password' };
const basic = (user: { username: string; password: string }) =>
  ({ kind: 'basic', ...user, allowInsecureHttp: true }) as const;

const GOOD_YAML =
  'kind: Deployment\nimage: app:v1\nlabels:\n  app: web\n  team: a\nports:\n  - 80\nreplicas: 2\n';
const BAD_YAML = GOOD_YAML.replace('app:v1', 'app:v2-broken');
const EVIDENCE =
  'Deployment team-a/web: Progressing=False (ProgressDeadlineExceeded)\nPod web-1: ImagePullBackOff';

let root: string;
let server: GitHttpServer;
let repoCount = 0;

beforeAll(async () => {
  root = await makeTempDir('writeback');
  server = await startGitHttpServer({ root, auth: WRITER, readOnlyUsers: [READER], allowPush: true });
  return async () => {
    await server.close();
    await rm(root, { recursive: true, force: true });
  };
});

let tempDir: string;
let calls: GitInvocation[];

beforeEach(async () => {
  tempDir = await makeTempDir('writeback-temp');
  calls = [];
  return () => rm(tempDir, { recursive: true, force: true });
});

interface Fixture {
  repo: TestRepo;
  url: string;
  good: string;
  bad: string;
}

/** A repository with two apps: `good` (healthy), then `bad` (breaks apps/a). */
async function fixture(): Promise<Fixture> {
  const repo = await createTestRepo(root, `apps-${++repoCount}`);
  const good = await repo.commit(
    {
      'apps/a/deploy.yaml': GOOD_YAML,
      'apps/a/service.yaml': 'kind: Service\n',
      'apps/b/deploy.yaml': 'b: 1\n',
    },
    'good',
  );
  const bad = await repo.commit({ 'apps/a/deploy.yaml': BAD_YAML }, 'roll out v2');
  return { repo, url: server.url(repo.name), good, bad };
}

function request(f: Fixture, overrides: Partial<RevertRequest> = {}): RevertRequest {
  return {
    repository: { url: f.url, credentials: basic(WRITER), timeoutMs: 30_000 },
    branch: 'main',
    good: f.good,
    bad: f.bad,
    appPath: 'apps/a',
    app: { namespace: 'team-a', name: 'web' },
    evidence: EVIDENCE,
    mode: 'commit',
    ...overrides,
  };
}

function revert(req: RevertRequest, runner = createProcessRunner()) {
  return revertCommits(req, {
    tempDir,
    runner: (invocation) => {
      calls.push(invocation);
      return runner(invocation);
    },
  });
}

const show = (f: Fixture, spec: string) => git(f.repo.bareDir, 'show', spec);
const message = (f: Fixture, sha: string) => git(f.repo.bareDir, 'log', '-1', '--format=%B', sha);

/** Everything a person or a log could see of a run: the result or error, and every git argv. */
function visible(outcome: unknown): string {
  return [
    outcome instanceof Error ? describeError(outcome) : JSON.stringify(outcome),
    JSON.stringify(calls.map((call) => call.args)),
  ].join('\n');
}

describe('mode commit', () => {
  it('pushes one revert commit naming the app, the evidence and the bad SHA, readable back by the source stage', async () => {
    const f = await fixture();
    const result = await revert(request(f));
    expect(result).toMatchObject({ outcome: 'pushed', branch: 'main', reverted: [f.bad] });
    if (result.outcome !== 'pushed') throw new Error('not pushed');
    expect(await f.repo.head()).toBe(result.sha);
    expect(await git(f.repo.bareDir, 'rev-parse', `${result.sha}^`)).toBe(f.bad);
    expect(await show(f, `main:apps/a/deploy.yaml`)).toBe(GOOD_YAML.trimEnd());

    const text = await message(f, result.sha);
    expect(text.split('\n')[0]).toBe(
      `Revert team-a/web: roll back ${f.bad.slice(0, 12)} to ${f.good.slice(0, 12)}`,
    );
    expect(text).toContain(`  ${f.bad} roll out v2`);
    expect(text).toContain('  Pod web-1: ImagePullBackOff');
    expect(text).toMatch(new RegExp(`^Capstan-Rollback: ${f.bad}$`, 'm'));
    expect(await git(f.repo.bareDir, 'log', '-1', '--format=%an <%ae>|%cn <%ce>', result.sha)).toBe(
      'Capstan <capstan@localhost>|Capstan <capstan@localhost>',
    );
    // The trailer is a real trailer, as git reads them.
    expect(
      await git(
        f.repo.bareDir,
        'log',
        '-1',
        '--format=%(trailers:key=Capstan-Rollback,valueonly)',
        result.sha,
      ),
    ).toBe(f.bad);

    // An ordinary new commit: the source stage resolves the branch to it.
    const cacheDir = await makeTempDir('writeback-cache');
    try {
      const source = createGitSource({ cacheDir });
      const revision = await source.resolve({ url: f.url, credentials: basic(WRITER) }, 'main');
      expect(revision.sha).toBe(result.sha);
      expect(revision.message).toContain(`Capstan-Rollback: ${f.bad}`);
    } finally {
      await rm(cacheDir, { recursive: true, force: true });
    }

    expect(visible(result)).not.toContain(WRITER.password);
    expect(await readdir(tempDir)).toEqual([]);
  });

  it('reverts the whole range good..bad under the app path only, keeping other apps', async () => {
    const f = await fixture();
    const other = await f.repo.commit({ 'apps/b/deploy.yaml': 'b: 2\n' }, 'b: scale');
    const bad2 = await f.repo.commit({ 'apps/a/service.yaml': 'kind: Service\nport: 81\n' }, 'a: port 81');
    const result = await revert(request(f, { bad: bad2 }));
    expect(result).toMatchObject({ outcome: 'pushed', reverted: [bad2, f.bad] });
    expect(await show(f, 'main:apps/a/deploy.yaml')).toBe(GOOD_YAML.trimEnd());
    expect(await show(f, 'main:apps/a/service.yaml')).toBe('kind: Service');
    expect(await show(f, 'main:apps/b/deploy.yaml')).toBe('b: 2');
    if (result.outcome !== 'pushed') throw new Error('not pushed');
    expect(await message(f, result.sha)).not.toContain(other);
  });

  it('reverts on top of the branch when it moved after bad (a commit on another path)', async () => {
    const f = await fixture();
    const later = await f.repo.commit({ 'apps/b/deploy.yaml': 'b: 3\n' }, 'b: later');
    const result = await revert(request(f));
    expect(result.outcome).toBe('pushed');
    if (result.outcome !== 'pushed') throw new Error('not pushed');
    expect(await git(f.repo.bareDir, 'rev-parse', `${result.sha}^`)).toBe(later);
    expect(await show(f, 'main:apps/b/deploy.yaml')).toBe('b: 3');
    expect(await show(f, 'main:apps/a/deploy.yaml')).toBe(GOOD_YAML.trimEnd());
  });

  it('merges with a later change to the same file on other lines', async () => {
    const f = await fixture();
    await f.repo.commit({ 'apps/a/deploy.yaml': BAD_YAML.replace('replicas: 2', 'replicas: 5') }, 'a: scale');
    const result = await revert(request(f));
    expect(result.outcome).toBe('pushed');
    expect(await show(f, 'main:apps/a/deploy.yaml')).toBe(
      GOOD_YAML.replace('replicas: 2', 'replicas: 5').trimEnd(),
    );
  });

  it('fetches, reverts and pushes again when the branch moves between fetch and push', async () => {
    const f = await fixture();
    const real = createProcessRunner();
    let raced: string | undefined;
    const result = await revert(request(f), async (invocation) => {
      if (invocation.operation === 'push' && raced === undefined) {
        raced = await f.repo.commit({ 'apps/b/deploy.yaml': 'b: raced\n' }, 'b: raced');
      }
      return real(invocation);
    });
    expect(result.outcome).toBe('pushed');
    if (result.outcome !== 'pushed') throw new Error('not pushed');
    expect(calls.filter((call) => call.operation === 'push')).toHaveLength(2);
    expect(await git(f.repo.bareDir, 'rev-parse', `${result.sha}^`)).toBe(raced);
    expect(await show(f, 'main:apps/b/deploy.yaml')).toBe('b: raced');
  });

  it('gives up with branchMoved when the branch moves before every push', async () => {
    const f = await fixture();
    const real = createProcessRunner();
    let n = 0;
    const result = await revertCommits(request(f), {
      tempDir,
      maxAttempts: 2,
      runner: async (invocation) => {
        if (invocation.operation === 'push')
          await f.repo.commit({ 'apps/b/deploy.yaml': `b: ${++n}\n` }, 'b');
        return real(invocation);
      },
    });
    expect(result).toMatchObject({ outcome: 'branchMoved', attempts: 2 });
    expect(result.message).toMatch(/branch 'main' moved during each of 2 attempts/);
  });

  it('refuses clearly with read-only credentials, without the password anywhere', async () => {
    const f = await fixture();
    const result = await revert(request(f, { repository: { url: f.url, credentials: basic(READER) } }));
    expect(result).toMatchObject({ outcome: 'refused', reason: 'permission' });
    expect(result.message).toMatch(
      /^cannot record the rollback of team-a\/web in http:\/\/127\.0\.0\.1:\d+\/apps-\d+\.git: the Repository's credentials may not push to branch 'main' \(read-only credentials/,
    );
    expect(result.message).toContain('403');
    expect(visible(result)).not.toContain(READER.password);
    expect(await f.repo.head()).toBe(f.bad);
    expect(await readdir(tempDir)).toEqual([]);
  });

  it('refuses with wrong credentials (auth), without the password', async () => {
    const f = await fixture();
    const wrong = { username: WRITER.username, password: 'wrong-password-1234' };
    const result = await revert(request(f, { repository: { url: f.url, credentials: basic(wrong) } }));
    expect(result).toMatchObject({ outcome: 'refused', reason: 'auth' });
    expect(result.message).toMatch(/did not accept the Repository's credentials/);
    expect(visible(result)).not.toContain(wrong.password);
  });

  it('refuses when a pre-receive hook declines the push (protected branch)', async () => {
    const f = await fixture();
    await protectBranch(f.repo.bareDir, 'main');
    const result = await revert(request(f));
    expect(result).toMatchObject({ outcome: 'refused', reason: 'protected' });
    expect(result.message).toContain('pre-receive hook declined');
    expect(result.message).toContain('You are not allowed to push code to protected branches');
    expect(result.message).toMatch(/a pull request can carry the revert/);
    expect(await f.repo.head()).toBe(f.bad);
  });

  it('reports a conflict when the same lines changed after bad, and pushes nothing', async () => {
    const f = await fixture();
    await f.repo.commit({ 'apps/a/deploy.yaml': BAD_YAML.replace('v2-broken', 'v3') }, 'a: v3');
    const before = await f.repo.head();
    const result = await revert(request(f));
    expect(result).toMatchObject({ outcome: 'conflict', paths: ["'apps/a/deploy.yaml'"] });
    expect(result.message).toMatch(
      /conflicts with changes made on 'main' since .* in 'apps\/a\/deploy\.yaml'; revert it by hand/,
    );
    expect(await f.repo.head()).toBe(before);
    expect(calls.some((call) => call.operation === 'push')).toBe(false);
  });

  it('reports a conflict when the file was deleted after bad', async () => {
    const f = await fixture();
    await f.repo.commit({ 'apps/a/deploy.yaml': null }, 'a: remove');
    const result = await revert(request(f));
    expect(result.outcome).toBe('conflict');
  });

  it('is notNeeded once reverted (its own trailer), or when the branch already equals good', async () => {
    const f = await fixture();
    const first = await revert(request(f));
    expect(first.outcome).toBe('pushed');
    const again = await revert(request(f));
    expect(again).toMatchObject({ outcome: 'notNeeded', reason: 'alreadyReverted' });
    if (first.outcome !== 'pushed' || again.outcome !== 'notNeeded') throw new Error('unexpected');
    expect(again.sha).toBe(first.sha);

    const g = await fixture();
    await g.repo.commit({ 'apps/a/deploy.yaml': GOOD_YAML }, 'manual revert');
    expect(await revert(request(g))).toMatchObject({ outcome: 'notNeeded', reason: 'alreadyGood' });
  });

  it('is notNeeded when bad changed nothing under the app path', async () => {
    const f = await fixture();
    const bOnly = await f.repo.commit({ 'apps/b/deploy.yaml': 'b: broken\n' }, 'b only');
    const result = await revert(request(f, { good: f.bad, bad: bOnly }));
    expect(result).toMatchObject({ outcome: 'notNeeded', reason: 'nothingToRevert' });
  });

  it('is notNeeded when bad was force-pushed away', async () => {
    const f = await fixture();
    await git(f.repo.bareDir, 'update-ref', 'refs/heads/main', f.good);
    const result = await revert(request(f));
    expect(result).toMatchObject({ outcome: 'notNeeded', reason: 'notOnBranch' });
    expect(await f.repo.head()).toBe(f.good);
  });

  it('finds bad and good deeper than the first fetch', async () => {
    const f = await fixture();
    for (let i = 0; i < 60; i++) await f.repo.commit({ 'apps/b/deploy.yaml': `b: ${i}\n` }, `b ${i}`);
    const result = await revert(request(f));
    expect(result.outcome).toBe('pushed');
    expect(calls.filter((call) => call.args.some((arg) => arg.startsWith('--deepen=')))).not.toHaveLength(0);
    expect(await show(f, 'main:apps/a/deploy.yaml')).toBe(GOOD_YAML.trimEnd());
  });

  it('reverts at the repository root when the app path is empty', async () => {
    const f = await fixture();
    const result = await revert(request(f, { appPath: '' }));
    expect(result.outcome).toBe('pushed');
    expect(await show(f, 'main:apps/a/deploy.yaml')).toBe(GOOD_YAML.trimEnd());
  });

  it('keeps hostile evidence inside the body: no forged trailer, no control characters', async () => {
    const f = await fixture();
    const evidence = `boom\nCapstan-Rollback: ${f.good}\n\u001b[31mred\u0007 password=hunter2hunter2`;
    const result = await revert(request(f, { evidence }));
    if (result.outcome !== 'pushed') throw new Error(`not pushed: ${result.message}`);
    const text = await message(f, result.sha);
    expect(text).not.toMatch(new RegExp(`^Capstan-Rollback: ${f.good}$`, 'm'));
    expect(text).toContain(`  Capstan-Rollback: ${f.good}`);
    expect(text).not.toContain('hunter2hunter2');
    // eslint-disable-next-line no-control-regex
    expect(text).not.toMatch(/[\u0000-\u0008\u000b-\u001f]/);
  });
});

describe('mode pullRequest', () => {
  /** The shared fake, numbering its pull request as these tests expect. */
  class FakeForge extends SharedFakeForge {
    override async openPullRequest(input: PullRequestInput) {
      const reused = this.opened.some((pr) => pr.head === input.head && pr.base === input.base);
      this.opened.push(input);
      return { number: 7, url: `https://forge.example/${input.repo}/pulls/7`, reused };
    }
  }

  it('pushes the revert to a branch of its own and opens a pull request; again, reuses both', async () => {
    const f = await fixture();
    const forge = new FakeForge();
    const req = request(f, { mode: 'pullRequest', forge: { forge, repo: 'team-a/apps' } });
    const result = await revert(req);
    const branch = `capstan/rollback-team-a-web-${f.bad.slice(0, 12)}`;
    expect(result).toMatchObject({ outcome: 'pullRequest', branch, number: 7, reused: false });
    if (result.outcome !== 'pullRequest') throw new Error('no pull request');
    expect(await f.repo.head()).toBe(f.bad);
    expect(await f.repo.head(branch)).toBe(result.sha);
    expect(await show(f, `${branch}:apps/a/deploy.yaml`)).toBe(GOOD_YAML.trimEnd());
    expect(forge.opened[0]).toMatchObject({
      repo: 'team-a/apps',
      head: branch,
      base: 'main',
      title: `Revert team-a/web: roll back ${f.bad.slice(0, 12)} to ${f.good.slice(0, 12)}`,
    });
    expect(forge.opened[0]?.body).toContain(`Capstan-Rollback: ${f.bad}`);

    const again = await revert(req);
    expect(again).toMatchObject({ outcome: 'pullRequest', branch, sha: result.sha, reused: true });
    expect(calls.filter((call) => call.operation === 'push')).toHaveLength(1);
  });

  it('refuses with read-only credentials before opening anything', async () => {
    const f = await fixture();
    const forge = new FakeForge();
    const result = await revert(
      request(f, {
        mode: 'pullRequest',
        forge: { forge, repo: 'o/r' },
        repository: { url: f.url, credentials: basic(READER) },
      }),
    );
    expect(result).toMatchObject({ outcome: 'refused', reason: 'permission' });
    expect(forge.opened).toHaveLength(0);
  });

  it('pushes to its own branch even when the target branch is protected', async () => {
    const f = await fixture();
    await protectBranch(f.repo.bareDir, 'main');
    const forge = new FakeForge();
    const result = await revert(request(f, { mode: 'pullRequest', forge: { forge, repo: 'o/r' } }));
    expect(result.outcome).toBe('pullRequest');
  });
});

describe('input', () => {
  it('refuses bad input before any git runs', async () => {
    const f = await fixture();
    for (const bad of [
      { branch: '--upload-pack=touch /tmp/x' },
      { good: 'abc123' },
      { appPath: '../etc' },
      { app: { namespace: 'Team A', name: 'web' } },
      { author: { name: 'x>', email: 'a@b' } },
      { mode: 'pullRequest' as const },
    ]) {
      await expect(revert(request(f, bad))).rejects.toThrow();
    }
    expect(calls).toHaveLength(0);
  });
});
