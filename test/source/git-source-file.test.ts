/**
 * The source stage against real repositories over file://: resolution of every ref kind, the
 * cache (shared, short-circuited by ls-remote, coalesced), tree ids, checkouts, and hostile input.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { lstat, mkdir, readFile, readdir, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TransientError, UserError } from '../../src/core/errors.js';
import {
  createGitSource,
  createProcessRunner,
  type GitInvocation,
  type GitRunner,
  type GitSource,
} from '../../src/source/index.js';
import { createTestRepo, git, makeTempDir, type TestRepo } from '../support/git-servers.js';

/** A real runner that records what ran, so tests can count fetches and ls-remotes. */
function recordingRunner(): { runner: GitRunner; calls: GitInvocation[]; count(operation: string): number } {
  const real = createProcessRunner();
  const calls: GitInvocation[] = [];
  return {
    calls,
    runner: (invocation) => {
      calls.push(invocation);
      return real(invocation);
    },
    count: (operation) => calls.filter((call) => call.operation === operation).length,
  };
}

let root: string;
let repo: TestRepo;
const commits: Record<string, string> = {};

beforeAll(async () => {
  root = await makeTempDir('git-file');
  repo = await createTestRepo(root, 'apps');
  commits.first = await repo.commit(
    {
      'apps/a/deploy.yaml': 'kind: A\n',
      'apps/b/deploy.yaml': 'kind: B\n',
      'apps/a/escape': { symlink: '../../../etc/passwd' },
      'apps/a/inner': { symlink: 'deploy.yaml' },
    },
    'first commit\n\nwith a body',
  );
  await repo.tag('v1.1.0');
  commits.second = await repo.commit({ 'apps/b/deploy.yaml': 'kind: B2\n' }, 'touch b only');
  await repo.tag('v1.4.0', { annotated: true });
  await repo.tag('1.4.1-rc.1');
  commits.third = await repo.commit({ 'apps/a/deploy.yaml': 'kind: A3\n' }, 'touch a');
  await repo.tag('v2.0.0');
  commits.feature = await repo.commit({ 'feature.txt': 'x' }, 'on a branch', 'feature/x');
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

let cacheDir: string;
let recorder: ReturnType<typeof recordingRunner>;
let source: GitSource;

beforeEach(async () => {
  cacheDir = await makeTempDir('git-cache');
  recorder = recordingRunner();
  source = createGitSource({ cacheDir, allowFileUrls: true, runner: recorder.runner });
  return () => rm(cacheDir, { recursive: true, force: true });
});

describe('resolve over file://', () => {
  it('resolves a branch with its commit metadata', async () => {
    const revision = await source.resolve({ url: repo.fileUrl }, { kind: 'branch', name: 'main' });
    expect(revision).toMatchObject({
      sha: commits.third,
      ref: 'refs/heads/main',
      message: 'touch a',
      author: { name: 'Test Author', email: 'author@example.com' },
    });
    expect(Number.isNaN(Date.parse(revision.date))).toBe(false);
  });

  it('resolves a branch with a slash, and the string forms of names and HEAD', async () => {
    expect((await source.resolve({ url: repo.fileUrl }, 'feature/x')).sha).toBe(commits.feature);
    expect((await source.resolve({ url: repo.fileUrl }, 'HEAD')).sha).toBe(commits.third);
    expect(await source.resolve({ url: repo.fileUrl }, 'v1.1.0')).toMatchObject({
      sha: commits.first,
      ref: 'refs/tags/v1.1.0',
      message: 'first commit\n\nwith a body',
    });
  });

  it('resolves lightweight and annotated tags to commits', async () => {
    expect((await source.resolve({ url: repo.fileUrl }, { kind: 'tag', name: 'v1.1.0' })).sha).toBe(
      commits.first,
    );
    const annotated = await source.resolve({ url: repo.fileUrl }, { kind: 'tag', name: 'v1.4.0' });
    expect(annotated).toMatchObject({ sha: commits.second, ref: 'refs/tags/v1.4.0' });
  });

  it('resolves a semver range to the highest matching tag, pre-releases excluded', async () => {
    const revision = await source.resolve({ url: repo.fileUrl }, '>=1.2.0 <2');
    expect(revision).toMatchObject({ sha: commits.second, ref: 'refs/tags/v1.4.0' });
    expect((await source.resolve({ url: repo.fileUrl }, { kind: 'semver', range: '*' })).ref).toBe(
      'refs/tags/v2.0.0',
    );
  });

  it('resolves a pinned commit that no ref points at any more', async () => {
    const revision = await source.resolve({ url: repo.fileUrl }, commits.first!.toUpperCase());
    expect(revision).toMatchObject({
      sha: commits.first,
      ref: commits.first,
      message: 'first commit\n\nwith a body',
    });
  });

  it('falls back to fetching all branches when the server refuses a fetch by SHA', async () => {
    const real = createProcessRunner();
    const fetches: string[][] = [];
    const refusing: GitRunner = (invocation) => {
      if (invocation.operation === 'fetch') fetches.push([...invocation.args]);
      const bySha = invocation.args.some((arg) => arg.includes('refs/capstan/commits/'));
      if (invocation.operation !== 'fetch' || !bySha) return real(invocation);
      return Promise.resolve({
        exitCode: 128,
        stdout: '',
        stderr: `fatal: remote error: upload-pack: not our ref ${commits.first}\n`,
        timedOut: false,
      });
    };
    const strict = createGitSource({ cacheDir, allowFileUrls: true, runner: refusing });
    expect((await strict.resolve({ url: repo.fileUrl }, { kind: 'commit', sha: commits.first! })).sha).toBe(
      commits.first,
    );
    expect(fetches).toHaveLength(2);
    expect(fetches[1]).toContain('+refs/heads/*:refs/heads/*');
  });

  it('reports an unknown ref, range or commit as a UserError naming it', async () => {
    await expect(source.resolve({ url: repo.fileUrl }, 'nope')).rejects.toThrow(
      new UserError(`ref 'nope' not found in ${repo.fileUrl}`),
    );
    await expect(source.resolve({ url: repo.fileUrl }, { kind: 'branch', name: 'v1.1.0' })).rejects.toThrow(
      /ref 'v1.1.0' not found/,
    );
    await expect(source.resolve({ url: repo.fileUrl }, '>=3 <4')).rejects.toThrow(
      /no tag satisfies '>=3 <4'/,
    );
    await expect(source.resolve({ url: repo.fileUrl }, 'f'.repeat(40))).rejects.toBeInstanceOf(UserError);
  });

  it('reports a missing repository as a UserError', async () => {
    const error = await source
      .resolve({ url: `file://${root}/missing.git` }, 'main')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toMatch(/repository file:\/\/.*missing\.git not found/);
  });
});

describe('the cache', () => {
  it('keeps one cache per repository, whatever the spelling of its URL', async () => {
    await source.resolve({ url: repo.fileUrl }, 'main');
    await source.resolve({ url: `${repo.fileUrl.replace(/\.git$/, '')}/` }, 'main');
    const entries = (await readdir(join(cacheDir, 'repos'))).filter((name) => name.endsWith('.git'));
    expect(entries).toHaveLength(1);
  });

  it('does not fetch when ls-remote shows the commit is already cached', async () => {
    await source.resolve({ url: repo.fileUrl }, 'main');
    expect(recorder.count('fetch')).toBe(1);
    await source.resolve({ url: repo.fileUrl }, 'main');
    expect(recorder.count('ls-remote')).toBe(2);
    expect(recorder.count('fetch')).toBe(1);

    const newer = await repo.commit({ 'apps/c/deploy.yaml': 'kind: C\n' }, 'add c');
    expect((await source.resolve({ url: repo.fileUrl }, 'main')).sha).toBe(newer);
    expect(recorder.count('fetch')).toBe(2);
    // A tag on a commit the cache already has needs no fetch either.
    await source.resolve({ url: repo.fileUrl }, commits.first!);
    await repo.tag('v0.9.0', { target: commits.first! });
    expect((await source.resolve({ url: repo.fileUrl }, 'v0.9.0')).sha).toBe(commits.first);
    expect(recorder.count('fetch')).toBe(3);
  });

  it('coalesces concurrent fetches of the same ref into one git fetch', async () => {
    const results = await Promise.all(
      Array.from({ length: 6 }, () => source.resolve({ url: repo.fileUrl }, 'v2.0.0')),
    );
    expect(new Set(results.map((revision) => revision.sha)).size).toBe(1);
    expect(recorder.count('fetch')).toBe(1);
    expect(recorder.count('ls-remote')).toBe(1);
  });

  it('serialises concurrent fetches of different refs of one repository', async () => {
    const [a, b, c] = await Promise.all([
      source.resolve({ url: repo.fileUrl }, 'feature/x'),
      source.resolve({ url: repo.fileUrl }, 'v1.1.0'),
      source.resolve({ url: repo.fileUrl }, '^1.0.0'),
    ]);
    expect([a.sha, b.sha, c.sha]).toEqual([commits.feature, commits.first, commits.second]);
    expect(existsSync(join(cacheDir, 'repos', 'lock'))).toBe(false);
    const leftovers = (await readdir(join(cacheDir, 'repos'))).filter((name) => !name.endsWith('.git'));
    expect(leftovers).toEqual([]);
  });

  it('lets two sources on one cache dir (as two processes would) fetch without corrupting it', async () => {
    const other = createGitSource({ cacheDir, allowFileUrls: true });
    const results = await Promise.all([
      source.resolve({ url: repo.fileUrl }, 'feature/x'),
      other.resolve({ url: repo.fileUrl }, 'v1.1.0'),
      other.resolve({ url: repo.fileUrl }, 'main'),
      source.resolve({ url: repo.fileUrl }, '~1.4'),
    ]);
    expect(results.map((revision) => revision.sha)).toEqual([
      commits.feature,
      commits.first,
      await repo.head(),
      commits.second,
    ]);
    const [gitDir] = (await readdir(join(cacheDir, 'repos'))).filter((name) => name.endsWith('.git'));
    expect(await git(join(cacheDir, 'repos', gitDir!), 'fsck', '--no-progress')).toBe('');
    expect((await readdir(join(cacheDir, 'repos'))).filter((name) => name.endsWith('.lock'))).toEqual([]);
  });

  it('takes over a lock file left by a dead process', async () => {
    await source.resolve({ url: repo.fileUrl }, 'v1.1.0');
    const [gitDir] = (await readdir(join(cacheDir, 'repos'))).filter((name) => name.endsWith('.git'));
    // pid 2^22+1 is above Linux's pid_max default, so no process has it.
    await writeFile(
      join(cacheDir, 'repos', `${gitDir}.lock`),
      `${2 ** 22 + 1}\n${(await import('node:os')).hostname()}\n`,
    );
    expect((await source.resolve({ url: repo.fileUrl }, 'main')).sha).toBe(await repo.head());
  });
});

describe('changedPaths', () => {
  it('lists the files two fetched commits differ in, without fetching anything', async () => {
    const url = { url: repo.fileUrl };
    for (const commit of [commits.first!, commits.second!, commits.third!]) await source.resolve(url, commit);
    const fetches = recorder.count('fetch');
    expect(await source.changedPaths(url, commits.first!, commits.third!)).toEqual([
      'apps/a/deploy.yaml',
      'apps/b/deploy.yaml',
    ]);
    expect(await source.changedPaths(url, commits.second!, commits.third!)).toEqual(['apps/a/deploy.yaml']);
    // Not in the cache: unknown, and no fetch to find out.
    expect(await source.changedPaths(url, commits.first!, commits.feature!)).toBeUndefined();
    expect(recorder.count('fetch')).toBe(fetches);
  });
});

describe('treeId', () => {
  it('stays the same for an app whose folder a commit did not touch', async () => {
    await source.resolve({ url: repo.fileUrl }, commits.first!);
    await source.resolve({ url: repo.fileUrl }, commits.second!);
    const url = { url: repo.fileUrl };
    expect(await source.treeId(url, commits.first!, 'apps/a')).toBe(
      await source.treeId(url, commits.second!, 'apps/a'),
    );
    expect(await source.treeId(url, commits.first!, 'apps/b')).not.toBe(
      await source.treeId(url, commits.second!, 'apps/b/'),
    );
    expect(await source.treeId(url, commits.first!, '')).not.toBe(
      await source.treeId(url, commits.second!, '.'),
    );
    expect(await source.treeId(url, commits.first!, './apps/a/deploy.yaml')).toBe(
      await git(repo.bareDir, 'rev-parse', `${commits.first}:apps/a/deploy.yaml`),
    );
  });

  it('fetches the commit when it is not cached yet', async () => {
    expect(await source.treeId({ url: repo.fileUrl }, commits.third!, 'apps/a')).toBe(
      await git(repo.bareDir, 'rev-parse', `${commits.third}:apps/a`),
    );
  });

  it('refuses missing paths, paths with "..", and absolute paths', async () => {
    await source.resolve({ url: repo.fileUrl }, commits.first!);
    const url = { url: repo.fileUrl };
    await expect(source.treeId(url, commits.first!, 'apps/zzz')).rejects.toThrow(
      /path 'apps\/zzz' does not exist/,
    );
    await expect(source.treeId(url, commits.first!, 'apps/../..')).rejects.toBeInstanceOf(UserError);
    await expect(source.treeId(url, commits.first!, '/etc')).rejects.toBeInstanceOf(UserError);
    await expect(source.treeId(url, 'abc123', 'apps')).rejects.toThrow(/abbreviated/);
  });
});

describe('checkout', () => {
  it('writes the files of a commit and keeps symlinks as symlinks', async () => {
    const dir = join(cacheDir, 'out');
    await source.checkout({ url: repo.fileUrl }, commits.first!, dir);
    expect(await readFile(join(dir, 'apps/a/deploy.yaml'), 'utf8')).toBe('kind: A\n');
    expect((await lstat(join(dir, 'apps/a/escape'))).isSymbolicLink()).toBe(true);
    expect(await readlink(join(dir, 'apps/a/escape'))).toBe('../../../etc/passwd');
    expect(await readlink(join(dir, 'apps/a/inner'))).toBe('deploy.yaml');
    expect(existsSync(join(dir, '.git'))).toBe(false);
  });

  it('checks out two commits side by side', async () => {
    await Promise.all([
      source.checkout({ url: repo.fileUrl }, commits.first!, join(cacheDir, 'one')),
      source.checkout({ url: repo.fileUrl }, commits.third!, join(cacheDir, 'three')),
    ]);
    expect(await readFile(join(cacheDir, 'one/apps/a/deploy.yaml'), 'utf8')).toBe('kind: A\n');
    expect(await readFile(join(cacheDir, 'three/apps/a/deploy.yaml'), 'utf8')).toBe('kind: A3\n');
  });

  it('never writes a file over the size limit: a sparse file of its size stands in', async () => {
    const bigRepo = await createTestRepo(await makeTempDir('git-big'), 'big');
    const MiB = 1024 * 1024;
    const sha = await bigRepo.commit({
      'app/cm.yaml': 'kind: ConfigMap\n',
      'app/huge.yaml': 'a'.repeat(5 * MiB),
      'other/only-huge/blob.bin': 'b'.repeat(3 * MiB),
    });
    const limited = createGitSource({ cacheDir, allowFileUrls: true, maxCheckoutFileBytes: MiB });
    const dir = join(cacheDir, 'big-out');
    await limited.checkout({ url: bigRepo.fileUrl }, sha, dir);
    expect(await readFile(join(dir, 'app/cm.yaml'), 'utf8')).toBe('kind: ConfigMap\n');
    for (const [path, size] of [
      ['app/huge.yaml', 5 * MiB],
      ['other/only-huge/blob.bin', 3 * MiB],
    ] as const) {
      const stats = await stat(join(dir, path));
      expect(stats.size).toBe(size);
      expect(stats.blocks * 512).toBeLessThan(64 * 1024); // a hole: nothing written
    }
  });

  it('refuses a crafted tree whose oversized file is named "..", writing nothing outside', async () => {
    // git mktree accepts names git would never check out; fetch (without fsck) takes them too.
    const bare = join(await makeTempDir('git-crafted'), 'crafted.git');
    await git(root, 'init', '-q', '--bare', bare);
    const file = join(bare, 'big');
    await writeFile(file, Buffer.alloc(2 * 1024 * 1024));
    const blob = await git(bare, 'hash-object', '-w', file);
    const mktree = (entry: string): string =>
      execFileSync('git', ['mktree'], { cwd: bare, input: `${entry}\n` })
        .toString()
        .trim();
    const inner = mktree(`100644 blob ${blob}\t..`);
    const tree = mktree(`040000 tree ${inner}\tapp`);
    const commit = execFileSync('git', ['commit-tree', tree, '-m', 'crafted'], {
      cwd: bare,
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: 'x',
        GIT_AUTHOR_EMAIL: 'x@x',
        GIT_COMMITTER_NAME: 'x',
        GIT_COMMITTER_EMAIL: 'x@x',
      },
    })
      .toString()
      .trim();
    await git(bare, 'update-ref', 'refs/heads/main', commit);

    const limited = createGitSource({ cacheDir, allowFileUrls: true, maxCheckoutFileBytes: 1024 * 1024 });
    const url = { url: `file://${bare}` };
    await limited.resolve(url, 'main');
    const dir = join(cacheDir, 'crafted-out', 'inner');
    // git read-tree refuses such a tree before anything is written (our own check stands behind it).
    await expect(limited.checkout(url, commit, dir)).rejects.toThrow(/read-tree failed|invalid path/);
    expect(existsSync(join(cacheDir, 'crafted-out', 'app'))).toBe(false);
  });

  it('refuses a folder that is not empty', async () => {
    const dir = join(cacheDir, 'busy');
    await mkdir(dir);
    await writeFile(join(dir, 'keep'), '');
    await expect(source.checkout({ url: repo.fileUrl }, commits.first!, dir)).rejects.toThrow(/not empty/);
  });
});

describe('hostile input is refused before git runs', () => {
  const pwned = '/tmp/capstan-pwned';

  const cases: [string, () => Promise<unknown>][] = [
    [
      'ref "--upload-pack=x"',
      () => source.resolve({ url: repo.fileUrl }, '--upload-pack=touch /tmp/capstan-pwned'),
    ],
    [
      'typed branch "--upload-pack=x"',
      () => source.resolve({ url: repo.fileUrl }, { kind: 'branch', name: '--upload-pack=x' }),
    ],
    ['ext:: URL', () => source.resolve({ url: `ext::sh -c touch% ${pwned}` }, 'main')],
    ['fd:: URL', () => source.resolve({ url: 'fd::17' }, 'main')],
    [
      'URL starting with "-"',
      () => source.resolve({ url: '-oProxyCommand=touch /tmp/capstan-pwned' }, 'main'),
    ],
    ['ssh host starting with "-"', () => source.resolve({ url: 'ssh://-oProxyCommand=x/repo' }, 'main')],
    ['ref with ".."', () => source.resolve({ url: repo.fileUrl }, 'main..feature')],
    ['ref with a control character', () => source.resolve({ url: repo.fileUrl }, 'main\nrefs/heads/x')],
    ['URL with a control character', () => source.resolve({ url: `${repo.fileUrl}\r\n` }, 'main')],
    ['ref with "@{"', () => source.resolve({ url: repo.fileUrl }, { kind: 'tag', name: 'v1@{0}' })],
    [
      'invalid semver range',
      () => source.resolve({ url: repo.fileUrl }, { kind: 'semver', range: 'not a range' }),
    ],
    ['git:// scheme', () => source.resolve({ url: 'git://example.com/repo.git' }, 'main')],
    ['password in the URL', () => source.resolve({ url: 'https://user:hunter22@example.com/r.git' }, 'main')],
    ['path with ".." in treeId', () => source.treeId({ url: repo.fileUrl }, 'a'.repeat(40), '../x')],
  ];

  it.each(cases)('%s', async (_name, attempt) => {
    const error = await attempt().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).not.toContain('hunter22');
    expect(recorder.calls).toEqual([]);
    expect(existsSync(pwned)).toBe(false);
  });

  it('refuses file:// unless the installation allows it', async () => {
    const strict = createGitSource({ cacheDir, runner: recorder.runner });
    await expect(strict.resolve({ url: repo.fileUrl }, 'main')).rejects.toThrow(
      /file:\/\/ URLs are disabled/,
    );
    expect(recorder.calls).toEqual([]);
  });

  it('refuses credentials that do not fit the URL', async () => {
    const ssh = { kind: 'ssh' as const, privateKey: '-----BEGIN OPENSSH PRIVATE KEY-----\nx\n' };
    await expect(source.resolve({ url: repo.fileUrl, credentials: ssh }, 'main')).rejects.toBeInstanceOf(
      UserError,
    );
    expect(recorder.calls).toEqual([]);
  });
});

describe('timeouts', () => {
  it('turns a git that hangs into a TransientError', async () => {
    const hanging: GitRunner = (invocation) =>
      invocation.operation === 'ls-remote'
        ? Promise.resolve({ exitCode: null, stdout: '', stderr: '', timedOut: true })
        : createProcessRunner()(invocation);
    const slow = createGitSource({
      cacheDir,
      allowFileUrls: true,
      runner: hanging,
      timeouts: { remoteMs: 5_000 },
    });
    await expect(slow.resolve({ url: repo.fileUrl }, 'main')).rejects.toThrow(
      new TransientError(`git ls-remote for ${repo.fileUrl} timed out after 5s`),
    );
  });
});
