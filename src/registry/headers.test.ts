import { describe, expect, it } from 'vitest';
import { nextLink, parseChallenges } from './headers.js';

describe('WWW-Authenticate', () => {
  it('reads Bearer and Basic challenges with quoted and plain parameters', () => {
    const [bearer] = parseChallenges(
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull,push"',
    );
    expect(bearer?.scheme).toBe('bearer');
    expect(Object.fromEntries(bearer?.params ?? [])).toEqual({
      realm: 'https://auth.docker.io/token',
      service: 'registry.docker.io',
      scope: 'repository:library/nginx:pull,push',
    });
    const both = parseChallenges(['Basic realm="x"', 'Bearer realm=https://r/t, service=s']);
    expect(both.map((c) => c.scheme)).toEqual(['basic', 'bearer']);
    expect(both[1]?.params.get('service')).toBe('s');
    expect(parseChallenges('Bearer realm="a\\"b"')[0]?.params.get('realm')).toBe('a"b');
  });

  it('survives garbage in linear time', () => {
    expect(parseChallenges(undefined)).toEqual([]);
    const hostile = `Bearer ${'realm="'.repeat(2000)}${',='.repeat(2000)}`;
    expect(Array.isArray(parseChallenges(hostile))).toBe(true);
  });
});

describe('Link', () => {
  it('finds the next link among others', () => {
    expect(nextLink('</v2/app/tags/list?last=b&n=2>; rel="next"')).toBe('/v2/app/tags/list?last=b&n=2');
    expect(nextLink('<https://x/prev>; rel=prev, <https://x/next>; title="a, b"; rel="next"')).toBe(
      'https://x/next',
    );
    expect(nextLink('<https://x/prev>; rel="prev"')).toBeUndefined();
    expect(nextLink(undefined)).toBeUndefined();
    expect(nextLink('<'.repeat(10_000))).toBeUndefined();
  });
});
