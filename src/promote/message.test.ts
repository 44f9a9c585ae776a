import { describe, expect, it } from 'vitest';
import { promotionMessage, promotionSummary } from './message.js';

const d = {
  app: 'web',
  namespace: 'shop',
  source: { name: 'web-staging', branch: 'staging', path: 'web', sha: 'a'.repeat(40) },
  target: { name: 'web-production', branch: 'production', path: 'prod/web' },
};

describe('promotion message', () => {
  it('has the subject people scan and trailers naming the source and full SHA', () => {
    const message = promotionMessage(d);
    expect(message.split('\n')[0]).toBe('promote web: staging@aaaaaaaaaaaa → production');
    expect(message).toContain(
      `Capstan-Promoted-From: shop/web-staging\nCapstan-Promoted-Revision: ${'a'.repeat(40)}`,
    );
  });

  it('shows hostile file names inertly in the summary', () => {
    const summary = promotionSummary(d, [{ status: 'A', path: 'prod/web/`@everyone`\u001b[31m.yaml' }], {
      truncated: false,
    });
    expect(summary).toContain('- added `` prod/web/`@everyone`.yaml ``');
    expect(summary).toContain('### Files changed (1)');
  });
});
