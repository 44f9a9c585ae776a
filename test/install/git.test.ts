/**
 * bootstrap's Git writes against a real repository: one commit by Capstan, none the second time,
 * and a branch that moves between fetch and push is written again on its new head — never
 * force-pushed over someone else's commit.
 */
import { describe, expect, it } from 'vitest';
import { commitFiles } from '../../src/install/git.js';
import { createProcessRunner, type GitRunner } from '../../src/source/index.js';
import { createTestRepo, git, makeTempDir } from '../support/git-servers.js';

const files = [
  { path: 'clusters/test/capstan-system/components.yaml', text: 'kind: List\n' },
  { path: 'clusters/test/capstan-system/sync.yaml', text: 'kind: List\n' },
];

describe('commitFiles', () => {
  it('commits once, then finds the files there and commits nothing', async () => {
    const repo = await createTestRepo(await makeTempDir('bootstrap-git'), 'fleet');
    const start = await repo.commit({ 'README.md': 'fleet\n' });
    const request = {
      repository: { url: repo.fileUrl },
      branch: 'main',
      files,
      message: 'capstan bootstrap\n',
    };
    const first = await commitFiles(request, { allowFileUrls: true });
    expect(first.outcome).toBe('pushed');
    const head = await repo.head();
    expect(await git(repo.bareDir, 'rev-parse', `${head}^`)).toBe(start);
    expect(await git(repo.bareDir, 'log', '-1', '--format=%an <%ae>', head)).toBe(
      'Capstan <capstan@localhost>',
    );
    expect(await git(repo.bareDir, 'show', `${head}:clusters/test/capstan-system/sync.yaml`)).toBe(
      'kind: List',
    );
    expect(await commitFiles(request, { allowFileUrls: true })).toEqual({ outcome: 'upToDate', head });
    expect(await repo.head()).toBe(head);
  });

  it('writes again on the new head when the branch moved, keeping the other commit', async () => {
    const repo = await createTestRepo(await makeTempDir('bootstrap-git'), 'fleet');
    await repo.commit({ 'README.md': 'fleet\n' });
    const real = createProcessRunner();
    let theirs: string | undefined;
    // Someone pushes right before our first push: ours is then not a fast-forward.
    const racing: GitRunner = async (invocation) => {
      if (invocation.operation === 'push' && theirs === undefined)
        theirs = await repo.commit({ 'apps/web.yaml': 'kind: List\n' }, 'a colleague');
      return real(invocation);
    };
    const result = await commitFiles(
      { repository: { url: repo.fileUrl }, branch: 'main', files, message: 'capstan bootstrap\n' },
      { allowFileUrls: true, runner: racing },
    );
    expect(result.outcome).toBe('pushed');
    const head = await repo.head();
    expect(await git(repo.bareDir, 'rev-parse', `${head}^`)).toBe(theirs);
    expect(await git(repo.bareDir, 'show', `${head}:apps/web.yaml`)).toBe('kind: List');
  });

  it('refuses a branch that does not exist, saying what to do', async () => {
    const repo = await createTestRepo(await makeTempDir('bootstrap-git'), 'fleet');
    await repo.commit({ 'README.md': 'fleet\n' });
    await expect(
      commitFiles(
        { repository: { url: repo.fileUrl }, branch: 'nope', files, message: 'x\n' },
        { allowFileUrls: true },
      ),
    ).rejects.toThrow(/branch 'nope' does not exist .*create it/);
  });
});
