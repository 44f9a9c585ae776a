import { describe, expect, it } from 'vitest';
import { cachedOnce, checkStatus, commentBody, listBounds, MAX_COMMENT_CHARS } from './common.js';
import { ForgeError } from './types.js';

const MARKER = '<!-- capstan:plan -->';
const SHA = 'a'.repeat(40);

describe('commentBody', () => {
  it('puts the marker first unless it is the first line already (a marker elsewhere does not count)', () => {
    expect(commentBody({ marker: MARKER, body: 'plan' })).toBe(`${MARKER}\nplan`);
    expect(commentBody({ marker: MARKER, body: `${MARKER}\nplan` })).toBe(`${MARKER}\nplan`);
    expect(commentBody({ marker: MARKER, body: `plan\n${MARKER}` })).toBe(`${MARKER}\nplan\n${MARKER}`);
  });

  it('cuts a long body with a visible note, keeping the marker first', () => {
    const body = commentBody({ marker: MARKER, body: `${'z'.repeat(100_000)}\n${MARKER}` });
    expect(body.length).toBeLessThanOrEqual(MAX_COMMENT_CHARS);
    expect(body.startsWith(`${MARKER}\n`)).toBe(true);
    expect(body).toMatch(/Capstan cut this comment here/);
  });

  it('never leaves half a surrogate pair at the cut', () => {
    // Markers of both parities, so that one of the cuts falls inside a pair.
    for (const marker of ['<!-- a -->', '<!-- ab -->']) {
      const body = commentBody({ marker, body: '😀'.repeat(40_000) });
      expect(body.length).toBeLessThanOrEqual(MAX_COMMENT_CHARS);
      // A lone high surrogate at the end would be a broken character on the page.
      expect(/[\uD800-\uDBFF]$/.test(body.slice(0, body.indexOf('\n\n---')))).toBe(false);
    }
  });

  it('refuses an empty or multi-line marker', () => {
    expect(() => commentBody({ marker: ' ', body: 'x' })).toThrow(ForgeError);
    expect(() => commentBody({ marker: 'a\nb', body: 'x' })).toThrow(/one non-empty line/);
  });
});

describe('checkStatus', () => {
  it('cuts the description to 140 characters on one line', () => {
    const status = checkStatus(SHA, {
      state: 'success',
      context: 'c',
      description: `a\nb ${'é'.repeat(300)}`,
    });
    expect(Array.from(status.description)).toHaveLength(140);
    expect(status.description.startsWith('a b ')).toBe(true);
    expect(status.description.endsWith('…')).toBe(true);
  });

  it('takes http(s) target URLs only, and states it knows', () => {
    const base = { state: 'pending', context: 'c', description: '' } as const;
    expect(checkStatus(SHA, { ...base, targetUrl: 'https://x.example/a b' }).targetUrl).toBe(
      'https://x.example/a%20b',
    );
    for (const targetUrl of [
      'file:///etc/passwd',
      'data:text/html,hi',
      'not a url',
      `https://x/${'a'.repeat(3000)}`,
    ])
      expect(() => checkStatus(SHA, { ...base, targetUrl })).toThrow(/http\(s\) URL/);
    expect(() => checkStatus(SHA, { ...base, state: 'running' as never })).toThrow(/not a commit state/);
    expect(() => checkStatus('A'.repeat(40), base)).toThrow(/full commit id/);
  });
});

describe('listBounds', () => {
  it('defaults to 100, caps at 1000, refuses nonsense', () => {
    expect(listBounds()).toEqual({ limit: 100 });
    expect(listBounds({ limit: 10_000, base: 'main' })).toEqual({ limit: 1000, base: 'main' });
    expect(() => listBounds({ limit: 0 })).toThrow(/positive integer/);
    expect(() => listBounds({ base: '' })).toThrow(/empty/);
  });
});

describe('cachedOnce', () => {
  it('loads once, and again after a failure', async () => {
    let calls = 0;
    const load = cachedOnce(async () => {
      calls++;
      if (calls === 1) throw new Error('down');
      return calls;
    });
    await expect(load()).rejects.toThrow('down');
    expect(await load()).toBe(2);
    expect(await load()).toBe(2);
    expect(calls).toBe(2);
  });
});
