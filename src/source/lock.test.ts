import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TransientError } from '../core/errors.js';
import { Coalescer, KeyedMutex, withFileLock } from './lock.js';

describe('Coalescer', () => {
  it('runs work once for concurrent callers with one key, again once it settled', async () => {
    const coalescer = new Coalescer();
    let runs = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const work = async () => {
      runs++;
      await gate;
      return runs;
    };
    const first = coalescer.run('k', work);
    const second = coalescer.run('k', work);
    const other = coalescer.run('other', work);
    release();
    expect(await Promise.all([first, second, other])).toEqual([2, 2, 2]);
    expect(runs).toBe(2);
    await coalescer.run('k', work);
    expect(runs).toBe(3);
  });

  it('shares failures too, and forgets them', async () => {
    const coalescer = new Coalescer();
    const failing = () => Promise.reject(new Error('boom'));
    await expect(Promise.all([coalescer.run('k', failing), coalescer.run('k', failing)])).rejects.toThrow(
      'boom',
    );
    await expect(coalescer.run('k', async () => 'ok')).resolves.toBe('ok');
  });
});

describe('KeyedMutex', () => {
  it('lets one holder per key run at a time, in order', async () => {
    const mutex = new KeyedMutex();
    const events: string[] = [];
    const task = (name: string) => async () => {
      events.push(`start ${name}`);
      await Promise.resolve();
      await Promise.resolve();
      events.push(`end ${name}`);
    };
    await Promise.all([mutex.run('k', task('a')), mutex.run('k', task('b')), mutex.run('j', task('c'))]);
    expect(events.indexOf('end a')).toBeLessThan(events.indexOf('start b'));
    expect(events.indexOf('start c')).toBeLessThan(events.indexOf('end a'));
  });

  it('keeps going after a holder fails', async () => {
    const mutex = new KeyedMutex();
    await expect(mutex.run('k', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(mutex.run('k', async () => 'ok')).resolves.toBe('ok');
  });
});

describe('withFileLock', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'capstan-lock-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const options = (clock: { t: number }) => ({
    staleAfterMs: 60_000,
    waitMs: 1_000,
    now: () => clock.t,
    sleep: async (ms: number) => {
      clock.t += ms;
    },
  });

  it('holds the lock while work runs and removes it after', async () => {
    const path = join(dir, 'repo.lock');
    const seen = await withFileLock(path, options({ t: 0 }), () => readFile(path, 'utf8'));
    expect(seen).toBe(`${process.pid}\n${hostname()}\n`);
    await expect(readFile(path)).rejects.toThrow();
  });

  it('takes over a lock whose owner died', async () => {
    const path = join(dir, 'repo.lock');
    await writeFile(path, `${2 ** 22 + 1}\n${hostname()}\n`);
    await expect(withFileLock(path, options({ t: Date.now() }), async () => 'ran')).resolves.toBe('ran');
  });

  it('gives up with a TransientError while a live owner holds it', async () => {
    const path = join(dir, 'repo.lock');
    await writeFile(path, `${process.pid}\n${hostname()}\n`);
    const clock = { t: Date.now() };
    await expect(withFileLock(path, options(clock), async () => 'ran')).rejects.toBeInstanceOf(
      TransientError,
    );
    expect(await readFile(path, 'utf8')).toBe(`${process.pid}\n${hostname()}\n`);
  });
});
