import { execFile } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { UserError } from '../core/errors.js';
import {
  AdvertisementReader,
  checkSha,
  highestTagSatisfying,
  lsRemotePatterns,
  parseLsRemote,
  parseRef,
  refNameProblem,
  selectRef,
  validateGitRef,
} from './refs.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);

describe('parseRef', () => {
  it('reads full SHAs as commits, in lower case', () => {
    expect(parseRef(A.toUpperCase())).toEqual({ kind: 'commit', sha: A });
    expect(parseRef('0'.repeat(64))).toEqual({ kind: 'commit', sha: '0'.repeat(64) });
  });

  it('reads ranges with an operator or wildcard as semver', () => {
    for (const range of ['>=1.2.0 <2', '^1.2', '~1.2.3', '1.x', '*', '1.2 - 1.4', '>=1 || <0.5']) {
      expect(parseRef(range)).toEqual({ kind: 'semver', range });
    }
  });

  it('reads everything else as a name', () => {
    for (const name of [
      'main',
      'v1.2.3',
      '1.2.3',
      'release/2024',
      'x',
      'abc1234',
      'HEAD',
      'refs/pull/1/head',
    ]) {
      expect(parseRef(name)).toEqual({ kind: 'name', name });
    }
  });
});

describe('refNameProblem (git check-ref-format --allow-onelevel, plus no leading "-")', () => {
  it.each(['main', 'feature/x', 'v1.2.3', 'refs/heads/main', 'a-b_c.d', 'release/2024.01', 'ü-umlaut'])(
    'accepts %s',
    (name) => expect(refNameProblem(name)).toBeUndefined(),
  );

  it.each([
    ['', 'empty'],
    ['--upload-pack=x', 'begins with "-"'],
    ['-b', 'begins with "-"'],
    ['a..b', '".."'],
    ['a\nb', 'control'],
    ['a\u0000b', 'control'],
    ['a\u007fb', 'control'],
    ['a b', '" "'],
    ['a~1', '"~"'],
    ['a^', '"^"'],
    ['a:b', '":"'],
    ['a?', '"?"'],
    ['a*', '"*"'],
    ['a[b', '"["'],
    ['a\\b', '"\\\\"'],
    ['a@{1}', '"@{"'],
    ['@', '"@"'],
    ['/a', 'begins or ends with "/"'],
    ['a/', 'begins or ends with "/"'],
    ['a//b', '"//"'],
    ['a.', 'ends with "."'],
    ['.hidden', 'begins with "."'],
    ['a/.b', 'begins with "."'],
    ['a.lock', '".lock"'],
    ['a.lock/b', '".lock"'],
    ['x'.repeat(1025), 'longer'],
  ])('refuses %j', (name, reason) => {
    expect(refNameProblem(name)).toContain(reason.replace(/^"|"$/g, ''));
  });
});

describe('validateGitRef', () => {
  it('refuses hostile names with a UserError that escapes control characters', () => {
    expect(() => validateGitRef({ kind: 'branch', name: 'main\u001b[31m' })).toThrow(UserError);
    expect(() => validateGitRef({ kind: 'branch', name: 'main\u001b[31m' })).toThrow(/main\\u001b\[31m/);
    expect(() => validateGitRef({ kind: 'tag', name: 'refs/tags/v1' })).toThrow(/short name/);
    expect(() => validateGitRef({ kind: 'semver', range: 'banana' })).toThrow(/not valid/);
    expect(() => validateGitRef({ kind: 'name', name: '--output=/etc/passwd' })).toThrow(UserError);
  });

  it('accepts HEAD and full refs as names, and normalises SHAs', () => {
    expect(validateGitRef({ kind: 'name', name: 'HEAD' })).toEqual({ kind: 'name', name: 'HEAD' });
    expect(validateGitRef({ kind: 'commit', sha: A.toUpperCase() })).toEqual({ kind: 'commit', sha: A });
  });
});

describe('checkSha', () => {
  it('asks for the full SHA when given an abbreviation', () => {
    expect(() => checkSha('abc1234')).toThrow(/abbreviated; pin the full 40-character SHA/);
    expect(() => checkSha('xyz')).toThrow(/not a commit SHA/);
    expect(checkSha(B)).toBe(B);
  });
});

describe('resolution against an advertisement', () => {
  const ads = parseLsRemote(
    [
      `${A}\tHEAD`,
      `${A}\trefs/heads/main`,
      `${B}\trefs/heads/v1.0.0`,
      `${C}\trefs/tags/v1.0.0`,
      `${A}\trefs/tags/v1.0.0^{}`,
      `${B}\trefs/tags/v1.5.0`,
      `${C}\trefs/tags/2.0.0`,
      `${C}\trefs/tags/v1.6.0-rc.1`,
      `${C}\trefs/tags/not-a-version`,
      'garbage line',
      '',
    ].join('\n'),
  );

  it('peels annotated tags to their commits', () => {
    expect(selectRef({ kind: 'tag', name: 'v1.0.0' }, ads)).toEqual({ ref: 'refs/tags/v1.0.0', sha: A });
  });

  it('prefers a branch over a tag of the same name, like git', () => {
    expect(selectRef({ kind: 'name', name: 'v1.0.0' }, ads)).toEqual({ ref: 'refs/heads/v1.0.0', sha: B });
    expect(selectRef({ kind: 'name', name: 'refs/tags/v1.0.0' }, ads)).toEqual({
      ref: 'refs/tags/v1.0.0',
      sha: A,
    });
    expect(selectRef({ kind: 'name', name: 'HEAD' }, ads)).toEqual({ ref: 'HEAD', sha: A });
  });

  it('picks the highest tag in a semver range', () => {
    expect(selectRef({ kind: 'semver', range: '>=1.2.0 <2' }, ads)).toEqual({
      ref: 'refs/tags/v1.5.0',
      sha: B,
    });
    expect(selectRef({ kind: 'semver', range: '*' }, ads)).toEqual({ ref: 'refs/tags/2.0.0', sha: C });
    expect(selectRef({ kind: 'semver', range: '>=1.6.0-rc.0 <2' }, ads)?.ref).toBe('refs/tags/v1.6.0-rc.1');
    expect(selectRef({ kind: 'semver', range: '>=3' }, ads)).toBeUndefined();
  });

  it('returns undefined for what is not advertised', () => {
    expect(selectRef({ kind: 'branch', name: 'v1.5.0' }, ads)).toBeUndefined();
    expect(selectRef({ kind: 'name', name: 'nope' }, ads)).toBeUndefined();
  });

  it('chooses deterministically between "v1.2.3" and "1.2.3"', () => {
    expect(highestTagSatisfying(['v1.2.3', '1.2.3'], '^1')).toBe('1.2.3');
    expect(highestTagSatisfying(['1.2.3', 'v1.2.3'], '^1')).toBe('1.2.3');
    expect(highestTagSatisfying(['v1.2.3', 'v1.10.0', 'v1.9.9'], '^1')).toBe('v1.10.0');
  });

  it('asks ls-remote only for the refs that matter', () => {
    expect(lsRemotePatterns({ kind: 'branch', name: 'main' })).toEqual(['refs/heads/main']);
    expect(lsRemotePatterns({ kind: 'tag', name: 'v1' })).toEqual(['refs/tags/v1', 'refs/tags/v1^{}']);
    expect(lsRemotePatterns({ kind: 'semver', range: '^1' })).toEqual(['refs/tags/*']);
    expect(lsRemotePatterns({ kind: 'commit', sha: A })).toEqual(['HEAD']);
  });
});

describe('refNameProblem agrees with git check-ref-format --allow-onelevel', () => {
  const names = [
    'main',
    'feature/x',
    'v1.2.3',
    'refs/heads/main',
    'a..b',
    'a b',
    'a~1',
    'a^',
    'a:b',
    'a?',
    'a*',
    'a[b',
    'a\\b',
    'a@{1}',
    '@',
    'a@b',
    '/a',
    'a/',
    'a//b',
    'a.',
    '.hidden',
    'a/.b',
    'a.lock',
    'a.lock/b',
    'a\tb',
    'a\u007fb',
    'ü-umlaut',
    'x/y/z.yaml',
  ];

  it.each(names)('%j', async (name) => {
    const gitAccepts = await new Promise<boolean>((resolve) =>
      execFile('git', ['check-ref-format', '--allow-onelevel', name], (error) => resolve(error === null)),
    );
    expect(refNameProblem(name) === undefined).toBe(gitAccepts);
  });
});

describe('AdvertisementReader', () => {
  const limits = { maxRefs: 3, maxLineBytes: 100, maxBytes: 1000 };
  const line = (sha: string, ref: string) => `${sha}\t${ref}\n`;

  it('reads output as it arrives, byte by byte, as parseLsRemote reads it whole', () => {
    const output = line(A, 'HEAD') + line(B, 'refs/tags/v1') + line(C, 'refs/tags/v1^{}');
    const reader = new AdvertisementReader('repository r');
    for (const byte of Buffer.from(output)) reader.push(Buffer.of(byte));
    expect(reader.end()).toEqual(parseLsRemote(output));
  });

  it('refuses more refs than the limit, peeled entries counted apart', () => {
    const reader = new AdvertisementReader('repository https://h/r.git', limits);
    for (const n of [1, 2, 3]) reader.push(line(A, `refs/tags/v${n}`) + line(B, `refs/tags/v${n}^{}`));
    const refusal = () => reader.push(line(A, 'refs/tags/v4'));
    expect(refusal).toThrow(UserError);
    expect(refusal).toThrow(
      /^repository https:\/\/h\/r\.git advertises more than 3 refs; Capstan stops reading there \(only a semver range lists every tag/,
    );
  });

  it('refuses a line longer than any ref name, and output past its size', () => {
    expect(() => new AdvertisementReader('repository r', limits).push('x'.repeat(101))).toThrow(
      'repository r advertises a line longer than 100 bytes, longer than any ref name',
    );
    const reader = new AdvertisementReader('repository r', limits);
    expect(() => {
      for (let i = 0; i < 100; i++) reader.push('garbage\n'.repeat(10));
    }).toThrow(/^repository r advertises more than 0\.0\d+ MiB of refs;/);
  });
});
