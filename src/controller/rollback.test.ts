import { describe, expect, it } from 'vitest';
import type { ApplicationStatus } from '../api/v1alpha1.js';
import { autoRollback, chooseTarget, parseRollbackRequest, RollbackRefusedError } from './rollback.js';

const NOW = new Date('2026-12-01T10:00:00Z');
const GOOD = 'a'.repeat(40);
const BAD = 'b'.repeat(40);
const FIX = 'c'.repeat(40);

function statusAt(applied: string, healthy = GOOD): ApplicationStatus {
  return {
    lastAppliedRevision: { sha: applied },
    lastHealthyRevision: { sha: healthy },
    history: [
      { revision: applied, startedAt: '', finishedAt: '', durationSeconds: 0, result: 'Succeeded' },
      { revision: healthy, startedAt: '', finishedAt: '', durationSeconds: 0, result: 'Succeeded' },
    ],
  };
}

const automatic = { rollback: { automatic: true, gitRevert: 'commit' as const } };
const failedHealth = { state: 'failed', reason: 'HealthTimeout', message: 'not healthy after 30 s' };

describe('parseRollbackRequest', () => {
  it('reads what `capstan rollback` writes', () => {
    expect(parseRollbackRequest(JSON.stringify({ id: '1', to: 'abcdef0', by: 'alice' }))).toEqual({
      ok: true,
      request: { id: '1', to: 'abcdef0', by: 'alice' },
    });
  });

  it('answers anything else with a clear refusal, bounded', () => {
    expect(parseRollbackRequest('not json')).toMatchObject({
      ok: false,
      message: expect.stringContaining('not JSON'),
    });
    expect(parseRollbackRequest(JSON.stringify({ id: '2', to: 'HEAD~1' }))).toMatchObject({
      ok: false,
      id: '2',
    });
    expect(parseRollbackRequest(JSON.stringify({ id: '3', extra: true }))).toMatchObject({ ok: false });
    expect(parseRollbackRequest('x'.repeat(1_000_000))).toMatchObject({
      ok: false,
      message: expect.stringContaining('longer'),
    });
  });
});

describe('chooseTarget', () => {
  it('follows the branch head when nothing is rejected', () => {
    expect(chooseTarget(statusAt(GOOD), BAD, undefined, NOW)).toEqual({ kind: 'newest' });
  });

  it('rolls back to the last healthy revision by default, and rejects the one it leaves', () => {
    const status = statusAt(BAD);
    expect(chooseTarget(status, BAD, { id: '1', by: 'alice' }, NOW)).toMatchObject({
      kind: 'pinned',
      sha: GOOD,
    });
    expect(status.rejectedRevisions).toEqual([
      { sha: BAD, reason: `rolled back to ${GOOD.slice(0, 12)}`, rejectedAt: NOW.toISOString(), by: 'alice' },
    ]);
    expect(status.rollback).toMatchObject({ from: BAD, to: GOOD, automatic: false, by: 'alice' });
  });

  it('stays rolled back while the head is rejected: no flapping back', () => {
    const status = statusAt(BAD);
    chooseTarget(status, BAD, { id: '1' }, NOW);
    status.lastAppliedRevision = { sha: GOOD };
    for (let i = 0; i < 3; i++)
      expect(chooseTarget(status, BAD, undefined, NOW)).toMatchObject({ kind: 'pinned', sha: GOOD });
  });

  it('resumes by itself when a newer commit arrives, and keeps the rejection', () => {
    const status = statusAt(BAD);
    chooseTarget(status, BAD, { id: '1' }, NOW);
    expect(chooseTarget(status, FIX, undefined, NOW)).toEqual({ kind: 'newest' });
    expect(status.rollback).toBeUndefined();
    expect(status.rejectedRevisions?.map((r) => r.sha)).toEqual([BAD]);
  });

  it('accepts the head again with --clear', () => {
    const status = statusAt(BAD);
    chooseTarget(status, BAD, { id: '1' }, NOW);
    expect(chooseTarget(status, BAD, { id: '2', clear: true }, NOW)).toEqual({ kind: 'newest' });
    expect(status.rejectedRevisions).toBeUndefined();
  });

  it('goes to the healthy revision before when the last healthy one runs now; never to the one running', () => {
    const status: ApplicationStatus = { ...statusAt(BAD, BAD), previousHealthyRevision: GOOD };
    expect(chooseTarget(status, BAD, { id: '1' }, NOW)).toMatchObject({ kind: 'pinned', sha: GOOD });
    expect(() => chooseTarget(statusAt(BAD, BAD), BAD, { id: '1' }, NOW)).toThrow(/earlier revision/);
    expect(() => chooseTarget(statusAt(BAD), BAD, { id: '2', to: BAD.slice(0, 9) }, NOW)).toThrow(
      /applied now/,
    );
  });

  it('goes to a named revision it applied before, by a unique prefix; refuses one it never applied', () => {
    const status = statusAt(BAD);
    expect(chooseTarget(status, BAD, { id: '1', to: GOOD.slice(0, 7) }, NOW)).toMatchObject({ sha: GOOD });
    expect(() => chooseTarget(statusAt(BAD), BAD, { id: '1', to: 'd'.repeat(12) }, NOW)).toThrow(
      RollbackRefusedError,
    );
    expect(() => chooseTarget({ lastAppliedRevision: { sha: BAD } }, BAD, { id: '1' }, NOW)).toThrow(
      /not been healthy/,
    );
  });
});

describe('autoRollback', () => {
  it('rolls back a new revision that failed its health, asking for a Git revert', () => {
    const status = statusAt(BAD);
    expect(autoRollback(automatic, status, { sha: BAD, ...failedHealth }, NOW)).toEqual({
      from: BAD,
      to: GOOD,
    });
    expect(status.rollback).toMatchObject({
      from: BAD,
      to: GOOD,
      automatic: true,
      gitRevert: { mode: 'commit', state: 'Pending' },
    });
    expect(status.rejectedRevisions?.[0]).toMatchObject({ sha: BAD, reason: 'not healthy after 30 s' });
  });

  it('leaves alone: automatic off, a revision that was healthy once, the revision rolled back to, progress', () => {
    const manual = { rollback: { automatic: false, gitRevert: 'commit' as const } };
    expect(autoRollback(manual, statusAt(BAD), { sha: BAD, ...failedHealth }, NOW)).toBeUndefined();
    expect(autoRollback(automatic, statusAt(GOOD), { sha: GOOD, ...failedHealth }, NOW)).toBeUndefined();
    const rolledBack = statusAt(BAD);
    autoRollback(automatic, rolledBack, { sha: BAD, ...failedHealth }, NOW);
    expect(autoRollback(automatic, rolledBack, { sha: GOOD, ...failedHealth }, NOW)).toBeUndefined();
    const waiting = { state: 'progressing', reason: 'Progressing', message: '0 of 1 available' };
    expect(autoRollback(automatic, statusAt(BAD), { sha: BAD, ...waiting }, NOW)).toBeUndefined();
    expect(
      autoRollback(automatic, { lastAppliedRevision: { sha: BAD } }, { sha: BAD, ...failedHealth }, NOW),
    ).toBeUndefined();
  });

  it('records no revert when gitRevert is none', () => {
    const status = statusAt(BAD);
    autoRollback(
      { rollback: { automatic: true, gitRevert: 'none' } },
      status,
      { sha: BAD, ...failedHealth },
      NOW,
    );
    expect(status.rollback?.gitRevert).toBeUndefined();
  });
});
