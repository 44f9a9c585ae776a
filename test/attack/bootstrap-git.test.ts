/**
 * Attacks on `capstan bootstrap`'s Git write (commitFiles, src/install/git.ts) against real git: a
 * --path that nests this cluster's folder in another bootstrapped cluster's (or the other way
 * round) is refused with nothing pushed, and a hostile Git server (an endless trickle, a 64 KB
 * error line, hundreds of thousands of refs) ends in a bounded error that never shows the password.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/core/errors.js';
import { nestedClusterProblem } from '../../src/install/bootstrap.js';
import { commitFiles } from '../../src/install/git.js';
import { createTestRepo, makeTempDir } from '../support/git-servers.js';
import { startHostileGitProcess, type HostileGitServer } from '../support/hostile-git.js';

const PASSWORD = 'b00tstrap-s3cret-attack';
const credentials = { kind: 'basic', username: 'git', password: PASSWORD, allowInsecureHttp: true } as const;
const filesAt = (dir: string) => [
  { path: `${dir}/capstan-system/components.yaml`, text: 'kind: List\n' },
  { path: `${dir}/capstan-system/sync.yaml`, text: 'kind: List\n' },
];

describe("bootstrap never nests one cluster's folder in another's", () => {
  it.each([
    ['a parent of a bootstrapped cluster', 'clusters'],
    ['a folder inside a bootstrapped cluster', 'clusters/prod/eu'],
  ])('refuses %s and pushes nothing', async (_what, path) => {
    const repo = await createTestRepo(await makeTempDir('attack-bootstrap-git'), 'fleet');
    await repo.commit(Object.fromEntries(filesAt('clusters/prod').map((f) => [f.path, f.text])));
    const head = await repo.head();
    const error = await commitFiles(
      {
        repository: { url: repo.fileUrl },
        branch: 'main',
        files: filesAt(path),
        message: 'capstan bootstrap\n',
        refuseTree: (paths) => nestedClusterProblem({ path, namespace: 'capstan-system' }, paths),
      },
      { allowFileUrls: true },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toContain('clusters/prod');
    expect(await repo.head()).toBe(head);
  });

  it('a sibling folder is written', async () => {
    const repo = await createTestRepo(await makeTempDir('attack-bootstrap-git'), 'fleet');
    await repo.commit(Object.fromEntries(filesAt('clusters/prod').map((f) => [f.path, f.text])));
    const result = await commitFiles(
      {
        repository: { url: repo.fileUrl },
        branch: 'main',
        files: filesAt('clusters/staging'),
        message: 'capstan bootstrap\n',
        refuseTree: (paths) =>
          nestedClusterProblem({ path: 'clusters/staging', namespace: 'capstan-system' }, paths),
      },
      { allowFileUrls: true },
    );
    expect(result.outcome).toBe('pushed');
  });
});

describe('a hostile Git server gets a bounded error without the password', () => {
  let hostile: HostileGitServer;
  beforeAll(async () => {
    hostile = await startHostileGitProcess({ dripMs: 500 });
  });
  afterAll(async () => {
    await hostile?.close();
  });

  it.each([
    ['an advertisement that never ends', 'slow-drip' as const, undefined],
    ['a 64 KB error line', 'error-line' as const, undefined],
    ['300,000 refs and no such branch', 'many-refs' as const, 300_000],
  ])(
    '%s',
    async (_what, mode, refs) => {
      const error = await commitFiles(
        {
          repository: { url: hostile.url(mode, refs), credentials },
          branch: 'main',
          files: filesAt('clusters/prod'),
          message: 'capstan bootstrap\n',
        },
        // bootstrap's own bound is WorkRepo's default (2 minutes); a shorter one keeps the test short.
        { timeouts: { remoteMs: 5_000 } },
      ).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      const message = (error as Error).message;
      expect(message).not.toContain(PASSWORD);
      expect(message.length).toBeLessThan(8_000);
    },
    60_000,
  );
});
