import { describe, expect, it } from 'vitest';
import { isPushedRepository, repositoryMatchKey } from './match-key.js';

describe('isPushedRepository', () => {
  const pushedKeys = (...urls: string[]): ReadonlySet<string> =>
    new Set(urls.flatMap((url) => repositoryMatchKey(url) ?? []));

  it.each([
    // Issue #8: the leader kept the port and the path's case, so this push woke nothing there.
    ['https://Git.Example.com:443/Org/Repo.git', 'ssh://git@git.example.com:2222/org/repo'],
    ['git@github.com:Acme/Deploy.git', 'https://github.com/acme/deploy'],
    ['git://github.com/acme/deploy.git', 'git@github.com:acme/deploy'],
    ['https://gitlab.example.com/group/sub/app', 'https://gitlab.example.com:8443/Group/Sub/App.git/'],
  ])('a push naming %s wakes a Repository at %s', (pushed, url) => {
    expect(isPushedRepository(url, pushedKeys(pushed))).toBe(true);
  });

  it.each([
    ['https://github.com/acme/deploy', 'https://github.com/acme/deploy-2'],
    ['https://github.com/acme/deploy', 'https://gitlab.com/acme/deploy'],
    ['https://github.com/acme/deploy', 'https://github.com/acme'],
  ])('a push naming %s leaves a Repository at %s alone', (pushed, url) => {
    expect(isPushedRepository(url, pushedKeys(pushed))).toBe(false);
  });

  it('never matches a URL that has no key (file URLs, refused URLs), even against an empty key', () => {
    for (const url of ['', 'file:///srv/repo', 'ext::sh -c x', 'https://h/'])
      expect(isPushedRepository(url, new Set(['', 'srv/repo']))).toBe(false);
  });
});
