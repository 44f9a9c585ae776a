import { describe, expect, it } from 'vitest';
import { parsePromotionRequest } from './request.js';

describe('parsePromotionRequest', () => {
  it('reads what capstan promote writes', () => {
    expect(
      parsePromotionRequest(JSON.stringify({ id: 'r1', from: 'web-staging', mode: 'push', by: 'ana' })),
    ).toEqual({
      ok: true,
      request: { id: 'r1', from: 'web-staging', mode: 'push', by: 'ana' },
    });
    expect(parsePromotionRequest(JSON.stringify({ id: 'r2', from: 'web-staging' }))).toMatchObject({
      ok: true,
      request: { mode: 'pullRequest' },
    });
    expect(parsePromotionRequest(undefined)).toBeUndefined();
  });

  it('answers a bad request with its id and why', () => {
    expect(parsePromotionRequest('{nope')).toMatchObject({ ok: false, message: /not JSON/ });
    expect(parsePromotionRequest(JSON.stringify({ id: 'r3', from: '../x' }))).toMatchObject({
      ok: false,
      id: 'r3',
      message: /from: must be an Application name/,
    });
    expect(parsePromotionRequest(JSON.stringify({ id: 'r4', from: 'a', extra: 1 }))).toMatchObject({
      ok: false,
      id: 'r4',
    });
    expect(parsePromotionRequest('x'.repeat(5000))).toMatchObject({ ok: false, message: /longer than 2048/ });
  });
});
