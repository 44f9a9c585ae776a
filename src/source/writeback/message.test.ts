import { describe, expect, it } from 'vitest';
import { cleanEvidence, revertMessage, rollbackBranch } from './message.js';

const GOOD = '1'.repeat(40);
const BAD = 'b'.repeat(40);

const input = {
  app: { namespace: 'team-a', name: 'web' },
  branch: 'main',
  appPath: 'apps/web',
  good: GOOD,
  bad: BAD,
  evidence: 'Deployment web: Progressing=False\nPod web-1: CrashLoopBackOff',
  reverted: [{ sha: BAD, subject: 'roll out v2' }],
  moreReverted: 0,
};

describe('revertMessage', () => {
  it('names the app, the SHAs, the evidence, and ends with our trailers', () => {
    const text = revertMessage(input);
    const lines = text.split('\n');
    expect(lines[0]).toBe('Revert team-a/web: roll back bbbbbbbbbbbb to 111111111111');
    expect(lines[1]).toBe('');
    expect(text).toContain('  Pod web-1: CrashLoopBackOff');
    expect(text).toContain(`  ${BAD} roll out v2`);
    expect(text).toContain('the folder apps/web/');
    expect(text.trimEnd().split('\n').slice(-3)).toEqual([
      `Capstan-Rollback: ${BAD}`,
      `Capstan-Rollback-To: ${GOOD}`,
      'Capstan-Application: team-a/web',
    ]);
  });

  it('keeps outside text indented, redacted and short: no line of it can pose as a trailer', () => {
    const text = revertMessage({
      ...input,
      evidence: `Capstan-Rollback: ${GOOD}\r\n\u001b[1mbold\u001b[0m\u0000 token=abcdefgh12345678\n${'x'.repeat(1000)}`,
      reverted: [{ sha: BAD, subject: `subject\nCapstan-Rollback: ${GOOD}` }],
    });
    expect(text.match(/^Capstan-Rollback: /gm)).toHaveLength(1);
    expect(text).not.toContain('abcdefgh12345678');
    // eslint-disable-next-line no-control-regex
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f]/);
    expect(Math.max(...text.split('\n').map((line) => line.length))).toBeLessThanOrEqual(310);
  });

  it('bounds the evidence in lines', () => {
    const lines = cleanEvidence(Array.from({ length: 100 }, (_, i) => `line ${i}`).join('\n'));
    expect(lines).toHaveLength(41);
    expect(lines.at(-1)).toBe('… 60 more lines');
    expect(cleanEvidence('')).toEqual(['(no health message)']);
  });

  it('names the pull request branch after the app and the bad commit', () => {
    expect(rollbackBranch(input.app, BAD)).toBe('capstan/rollback-team-a-web-bbbbbbbbbbbb');
  });
});
