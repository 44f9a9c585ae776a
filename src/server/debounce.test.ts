import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../test/support/fake-clock.js';
import { PushDebouncer } from './debounce.js';
import type { PushEvent } from './debounce.js';

function setup(options: { delayMs?: number; maxDelayMs?: number; maxPending?: number } = {}) {
  const clock = new FakeClock();
  const delivered: PushEvent[] = [];
  const debouncer = new PushDebouncer({
    delayMs: 2000,
    ...options,
    clock,
    deliver: (event) => delivered.push(event),
  });
  return { clock, delivered, debouncer };
}

const push = (keys: string[], ref?: string, urls = keys.map((key) => `https://${key}.git`)): PushEvent => ({
  provider: 'github',
  urls,
  repositoryKeys: keys,
  ...(ref === undefined ? {} : { ref }),
});

describe('PushDebouncer', () => {
  it('delivers a burst once, delayMs after its last push', () => {
    const { clock, delivered, debouncer } = setup();
    debouncer.add(push(['h/a'], 'refs/heads/main'));
    clock.advance(1500);
    debouncer.add(push(['h/a'], 'refs/heads/main'));
    clock.advance(1500);
    debouncer.add(push(['h/a'], 'refs/heads/main'));
    clock.advance(1999);
    expect(delivered).toEqual([]);
    clock.advance(1);
    expect(delivered).toEqual([push(['h/a'], 'refs/heads/main')]);
    expect(clock.pendingTimers).toBe(0);
  });

  it('keeps repositories apart and merges pushes sharing any key', () => {
    const { clock, delivered, debouncer } = setup();
    debouncer.add(push(['h/a', 'h/a-web'], 'refs/heads/main', ['https://h/a.git']));
    debouncer.add(push(['h/b']));
    debouncer.add({
      provider: 'generic',
      urls: ['git@h:a.git'],
      repositoryKeys: ['h/a'],
      ref: 'refs/heads/dev',
    });
    expect(debouncer.pendingCount).toBe(2);
    clock.advance(2000);
    expect(delivered).toHaveLength(2);
    const a = delivered.find((event) => event.repositoryKeys.includes('h/a'));
    // Pushes to different refs: the event names no ref, meaning any ref of the repository.
    expect(a).toEqual({
      provider: 'generic',
      urls: ['https://h/a.git', 'git@h:a.git'],
      repositoryKeys: ['h/a', 'h/a-web'],
    });
  });

  it('delivers a burst that never pauses after maxDelayMs', () => {
    const { clock, delivered, debouncer } = setup({ delayMs: 2000, maxDelayMs: 5000 });
    for (let t = 0; t < 5000; t += 1000) {
      debouncer.add(push(['h/a']));
      clock.advance(1000);
    }
    expect(delivered).toHaveLength(1);
  });

  it('delivers the oldest early rather than holding more than maxPending', () => {
    const { delivered, debouncer } = setup({ maxPending: 2 });
    debouncer.add(push(['h/1']));
    debouncer.add(push(['h/2']));
    debouncer.add(push(['h/3']));
    expect(delivered.map((event) => event.repositoryKeys[0])).toEqual(['h/1']);
    expect(debouncer.pendingCount).toBe(2);
  });

  it('delivers at once when delayMs is 0; flush delivers, cancel drops', () => {
    const immediate = setup({ delayMs: 0 });
    immediate.debouncer.add(push(['h/a']));
    expect(immediate.delivered).toHaveLength(1);

    const { clock, delivered, debouncer } = setup();
    debouncer.add(push(['h/a']));
    debouncer.flush();
    expect(delivered).toHaveLength(1);
    debouncer.add(push(['h/b']));
    debouncer.cancel();
    clock.advance(10_000);
    expect(delivered).toHaveLength(1);
    expect(clock.pendingTimers).toBe(0);
  });
});
