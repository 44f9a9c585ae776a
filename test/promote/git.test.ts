/**
 * A promotion in Git (promoteInGit) against real git over HTTP (git http-backend with pushes and
 * basic auth), the forge being the tests' one fake: the target path made equal to the source's,
 * nothing else touched, a branch that moves meanwhile rebuilt (no lost update), one pull-request
 * branch reused, credentials nowhere in what comes back. No Kubernetes involved.
 */
import { rm } from 'node:fs/promises';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createProcessRunner } from '../../src/source/index.js';
import { promoteInGit, type PromoteGitRequest } from '../../src/promote/index.js';
import { FakeForge } from '../forge/fake-forge.js';
import {
  createTestRepo,
  git,
  makeTempDir,
  startGitHttpServer,
  type GitHttpServer,
  type TestRepo,
} from '../support/git-servers.js';

const WRITER = { username: 'deployer', password: `w-s3cr3t-'"$(touch /tmp/capstan-pwned)@:/?#%` };
const READER = { username: 'reader', password: 'r-s3cr3t-read-only-password' };
const basic = (user: { username: string; password: string }) =>
  ({ kind: 'basic', ...user, allowInsecureHttp: true }) as const;

let root: string;
let server: GitHttpServer;
let tempDir: string;
let count = 0;

beforeAll(async () => {
  root = await makeTempDir('promote-git');
  server = await startGitHttpServer({ root, auth: WRITER, readOnlyUsers: [READER], allowPush: true });
  return async () => {
    await server.close();
    await rm(root, { recursive: true, force: true });
  };
});

beforeEach(async () => {
  tempDir = await makeTempDir('promote-git-temp');
  return () => rm(tempDir, { recursive: true, force: true });
});

interface Fixture {
  repo: TestRepo;
  url: string;
  /** staging's head: the promoted commit. */
  staged: string;
}

/** production: envs/prod/ (three files) and shared/; staging: envs/staging/ changed from it. */
async function fixture(): Promise<Fixture> {
  const repo = await createTestRepo(root, `envs-${++count}`);
  await repo.commit({ 'README.md': 'envs\n' }, 'start');
  await repo.commit(
    {
      'envs/prod/app.yaml': 'v: 1\n',
      'envs/prod/old.yaml': 'old\n',
      'envs/prod/run.sh': 'echo 1\n',
      'shared/x': 'prod\n',
    },
    'production',
    'production',
  );
  const staged = await repo.commit(
    {
      'envs/prod/app.yaml': null,
      'envs/prod/old.yaml': null,
      'envs/prod/run.sh': null,
      'shared/x': 'staging only\n',
      'envs/staging/app.yaml': 'v: 2\n',
      'envs/staging/new/deep.yaml': 'new\n',
      'envs/staging/run.sh': 'echo 2\n',
    },
    'staging',
    'staging',
  );
  return { repo, url: server.url(repo.name), staged };
}

function request(f: Fixture, overrides: Partial<PromoteGitRequest> = {}): PromoteGitRequest {
  return {
    repository: { url: f.url, credentials: basic(WRITER), timeoutMs: 30_000 },
    description: {
      app: 'web',
      namespace: 'shop',
      source: { name: 'web-staging', branch: 'staging', path: 'envs/staging', sha: f.staged },
      target: { name: 'web-production', branch: 'production', path: 'envs/prod' },
    },
    mode: 'push',
    ...overrides,
  };
}

const files = async (f: Fixture, ref: string) =>
  (await git(f.repo.bareDir, 'ls-tree', '-r', '--name-only', ref)).split('\n').sort();

describe('promoteInGit', () => {
  it("pushes one commit making the target path equal the source's, nothing else touched", async () => {
    const f = await fixture();
    const before = await f.repo.head('production');
    const result = await promoteInGit(request(f), { tempDir });
    expect(result).toMatchObject({ outcome: 'pushed' });
    if (result.outcome !== 'pushed') return;
    expect(await f.repo.head('production')).toBe(result.sha);
    expect(await git(f.repo.bareDir, 'rev-parse', `${result.sha}^`)).toBe(before);
    expect(await files(f, 'production')).toEqual(
      ['README.md', 'envs/prod/app.yaml', 'envs/prod/new/deep.yaml', 'envs/prod/run.sh', 'shared/x'].sort(),
    );
    expect(await git(f.repo.bareDir, 'show', 'production:shared/x')).toBe('prod');
    expect(await git(f.repo.bareDir, 'rev-parse', 'production:envs/prod')).toBe(
      await git(f.repo.bareDir, 'rev-parse', `${f.staged}:envs/staging`),
    );
    expect(result.files.map((c) => `${c.status} ${c.path}`).sort()).toEqual([
      'A envs/prod/new/deep.yaml',
      'D envs/prod/old.yaml',
      'M envs/prod/app.yaml',
      'M envs/prod/run.sh',
    ]);
    const message = await git(f.repo.bareDir, 'log', '-1', '--format=%an <%ae>%n%B', 'production');
    expect(message).toContain('Capstan <capstan@localhost>');
    expect(message).toContain(`promote web: staging@${f.staged.slice(0, 12)} → production`);
    expect(message).toContain(`Capstan-Promoted-Revision: ${f.staged}`);

    // Once there, nothing is left to do.
    expect(await promoteInGit(request(f), { tempDir })).toMatchObject({ outcome: 'upToDate' });
  });

  it('rebuilds on a branch that moved before the push, losing nothing', async () => {
    const f = await fixture();
    const real = createProcessRunner();
    let raced = '';
    const result = await promoteInGit(request(f), {
      tempDir,
      runner: async (invocation) => {
        if (invocation.operation === 'push' && raced === '')
          raced = await f.repo.commit({ 'shared/y': 'pushed meanwhile\n' }, 'meanwhile', 'production');
        return real(invocation);
      },
    });
    expect(result).toMatchObject({ outcome: 'pushed' });
    if (result.outcome !== 'pushed') return;
    expect(await git(f.repo.bareDir, 'rev-parse', `${result.sha}^`)).toBe(raced);
    expect(await git(f.repo.bareDir, 'show', 'production:shared/y')).toBe('pushed meanwhile');
    expect(await git(f.repo.bareDir, 'show', 'production:envs/prod/app.yaml')).toBe('v: 2');
  });

  it('opens one pull request on its own branch, and reuses both for the same change', async () => {
    const f = await fixture();
    const forge = new FakeForge();
    const pr = request(f, { mode: 'pullRequest', forge: { forge, repo: 'shop/envs' } });
    const first = await promoteInGit(pr, { tempDir });
    expect(first).toMatchObject({ outcome: 'pullRequest', reused: false });
    if (first.outcome !== 'pullRequest') return;
    expect(await f.repo.head('capstan/promote/shop/web-production')).toBe(first.sha);
    expect(forge.opened).toEqual([
      expect.objectContaining({
        head: 'capstan/promote/shop/web-production',
        base: 'production',
        title: `promote web: staging@${f.staged.slice(0, 12)} → production`,
      }),
    ]);
    expect(forge.opened[0]!.body).toContain('### Files changed (4)');

    const second = await promoteInGit(pr, { tempDir });
    expect(second).toMatchObject({
      outcome: 'pullRequest',
      reused: true,
      sha: first.sha,
      number: first.number,
    });
    expect(forge.pullRequests).toHaveLength(1);
    expect(forge.comments).toHaveLength(1);
    expect(forge.comments[0]!.body).toContain('<!-- capstan:promotion -->');
  });

  it('refuses clearly with read-only credentials, with no password anywhere', async () => {
    const f = await fixture();
    const before = await f.repo.head('production');
    const result = await promoteInGit(
      request(f, { repository: { url: f.url, credentials: basic(READER) } }),
      {
        tempDir,
      },
    );
    expect(result).toMatchObject({ outcome: 'refused', reason: 'permission' });
    expect(result.message).toMatch(/may not push to branch 'production'/);
    expect(JSON.stringify(result)).not.toContain(READER.password);
    expect(await f.repo.head('production')).toBe(before);
  });

  it('refuses a source path that is no folder at the promoted commit', async () => {
    const f = await fixture();
    const bad = request(f);
    await expect(
      promoteInGit(
        {
          ...bad,
          description: { ...bad.description, source: { ...bad.description.source, path: 'nowhere' } },
        },
        { tempDir },
      ),
    ).rejects.toThrow(/nowhere is not a folder at/);
  });
});
