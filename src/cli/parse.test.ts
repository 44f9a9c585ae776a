import { describe, expect, it } from 'vitest';
import { UserError } from '../core/errors.js';
import { parseDurationFlag } from './parse.js';

describe('parseDurationFlag', () => {
  it.each([
    ['90', 90_000],
    [' 90 ', 90_000],
    ['0', 0],
    ['0s', 0],
    ['90s', 90_000],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['1.5m', 90_000],
    ['2000ms', 2000],
  ])('reads %j as %d ms', (text, ms) => {
    expect(parseDurationFlag(text, '--timeout')).toBe(ms);
  });

  it('names the flag when the value is not a duration', () => {
    for (const text of ['soon', '5 m', '-5s', '', `${'9'.repeat(400)}`])
      expect(() => parseDurationFlag(text, '--timeout')).toThrow(
        new UserError(`--timeout must be a duration such as 90s, 5m or 1h30m, not '${text}'`),
      );
  });

  it('wants whole seconds', () => {
    expect(() => parseDurationFlag('1500ms', '--lease-duration')).toThrow(
      "--lease-duration must be a whole number of seconds, not '1500ms'",
    );
  });
});
