/**
 * Capstan's container image, and a tiny demo-app image, built without Docker and without pulling
 * any base image: the files come from this machine (a Debian 12 host, the distribution the image
 * then claims), are laid out in folders, and `buildah.ts` turns them into an image FROM scratch:
 * one layer for the runtime (~75 MB compressed), one for /app (~2 MB, what a commit changes).
 *
 * Capstan's image holds only what the controller runs: node and the libraries `ldd` names, git
 * with its http(s) helper, ssh (git over SSH), prlimit (bounds git's memory, src/source/git.ts),
 * tini as PID 1 (reaps the git helpers a timeout orphans, and forwards SIGTERM), busybox as /bin/sh
 * (git runs GIT_SSH_COMMAND and the askpass scripts of src/source/credentials.ts with it), helm and
 * kustomize from the tools cache, the CA bundle, a passwd entry for uid 65532 (ssh refuses a uid
 * without one), and /app: the esbuild bundle, bin/, package.json and deploy/ (`capstan install`
 * reads it).
 *
 * Built once per input: the image carries a label with a hash of everything it is made of (the
 * lockfile, sources, deploy/, the host files, the tools); a build finding an image by that tag and
 * label reuses it, like the tools cache.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import {
  chmod,
  copyFile,
  cp,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  readlink,
  realpath,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { EnvironmentError, messageOf } from '../core/errors.js';
import {
  buildLayeredImage,
  buildScratchImage,
  inspectLocalImage,
  removeLocalImage,
  type ImageConfig,
  type LocalImage,
} from './buildah.js';
import { ensureTools } from './tools.js';

const execFileAsync = promisify(execFile);

/** The label carrying the hash of an image's inputs: equal hash, same image, no rebuild. */
export const INPUTS_LABEL = 'dev.capstan.inputs';
/** The non-root user the controller runs as (distroless's "nonroot" id). */
export const CAPSTAN_UID = 65532;
/** Where the controller keeps Git caches and checkouts in the image (a pod mounts an emptyDir there). */
export const IMAGE_STATE_DIR = '/var/cache/capstan';
export const DEMO_APP_IMAGE = 'localhost/capstan-demo-app:1';

/** A program from the host and the Debian package that provides it (named when it is missing). */
interface HostProgram {
  readonly from: string;
  readonly to: string;
  readonly debianPackage: string;
  /** Debian's nodejs (nodesource's) keeps ~12 MB of symbols; `strip` drops them when binutils is here. */
  readonly strip?: boolean;
}

const CAPSTAN_HOST_PROGRAMS: readonly HostProgram[] = [
  { from: '/usr/bin/node', to: '/usr/bin/node', debianPackage: 'nodejs', strip: true },
  { from: '/usr/lib/git-core/git', to: '/usr/lib/git-core/git', debianPackage: 'git' },
  {
    from: '/usr/lib/git-core/git-remote-http',
    to: '/usr/lib/git-core/git-remote-http',
    debianPackage: 'git',
  },
  { from: '/usr/bin/ssh', to: '/usr/bin/ssh', debianPackage: 'openssh-client' },
  { from: '/usr/bin/prlimit', to: '/usr/bin/prlimit', debianPackage: 'util-linux' },
  // Static: no libraries to collect, and the same binary Debian's tini package ships beside tini.
  { from: '/usr/bin/tini-static', to: '/usr/bin/tini', debianPackage: 'tini' },
  { from: '/bin/busybox', to: '/usr/bin/busybox', debianPackage: 'busybox-static' },
];
const CA_BUNDLE = { from: '/etc/ssl/certs/ca-certificates.crt', debianPackage: 'ca-certificates' };

/** busybox applets linked into PATH: the shell and what the askpass scripts call. */
const CAPSTAN_APPLETS = ['sh', 'cat', 'dirname', 'env'] as const;

/** What of the project goes into the inputs hash (tests excluded: they change no byte of the image). */
const PROJECT_INPUTS = [
  'package.json',
  'package-lock.json',
  'tsconfig.json',
  'bin',
  'src',
  'web',
  'scripts/build.ts',
  'deploy',
] as const;

export interface CapstanImage {
  readonly reference: string;
  readonly id: string;
  readonly version: string;
  /** Whether an image with the same inputs was found and reused. */
  readonly cached: boolean;
}

/** Builds (or reuses: cached by a hash of its inputs) Capstan's image `localhost/capstan:<version>`. */
export async function buildCapstanImage(
  options: { progress?: (line: string) => void } = {},
): Promise<CapstanImage> {
  const progress = options.progress ?? (() => {});
  const root = projectRoot();
  const packageJson = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as PackageJson;
  const version = packageJson.version;
  const reference = `localhost/capstan:${version}`;
  const tools = await ensureTools({ only: ['helm', 'kustomize'], progress });
  const host = await hostFiles(CAPSTAN_HOST_PROGRAMS);
  const inputs = await capstanInputs(root, host, tools);
  const existing = await inspectLocalImage(reference);
  if (existing?.labels[INPUTS_LABEL] === inputs) return { reference, id: existing.id, version, cached: true };

  const stage = await mkdtemp(join(tmpdir(), 'capstan-image-'));
  try {
    // Two layers: the runtime (~190 MB, changes with a Debian update or a tools bump) and /app
    // (~7 MB, changes with every commit), so an upgrade pulls only the second.
    const runtime = join(stage, 'runtime');
    const app = join(stage, 'app');
    await assembleRuntime(runtime, host, tools);
    progress('bundling the CLI and the dashboard …');
    await assembleApp(root, join(app, 'app'));
    const config = capstanImageConfig({
      version,
      revision: await gitRevision(root),
      source: repositoryUrl(packageJson),
      inputs,
    });
    const { id } = await buildLayeredImage([runtime, app], config, reference, { progress });
    await forgetReplacedImage(existing, id);
    return { reference, id, version, cached: false };
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

/** The image the tag named before this build is now untagged: remove it (unless something uses it). */
async function forgetReplacedImage(replaced: LocalImage | undefined, id: string): Promise<void> {
  if (replaced !== undefined && replaced.id !== id)
    await removeLocalImage(replaced.id).catch(() => undefined);
}

type ImageTools = Readonly<{ helm: string; kustomize: string }>;

/** The hash of everything the image is made of: the project's sources, the host files, the tools. */
async function capstanInputs(root: string, host: readonly HostFile[], tools: ImageTools): Promise<string> {
  return hashInputs([
    ...(await projectFiles(root)),
    ...host.map((file) => ({ name: `host:${file.to}`, path: file.from })),
    { name: 'host:ca-bundle', path: CA_BUNDLE.from },
    { name: 'tool:helm', path: tools.helm },
    { name: 'tool:kustomize', path: tools.kustomize },
  ]);
}

/** The first layer: programs and libraries from the host, the tools, /etc, /tmp. */
async function assembleRuntime(rootfs: string, host: readonly HostFile[], tools: ImageTools): Promise<void> {
  await layOutHostFiles(rootfs, host);
  await layOutGit(rootfs);
  await linkApplets(rootfs, CAPSTAN_APPLETS);
  await copyIn(tools.helm, join(rootfs, 'usr/local/bin/helm'));
  await copyIn(tools.kustomize, join(rootfs, 'usr/local/bin/kustomize'));
  await copyIn(CA_BUNDLE.from, join(rootfs, CA_BUNDLE.from));
  await writeSystemFiles(rootfs);
}

/** The second layer: /app, the bundle and what it reads at run time. */
async function assembleApp(root: string, appDir: string): Promise<void> {
  await bundleApp(root, appDir);
  await copyProjectRuntimeFiles(root, appDir);
}

/**
 * A ~2 MB busybox image (`/bin/busybox`, `sh`, `httpd`, every applet on PATH) for demo/test apps that
 * serve or really crash; runs as uid 65532 and serves `/www` on 8080 unless given other args.
 */
export async function buildDemoAppImage(
  options: { progress?: (line: string) => void } = {},
): Promise<{ readonly reference: string }> {
  const busybox = await hostFiles(CAPSTAN_HOST_PROGRAMS.filter((p) => p.debianPackage === 'busybox-static'));
  const inputs = await hashInputs([
    { name: 'host:busybox', path: busybox[0]?.from ?? '/bin/busybox' },
    { name: 'builder', path: fileURLToPath(import.meta.url) },
  ]);
  const existing = await inspectLocalImage(DEMO_APP_IMAGE);
  if (existing?.labels[INPUTS_LABEL] === inputs) return { reference: DEMO_APP_IMAGE };
  const stage = await mkdtemp(join(tmpdir(), 'capstan-demo-image-'));
  try {
    const rootfs = join(stage, 'rootfs');
    await layOutHostFiles(rootfs, busybox);
    // Every applet: a demo app's command is a shell script (mkdir, killall, wget, sleep, …).
    await linkApplets(rootfs, await busyboxApplets(busybox[0]?.from ?? '/bin/busybox'));
    await mkdir(join(rootfs, 'www'), { recursive: true });
    await writeFile(join(rootfs, 'www/index.html'), 'ok\n');
    await writeSystemFiles(rootfs);
    const { id } = await buildScratchImage(
      rootfs,
      {
        // Kubernetes `args` follow the entrypoint: `["-c", "exit 1"]` crashes, the default serves.
        entrypoint: ['/bin/sh'],
        cmd: ['-c', 'exec httpd -f -p 8080 -h /www'],
        user: `${CAPSTAN_UID}:${CAPSTAN_UID}`,
        env: { PATH: '/usr/bin:/bin' },
        ports: [8080],
        labels: { [INPUTS_LABEL]: inputs },
      },
      DEMO_APP_IMAGE,
      options.progress ? { progress: options.progress } : {},
    );
    await forgetReplacedImage(existing, id);
    return { reference: DEMO_APP_IMAGE };
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

/** The image's run-time settings: non-root, tini as PID 1, helm and kustomize named by env. */
export function capstanImageConfig(meta: {
  version: string;
  revision: string | undefined;
  source: string | undefined;
  inputs: string;
}): ImageConfig {
  return {
    entrypoint: ['/usr/bin/tini', '--', 'node', '/app/bin/capstan.js'],
    cmd: ['controller'],
    user: `${CAPSTAN_UID}:${CAPSTAN_UID}`,
    workingDir: '/app',
    env: {
      PATH: '/usr/local/bin:/usr/bin:/bin',
      HOME: '/home/capstan',
      NODE_ENV: 'production',
      CAPSTAN_HELM: '/usr/local/bin/helm',
      CAPSTAN_KUSTOMIZE: '/usr/local/bin/kustomize',
      CAPSTAN_CACHE_DIR: IMAGE_STATE_DIR,
    },
    ports: [8080],
    labels: {
      'org.opencontainers.image.title': 'capstan',
      'org.opencontainers.image.version': meta.version,
      ...(meta.revision ? { 'org.opencontainers.image.revision': meta.revision } : {}),
      ...(meta.source ? { 'org.opencontainers.image.source': meta.source } : {}),
      // Not base.name: that label names an image, and this one has none (FROM scratch).
      'org.opencontainers.image.description': 'Capstan GitOps controller; runtime files from Debian 12',
      [INPUTS_LABEL]: meta.inputs,
    },
  };
}

export interface PackageJson {
  readonly version: string;
  readonly repository?: string | { readonly url?: string };
}

/** The clone this module belongs to: the folder above it holding package.json and src/cli/main.ts. */
export function projectRoot(from: string = import.meta.url): string {
  let dir = dirname(fileURLToPath(from));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'src', 'cli', 'main.ts'))) return dir;
    const parent = dirname(dir);
    if (parent === dir)
      throw new EnvironmentError(
        "building Capstan's image needs its source tree: run `npm run image` in a clone",
      );
    dir = parent;
  }
}

/** package.json's repository, for the source label: only a plain https URL (never one carrying credentials). */
export function repositoryUrl(pkg: PackageJson): string | undefined {
  const url = typeof pkg.repository === 'string' ? pkg.repository : pkg.repository?.url;
  // Only a plain public URL: a credential in it (user@, ?token=, #…) must never end up in a label.
  return url !== undefined && /^https:\/\/[^\s@?#]+$/.test(url) ? url : undefined;
}

async function gitRevision(root: string): Promise<string | undefined> {
  try {
    const { stdout } = await execFileAsync('git', ['rev-parse', '--verify', 'HEAD^{commit}'], {
      cwd: root,
      timeout: 10_000,
    });
    const revision = stdout.trim();
    return /^[0-9a-f]{40,64}$/.test(revision) ? revision : undefined;
  } catch {
    return undefined; // not a Git clone (an unpacked tarball): no revision label
  }
}

/**
 * Bundles the CLI and the dashboard into `appDir/dist` with scripts/build.ts — the same functions
 * `npm run build` runs — but into the staging folder, so the clone's dist/ (which tests and other
 * runs may be reading) is left alone. Loaded by path: it pulls esbuild and Vite, which must never
 * end up in the CLI bundle.
 */
async function bundleApp(root: string, appDir: string): Promise<void> {
  const buildScript = pathToFileURL(join(root, 'scripts', 'build.ts')).href;
  let build: { bundleCli(outdir: string): Promise<string>; buildDashboard(outDir?: string): Promise<string> };
  try {
    build = (await import(buildScript)) as typeof build;
  } catch (error) {
    throw new EnvironmentError(
      `cannot load scripts/build.ts (${messageOf(error)}): run the image build through tsx (npm run image)`,
      { cause: error },
    );
  }
  const dist = join(appDir, 'dist');
  await build.bundleCli(dist);
  await build.buildDashboard(join(dist, 'dashboard'));
  // Source maps are for debugging a clone; they would add ~10 MB to every pull.
  for (const file of await readdir(dist, { recursive: true })) {
    if (file.endsWith('.map')) await rm(join(dist, file));
  }
}

async function copyProjectRuntimeFiles(root: string, appDir: string): Promise<void> {
  await copyIn(join(root, 'package.json'), join(appDir, 'package.json'));
  await cp(join(root, 'bin'), join(appDir, 'bin'), { recursive: true });
  await cp(join(root, 'deploy'), join(appDir, 'deploy'), { recursive: true });
}

interface HostFile {
  readonly from: string;
  readonly to: string;
  readonly strip?: boolean;
}

/** The programs and, for each dynamic one, the libraries `ldd` names (the loader included). */
async function hostFiles(programs: readonly HostProgram[]): Promise<HostFile[]> {
  const files = new Map<string, HostFile>();
  for (const program of programs) {
    if (!existsSync(program.from))
      throw new EnvironmentError(
        `${program.from} is missing: it goes into the image (on Debian: apt-get install ${program.debianPackage})`,
      );
    files.set(program.to, { from: program.from, to: program.to, strip: program.strip ?? false });
    for (const library of await sharedLibraries(program.from)) {
      const to = usrMerged(library);
      files.set(to, { from: library, to });
    }
  }
  return [...files.values()].sort((a, b) => a.to.localeCompare(b.to));
}

/** The absolute paths `ldd` prints for `program` (none for a static one). */
async function sharedLibraries(program: string): Promise<string[]> {
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync('ldd', [program], { timeout: 30_000, maxBuffer: 1024 * 1024 }));
  } catch (error) {
    const output = `${(error as { stdout?: string }).stdout ?? ''}${(error as { stderr?: string }).stderr ?? ''}`;
    if (/not a dynamic executable/.test(output)) return [];
    throw new EnvironmentError(`ldd ${program} failed: ${messageOf(error)}`, { cause: error });
  }
  if (/not a dynamic executable/.test(stdout)) return [];
  const paths: string[] = [];
  for (const line of stdout.split('\n')) {
    // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)"
    const path = (line.includes('=>') ? line.split('=>')[1] : line)?.trim().split(' ')[0];
    if (path?.startsWith('/')) paths.push(path);
    else if (line.includes('not found')) throw new EnvironmentError(`ldd ${program}: ${line.trim()}`);
  }
  return paths;
}

/** Debian 12 is usr-merged: /lib, /lib64 and /bin are links into /usr, and so they are in the image. */
function usrMerged(path: string): string {
  return /^\/(lib|lib64|bin|sbin)\//.test(path) ? `/usr${path}` : path;
}

async function layOutHostFiles(rootfs: string, files: readonly HostFile[]): Promise<void> {
  const strip = files.some((file) => file.strip) ? findStrip() : undefined;
  for (const file of files) {
    if (file.strip && strip !== undefined) await copyStripped(strip, file.from, join(rootfs, file.to));
    else await copyIn(file.from, join(rootfs, file.to));
  }
  for (const [link, target] of [
    ['bin', 'usr/bin'],
    ['lib', 'usr/lib'],
    ['lib64', 'usr/lib64'],
  ] as const) {
    await symlink(target, join(rootfs, link));
  }
}

/** git and, as links like Debian's, its builtins and the https/ftp names of its http helper. */
async function layOutGit(rootfs: string): Promise<void> {
  const gitCore = '/usr/lib/git-core';
  await symlink('../lib/git-core/git', join(rootfs, 'usr/bin/git'));
  for (const entry of await readdir(gitCore, { withFileTypes: true })) {
    if (!entry.isSymbolicLink()) continue;
    const target = await readlink(join(gitCore, entry.name));
    if (target === 'git' || target === 'git-remote-http')
      await symlink(target, join(rootfs, gitCore, entry.name));
  }
  // An empty template folder: `git init` of a cache then warns about nothing and copies no hooks.
  await mkdir(join(rootfs, 'usr/share/git-core/templates'), { recursive: true });
}

async function linkApplets(rootfs: string, applets: readonly string[]): Promise<void> {
  for (const applet of applets) await symlink('busybox', join(rootfs, 'usr/bin', applet));
}

async function busyboxApplets(busybox: string): Promise<string[]> {
  const { stdout } = await execFileAsync(busybox, ['--list'], { timeout: 10_000, maxBuffer: 1024 * 1024 });
  return stdout.split('\n').filter((name) => /^[a-z0-9_.[-]{1,40}$/.test(name) && name !== 'busybox');
}

/** passwd/group with the controller's user, name lookup order, an empty world-writable /tmp. */
async function writeSystemFiles(rootfs: string): Promise<void> {
  const etc = join(rootfs, 'etc');
  await mkdir(etc, { recursive: true });
  await writeFile(
    join(etc, 'passwd'),
    `root:x:0:0:root:/root:/usr/sbin/nologin\ncapstan:x:${CAPSTAN_UID}:${CAPSTAN_UID}:capstan:/home/capstan:/usr/sbin/nologin\n`,
  );
  await writeFile(join(etc, 'group'), `root:x:0:\ncapstan:x:${CAPSTAN_UID}:\n`);
  await writeFile(join(etc, 'nsswitch.conf'), 'passwd: files\ngroup: files\nhosts: files dns\n');
  for (const dir of ['home/capstan', IMAGE_STATE_DIR.slice(1), 'root'])
    await mkdir(join(rootfs, dir), { recursive: true });
  await mkdir(join(rootfs, 'tmp'), { recursive: true });
  await chmod(join(rootfs, 'tmp'), 0o1777);
  // Writable by the controller's user when no volume is mounted there (`podman run` without --read-only).
  await chmod(join(rootfs, IMAGE_STATE_DIR.slice(1)), 0o1777);
}

function findStrip(): string | undefined {
  return ['/usr/bin/strip', '/bin/strip'].find((path) => existsSync(path));
}

/** The program without its symbol tables (stack traces keep their names: V8 symbolizes JS itself). */
async function copyStripped(strip: string, from: string, to: string): Promise<void> {
  await mkdir(dirname(to), { recursive: true });
  await execFileAsync(strip, ['--strip-unneeded', '-o', to, await realpath(from)], { timeout: 120_000 });
}

async function copyIn(from: string, to: string): Promise<void> {
  await mkdir(dirname(to), { recursive: true });
  // The content, whatever links lead to it; mode bits come along, times are reset by the commit.
  await copyFile(await realpath(from), to);
}

/** Every file under the project's inputs, as `name` (relative path) and absolute `path`. */
async function projectFiles(root: string): Promise<{ name: string; path: string }[]> {
  const files: { name: string; path: string }[] = [];
  for (const input of PROJECT_INPUTS) {
    const path = join(root, input);
    if (!existsSync(path)) continue;
    const entries = (await stat(path)).isFile()
      ? [input]
      : (await readdir(path, { recursive: true, withFileTypes: true }))
          .filter((entry) => entry.isFile())
          .map((entry) => relative(root, join(entry.parentPath, entry.name)));
    for (const name of entries) {
      if (/\.test\.tsx?$/.test(name) || name.split(sep).includes('node_modules')) continue;
      files.push({ name, path: join(root, name) });
    }
  }
  return files;
}

/** sha256 over the sorted names and the sha256 of each file's content. */
async function hashInputs(files: readonly { name: string; path: string }[]): Promise<string> {
  const sorted = [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const total = createHash('sha256');
  for (const file of sorted) total.update(`${file.name}\0${await hashFile(file.path)}\n`);
  return total.digest('hex');
}

function hashFile(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}
