import { describe, expect, it } from 'vitest';
import { parseDurationMs, touches } from './repository.js';

describe('touches', () => {
  const paths = ['apps/web/deployment.yaml', 'apps/web-2/cm.yaml', 'README.md'];

  it.each([
    ['apps/web', true],
    ['apps/web/', true],
    ['./apps/web', true],
    ['apps/web-2', true],
    ['apps/we', false], // a prefix of a name is not its folder
    ['apps/worker', false],
    ['', true], // the root holds everything
    ['.', true],
  ])('the app at %j is touched: %s', (appPath, expected) => {
    expect(touches(paths, appPath)).toBe(expected);
  });

  it('counts unknown changes as touching, and an empty change as touching nothing', () => {
    expect(touches(undefined, 'apps/web')).toBe(true);
    expect(touches([], '')).toBe(false);
  });
});

describe('parseDurationMs', () => {
  it('reads Go-style durations', () => {
    expect(parseDurationMs('1h30m')).toBe(5_400_000);
    expect(parseDurationMs('250ms')).toBe(250);
    expect(() => parseDurationMs('0s')).toThrow("invalid duration '0s'");
  });
});
