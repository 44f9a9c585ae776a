/**
 * Reading files of the checkout: confined, bounded, and without hanging on special files.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { UserError } from '../core/errors.js';
import type { RenderBudget, RenderLimits } from './limits.js';
import { formatBytes } from './limits.js';
import type { Checkout, ResolvedPath } from './paths.js';
import { codeOf, quotePath } from './paths.js';

export interface ReadFile {
  readonly resolved: ResolvedPath;
  readonly text: string;
}

/**
 * Resolves `repoPath` inside the checkout and reads it as UTF-8 text. The size is checked by stat
 * before a byte is read (so a 200 MB file costs nothing), and again on the open handle.
 */
export async function readRepoFile(
  checkout: Checkout,
  repoPath: string,
  budget: RenderBudget,
  where?: string,
): Promise<ReadFile> {
  const resolved = await checkout.resolve(repoPath, where);
  return { resolved, text: await readResolvedFile(resolved, budget, where) };
}

/** Reads a file already resolved (and so known to be inside the checkout). */
export async function readResolvedFile(
  resolved: ResolvedPath,
  budget: RenderBudget,
  where?: string,
): Promise<string> {
  chargeForReading(resolved, budget, where);
  return readChargedFile(resolved, budget.limits, where);
}

/** The checks and the budget charge of reading a file, done by its stat alone (nothing is read). */
export function chargeForReading(resolved: ResolvedPath, budget: RenderBudget, where?: string): void {
  assertRegularFile(resolved, where);
  budget.chargeFile(resolved.realRepoPath, resolved.stats.size);
}

/** Reads a file `chargeForReading` accepted. */
export async function readChargedFile(
  resolved: ResolvedPath,
  limits: Pick<RenderLimits, 'maxFileBytes'>,
  where?: string,
): Promise<string> {
  const prefix = where ? `${where}: ` : '';
  const name = quotePath(resolved.realRepoPath);

  // O_NOFOLLOW: the path was resolved by hand, a symlink appearing now is not ours to follow.
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
  let handle;
  try {
    handle = await open(
      resolved.absolutePath,
      constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK,
    );
  } catch (error) {
    throw new UserError(`${prefix}${name} cannot be opened (${codeOf(error)})`, { cause: error });
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile() || stats.ino !== resolved.stats.ino) {
      throw new UserError(`${prefix}${name} changed while being read`);
    }
    const limit = limits.maxFileBytes;
    if (stats.size > limit) {
      throw new UserError(
        `${prefix}${name} is ${formatBytes(stats.size)}, over the ${formatBytes(limit)} limit for one file`,
      );
    }
    // Read at most what stat promised (plus one byte to notice growth), never "until EOF".
    const buffer = Buffer.alloc(Math.min(stats.size, limit) + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > stats.size) throw new UserError(`${prefix}${name} grew while being read`);
    return decodeUtf8(buffer.subarray(0, length), `${prefix}${name}`);
  } finally {
    await handle.close();
  }
}

export function assertRegularFile(resolved: ResolvedPath, where?: string): void {
  if (resolved.stats.isFile()) return;
  const prefix = where ? `${where}: ` : '';
  const what = resolved.stats.isDirectory() ? 'a folder' : 'not a regular file';
  throw new UserError(`${prefix}${quotePath(resolved.repoPath)} is ${what}; a file was expected`);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function decodeUtf8(bytes: Uint8Array, name: string): string {
  try {
    return utf8.decode(bytes);
  } catch (error) {
    throw new UserError(`${name} is not valid UTF-8 text`, { cause: error });
  }
}
