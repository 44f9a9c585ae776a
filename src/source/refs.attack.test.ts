/**
 * A hostile (or merely huge) Git server advertising just under the ref limit (issue 8's hostile-Git
 * must-show): 99,999 tags pass the AdvertisementReader, and weighing them against a semver range took
 * some 300 ms of CPU in one go, stalling /healthz for over a second on a busy machine at every poll.
 * The source stage now weighs them in slices. How long a slice takes is the bench's to measure
 * (`npm run bench:hostile -- --modes many-refs --refs 99999`); these tests show the event loop gets
 * its turns, and that slicing changed no choice.
 */
import { describe, expect, it } from 'vitest';
import {
  ADVERTISEMENT_LIMITS,
  highestTagSatisfying,
  highestTagSatisfyingAsync,
  selectRefAsync,
} from './refs.js';

const SHA = '1234567890abcdef1234567890abcdef12345678';
/** As many tags as an advertisement may hold, minus one: `v1.<minor>.<patch>`. */
const NEAR_LIMIT = Array.from(
  { length: ADVERTISEMENT_LIMITS.maxRefs - 1 },
  (_, i) => `v1.${Math.floor(i / 1000)}.${i % 1000}`,
);

/** Runs `work`, counting how many times other callbacks (an immediate re-queued each turn) ran meanwhile. */
async function turnsDuring<T>(work: () => Promise<T>): Promise<{ result: T; turns: number }> {
  let turns = 0;
  let running = true;
  const tick = (): void => {
    if (!running) return;
    turns++;
    setImmediate(tick);
  };
  setImmediate(tick);
  const result = await work();
  running = false;
  return { result, turns };
}

/** A deterministic shuffle (a linear congruential generator), so a failure can be replayed. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const copy = [...items];
  let state = seed;
  for (let i = copy.length - 1; i > 0; i--) {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    const j = state % (i + 1);
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

describe('weighing a near-limit advertisement against a semver range', () => {
  it('gives the event loop its turns while it weighs 99,999 tags', async () => {
    const { result, turns } = await turnsDuring(() => highestTagSatisfyingAsync(NEAR_LIMIT, '>=1.0.0', 0));
    expect(result).toBe('v1.99.998');
    // One turn at least every 256 tags; the synchronous version gives none.
    expect(turns).toBeGreaterThanOrEqual(Math.floor(NEAR_LIMIT.length / 256) - 1);
    const sync = await turnsDuring(async () => highestTagSatisfying(NEAR_LIMIT, '>=1.0.0'));
    expect(sync.turns).toBe(0);
  });

  it('is what the source stage uses for a range, and gives its turns there too', async () => {
    const refs = new Map(NEAR_LIMIT.map((tag) => [`refs/tags/${tag}`, SHA]));
    const ads = { refs, peeled: new Map([['refs/tags/v1.99.998', 'f'.repeat(40)]]) };
    const { result, turns } = await turnsDuring(() =>
      selectRefAsync({ kind: 'semver', range: '>=1.0.0 <1.99.998' }, ads),
    );
    expect(result).toEqual({ ref: 'refs/tags/v1.99.997', sha: SHA });
    expect(turns).toBeGreaterThan(0);
    // Not a range: picked at once, annotated tags peeled.
    expect(await selectRefAsync({ kind: 'tag', name: 'v1.99.998' }, ads)).toEqual({
      ref: 'refs/tags/v1.99.998',
      sha: 'f'.repeat(40),
    });
  });

  it('chooses the same tag whatever order the server lists them in, ties included', async () => {
    const tags = [
      ...NEAR_LIMIT.slice(0, 2_000),
      '1.1.999', // ties with v1.1.999: the plain one wins
      'v1.1.999+build.2',
      '1.1.999+build.1', // equal versions: the tag that sorts first wins
      'v1.2.0-rc.1', // a pre-release counts only when the range names one
      'not-a-version',
      'v',
      '-----',
    ];
    for (const seed of [1, 2, 3]) {
      const order = shuffled(tags, seed);
      expect(highestTagSatisfying(order, '^1')).toBe('1.1.999');
      expect(await highestTagSatisfyingAsync(order, '^1', 0)).toBe('1.1.999');
      expect(await highestTagSatisfyingAsync(order, '>=1.2.0-rc.0', 0)).toBe('v1.2.0-rc.1');
    }
    expect(await highestTagSatisfyingAsync(tags, 'banana', 0)).toBeUndefined();
    expect(await highestTagSatisfyingAsync(tags, '>=3', 0)).toBeUndefined();
  });
});
