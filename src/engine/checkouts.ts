/**
 * Checkouts of commits for rendering: one folder per repository and commit, shared by every app
 * (and every engine: one per impersonated identity) that renders at it. A checkout is made in a
 * private folder and renamed into place, so a reader never sees half of one.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { GitSource, Repository } from '../source/index.js';

export interface Checkouts {
  /** The folder holding `sha` of `repository`, made on first use. */
  of(repository: Repository, sha: string): Promise<string>;
}

export function createCheckouts(git: GitSource, workDir: string): Checkouts {
  const made = new Map<string, Promise<string>>();
  return {
    of(repository, sha) {
      const key = `${repository.url}@${sha}`;
      let dir = made.get(key);
      if (!dir) {
        const target = join(
          workDir,
          'checkouts',
          createHash('sha256').update(key).digest('hex').slice(0, 24),
        );
        dir = (async () => {
          if (await exists(target)) return target;
          const partial = `${target}.partial-${process.pid}-${randomBytes(4).toString('hex')}`;
          await mkdir(join(workDir, 'checkouts'), { recursive: true });
          try {
            await git.checkout(repository, sha, partial);
            await rename(partial, target);
          } catch (error) {
            await rm(partial, { recursive: true, force: true });
            // Another process renamed the same commit into place first: theirs is as good as ours.
            if (await exists(target)) return target;
            throw error;
          }
          return target;
        })();
        dir.catch(() => made.delete(key));
        made.set(key, dir);
      }
      return dir;
    },
  };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
