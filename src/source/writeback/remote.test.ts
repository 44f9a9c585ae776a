import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CapstanError } from '../../core/errors.js';
import type { GitInvocation, GitOutput } from '../git.js';
import { advertisedCommits, fetchFailure, pushCommit, refusalMessage, writeCommit } from './remote.js';
import { WorkRepo } from './work-repo.js';

const URL = 'https://git.example/shop/envs.git';
const PASSWORD = 's3cret-t0ken-value';
const SHA = 'a'.repeat(40);
const OLD = 'b'.repeat(40);

let tempDir: string;
beforeEach(async () => {
  tempDir = await mkdtemp(join(tmpdir(), 'capstan-remote-test-'));
});
afterEach(async () => {
  await rm(tempDir, { recursive: true, force: true });
});

/** Runs `work` in a work repository whose git is `answer` (init always succeeds); returns the calls too. */
async function withRepo<T>(
  answer: (invocation: GitInvocation) => Partial<GitOutput>,
  work: (repo: WorkRepo) => Promise<T>,
): Promise<{ result: T; calls: GitInvocation[] }> {
  const calls: GitInvocation[] = [];
  const result = await WorkRepo.with(
    { url: URL, credentials: { kind: 'basic', username: 'capstan', password: PASSWORD } },
    {
      tempDir,
      runner: async (invocation) => {
        calls.push(invocation);
        const given = invocation.operation === 'init' ? {} : answer(invocation);
        return { exitCode: 0, stdout: '', stderr: '', timedOut: false, ...given };
      },
    },
    work,
  );
  return { result, calls: calls.filter((call) => call.operation !== 'init') };
}

/** The git command's own arguments, after the hardened `-c` settings and `--git-dir`. */
const commandOf = (call: GitInvocation) =>
  call.args.slice(call.args.findIndex((arg) => arg.startsWith('--git-dir=')) + 1);

describe('pushCommit', () => {
  it('fast-forwards without a lease, and leases on what was seen (or on nothing) with one', async () => {
    const ref = 'refs/heads/capstan/promote/web';
    const { result, calls } = await withRepo(
      () => ({ stdout: `*\t${SHA}:${ref}\t[new branch]\n` }),
      async (repo) => [
        await pushCommit(repo, SHA, 'capstan/promote/web'),
        await pushCommit(repo, SHA, 'capstan/promote/web', { lease: { expected: undefined } }),
        await pushCommit(repo, SHA, 'capstan/promote/web', { lease: { expected: OLD } }),
      ],
    );
    expect(result).toEqual(['pushed', 'pushed', 'pushed']);
    // Hooks, tags and signing stay off; only the lease differs.
    const pushArgs = (...lease: string[]) => [
      'push',
      '--porcelain',
      '--no-verify',
      '--no-follow-tags',
      '--no-signed',
      ...lease,
      '--',
      URL,
      `${SHA}:${ref}`,
    ];
    expect(calls.map(commandOf)).toEqual([
      pushArgs(),
      pushArgs(`--force-with-lease=${ref}:`),
      pushArgs(`--force-with-lease=${ref}:${OLD}`),
    ]);
  });

  it('reads a moved branch as moved and a declined push as a refusal, not a throw', async () => {
    const ref = 'refs/heads/main';
    const { result } = await withRepo(
      (call) =>
        call.args.some((arg) => arg.startsWith('--force-with-lease'))
          ? { exitCode: 1, stdout: `!\t${SHA}:${ref}\t[rejected] (stale info)\n` }
          : {
              exitCode: 1,
              stdout: `!\t${SHA}:${ref}\t[remote rejected] (pre-receive hook declined)\n`,
              stderr: `remote: branch is protected (token ${PASSWORD})\n`,
            },
      async (repo) => [
        await pushCommit(repo, SHA, 'main', { lease: { expected: OLD } }),
        await pushCommit(repo, SHA, 'main'),
      ],
    );
    expect(result[0]).toBe('moved');
    expect(result[1]).toMatchObject({ reason: 'protected', detail: 'pre-receive hook declined' });
    expect(JSON.stringify(result)).not.toContain(PASSWORD);
  });

  it('throws the source stage error for a failure that is no answer of the server', async () => {
    await expect(
      withRepo(
        () => ({ exitCode: 128, stderr: 'fatal: unable to access: Could not resolve host: git.example\n' }),
        (repo) => pushCommit(repo, SHA, 'main'),
      ),
    ).rejects.toMatchObject({ kind: 'transient' });
  });
});

describe('advertisedCommits', () => {
  it('keeps the refs asked for that the server has', async () => {
    const { result } = await withRepo(
      () => ({ stdout: `${SHA}\trefs/heads/main\n${OLD}\trefs/heads/other\n` }),
      (repo) => advertisedCommits(repo, ['refs/heads/main', 'refs/heads/gone']),
    );
    expect(result).toEqual(new Map([['refs/heads/main', SHA]]));
  });

  it('returns credentials turned away as a refusal, redacted', async () => {
    const { result } = await withRepo(
      () => ({
        exitCode: 128,
        stderr: `remote: bad token ${PASSWORD}\nfatal: Authentication failed for '${URL}/'\n`,
      }),
      (repo) => advertisedCommits(repo, ['refs/heads/main']),
    );
    expect(result).toMatchObject({ refused: { reason: 'auth' } });
    expect(JSON.stringify(result)).not.toContain(PASSWORD);
  });
});

describe('fetchFailure', () => {
  it('returns what failed instead of throwing it, and nothing when the fetch worked', async () => {
    let fail = true;
    const { result, calls } = await withRepo(
      () => (fail ? { exitCode: 128, stderr: "fatal: couldn't find remote ref refs/heads/gone\n" } : {}),
      async (repo) => {
        const failed = await fetchFailure(repo, ['+refs/heads/gone:refs/capstan/x'], ['--depth=1']);
        fail = false;
        return [failed, await fetchFailure(repo, ['+refs/heads/main:refs/capstan/x'], [])];
      },
    );
    expect(result[0]).toBeInstanceOf(CapstanError);
    expect(result[1]).toBeUndefined();
    expect(commandOf(calls[0]!)).toEqual([
      'fetch',
      '--quiet',
      '--no-tags',
      '--no-write-fetch-head',
      '--no-recurse-submodules',
      '--depth=1',
      '--',
      URL,
      '+refs/heads/gone:refs/capstan/x',
    ]);
  });
});

describe('writeCommit', () => {
  it('writes the identity and date from the environment, unsigned, the message on stdin', async () => {
    const { result, calls } = await withRepo(
      () => ({ stdout: `${SHA}\n` }),
      (repo) =>
        writeCommit(repo, {
          tree: OLD,
          parent: SHA,
          message: 'subject\n\nbody\n',
          author: { name: 'Capstan', email: 'capstan@localhost' },
          date: new Date('2026-01-02T03:04:05.678Z'),
        }),
    );
    expect(result).toBe(SHA);
    const [call] = calls;
    expect(commandOf(call!)).toEqual([
      '-c',
      'commit.gpgSign=false',
      'commit-tree',
      '--no-gpg-sign',
      OLD,
      '-p',
      SHA,
    ]);
    expect(call?.stdin).toBe('subject\n\nbody\n');
    expect(call?.env).toMatchObject({
      GIT_AUTHOR_NAME: 'Capstan',
      GIT_COMMITTER_EMAIL: 'capstan@localhost',
      GIT_AUTHOR_DATE: '1767323045 +0000',
      GIT_COMMITTER_DATE: '1767323045 +0000',
    });
  });
});

describe('refusalMessage', () => {
  it('says what was refused and what the server said, offers the alternative, and redacts', async () => {
    const { result } = await withRepo(
      () => ({}),
      async (repo) => ({
        protectedBranch: refusalMessage(
          repo,
          { reason: 'protected', detail: 'pre-receive hook declined', remote: [`no (${PASSWORD})`] },
          { failed: 'cannot do it', branch: 'main', alternative: 'a pull request can carry it' },
        ),
        permission: refusalMessage(
          repo,
          { reason: 'permission', detail: 'HTTP 403', remote: [] },
          { failed: 'cannot do it', branch: 'main' },
        ),
        auth: refusalMessage(
          repo,
          { reason: 'auth', detail: 'Authentication failed', remote: [] },
          { failed: 'cannot do it', branch: 'main' },
        ),
      }),
    );
    expect(result.protectedBranch).toBe(
      "cannot do it: the server refused the push to branch 'main' (pre-receive hook declined); the server said: no (***); the branch may be protected, in which case a pull request can carry it",
    );
    expect(result.permission).toBe(
      "cannot do it: the Repository's credentials may not push to branch 'main' (read-only credentials, or a token without write access: HTTP 403)",
    );
    expect(result.auth).toBe(
      "cannot do it: the server did not accept the Repository's credentials (Authentication failed)",
    );
  });
});
