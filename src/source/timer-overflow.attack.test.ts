/**
 * A Repository's spec.timeout is its owner's text, up to Go's longest duration: `1000h` is 3.6e9
 * ms, past what a Node timer holds (2^31 − 1 ms), and a plain setTimeout given it fires after 1 ms.
 * The git runner must wait at least as long as the timer can, not kill git at once.
 */
import { describe, expect, it } from 'vitest';
import { createProcessRunner } from './git.js';

describe('the git runner', () => {
  it('lets git run under a timeout longer than a timer holds (1000h)', async () => {
    const output = await createProcessRunner()({
      operation: 'pause',
      // An alias running the shell: a git that takes a moment, as every remote operation does.
      args: ['-c', 'alias.pause=!sleep 0.3', 'pause'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp' },
      timeoutMs: 1000 * 60 * 60 * 1000,
      cwd: '/tmp',
    });
    expect(output.timedOut).toBe(false);
    expect(output.exitCode).toBe(0);
  });
});
