import { describe, expect, it } from 'vitest';
import { isSubset } from './reconcile.js';

describe('isSubset (is an apply needed?)', () => {
  it('ignores what the API server added, not what differs', () => {
    const desired = { metadata: { labels: { a: '1' } }, spec: { ref: 'main', list: [{ x: 1 }] } };
    const live = {
      metadata: { labels: { a: '1', b: '2' }, uid: 'u' },
      spec: { ref: 'main', path: '', list: [{ x: 1, y: 2 }] },
    };
    expect(isSubset(desired, live)).toBe(true);
    expect(isSubset(desired, { ...live, spec: { ...live.spec, ref: 'dev' } })).toBe(false);
    expect(isSubset(desired, { ...live, spec: { ...live.spec, list: [] } })).toBe(false);
    expect(isSubset({ a: { b: 1 } }, { a: null })).toBe(false);
    expect(isSubset({ a: [1] }, { a: { 0: 1 } })).toBe(false);
  });
});
