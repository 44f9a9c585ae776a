import { describe, expect, it } from 'vitest';
import { UserError } from '../core/errors.js';
import { checkTagPolicy, chooseTag, compileTagFilter, isValidTag, type TagPolicy } from './policy.js';

const semverRange = (range: string): TagPolicy => ({ semver: { range } });
const numerical = (order: 'asc' | 'desc' = 'asc'): TagPolicy => ({ numerical: { order } });
const alphabetical = (order: 'asc' | 'desc' = 'asc'): TagPolicy => ({ alphabetical: { order } });

function chosen(tags: readonly string[], policy: TagPolicy, filter?: Parameters<typeof chooseTag>[2]) {
  return chooseTag(tags, policy, filter)?.tag;
}

describe('semver policy', () => {
  it('chooses the highest version in range, keeping the tag as listed (v prefix)', () => {
    const tags = ['1.0.0', 'v1.2.0', '1.1.9', '2.0.0', 'latest', 'main-abc'];
    expect(chooseTag(tags, semverRange('>=1.0.0 <2.0.0'))).toEqual({ tag: 'v1.2.0', considered: 4 });
    expect(chosen(tags, semverRange('5.0.x'))).toBeUndefined();
    expect(chosen(tags, semverRange('*'))).toBe('2.0.0');
  });

  it('ignores a prerelease unless the range names one (Flux and Masterminds semver)', () => {
    const tags = ['1.2.0', '1.3.0-rc.1', '2.0.0-alpha.1'];
    expect(chosen(tags, semverRange('>=1.0.0'))).toBe('1.2.0');
    expect(chosen(tags, semverRange('^1.2.0'))).toBe('1.2.0');
    // A prerelease in the range admits prereleases of any version, not only of 1.0.0.
    expect(chosen(tags, semverRange('>=1.0.0-0'))).toBe('2.0.0-alpha.1');
    expect(chosen(tags, semverRange('>=1.0.0-0 <2.0.0'))).toBe('2.0.0-alpha.1');
    expect(chosen(tags, semverRange('>=1.0.0-0 <2.0.0-0'))).toBe('1.3.0-rc.1');
    // Per || branch: the first branch names a prerelease, the second does not.
    expect(chosen(['1.5.0-rc.1', '3.1.0-rc.1', '3.0.0'], semverRange('>=1.0.0-0 <2.0.0 || ^3.0.0'))).toBe(
      '3.0.0',
    );
    // A release is newer than its own prereleases.
    expect(chosen(['1.3.0-rc.1', '1.3.0', '1.3.0-rc.2'], semverRange('>=1.0.0-0'))).toBe('1.3.0');
  });

  it('accepts only full versions, like Flux (no 1.2, no 01.2.3, no =1.2.3)', () => {
    expect(chooseTag(['1.2', '01.2.3', 'V1.2.3', 'vv1.2.3', '1', '1.0.0'], semverRange('*'))).toEqual({
      tag: '1.0.0',
      considered: 1,
    });
  });

  it('breaks ties the same way whatever the listing order', () => {
    expect(chosen(['1.2.3', 'v1.2.3'], semverRange('*'))).toBe('v1.2.3');
    expect(chosen(['v1.2.3', '1.2.3'], semverRange('*'))).toBe('v1.2.3');
  });

  it('reads commas as "and", as Masterminds does, and ranges with spaces and v prefixes', () => {
    const tags = ['0.9.0', '1.4.0', '2.1.0'];
    expect(chosen(tags, semverRange('>=1.0.0, <2.0.0'))).toBe('1.4.0');
    expect(chosen(tags, semverRange('>= v1.0, < 2'))).toBe('1.4.0');
    expect(chosen(tags, semverRange('~0.9 || >=2'))).toBe('2.1.0');
    expect(chosen(tags, semverRange('1.2 - 1.4.5'))).toBe('1.4.0');
  });

  it('says clearly when the range is wrong', () => {
    for (const range of ['', '   ', 'latest', '>=1.0.0 <2.0.0 foo', '>=', 'x'.repeat(300), '>=1.0.0\n']) {
      expect(() => chooseTag(['1.0.0'], semverRange(range))).toThrow(UserError);
    }
    expect(() => chooseTag([], semverRange('latest'))).toThrow(/semver\.range 'latest' is not a valid range/);
  });
});

describe('numerical policy', () => {
  it('asc chooses the highest number, desc the lowest (Flux)', () => {
    const tags = ['1', '10', '9', '2.5', '0010'];
    expect(chosen(tags, numerical('asc'))).toBe('10');
    expect(chosen(tags, numerical('desc'))).toBe('1');
  });

  it('skips what is not a number, where Flux would fail the whole policy', () => {
    expect(chooseTag(['latest', '12', 'NaN', 'Inf', '0x10', '1_000', '3'], numerical())).toEqual({
      tag: '12',
      considered: 2,
    });
  });

  it('compares exactly, beyond the precision of a float', () => {
    // These two are the same float64.
    expect(chosen(['20240101120000123456', '20240101120000123457'], numerical())).toBe(
      '20240101120000123457',
    );
    expect(chosen(['1.10', '1.9'], numerical())).toBe('1.9');
    expect(chosen(['1e3', '999', '1.5e2'], numerical())).toBe('1e3');
    expect(chosen(['0', '000', '0.0'], numerical('desc'))).toBe('000'); // a tie: the greatest tag text
  });

  it('orders negative extracted values', () => {
    const filter = { pattern: '^n(?P<v>[0-9]+)$', extract: '-$v' };
    expect(chosen(['n5', 'n10', 'n7'], numerical('asc'), filter)).toBe('n5');
  });
});

describe('alphabetical policy', () => {
  it('asc chooses the last, desc the first (Flux: letters as tags, asc selects Z)', () => {
    const tags = ['b', 'Z', 'a', 'z'];
    expect(chosen(tags, alphabetical('asc'))).toBe('z');
    expect(chosen(tags, alphabetical('desc'))).toBe('Z');
  });

  it('sorts RFC 3339-like timestamps in time order', () => {
    const tags = ['2024-01-02T10-00-00', '2023-12-31T23-59-59', '2024-01-02T09-59-59'];
    expect(chosen(tags, alphabetical())).toBe('2024-01-02T10-00-00');
  });
});

describe('filterTags', () => {
  it('Flux example: main-<sha>-<unix time>, extracted and ordered numerically', () => {
    const tags = [
      'main-abc1234-1700000000',
      'main-def5678-1700000300',
      'main-0a1b2c3-999999999', // fewer digits: older, although it sorts last as text
      'feature-x-1800000000',
      '1.0.0',
    ];
    const filter = { pattern: '^main-[a-f0-9]+-(?P<ts>[0-9]+)', extract: '$ts' };
    expect(chooseTag(tags, numerical(), filter)).toEqual({ tag: 'main-def5678-1700000300', considered: 3 });
  });

  it('Flux example: semver after a prefix', () => {
    const filter = { pattern: '^release-(?P<version>.*)$', extract: '${version}' };
    expect(
      chosen(['release-1.2.0', 'release-1.10.0', '2.0.0', 'release-x'], semverRange('>=1'), filter),
    ).toBe('release-1.10.0');
  });

  it('matches anywhere unless anchored, as Go regexp.FindStringSubmatchIndex', () => {
    expect(chosen(['a-1', 'b-2', 'c-3'], alphabetical(), { pattern: '-[12]' })).toBe('b-2');
  });

  it('expands templates as Go Regexp.Expand: $1, ${1}, $name, ${name}x, $$ and a lone $', () => {
    const filter = compileTagFilter({
      pattern: '^(?P<a>[a-z]+)-(?P<b>[0-9]+)$',
      extract: '$1|${b}x|$$|$-|$a',
    });
    expect(filter('foo-42')).toBe('foo|42x|$|$-|foo');
    expect(filter('nomatch')).toBeUndefined();
    // "$bx" is the group named "bx" in Go: the pattern has none, so it is refused.
    expect(() => compileTagFilter({ pattern: '(?P<b>x)', extract: '$bx' })).toThrow(/no group/);
    // An optional group that did not take part expands to nothing.
    expect(compileTagFilter({ pattern: '^v(x)?(1)$', extract: '[$1]' })('v1')).toBe('[]');
    // (?<name>) works too.
    expect(compileTagFilter({ pattern: '^(?<n>[0-9]+)', extract: '$n' })('12ab')).toBe('12');
  });

  it('without extract, orders the whole tag', () => {
    const filter = { pattern: '^[0-9]+$' };
    expect(chooseTag(['5', '40', 'x40'], numerical(), filter)).toEqual({ tag: '40', considered: 2 });
    expect(chosen(['5', '40'], numerical(), { pattern: '^[0-9]+$', extract: '' })).toBe('40');
  });

  it('refuses bad patterns and templates with a clear UserError', () => {
    const bad = [
      { pattern: '(a' },
      { pattern: '(?=x)y' }, // lookahead: not RE2
      { pattern: '(a)\\1' }, // backreference: not RE2
      { pattern: '' },
      { pattern: 'a'.repeat(1025) },
      { pattern: '((a{100}){100}){100}' },
      { pattern: '(x)', extract: '$2' },
      { pattern: '(x)', extract: 'x'.repeat(1025) },
    ];
    for (const filter of bad) expect(() => compileTagFilter(filter), filter.pattern).toThrow(UserError);
    expect(() => compileTagFilter({ pattern: '(a' })).toThrow(
      /not a valid RE2 regular expression: .*missing closing/,
    );
    expect(() => checkTagPolicy(numerical(), { pattern: '(?=x)' })).toThrow(/lookarounds/);
  });

  it('stays linear on catastrophic patterns: (a+)+$ over 50,000 characters', () => {
    const filter = compileTagFilter({ pattern: '(a+)+$', extract: '$1' });
    expect(filter(`${'a'.repeat(50_000)}b`)).toBeUndefined();
    expect(
      compileTagFilter({ pattern: '^(a|aa)+(?P<end>b)$', extract: '$end' })(`${'a'.repeat(50_000)}b`),
    ).toBe('b');
    // And chooseTag over many long (invalid, so skipped) and valid tags.
    const tags = Array.from({ length: 4_000 }, (_, i) =>
      i % 2 ? 'a'.repeat(5_000) : `${'a'.repeat(100)}${i}`,
    );
    expect(chooseTag(tags, alphabetical(), { pattern: '^(a+)+[0-9]+$' })?.tag).toBe(`${'a'.repeat(100)}998`); // text order: '998' > '3998';
  });
});

describe('hostile tags', () => {
  it('ignores tags outside the OCI grammar (too long, odd characters, leading dot or dash)', () => {
    const long = `1.0.0-${'a'.repeat(123)}`; // 129 characters
    expect(isValidTag(long)).toBe(false);
    expect(isValidTag(long.slice(0, 128))).toBe(true);
    const tags = [
      long,
      '.1',
      '-1',
      '9 ',
      '9\n',
      '9/9',
      '9:9',
      '9@x',
      '1\u0660',
      '3',
      42 as unknown as string,
    ];
    expect(chooseTag(tags, numerical())).toEqual({ tag: '3', considered: 1 });
  });

  it('chooses nothing from nothing', () => {
    expect(chooseTag([], semverRange('*'))).toBeUndefined();
    expect(chooseTag(['latest'], numerical())).toBeUndefined();
  });

  it('needs exactly one policy kind and a known order', () => {
    expect(() => chooseTag([], {} as TagPolicy)).toThrow(UserError);
    expect(() =>
      chooseTag([], { semver: { range: '*' }, numerical: { order: 'asc' } } as unknown as TagPolicy),
    ).toThrow(/exactly one/);
    expect(() => chooseTag([], { numerical: { order: 'up' } } as unknown as TagPolicy)).toThrow(
      /asc or desc/,
    );
    expect(chosen(['1', '2'], { numerical: {} } as unknown as TagPolicy)).toBe('2');
  });
});
