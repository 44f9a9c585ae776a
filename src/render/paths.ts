/**
 * Path confinement: everything a render reads stays inside the checkout.
 *
 * Two checks, both before any tool runs:
 * 1. Lexical, on the path as written (an app path, a kustomization entry, a values file): absolute
 *    paths and `..` that climbs above the repository root are refused.
 * 2. Physical, component by component: every symlink met on the way is followed by hand (one hop at
 *    a time, so each link is named and recorded), absolute link targets are refused, and a target
 *    climbing above the root is refused. A final `fs.realpath` must agree with the walk.
 *
 * Paths handed around are "repository paths": POSIX, relative to the checkout root, `''` for the
 * root itself, the same form `normaliseTreePath` in the source stage accepts, so callers can ask Git
 * for their tree ids. Errors name repository paths only, never the checkout's location on disk, and
 * never where an escaping symlink points.
 */
import type { Stats } from 'node:fs';
import { lstat, readlink, realpath } from 'node:fs/promises';
import { isAbsolute, join, posix, relative, sep } from 'node:path';
import { EnvironmentError, UserError } from '../core/errors.js';

/** Enough symlink hops for any sane repository; more means a loop. */
const MAX_SYMLINK_HOPS = 40;

export interface ResolvedPath {
  /** The path as asked for (lexically normalised). */
  readonly repoPath: string;
  /** The same file or folder with every symlink followed: a path Git knows. */
  readonly realRepoPath: string;
  /** Absolute path on disk of `realRepoPath`. */
  readonly absolutePath: string;
  /** `lstat` of the final target (never a symlink). */
  readonly stats: Stats;
  /** Every symlink followed on the way, as repository paths (each is a Git blob worth keying on). */
  readonly symlinks: readonly string[];
}

/** Shows a path from repository content safely inside a message (quotes, escapes control characters). */
export function quotePath(path: string): string {
  return JSON.stringify(path);
}

/** `''` for the root, otherwise the path itself: for messages. */
export function displayPath(repoPath: string): string {
  return repoPath === '' ? '.' : repoPath;
}

export class Checkout {
  private constructor(
    /** The checkout root with its own symlinks resolved (a temp dir may live under a symlink). */
    readonly root: string,
  ) {}

  static async open(dir: string): Promise<Checkout> {
    if (!isAbsolute(dir)) throw new EnvironmentError(`the checkout directory must be an absolute path`);
    try {
      return new Checkout(await realpath(dir));
    } catch (error) {
      throw new EnvironmentError(`the checkout directory cannot be opened (${codeOf(error)})`, {
        cause: error,
      });
    }
  }

  /** The absolute path of a repository path, without following anything. */
  absolute(repoPath: string): string {
    return repoPath === '' ? this.root : join(this.root, ...repoPath.split('/'));
  }

  /** The repository path of an absolute path inside the root, or undefined when it is outside. */
  repoPathOf(absolutePath: string): string | undefined {
    const rel = relative(this.root, absolutePath);
    if (rel === '') return '';
    if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return undefined;
    return rel.split(sep).join('/');
  }

  /**
   * Joins `ref`, as written in repository content, to the folder `baseDir`, lexically.
   * `where` says who wrote it, for the error (`"kustomization apps/web/kustomization.yaml: resource"`).
   */
  join(baseDir: string, ref: string, where: string): string {
    return confineReference(baseDir, ref, where);
  }

  /**
   * Follows `repoPath` on disk, component by component, refusing any symlink that leaves the
   * checkout. Throws a UserError naming the path when it does not exist.
   */
  async resolve(repoPath: string, where?: string): Promise<ResolvedPath> {
    const prefix = where ? `${where}: ` : '';
    const symlinks: string[] = [];
    let remaining = splitPath(repoPath);
    let current = '';
    let hops = 0;
    let lastLink: string | undefined;
    while (remaining.length > 0) {
      const component = remaining[0] as string;
      remaining = remaining.slice(1);
      if (component === '.') continue;
      if (component === '..') {
        // Only a symlink target can bring `..` here (the request was normalised lexically), and
        // `current` has no symlinks left in it, so climbing is physical, exactly what the OS does.
        if (current === '') {
          throw new UserError(
            `${prefix}${quotePath(lastLink ?? repoPath)} is a symlink that leads outside the repository`,
          );
        }
        current = parentOf(current);
        continue;
      }
      const candidate = current === '' ? component : `${current}/${component}`;
      const stats = await this.lstatOrExplain(candidate, repoPath, prefix);
      if (stats.isSymbolicLink()) {
        if (++hops > MAX_SYMLINK_HOPS) {
          throw new UserError(`${prefix}${quotePath(repoPath)} goes through too many symlinks (a loop?)`);
        }
        symlinks.push(candidate);
        lastLink = candidate;
        const target = await readlink(this.absolute(candidate));
        if (target.includes('\0') || isAbsolute(target) || posix.isAbsolute(target)) {
          throw new UserError(
            `${prefix}${quotePath(candidate)} is a symlink with an absolute target; symlinks must be relative and stay inside the repository`,
          );
        }
        // The target is relative to the link's folder, which is `current`.
        remaining = [...splitPath(target.split(sep).join('/'), true), ...remaining];
        continue;
      }
      if (remaining.some((c) => c !== '.' && c !== '..') && !stats.isDirectory()) {
        throw new UserError(
          `${prefix}${quotePath(repoPath)} does not exist (${quotePath(candidate)} is not a folder)`,
        );
      }
      current = candidate;
    }

    const absolutePath = this.absolute(current);
    const stats = await this.lstatOrExplain(current, repoPath, prefix);
    // Belt and braces: the OS's own resolution must land on the same place inside the root.
    let real: string;
    try {
      real = await realpath(absolutePath);
    } catch (error) {
      throw new UserError(`${prefix}${quotePath(repoPath)} cannot be resolved (${codeOf(error)})`, {
        cause: error,
      });
    }
    if (this.repoPathOf(real) !== current) {
      throw new UserError(`${prefix}${quotePath(repoPath)} resolves outside the repository`);
    }
    return { repoPath, realRepoPath: current, absolutePath, stats, symlinks };
  }

  private async lstatOrExplain(candidate: string, asked: string, prefix: string): Promise<Stats> {
    try {
      return await lstat(this.absolute(candidate));
    } catch (error) {
      const code = codeOf(error);
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        const detail = candidate === asked ? '' : ` (${quotePath(candidate)} is missing)`;
        throw new UserError(`${prefix}${quotePath(asked)} does not exist${detail}`, { cause: error });
      }
      throw new UserError(`${prefix}${quotePath(asked)} cannot be read (${code})`, { cause: error });
    }
  }
}

/**
 * The lexical half of confinement, on a path as written: relative, no NUL or control characters,
 * and no `..` climbing above the root once joined to `baseDir`.
 */
export function confineReference(baseDir: string, ref: string, where: string): string {
  if (typeof ref !== 'string' || ref.trim() === '') throw new UserError(`${where}: empty path`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(ref))
    throw new UserError(`${where}: path ${quotePath(ref)} contains control characters`);
  if (posix.isAbsolute(ref) || isAbsolute(ref) || /^[a-zA-Z]:[\\/]/.test(ref)) {
    throw new UserError(
      `${where}: ${quotePath(ref)} is an absolute path; paths must be relative and stay inside the repository`,
    );
  }
  const joined = posix.normalize(posix.join(baseDir === '' ? '.' : baseDir, ref));
  if (joined === '..' || joined.startsWith('../')) {
    throw new UserError(`${where}: ${quotePath(ref)} leads outside the repository`);
  }
  return normaliseRepoPath(joined);
}

/** Normalises an app path given by a caller (a spec field): relative, inside the root. */
export function normaliseAppPath(appPath: string): string {
  return confineReference('', appPath === '' ? '.' : appPath, 'app path');
}

/** `a/./b/` → `a/b`, `.` → `''`. Input must already be lexically confined. */
function normaliseRepoPath(path: string): string {
  const normal = posix.normalize(path).replace(/\/+$/, '');
  return normal === '.' ? '' : normal;
}

function splitPath(path: string, keepDots = false): string[] {
  return path.split('/').filter((c) => c !== '' && (keepDots || c !== '.'));
}

function parentOf(repoPath: string): string {
  const slash = repoPath.lastIndexOf('/');
  return slash < 0 ? '' : repoPath.slice(0, slash);
}

export function codeOf(error: unknown): string {
  return (error as NodeJS.ErrnoException | undefined)?.code ?? 'unknown error';
}

/**
 * The smallest set of repository paths covering `paths`: a path under another listed folder is
 * dropped (its tree id is part of the folder's). Sorted, so the result is deterministic.
 */
export function compactInputs(paths: Iterable<string>): string[] {
  const sorted = [...new Set(paths)].sort();
  const kept: string[] = [];
  for (const path of sorted) {
    if (kept.some((parent) => parent === '' || path === parent || path.startsWith(`${parent}/`))) continue;
    kept.push(path);
  }
  return kept;
}
