/**
 * The two listings the generators add to the Git source: branches (ls-remote, bounded by the
 * advertisement reader's limits) and the folders of a commit (ls-tree, bounded by `max`).
 */
import { describe, expect, it } from 'vitest';
import { createGitSource } from '../../src/source/index.js';
import { createTestRepo, makeTempDir } from '../support/git-servers.js';
import { startHostileGitServer } from '../support/hostile-git.js';

describe('listing branches and folders', () => {
  it('lists the branches with their commits, and every folder of a commit', async () => {
    const repo = await createTestRepo(await makeTempDir('listing'), 'apps');
    const main = await repo.commit({
      'apps/web/base/a.yaml': 'a: 1',
      'apps/api/b.yaml': 'b: 1',
      'top.yaml': '',
    });
    const qa = await repo.commit({ 'apps/qa/c.yaml': 'c: 1' }, 'qa', 'env/qa');
    await repo.tag('v1');
    const git = createGitSource({ cacheDir: await makeTempDir('listing-cache'), allowFileUrls: true });
    const source = { url: repo.fileUrl };

    expect([...(await git.listBranches(source))]).toEqual([
      ['env/qa', qa],
      ['main', main],
    ]);
    expect([...(await git.listDirectories(source, main))].sort()).toEqual([
      'apps',
      'apps/api',
      'apps/web',
      'apps/web/base',
    ]);
    await expect(git.listDirectories(source, main, { max: 3 })).rejects.toThrow(
      `commit ${main} in ${repo.fileUrl} holds more than 3 folders`,
    );
  });

  it('reads only the branches of a server advertising 150,000 tags', async () => {
    // More branches than ADVERTISEMENT_LIMITS.maxRefs are refused by the same reader as any ls-remote
    // (test/source/hostile-git.test.ts); tags git filters out before Capstan reads a line.
    const server = await startHostileGitServer();
    try {
      const git = createGitSource({
        cacheDir: await makeTempDir('listing-hostile'),
        timeouts: { remoteMs: 30_000 },
      });
      const branches = await git.listBranches({ url: server.url('many-refs', 150_000) });
      expect([...branches.keys()]).toEqual(['main']);
    } finally {
      await server.close();
    }
  });
});
