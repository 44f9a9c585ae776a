import { describe, expect, it } from 'vitest';
import { matchGlob } from './glob.js';

describe('matchGlob', () => {
  it('matches literally without stars', () => {
    expect(matchGlob('team-a', 'team-a')).toBe(true);
    expect(matchGlob('team-a', 'team-ab')).toBe(false);
    expect(matchGlob('team-a', 'team')).toBe(false);
    expect(matchGlob('', '')).toBe(true);
    expect(matchGlob('', 'a')).toBe(false);
  });

  it('treats every other character literally (no regex classes, no ?)', () => {
    expect(matchGlob('a.c', 'abc')).toBe(false);
    expect(matchGlob('a?c', 'abc')).toBe(false);
    expect(matchGlob('[a]', 'a')).toBe(false);
    expect(matchGlob('a+', 'aa')).toBe(false);
  });

  it('lets * stand for any run, including none', () => {
    expect(matchGlob('*', '')).toBe(true);
    expect(matchGlob('*', 'anything')).toBe(true);
    expect(matchGlob('team-*', 'team-')).toBe(true);
    expect(matchGlob('team-*', 'team-a')).toBe(true);
    expect(matchGlob('team-*', 'teams')).toBe(false);
    expect(matchGlob('*.example.com', 'apps.example.com')).toBe(true);
    expect(matchGlob('*.example.com', 'example.com')).toBe(false);
    expect(matchGlob('a*b*c', 'abc')).toBe(true);
    expect(matchGlob('a*b*c', 'axxbyyc')).toBe(true);
    expect(matchGlob('a*b*c', 'axxcyyb')).toBe(false);
    expect(matchGlob('a**c', 'ac')).toBe(true);
  });

  it('never lets the head and tail overlap', () => {
    expect(matchGlob('ab*ba', 'aba')).toBe(false);
    expect(matchGlob('ab*ba', 'abba')).toBe(true);
    expect(matchGlob('a*a', 'a')).toBe(false);
  });

  it('finds middle literals that overlap their own prefixes (the KMP fallback)', () => {
    expect(matchGlob('*aab*', 'aaab')).toBe(true);
    expect(matchGlob('*abab*c', 'ababab-c')).toBe(true);
    expect(matchGlob('x*abcabd*y', 'xabcabcabdy')).toBe(true);
    expect(matchGlob('x*abcabd*y', 'xabcabcabey')).toBe(false);
    expect(matchGlob('*b*', 'aaa')).toBe(false);
  });

  it('stays fast on input built to make backtracking matchers explode', () => {
    const text = 'a'.repeat(200_000);
    const pattern = `${'*a'.repeat(5_000)}*b`;
    const started = performance.now();
    expect(matchGlob(pattern, text)).toBe(false);
    expect(matchGlob(`*${'a'.repeat(1_000)}b*`, text)).toBe(false);
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});
