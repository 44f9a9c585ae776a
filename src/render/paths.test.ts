import { afterEach, describe, expect, it } from 'vitest';
import { EnvironmentError, UserError } from '../core/errors.js';
import type { TempRepo } from '../../test/render/repo.js';
import { caught, makeRepo } from '../../test/render/repo.js';
import { Checkout, compactInputs, confineReference, normaliseAppPath } from './paths.js';

describe('confineReference (lexical)', () => {
  it.each([
    ['', 'a.yaml', 'a.yaml'],
    ['apps/web', './deploy.yaml', 'apps/web/deploy.yaml'],
    ['apps/web/overlays/prod', '../../base', 'apps/web/base'],
    ['apps/web', '../../shared/x.yaml', 'shared/x.yaml'],
    ['apps/web', '..', 'apps'],
    ['apps/web', '../..', ''],
    ['apps', 'a//b/./c/', 'apps/a/b/c'],
  ])('joins %j and %j inside the repository', (base, ref, expected) => {
    expect(confineReference(base, ref, 'test')).toBe(expected);
  });

  it.each([
    [
      'apps/web',
      '../../../x',
      'kustomization apps/web/kustomization.yaml: resource: "../../../x" leads outside the repository',
    ],
    ['', '..', 'kustomization apps/web/kustomization.yaml: resource: ".." leads outside the repository'],
    [
      'apps',
      'a/../../../etc',
      'kustomization apps/web/kustomization.yaml: resource: "a/../../../etc" leads outside the repository',
    ],
    [
      'apps',
      '/etc/passwd',
      'kustomization apps/web/kustomization.yaml: resource: "/etc/passwd" is an absolute path; paths must be relative and stay inside the repository',
    ],
    [
      'apps',
      'C:\\Windows',
      'kustomization apps/web/kustomization.yaml: resource: "C:\\\\Windows" is an absolute path; paths must be relative and stay inside the repository',
    ],
    [
      'apps',
      'a\u0000b',
      'kustomization apps/web/kustomization.yaml: resource: path "a\\u0000b" contains control characters',
    ],
    ['apps', ' ', 'kustomization apps/web/kustomization.yaml: resource: empty path'],
  ])('refuses %j + %j', (base, ref, message) => {
    const error = (() => {
      try {
        confineReference(base, ref, 'kustomization apps/web/kustomization.yaml: resource');
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toBe(message);
  });

  it('normalises app paths', () => {
    expect(normaliseAppPath('')).toBe('');
    expect(normaliseAppPath('.')).toBe('');
    expect(normaliseAppPath('./apps/web/')).toBe('apps/web');
    expect(() => normaliseAppPath('../x')).toThrow('app path: "../x" leads outside the repository');
    expect(() => normaliseAppPath('/srv/apps')).toThrow(/app path: "\/srv\/apps" is an absolute path/);
  });
});

describe('Checkout.resolve (physical)', () => {
  let repo: TempRepo;
  afterEach(async () => repo?.cleanup());

  it('follows symlinks inside the repository and records each one', async () => {
    repo = await makeRepo({
      'shared/base/a.yaml': 'x: 1\n',
      'apps/web/base': { symlink: '../../shared/base' },
      'apps/web/link-to-link': { symlink: 'base' },
      'apps/alias': { symlink: 'web' },
    });
    const checkout = await Checkout.open(repo.dir);
    const resolved = await checkout.resolve('apps/alias/link-to-link/a.yaml');
    expect(resolved.realRepoPath).toBe('shared/base/a.yaml');
    expect(resolved.symlinks).toEqual(['apps/alias', 'apps/web/link-to-link', 'apps/web/base']);
    expect(resolved.stats.isFile()).toBe(true);
    expect(resolved.absolutePath).toBe(`${checkout.root}/shared/base/a.yaml`);
  });

  it('refuses a symlink to a file outside the checkout, naming the link', async () => {
    repo = await makeRepo({ 'apps/web/secret.yaml': { symlink: '../../../outside/secret.txt' } });
    const checkout = await Checkout.open(repo.dir);
    const error = await caught(() => checkout.resolve('apps/web/secret.yaml', 'plain manifests'));
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toBe(
      'plain manifests: "apps/web/secret.yaml" is a symlink that leads outside the repository',
    );
    expect(error.message).not.toContain('outside/secret');
  });

  it('refuses a path through a symlinked folder that leaves the checkout', async () => {
    repo = await makeRepo({ 'apps/web/escape': { symlink: '../../../outside/secret-dir' } });
    const checkout = await Checkout.open(repo.dir);
    const error = await caught(() => checkout.resolve('apps/web/escape/secret.yaml'));
    expect(error.message).toBe('"apps/web/escape" is a symlink that leads outside the repository');
  });

  it('refuses symlinks with absolute targets, even to inside the checkout', async () => {
    repo = await makeRepo({ 'a.yaml': 'x: 1\n' });
    await repo.write({ 'abs.yaml': { symlink: `${repo.dir}/a.yaml` }, etc: { symlink: '/etc' } });
    const checkout = await Checkout.open(repo.dir);
    expect((await caught(() => checkout.resolve('abs.yaml'))).message).toBe(
      '"abs.yaml" is a symlink with an absolute target; symlinks must be relative and stay inside the repository',
    );
    expect((await caught(() => checkout.resolve('etc/passwd'))).message).toMatch(
      /^"etc" is a symlink with an absolute target/,
    );
  });

  it('refuses symlink loops and names missing paths', async () => {
    repo = await makeRepo({
      a: { symlink: 'b' },
      b: { symlink: 'a' },
      'dangling.yaml': { symlink: 'nowhere.yaml' },
    });
    const checkout = await Checkout.open(repo.dir);
    expect((await caught(() => checkout.resolve('a'))).message).toBe(
      '"a" goes through too many symlinks (a loop?)',
    );
    expect((await caught(() => checkout.resolve('dangling.yaml'))).message).toBe(
      '"dangling.yaml" does not exist ("nowhere.yaml" is missing)',
    );
    expect((await caught(() => checkout.resolve('apps/none.yaml', 'helm valueFiles'))).message).toBe(
      'helm valueFiles: "apps/none.yaml" does not exist ("apps" is missing)',
    );
  });

  it('resolves the root itself and reports an unusable checkout as an environment problem', async () => {
    repo = await makeRepo();
    const checkout = await Checkout.open(repo.dir);
    const root = await checkout.resolve('');
    expect(root.realRepoPath).toBe('');
    expect(root.stats.isDirectory()).toBe(true);
    expect(await caught(() => Checkout.open(`${repo.dir}/missing`))).toBeInstanceOf(EnvironmentError);
    expect(await caught(() => Checkout.open('relative/dir'))).toBeInstanceOf(EnvironmentError);
  });
});

describe('compactInputs', () => {
  it('drops paths under listed folders, dedupes and sorts', () => {
    expect(
      compactInputs([
        'apps/web/base',
        'apps/web',
        'apps/web-2',
        'shared/x.yaml',
        'apps/web/a.yaml',
        'shared/x.yaml',
      ]),
    ).toEqual(['apps/web', 'apps/web-2', 'shared/x.yaml']);
    expect(compactInputs(['apps', ''])).toEqual(['']);
  });
});
