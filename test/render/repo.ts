/**
 * Throwaway repositories for render tests: a temp folder holding `repo/` (the checkout) and
 * `outside/` (what escaping paths try to reach, with a secret in it).
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** A value no error message may ever contain. */
export const SECRET = 'hunter2-TOPSECRET-5f3a9c';

export type RepoEntry =
  string | { readonly symlink: string } | { readonly fifo: true } | { readonly sparseBytes: number };

export interface TempRepo {
  /** The checkout root. */
  readonly dir: string;
  /** A sibling of the checkout, holding `secret.txt` and `secret-dir/`. */
  readonly outside: string;
  write(entries: Record<string, RepoEntry>): Promise<void>;
  cleanup(): Promise<void>;
}

export async function makeRepo(entries: Record<string, RepoEntry> = {}): Promise<TempRepo> {
  const root = await mkdtemp(join(tmpdir(), 'capstan-render-test-'));
  const dir = join(root, 'repo');
  const outside = join(root, 'outside');
  await mkdir(dir);
  await mkdir(join(outside, 'secret-dir'), { recursive: true });
  await writeFile(join(outside, 'secret.txt'), `password: ${SECRET}\n`);
  await writeFile(
    join(outside, 'secret-dir', 'secret.yaml'),
    `apiVersion: v1\nkind: Secret\nmetadata:\n  name: stolen\nstringData:\n  password: ${SECRET}\n`,
  );
  const repo: TempRepo = {
    dir,
    outside,
    async write(more) {
      for (const [path, entry] of Object.entries(more)) {
        const target = join(dir, path);
        await mkdir(dirname(target), { recursive: true });
        if (typeof entry === 'string') await writeFile(target, entry);
        else if ('symlink' in entry) await symlink(entry.symlink, target);
        else if ('fifo' in entry) await execFileAsync('mkfifo', [target]);
        else {
          await writeFile(target, '');
          await truncate(target, entry.sparseBytes);
        }
      }
    },
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
  await repo.write(entries);
  return repo;
}

/** The fixture repository under test/fixtures/render/repo, copied so tests may add to it. */
export async function copyFixtureRepo(): Promise<TempRepo> {
  const repo = await makeRepo();
  const fixture = fileURLToPath(new URL('../fixtures/render/repo/', import.meta.url));
  await cp(fixture, repo.dir, { recursive: true, verbatimSymlinks: true });
  return repo;
}

/** A minimal valid manifest. */
export function configMap(name: string, data: Record<string, string> = {}): string {
  const lines = Object.entries(data).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`);
  return `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n${lines.length ? `data:\n${lines.join('\n')}\n` : ''}`;
}

/** Runs `fn`, expecting it to throw; returns the error for further assertions. */
export async function caught(fn: () => Promise<unknown>): Promise<Error & { kind?: string }> {
  try {
    await fn();
  } catch (error) {
    return error as Error & { kind?: string };
  }
  throw new Error('expected an error, but the call succeeded');
}

/** The message and every cause's message, which must all stay free of secrets. */
export function fullText(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let i = 0; current !== undefined && i < 10; i++) {
    parts.push(
      current instanceof Error
        ? `${current.name}: ${current.message}\n${current.stack ?? ''}`
        : String(current),
    );
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join('\n');
}
