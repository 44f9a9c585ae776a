/**
 * The source stage over SSH against a private sshd: keys (plain and encrypted) work, unknown or
 * changed host keys are refused, and key material never shows up in errors or logs.
 */
import { readdir, rm } from 'node:fs/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { UserError, describeError } from '../../src/core/errors.js';
import { createGitSource, type GitLogEntry, type GitSource } from '../../src/source/index.js';
import {
  createTestRepo,
  makeTempDir,
  sshUnavailableReason,
  startSshServer,
  type SshServer,
  type TestRepo,
} from '../support/git-servers.js';

const unavailable = sshUnavailableReason();
if (unavailable) console.warn(`skipping SSH source tests: ${unavailable}`);

describe.skipIf(unavailable !== undefined)('git over ssh', () => {
  let root: string;
  let repo: TestRepo;
  let server: SshServer;
  let head: string;
  let url: string;

  beforeAll(async () => {
    root = await makeTempDir('git-ssh');
    repo = await createTestRepo(root, 'apps');
    await repo.commit({ 'apps/a/deploy.yaml': 'kind: A\n' }, 'first');
    await repo.tag('v1.2.3');
    head = await repo.commit({ 'apps/a/deploy.yaml': 'kind: A2\n' }, 'second');
    server = await startSshServer();
    url = server.url(repo.bareDir);
  });

  afterAll(async () => {
    await server?.close();
    await rm(root, { recursive: true, force: true });
  });

  let cacheDir: string;
  let tempDir: string;
  let logs: GitLogEntry[];
  let source: GitSource;

  beforeEach(async () => {
    cacheDir = await makeTempDir('git-cache');
    tempDir = await makeTempDir('git-temp');
    logs = [];
    source = createGitSource({ cacheDir, tempDir, log: (entry) => logs.push(entry) });
    return async () => {
      await rm(cacheDir, { recursive: true, force: true });
      await rm(tempDir, { recursive: true, force: true });
    };
  });

  const keyLines = () =>
    server.clientKey.split('\n').filter((line) => line.length > 16 && !line.startsWith('-'));

  it('fetches with a key and the known host key, then removes the key file', async () => {
    const revision = await source.resolve(
      { url, credentials: { kind: 'ssh', privateKey: server.clientKey, knownHosts: server.knownHosts } },
      'main',
    );
    expect(revision.sha).toBe(head);
    expect(await readdir(tempDir)).toEqual([]);
  });

  it("uses the source's default known hosts and an encrypted key with its passphrase", async () => {
    const withDefaults = createGitSource({ cacheDir, tempDir, sshKnownHosts: server.knownHosts });
    const revision = await withDefaults.resolve(
      {
        url,
        credentials: {
          kind: 'ssh',
          privateKey: server.encryptedClientKey,
          passphrase: server.clientKeyPassphrase,
        },
      },
      { kind: 'semver', range: '~1.2' },
    );
    expect(revision.ref).toBe('refs/tags/v1.2.3');
  });

  it('refuses a server whose host key is unknown', async () => {
    const error = await source
      .resolve({ url, credentials: { kind: 'ssh', privateKey: server.clientKey } }, 'main')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toMatch(/^host key verification failed for 127\.0\.0\.1/);
  });

  it('refuses a server whose host key changed', async () => {
    const error = await source
      .resolve(
        {
          url,
          credentials: { kind: 'ssh', privateKey: server.clientKey, knownHosts: server.wrongKnownHosts },
        },
        'main',
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toMatch(/^host key verification failed/);
  });

  it('reports a key the server does not accept, without any key material', async () => {
    const error = await source
      .resolve(
        { url, credentials: { kind: 'ssh', privateKey: server.strangerKey, knownHosts: server.knownHosts } },
        'main',
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toMatch(/^authentication failed for ssh:\/\//);
    const visible = describeError(error) + JSON.stringify(logs);
    for (const line of [...keyLines(), ...server.strangerKey.split('\n').filter((l) => l.length > 16)]) {
      expect(visible).not.toContain(line);
    }
    expect(await readdir(tempDir)).toEqual([]);
  });

  it('reports a wrong passphrase as an authentication failure, without the passphrase', async () => {
    const error = await source
      .resolve(
        {
          url,
          credentials: {
            kind: 'ssh',
            privateKey: server.encryptedClientKey,
            passphrase: 'not the passphrase',
            knownHosts: server.knownHosts,
          },
        },
        'main',
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect(describeError(error)).not.toContain('not the passphrase');
  });
});
