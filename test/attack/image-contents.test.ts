/**
 * Red team of Capstan's image (src/dev/image.ts), read file by file from its mounted root: it
 * carries nothing of the build host (keys, Git or npm config, node_modules, .git, source maps, test
 * fixtures, the host's paths in the bundle), no setuid or setgid program, nothing writable by its
 * user on PATH or outside the two sticky scratch folders, and runs as 65532 with no capability.
 */
import { execFile } from 'node:child_process';
import { lstat, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCapstanImage, CAPSTAN_UID } from '../../src/dev/image.js';

const execFileAsync = promisify(execFile);
const buildah = async (...args: string[]) =>
  (await execFileAsync('buildah', args, { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 })).stdout.trim();

interface Entry {
  readonly path: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly kind: 'file' | 'dir' | 'link' | 'other';
}

let container: string | undefined;
let root: string;
let entries: Entry[];
let config: { User?: string; Env?: string[] };

beforeAll(async () => {
  const image = await buildCapstanImage({ progress: (line) => console.log(`[image] ${line}`) });
  container = await buildah('from', '--pull=never', image.reference);
  root = await buildah('mount', container);
  entries = [];
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    const stat = await lstat(path);
    entries.push({
      path: `/${path.slice(root.length + 1)}`,
      mode: stat.mode & 0o7777,
      uid: stat.uid,
      gid: stat.gid,
      kind: stat.isSymbolicLink() ? 'link' : stat.isDirectory() ? 'dir' : stat.isFile() ? 'file' : 'other',
    });
  }
  config = (
    JSON.parse(await buildah('inspect', '--type', 'image', image.reference)) as {
      OCIv1: { config: typeof config };
    }
  ).OCIv1.config;
}, 900_000);

afterAll(async () => {
  if (container) await buildah('rm', container).catch(() => undefined);
});

describe("Capstan's image carries only what the controller runs", () => {
  it('runs as 65532, not root', () => {
    expect(config.User).toBe(`${CAPSTAN_UID}:${CAPSTAN_UID}`);
  });

  it('has no setuid or setgid file, and no device or socket', () => {
    expect(entries.filter((e) => e.kind === 'file' && (e.mode & 0o6000) !== 0)).toEqual([]);
    expect(entries.filter((e) => e.kind === 'other')).toEqual([]);
  });

  it('belongs to root throughout: its user can change none of it', () => {
    expect(entries.filter((e) => e.uid !== 0 || e.gid !== 0).map((e) => e.path)).toEqual([]);
  });

  it('is world-writable only in the sticky scratch folders /tmp and /var/cache/capstan', () => {
    const writable = entries.filter((e) => e.kind !== 'link' && (e.mode & 0o002) !== 0);
    expect(writable.map((e) => `${e.path} ${e.mode.toString(8)}`).sort()).toEqual([
      '/tmp 1777',
      '/var/cache/capstan 1777',
    ]);
  });

  it('has no group- or world-writable folder on PATH', () => {
    const path =
      config.Env?.find((v) => v.startsWith('PATH='))
        ?.slice(5)
        .split(':') ?? [];
    expect(path.length).toBeGreaterThan(0);
    for (const dir of path) {
      // /bin is a link into /usr/bin (usr-merged): the folder it leads to is what must be closed.
      const entry =
        entries.find((e) => e.path === dir && e.kind === 'dir') ??
        entries.find((e) => e.path === `/usr${dir}`);
      expect(entry, dir).toBeDefined();
      expect(entry!.mode & 0o022, dir).toBe(0);
    }
  });

  it('holds nothing of the build host or the clone: no keys, Git or npm config, .git, node_modules, maps, tests', () => {
    const forbidden =
      /(^|\/)(\.ssh|\.gnupg|\.gitconfig|\.git-credentials|\.npmrc|\.netrc|\.env|\.docker|\.kube|\.git|node_modules|\.cache)(\/|$)|\.map$|\.test\.[cm]?[jt]sx?$|(^|\/)(src|test|fixtures)\/|\.(pem|key|p12)$|(^|\/)id_(rsa|ecdsa|ed25519)/;
    expect(entries.filter((e) => forbidden.test(e.path)).map((e) => e.path)).toEqual([]);
    expect(entries.filter((e) => /^\/(root|home\/capstan)\/./.test(e.path)).map((e) => e.path)).toEqual([]);
  });

  it("has no private key and none of the host's paths (the clone, /root) in any file under /app or /etc", async () => {
    const files = entries.filter((e) => e.kind === 'file' && /^\/(app|etc)\//.test(e.path));
    expect(files.length).toBeGreaterThan(5);
    const found: string[] = [];
    for (const file of files) {
      const text = await readFile(join(root, file.path), 'latin1');
      // A key's body, not code that looks for one: BEGIN… then base64 on the next line.
      if (/-----BEGIN [A-Z ]*PRIVATE KEY-----\r?\n[A-Za-z0-9+/=]{40}/.test(text))
        found.push(`${file.path}: a private key`);
      for (const host of [process.cwd(), '/root/'])
        if (text.includes(host)) found.push(`${file.path}: ${host}`);
    }
    expect(found).toEqual([]);
  });

  it("names its user in /etc/passwd with no shell, and root's login is disabled too", async () => {
    const passwd = await readFile(join(root, 'etc/passwd'), 'utf8');
    for (const line of passwd.trim().split('\n')) expect(line).toMatch(/:\/usr\/sbin\/nologin$/);
    expect(passwd).toContain(`capstan:x:${CAPSTAN_UID}:${CAPSTAN_UID}:`);
    expect(entries.some((e) => e.path === '/etc/shadow')).toBe(false);
  });
});
