import { describe, expect, it } from 'vitest';
import { approvalCode, judgeDeletions } from './guard.js';

const apps = (...names: string[]) => names.map((name) => ({ name, uid: `uid-${name}` }));

describe('deletion guard', () => {
  it('lets deletions up to the limit through without approval', () => {
    expect(judgeDeletions([], 2, undefined)).toEqual({ allowed: true, approved: false });
    expect(judgeDeletions(apps('a', 'b'), 2, undefined)).toEqual({ allowed: true, approved: false });
  });

  it('holds more than the limit, with an approval code naming the count', () => {
    const decision = judgeDeletions(apps('a', 'b', 'c'), 2, undefined);
    expect(decision).toEqual({ allowed: false, approval: expect.stringMatching(/^3-[0-9a-f]{12}$/) });
    expect(judgeDeletions(apps('a', 'b', 'c'), 0, undefined).allowed).toBe(false);
  });

  it('lets the held deletion through when approved with its code, in any order', () => {
    const code = approvalCode(apps('a', 'b', 'c'));
    expect(judgeDeletions(apps('c', 'a', 'b'), 2, code)).toEqual({ allowed: true, approved: true });
    expect(judgeDeletions(apps('c', 'a', 'b'), 2, ` ${code}\n`)).toEqual({ allowed: true, approved: true });
  });

  it('never lets a stale approval through for another or a bigger deletion', () => {
    const code = approvalCode(apps('a', 'b', 'c'));
    expect(judgeDeletions(apps('a', 'b', 'c', 'd'), 2, code).allowed).toBe(false);
    expect(judgeDeletions(apps('a', 'b', 'x'), 2, code).allowed).toBe(false);
    // The same names made anew have new uids: the old approval is not theirs.
    const remade = ['a', 'b', 'c'].map((name) => ({ name, uid: `new-${name}` }));
    expect(judgeDeletions(remade, 2, code).allowed).toBe(false);
    // Only a count, or a code without it, approves nothing.
    expect(judgeDeletions(apps('a', 'b', 'c'), 2, '3').allowed).toBe(false);
    expect(judgeDeletions(apps('a', 'b', 'c'), 2, code.slice(2)).allowed).toBe(false);
  });
});
