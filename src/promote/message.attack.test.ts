/**
 * Attacks on what a promotion writes on the Git host (src/promote/message.ts): the target's
 * spec.path and the branches are a tenant's text, and the pull request is posted as the bot.
 */
import { describe, expect, it } from 'vitest';
import { promotionSummary, type PromotionDescription } from './message.js';
import { parsePromotionRequest } from './request.js';

/** The Markdown outside code spans (CommonMark: a run of n backticks closes at the next run of n). */
function outsideCode(markdown: string): string {
  return markdown.replace(/(`+)([\s\S]*?[^`])\1(?!`)/g, ' ');
}

const SHA = 'a'.repeat(40);

function description(overrides: {
  targetPath?: string;
  sourcePath?: string;
  branch?: string;
}): PromotionDescription {
  return {
    app: 'web',
    namespace: 'team-a',
    source: {
      name: 'web-staging',
      branch: 'staging',
      path: overrides.sourcePath ?? 'envs/staging',
      sha: SHA,
    },
    target: {
      name: 'web-prod',
      branch: overrides.branch ?? 'production',
      path: overrides.targetPath ?? 'envs/prod',
    },
  };
}

const LINK = '[approve here](https://evil.example/x)';
const PING = '@org/security-team';

describe('promotion pull request body', () => {
  for (const [what, d] of [
    [
      'target spec.path',
      description({ targetPath: `x\` ${LINK} ${PING} <img src=https://evil.example/p.png> \`y` }),
    ],
    ['source spec.path', description({ sourcePath: `x\` ${LINK} \`y` })],
    // A branch name cannot hold "[", spaces, "<" or ">" (refNameProblem, branchOf), but "`" and "@".
    ['target branch', description({ branch: 'p`@org/security-team`q' })],
  ] as const) {
    // Found by the red team (fixed): promotionSummary puts spec.path and branch names
    // between single backticks without escaping (only file paths go through codeSpan).
    it(`keeps a hostile ${what} inside its code span (no link, image, tag or mention)`, () => {
      const body = promotionSummary(d, [{ status: 'M', path: 'envs/prod/a.yaml' }], { truncated: false });
      const prose = outsideCode(body);
      expect(prose).not.toContain('](https://evil.example');
      expect(prose).not.toContain('<img');
      expect(prose).not.toContain(PING);
      expect(prose).not.toContain('@org/security-team');
    });
  }

  it('keeps a hostile file name inside its code span', () => {
    const body = promotionSummary(description({}), [{ status: 'A', path: `a\` ${LINK} \`b` }], {
      truncated: false,
    });
    expect(outsideCode(body)).not.toContain('](https://evil.example');
  });
});

describe('promotion requests', () => {
  for (const from of ['other-team/web', '../web', 'web/../../x', 'WEB', '', 'a'.repeat(254)]) {
    it(`refuses a source outside the target's namespace or not a name: ${JSON.stringify(from.slice(0, 20))}`, () => {
      const parsed = parsePromotionRequest(JSON.stringify({ id: '1', from, mode: 'push' }));
      expect(parsed?.ok).toBe(false);
    });
  }
  it('refuses extra fields (a namespace, a repository, a revision of the requester’s choice)', () => {
    for (const extra of [
      { namespace: 'other' },
      { sha: 'b'.repeat(40) },
      { repository: 'x' },
      { __proto__: { x: 1 } },
    ])
      expect(
        parsePromotionRequest(JSON.stringify({ id: '1', from: 'web', ...extra }))?.ok,
        JSON.stringify(extra),
      ).toBe(Object.keys(extra).length === 0);
  });
  it('bounds a huge request and keeps its id short', () => {
    const parsed = parsePromotionRequest(JSON.stringify({ id: 'x'.repeat(10_000), from: 'web' }));
    expect(parsed?.ok).toBe(false);
    if (parsed && !parsed.ok) expect(parsed.id.length).toBeLessThanOrEqual(64);
  });
});
