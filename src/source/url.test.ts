import { describe, expect, it } from 'vitest';
import { UserError } from '../core/errors.js';
import { cacheKeyOf, parseRepoUrl } from './url.js';

describe('parseRepoUrl', () => {
  it('accepts https, http, ssh and scp-like URLs', () => {
    expect(parseRepoUrl('https://github.com/org/repo.git')).toMatchObject({
      scheme: 'https',
      host: 'github.com',
      identity: 'https://github.com/org/repo',
    });
    expect(parseRepoUrl('http://127.0.0.1:8080/r.git').identity).toBe('http://127.0.0.1:8080/r');
    expect(parseRepoUrl('ssh://git@Example.com:2222/org/repo.git')).toMatchObject({
      scheme: 'ssh',
      host: 'example.com',
      identity: 'ssh://example.com:2222/org/repo',
    });
    expect(parseRepoUrl('git@github.com:org/repo.git')).toMatchObject({
      scheme: 'ssh',
      host: 'github.com',
      identity: 'ssh://github.com/org/repo',
      display: 'git@github.com:org/repo.git',
    });
    expect(parseRepoUrl('ssh://[::1]:2222/repo').host).toBe('[::1]');
  });

  it('gives every spelling of one repository the same identity and cache key', () => {
    const spellings = [
      'https://github.com/org/repo',
      'https://github.com/org/repo.git',
      'https://GitHub.com/org/repo/',
      'https://github.com:443/org/repo.git/',
      'https://token-user@github.com/org/repo.git',
    ];
    const keys = new Set(spellings.map((url) => cacheKeyOf(parseRepoUrl(url))));
    expect(keys.size).toBe(1);
    expect(cacheKeyOf(parseRepoUrl('git@github.com:org/repo.git'))).toBe(
      cacheKeyOf(parseRepoUrl('ssh://git@github.com/org/repo')),
    );
    expect(cacheKeyOf(parseRepoUrl('https://github.com/org/other'))).not.toBe([...keys][0]);
  });

  it('keeps secrets in the query out of the cache key', () => {
    const key = cacheKeyOf(parseRepoUrl('https://example.com/r.git?private_token=abcdef123'));
    expect(key).not.toContain('abcdef123');
    expect(key).toMatch(/^example\.com-r-[0-9a-f]{20}$/);
  });

  it('only allows file:// when the policy says so', () => {
    expect(() => parseRepoUrl('file:///srv/repo.git')).toThrow(/file:\/\/ URLs are disabled/);
    expect(parseRepoUrl('file:///srv/repo.git', { allowFileUrls: true }).identity).toBe('file:///srv/repo');
    expect(() => parseRepoUrl('file://host/repo', { allowFileUrls: true })).toThrow(/absolute/);
    expect(() => parseRepoUrl('file:///srv/../etc', { allowFileUrls: true })).toThrow(/"\.\."/);
  });

  it.each([
    ['ext::sh -c touch% /tmp/pwned', 'remote helpers ("ext::")'],
    ['fd::3', 'remote helpers ("fd::")'],
    ['transport::anything', 'remote helpers'],
    ['-oProxyCommand=x', 'begins with "-"'],
    ['--upload-pack=x', 'begins with "-"'],
    ['https://example.com/r\n.git', 'control characters'],
    ['https://example.com/r\u0000', 'control characters'],
    ['git://example.com/r.git', 'scheme "git" is not supported'],
    ['ftp://example.com/r.git', 'scheme "ftp" is not supported'],
    ['/srv/repo.git', 'use an https'],
    ['./repo', 'use an https'],
    ['ssh://-oProxyCommand=x/r', 'host'],
    ['-x@host:path', 'begins with "-"'],
    ['user@-host:path', 'host begins with "-"'],
    ['us;er@host:path', 'user name'],
    ['host:-path', 'path begins with "-"'],
    ['https://example.com', 'no repository path'],
    ['https://exa mple.com/r', 'whitespace'],
    ['https://user:hunter22@example.com/r.git', 'embeds a password'],
    ['https://good.example\\@evil.example/r.git', 'backslash'],
    ['https://good.example\\evil/r.git', 'backslash'],
    ['https://a@good.example@evil.example/r.git', 'more than one "@"'],
    ['ssh://git@good.example@evil.example/r.git', 'more than one "@"'],
  ])('refuses %j', (url, reason) => {
    let error: unknown;
    try {
      parseRepoUrl(url);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toContain(reason);
    expect((error as Error).message).not.toContain('hunter22');
  });
});
