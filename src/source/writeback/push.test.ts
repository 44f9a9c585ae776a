import { describe, expect, it } from 'vitest';
import type { GitOutput } from '../git.js';
import { classifyPush } from './push.js';

const REF = 'refs/heads/main';
const SHA = 'a'.repeat(40);

function output(exitCode: number, stdout: string, stderr = ''): GitOutput {
  return { exitCode, stdout, stderr, timedOut: false };
}

describe('classifyPush', () => {
  it('reads a landed push and an up-to-date one', () => {
    expect(classifyPush(output(0, `To http://h/r.git\n \t${SHA}:${REF}\tabc..def\nDone\n`), REF, [])).toEqual(
      {
        kind: 'pushed',
      },
    );
    expect(classifyPush(output(0, `*\t${SHA}:${REF}\t[new branch]\n`), REF, [])).toEqual({ kind: 'pushed' });
    expect(classifyPush(output(0, `=\t${SHA}:${REF}\t[up to date]\n`), REF, [])).toEqual({
      kind: 'upToDate',
    });
  });

  it('reads a branch that moved (fetch first, non-fast-forward, stale lease) as moved', () => {
    for (const summary of [
      '[rejected] (fetch first)',
      '[rejected] (non-fast-forward)',
      '[rejected] (stale info)',
    ]) {
      expect(classifyPush(output(1, `!\t${SHA}:${REF}\t${summary}\n`), REF, []).kind).toBe('moved');
    }
  });

  it('reads a declined hook and a protected branch as protected, with what the server said', () => {
    const verdict = classifyPush(
      output(
        1,
        `!\t${SHA}:${REF}\t[remote rejected] (pre-receive hook declined)\n`,
        'remote: GitLab: You are not allowed to push code to protected branches on this project.\nTo http://h/r.git\n',
      ),
      REF,
      [],
    );
    expect(verdict).toEqual({
      kind: 'refused',
      reason: 'protected',
      detail: 'pre-receive hook declined',
      remote: ['GitLab: You are not allowed to push code to protected branches on this project'],
    });
    expect(
      classifyPush(
        output(1, `!\t${SHA}:${REF}\t[remote rejected] (protected branch hook declined)\n`),
        REF,
        [],
      ),
    ).toMatchObject({ reason: 'protected' });
  });

  it('reads read-only credentials as permission: HTTP 403, GitHub and GitLab wording', () => {
    for (const stderr of [
      "fatal: unable to access 'http://h/r.git/': The requested URL returned error: 403\n",
      'remote: Permission to o/r.git denied to bot.\nfatal: unable to access',
      'ERROR: The key you are authenticating with has been marked as read only.\nfatal: Could not read from remote repository.',
      'remote: You are not allowed to push code to this project.\nfatal: unable to access',
    ]) {
      expect(classifyPush(output(128, '', stderr), REF, [])).toMatchObject({
        kind: 'refused',
        reason: 'permission',
      });
    }
  });

  it('reads rejected credentials as auth, with the password redacted', () => {
    const verdict = classifyPush(
      output(
        128,
        '',
        "remote: invalid password hunter2hunter2\nfatal: Authentication failed for 'http://h/r.git/'\n",
      ),
      REF,
      ['hunter2hunter2'],
    );
    expect(verdict).toMatchObject({ kind: 'refused', reason: 'auth' });
    expect(JSON.stringify(verdict)).not.toContain('hunter2hunter2');
  });

  it('leaves other failures (unreachable, timed out) to the caller', () => {
    expect(
      classifyPush(output(128, '', 'fatal: unable to access: Could not resolve host: h\n'), REF, []).kind,
    ).toBe('failed');
    expect(classifyPush({ exitCode: null, stdout: '', stderr: '', timedOut: true }, REF, []).kind).toBe(
      'failed',
    );
  });
});
