/**
 * Attacks on promotion in Git (promoteInGit, src/promote/git.ts) against real git over HTTP and the
 * tests' fake forge: another namespace's promotion pull request must not be taken over, and no
 * path may leave the target folder.
 */
import { rm } from 'node:fs/promises';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
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

const WRITER = { username: 'deployer', password: 'w-s3cr3t-attack' };
const basic = { kind: 'basic', ...WRITER, allowInsecureHttp: true } as const;

let root: string;
let server: GitHttpServer;
let tempDir: string;
let count = 0;

beforeAll(async () => {
  root = await makeTempDir('attack-promote');
  server = await startGitHttpServer({ root, auth: WRITER, allowPush: true });
  return async () => {
    await server.close();
    await rm(root, { recursive: true, force: true });
  };
});

beforeEach(async () => {
  tempDir = await makeTempDir('attack-promote-temp');
  return () => rm(tempDir, { recursive: true, force: true });
});

interface Fixture {
  repo: TestRepo;
  url: string;
  staged: string;
}

/** One monorepo shared by two teams: production has team-a/prod and team-b/prod; staging changes both. */
async function fixture(): Promise<Fixture> {
  const repo = await createTestRepo(root, `mono-${++count}`);
  await repo.commit({ 'README.md': 'mono\n' }, 'start');
  await repo.commit(
    { 'team-a/prod/app.yaml': 'a: 1\n', 'team-b/prod/app.yaml': 'b: 1\n' },
    'production',
    'production',
  );
  const staged = await repo.commit(
    { 'team-a/staging/app.yaml': 'a: 2\n', 'team-b/staging/app.yaml': 'b: 2\n', 'evil/x.yaml': 'x\n' },
    'staging',
    'staging',
  );
  return { repo, url: server.url(repo.name), staged };
}

function request(
  f: Fixture,
  namespace: string,
  paths: { source: string; target: string },
  forge: FakeForge,
): PromoteGitRequest {
  return {
    repository: { url: f.url, credentials: basic, timeoutMs: 30_000 },
    description: {
      app: 'web',
      namespace,
      source: { name: 'web-staging', branch: 'staging', path: paths.source, sha: f.staged },
      // The same Application name in both namespaces: names are each team's own choice.
      target: { name: 'web-production', branch: 'production', path: paths.target },
    },
    mode: 'pullRequest',
    forge: { forge, repo: 'org/mono' },
  };
}

describe('promotion pull requests of two namespaces on one repository', () => {
  // Found by the red team (fixed): the pull-request branch is capstan/promote/<target name>,
  // without the namespace (src/promote/message.ts promotionBranch), so team B's promotion force-pushes
  // over team A's pull-request branch and reports team A's pull request as its own.
  it("does not rewrite another namespace's promotion pull request (same target name)", async () => {
    const f = await fixture();
    // One bot for the repository, as an organisation gives one to its teams.
    const forge = new FakeForge();
    const teamA = await promoteInGit(
      request(f, 'team-a', { source: 'team-a/staging', target: 'team-a/prod' }, forge),
      { tempDir },
    );
    expect(teamA).toMatchObject({ outcome: 'pullRequest', reused: false });
    if (teamA.outcome !== 'pullRequest') return;
    const aBranch = forge.opened[0]!.head;
    expect(await f.repo.head(aBranch)).toBe(teamA.sha);

    // Team B promotes its own folder into its own Application that happens to have the same name.
    const teamB = await promoteInGit(
      request(f, 'team-b', { source: 'team-b/staging', target: 'team-b/prod' }, forge),
      { tempDir },
    );
    expect(teamB.outcome).toBe('pullRequest');

    // Team A's pull request still carries team A's change, and only that.
    expect(await f.repo.head(aBranch)).toBe(teamA.sha);
    const aFiles = await git(f.repo.bareDir, 'diff', '--name-only', 'production', aBranch);
    expect(aFiles).not.toContain('team-b/');
    // Team B did not get team A's pull request as "its" pull request.
    if (teamB.outcome === 'pullRequest') expect(teamB.number).not.toBe(teamA.number);
  });
});

/** The Markdown outside code spans (CommonMark: a run of n backticks closes at the next run of n). */
const outsideCode = (markdown: string): string => markdown.replace(/(`+)([\s\S]*?[^`])\1(?!`)/g, ' ');

describe('promotion pull request body', () => {
  // Found by the red team (fixed): spec.path is put between single backticks unescaped (promotionSummary).
  it("a hostile target spec.path cannot put a link or a mention in the bot's pull request", async () => {
    const f = await fixture();
    const forge = new FakeForge();
    const path = 'team-a/x` [approve here](https://evil.example/x) @org/security-team `y';
    const result = await promoteInGit(
      request(f, 'team-a', { source: 'team-a/staging', target: path }, forge),
      {
        tempDir,
      },
    );
    expect(result.outcome).toBe('pullRequest');
    const prose = outsideCode(forge.opened[0]!.body);
    expect(prose).not.toMatch(/\]\(https:\/+evil\.example/); // normaliseTreePath folds // to /, which a browser still follows
    expect(prose).not.toContain('@org/security-team');
  });
});

describe('promotion paths', () => {
  for (const [what, paths] of [
    ['target ..', { source: 'team-a/staging', target: 'team-a/../team-b/prod' }],
    ['target absolute', { source: 'team-a/staging', target: '/team-b/prod' }],
    ['source ..', { source: 'team-a/../evil', target: 'team-a/prod' }],
    ['target with a NUL', { source: 'team-a/staging', target: 'team-a/\u0000prod' }],
    ['target with a newline', { source: 'team-a/staging', target: 'team-a/\nprod' }],
  ] as const) {
    it(`refuses a ${what} path and pushes nothing`, async () => {
      const f = await fixture();
      const before = await f.repo.head('production');
      const forge = new FakeForge();
      await expect(promoteInGit(request(f, 'team-a', paths, forge), { tempDir })).rejects.toThrow(
        /must not contain|relative to the repository root|control characters/,
      );
      expect(await f.repo.head('production')).toBe(before);
      expect(forge.opened).toEqual([]);
    });
  }

  it('a target path through a symlink replaces the link in Git, never writes beside it', async () => {
    const f = await fixture();
    // production: team-a/link -> ../team-b (a symlink in Git)
    const work = await makeTempDir('attack-symlink');
    try {
      await git(work, 'clone', '--quiet', '--branch', 'production', f.repo.bareDir, '.');
      await git(work, '-c', 'core.symlinks=true', 'config', 'core.symlinks', 'true');
      const { symlink } = await import('node:fs/promises');
      await symlink('../team-b', `${work}/team-a/link`);
      await git(work, 'add', '--all');
      await git(work, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '--quiet', '-m', 'link');
      await git(work, 'push', '--quiet', 'origin', 'production');
    } finally {
      await rm(work, { recursive: true, force: true });
    }
    const bBefore = await git(f.repo.bareDir, 'rev-parse', 'production:team-b');
    const result = await promoteInGit(
      {
        ...request(f, 'team-a', { source: 'team-a/staging', target: 'team-a/link/prod' }, new FakeForge()),
        mode: 'push',
      },
      { tempDir },
    );
    expect(result.outcome).toBe('pushed');
    expect(await git(f.repo.bareDir, 'rev-parse', 'production:team-b')).toBe(bBefore);
  });
});
