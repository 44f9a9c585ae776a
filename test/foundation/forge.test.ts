/**
 * The run's Gitea forge is a real one: users, repositories, git over HTTP with basic auth, pull
 * requests and commit statuses behave as on any Gitea. This checks the harness, not Capstan.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { sharedForge } from '../support/forge.js';

const run = promisify(execFile);

async function git(cwd: string, ...args: string[]): Promise<string> {
  const { stdout } = await run('git', args, {
    cwd,
    env: {
      ...process.env,
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      // A wrong password must fail, not wait for someone to type another.
      GIT_TERMINAL_PROMPT: '0',
      GIT_AUTHOR_NAME: 'Test Author',
      GIT_AUTHOR_EMAIL: 'author@example.com',
      GIT_COMMITTER_NAME: 'Test Committer',
      GIT_COMMITTER_EMAIL: 'committer@example.com',
    },
  });
  return stdout.trim();
}

describe('the shared forge', () => {
  it('takes a push over HTTP, opens a pull request and keeps a commit status', async () => {
    const forge = await sharedForge();
    const user = await forge.createUser();
    const repo = await forge.createRepo(user.username, 'app');
    expect(repo).toMatchObject({ fullName: `${user.username}/app`, defaultBranch: 'main', private: false });

    const work = await mkdtemp(join(tmpdir(), 'capstan-forge-test-'));
    await git(work, 'init', '--quiet', '--initial-branch=main');
    await writeFile(join(work, 'deployment.yaml'), 'replicas: 2\n');
    await git(work, 'add', '.');
    await git(work, 'commit', '--quiet', '-m', 'first');
    const remote = forge.cloneUrl(user.username, 'app', user);
    await git(work, 'push', '--quiet', remote, 'main');
    await git(work, 'checkout', '--quiet', '-b', 'more-replicas');
    await writeFile(join(work, 'deployment.yaml'), 'replicas: 4\n');
    await git(work, 'commit', '--quiet', '-am', 'four replicas');
    await git(work, 'push', '--quiet', remote, 'more-replicas');
    const head = await git(work, 'rev-parse', 'HEAD');

    // Basic auth is checked: a wrong password is refused.
    await expect(
      git(
        work,
        'push',
        '--quiet',
        forge.cloneUrl(user.username, 'app', { ...user, password: 'wrong' }),
        'main',
      ),
    ).rejects.toThrow(/Authentication failed|403|401/);

    // Gitea takes pushes in through a queue: wait until it knows the branch before using it.
    await forge.waitForBranch(repo.fullName, 'more-replicas', { sha: head });

    const token = await forge.token(user, ['write:repository', 'write:issue']);
    const auth = { token };
    const pull = await forge.api<{ number: number; state: string; head: { sha: string; ref: string } }>(
      'POST',
      `/repos/${repo.fullName}/pulls`,
      { auth, body: { head: 'more-replicas', base: 'main', title: 'Four replicas' }, expect: [201] },
    );
    expect(pull).toMatchObject({ state: 'open', head: { sha: head, ref: 'more-replicas' } });

    await forge.api('POST', `/repos/${repo.fullName}/statuses/${head}`, {
      auth,
      body: { state: 'success', context: 'capstan/preview', description: 'in sync' },
      expect: [201],
    });
    const combined = await forge.api<{
      state: string;
      sha: string;
      statuses: { status: string; context: string; description: string }[];
    }>('GET', `/repos/${repo.fullName}/commits/${head}/status`, { auth });
    expect(combined.state).toBe('success');
    expect(combined.sha).toBe(head);
    expect(combined.statuses).toEqual([
      expect.objectContaining({ status: 'success', context: 'capstan/preview', description: 'in sync' }),
    ]);

    // A second ask in the same run gets the same forge.
    expect((await sharedForge()).url).toBe(forge.url);
  });
});
