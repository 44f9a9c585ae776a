import { describe, expect, it } from 'vitest';
import type { Repository } from '../api/v1alpha1.js';
import type { KubeClient } from '../kube/index.js';
import type { GitSource, Revision } from '../source/index.js';
import { CredentialScopeError } from '../source/credential-scope.js';
import { createRepositoryAccess, touches } from './repository.js';

describe('touches', () => {
  const paths = ['apps/web/deployment.yaml', 'apps/web-2/cm.yaml', 'README.md'];

  it.each([
    ['apps/web', true],
    ['apps/web/', true],
    ['./apps/web', true],
    ['apps/web-2', true],
    ['apps/we', false], // a prefix of a name is not its folder
    ['apps/worker', false],
    ['', true], // the root holds everything
    ['.', true],
  ])('the app at %j is touched: %s', (appPath, expected) => {
    expect(touches(paths, appPath)).toBe(expected);
  });

  it('counts unknown changes as touching, and an empty change as touching nothing', () => {
    expect(touches(undefined, 'apps/web')).toBe(true);
    expect(touches([], '')).toBe(false);
  });
});

describe('createRepositoryAccess', () => {
  it("reports a ref's new commit to refresh even when an Application resolved it first", async () => {
    let head = 'a'.repeat(40);
    const git = {
      resolve: async () => ({ sha: head }) as Revision,
    } as unknown as GitSource;
    const moved: string[] = [];
    const access = createRepositoryAccess({
      kube: {} as KubeClient,
      git,
      now: () => new Date(0),
      onRefMoved: (repository) => moved.push(repository.metadata.name),
    });
    const repository = {
      apiVersion: 'capstan.dev/v1alpha1',
      kind: 'Repository',
      metadata: { name: 'apps', namespace: 'shop' },
      spec: { url: 'https://example.com/apps.git' },
    } as Repository;

    expect(await access.refresh(repository, ['main'])).toEqual([{ ref: 'main', to: head }]);
    const first = head;
    head = 'b'.repeat(40);
    // `capstan sync web` resolves afresh: web gets the new commit, and the Repository is told.
    expect((await access.revision(repository, 'main', { fresh: true })).sha).toBe(head);
    expect(moved).toEqual(['apps']);
    // The Repository's reconcile still sees the move, so the other apps on main are woken.
    expect(await access.refresh(repository, ['main'])).toEqual([{ ref: 'main', from: first, to: head }]);
    expect(await access.refresh(repository, ['main'])).toEqual([]);
  });
});

describe('createRepositoryAccess().source', () => {
  const secretWith = (annotations: Record<string, string>) => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'git-creds', namespace: 'shop', annotations },
    data: {
      username: Buffer.from('deployer').toString('base64'),
      password: Buffer.from('s3cret-value').toString('base64'),
    },
  });
  const access = (secret: object) =>
    createRepositoryAccess({
      kube: { get: async () => secret } as unknown as KubeClient,
      git: {} as GitSource,
      now: () => new Date(0),
    });
  const repositoryAt = (url: string) =>
    ({
      apiVersion: 'capstan.dev/v1alpha1',
      kind: 'Repository',
      metadata: { name: 'apps', namespace: 'shop' },
      spec: { url, secretRef: { name: 'git-creds' } },
    }) as Repository;

  it('refuses a Secret whose capstan.dev/git-urls does not cover the URL, without its values', async () => {
    const error = await access(secretWith({ 'capstan.dev/git-urls': 'https://git.example.com/shop/' }))
      .source(repositoryAt('https://evil.example.com/shop/apps.git'))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CredentialScopeError);
    expect((error as Error).message).toMatch(
      /^the Secret shop\/git-creds may not be used for https:\/\/evil\.example\.com\/shop\/apps\.git: /,
    );
    expect((error as Error).message).not.toContain('s3cret-value');
  });

  it("lends the Secret where it is listed, over http only with its owner's opt-in", async () => {
    const listed = { 'capstan.dev/git-urls': 'https://git.example.com/shop/, http://127.0.0.1:8080/' };
    expect(
      await access(secretWith(listed)).source(repositoryAt('https://git.example.com/shop/apps.git')),
    ).toEqual({
      url: 'https://git.example.com/shop/apps.git',
      // The Repository's spec.timeout (default 60s) bounds its Git operations.
      timeoutMs: 60_000,
      credentials: { kind: 'basic', username: 'deployer', password: 's3cret-value' },
    });
    await expect(
      access(secretWith(listed)).source(repositoryAt('http://127.0.0.1:8080/apps.git')),
    ).rejects.toThrow(/capstan\.dev\/allow-insecure-http/);
    const optedIn = { ...listed, 'capstan.dev/allow-insecure-http': 'true' };
    expect(
      (await access(secretWith(optedIn)).source(repositoryAt('http://127.0.0.1:8080/apps.git'))).credentials,
    ).toMatchObject({ kind: 'basic', allowInsecureHttp: true });
  });
});
