import { describe, expect, it } from 'vitest';
import { repositoryMatchKey } from './repository-key.js';

describe('repositoryMatchKey', () => {
  it('gives every spelling of one repository the same key', () => {
    const spellings = [
      'https://github.com/Acme/Deploy.git',
      'https://github.com/acme/deploy',
      'https://GitHub.com/acme/deploy/',
      'https://token@github.com:443/acme/deploy.git/',
      'http://github.com/acme/deploy',
      'git@github.com:acme/deploy.git',
      'ssh://git@github.com/acme/deploy.git',
      'ssh://git@github.com:22/acme/deploy',
      'git://github.com/acme/deploy.git',
    ];
    expect(new Set(spellings.map(repositoryMatchKey))).toEqual(new Set(['github.com/acme/deploy']));
  });

  it('ignores the port, which differs between transports of one host', () => {
    expect(repositoryMatchKey('ssh://git@gitlab.example.com:2222/group/sub/app.git')).toBe(
      repositoryMatchKey('https://gitlab.example.com/group/sub/app'),
    );
  });

  it('keeps different repositories and hosts apart', () => {
    expect(repositoryMatchKey('https://github.com/acme/deploy')).not.toBe(
      repositoryMatchKey('https://github.com/acme/deploy-2'),
    );
    expect(repositoryMatchKey('https://github.com/acme/deploy')).not.toBe(
      repositoryMatchKey('https://gitlab.com/acme/deploy'),
    );
  });

  it('has no key for URLs the source layer refuses', () => {
    for (const url of [
      '',
      'ext::sh -c x',
      'file:///srv/repo',
      'ftp://h/r',
      '-oProxyCommand=x',
      'https://h/',
    ]) {
      expect(repositoryMatchKey(url)).toBeUndefined();
    }
  });
});
