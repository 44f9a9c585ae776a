/**
 * Keeping one repository's cache consistent: identical concurrent requests share one promise,
 * different ones take turns (in this process through a promise chain, across processes through a
 * lock file beside the cache).
 */
import { hostname } from 'node:os';
import { open, readFile, stat, unlink } from 'node:fs/promises';
import { TransientError } from '../core/errors.js';
import { backoffDelay, sleep } from '../core/time.js';

/** Runs `work` once for every caller asking with the same key while it is in flight. */
export class Coalescer {
  readonly #inFlight = new Map<string, Promise<unknown>>();

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const running = this.#inFlight.get(key);
    if (running) return running as Promise<T>;
    const promise = work().finally(() => this.#inFlight.delete(key));
    this.#inFlight.set(key, promise);
    return promise;
  }
}

/** One holder at a time per key, in arrival order. */
export class KeyedMutex {
  readonly #tails = new Map<string, Promise<void>>();

  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => mine);
    this.#tails.set(key, tail);
    await previous;
    try {
      return await work();
    } finally {
      release();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }
}

export interface FileLockOptions {
  /** A lock older than this is taken over even if its owner seems alive (it should have finished). */
  readonly staleAfterMs: number;
  /** How long to wait for another process before giving up with a TransientError. */
  readonly waitMs: number;
  readonly now: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Between attempts: from 20 ms, doubling to 500 ms. */
const RETRY_BACKOFF = { initialMs: 20, maxMs: 500 } as const;

/**
 * Holds `path` (created exclusively) while `work` runs. A lock whose owner died on this host, or
 * that is older than `staleAfterMs`, is removed: a crash must not wedge the cache forever.
 */
export async function withFileLock<T>(
  path: string,
  options: FileLockOptions,
  work: () => Promise<T>,
): Promise<T> {
  const pause = options.sleep ?? ((ms: number) => sleep(ms));
  const deadline = options.now() + options.waitMs;
  let attempt = 0;
  for (;;) {
    try {
      const handle = await open(path, 'wx', 0o600);
      try {
        await handle.writeFile(`${process.pid}\n${hostname()}\n`);
      } finally {
        await handle.close();
      }
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    if (await isStale(path, options)) {
      await unlink(path).catch(() => {});
      continue;
    }
    if (options.now() >= deadline) {
      throw new TransientError(`the git cache is busy: another process holds ${path}`);
    }
    await pause(backoffDelay(attempt++, RETRY_BACKOFF));
  }
  try {
    return await work();
  } finally {
    await unlink(path).catch(() => {});
  }
}

async function isStale(path: string, options: FileLockOptions): Promise<boolean> {
  const [content, info] = await Promise.all([
    readFile(path, 'utf8').catch(() => undefined),
    stat(path).catch(() => undefined),
  ]);
  // Vanished between our attempts: not stale, just retry.
  if (content === undefined || info === undefined) return false;
  if (options.now() - info.mtimeMs > options.staleAfterMs) return true;
  const [pid, host] = content.split('\n');
  if (host !== hostname() || pid === undefined || !/^\d+$/.test(pid)) return false;
  return !isAlive(Number(pid));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
