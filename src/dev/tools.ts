/**
 * Builds the binaries Capstan's tests and dev cluster run — the Kubernetes control plane, kubectl,
 * kwok, helm, kustomize, the Gitea forge and an OCI registry (with crane) — from the Go modules under
 * `tools/`, with plain `go build`.
 *
 * Binaries live in a cache outside the clone, one folder per Go module keyed by a hash of that
 * module's go.mod, go.sum and link flags, so a version bump rebuilds and every other run reuses them.
 * Gitea cannot be a dependency of a tools module (tools/gitea/README.md): it is built as the main
 * module from a copy of its downloaded module folder, keyed by tools/gitea/module.json.
 * A lock file per module keeps two concurrent runs from building the same thing twice.
 */
import { createHash } from 'node:crypto';
import { execFile, spawn } from 'node:child_process';
import { constants as fsConstants, existsSync } from 'node:fs';
import {
  access,
  chmod,
  cp,
  mkdir,
  open,
  readFile,
  readdir,
  rename,
  rm,
  stat,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CapstanError, EnvironmentError, messageOf } from '../core/errors.js';
import { isProcessAlive } from './processes.js';

const execFileAsync = promisify(execFile);

/** The oldest Go the tools modules build with (their go.mod says `go 1.26.0`). */
export const MINIMUM_GO = { major: 1, minor: 26 } as const;

export type ToolName =
  | 'etcd'
  | 'kube-apiserver'
  | 'kube-controller-manager'
  | 'kube-scheduler'
  | 'kubectl'
  | 'kwok'
  | 'helm'
  | 'kustomize'
  | 'gitea'
  | 'registry'
  | 'crane'
  | 'kubelet'
  | 'kube-proxy'
  | 'pause';

export type ToolModuleName = 'kubernetes' | 'kwok' | 'helm' | 'kustomize' | 'registry' | 'node';

interface ToolSpec {
  readonly name: ToolName;
  readonly module: ToolModuleName;
  /** The Go package of the command's `main`. */
  readonly goPackage: string;
  /** The module whose required version stamps the binary, and the `-X` flags that carry it. */
  readonly versionOf: string;
  readonly stamp: (version: string) => string[];
}

const kubernetesStamp = (version: string): string[] => {
  const [major, minor] = version.replace(/^v/, '').split('.');
  return [
    `-X k8s.io/component-base/version.gitVersion=${version}`,
    `-X k8s.io/component-base/version.gitMajor=${major}`,
    `-X k8s.io/component-base/version.gitMinor=${minor}`,
  ];
};

/** In build order: within a module the largest first, so the others reuse its compiled packages. */
export const TOOL_SPECS: readonly ToolSpec[] = [
  {
    name: 'etcd',
    module: 'kubernetes',
    goPackage: 'go.etcd.io/etcd/server/v3',
    versionOf: 'go.etcd.io/etcd/server/v3',
    stamp: () => [],
  },
  {
    name: 'kube-apiserver',
    module: 'kubernetes',
    goPackage: 'k8s.io/kubernetes/cmd/kube-apiserver',
    versionOf: 'k8s.io/kubernetes',
    stamp: kubernetesStamp,
  },
  {
    name: 'kube-controller-manager',
    module: 'kubernetes',
    goPackage: 'k8s.io/kubernetes/cmd/kube-controller-manager',
    versionOf: 'k8s.io/kubernetes',
    stamp: kubernetesStamp,
  },
  {
    name: 'kube-scheduler',
    module: 'kubernetes',
    goPackage: 'k8s.io/kubernetes/cmd/kube-scheduler',
    versionOf: 'k8s.io/kubernetes',
    stamp: kubernetesStamp,
  },
  {
    name: 'kubectl',
    module: 'kubernetes',
    goPackage: 'k8s.io/kubernetes/cmd/kubectl',
    versionOf: 'k8s.io/kubernetes',
    stamp: kubernetesStamp,
  },
  {
    name: 'kwok',
    module: 'kwok',
    goPackage: 'sigs.k8s.io/kwok/cmd/kwok',
    versionOf: 'sigs.k8s.io/kwok',
    stamp: () => [],
  },
  {
    name: 'helm',
    module: 'helm',
    goPackage: 'helm.sh/helm/v3/cmd/helm',
    versionOf: 'helm.sh/helm/v3',
    stamp: (v) => [`-X helm.sh/helm/v3/internal/version.version=${v}`],
  },
  {
    name: 'kustomize',
    module: 'kustomize',
    goPackage: 'sigs.k8s.io/kustomize/kustomize/v5',
    versionOf: 'sigs.k8s.io/kustomize/kustomize/v5',
    stamp: (v) => [`-X sigs.k8s.io/kustomize/api/provenance.version=${v}`],
  },
  // The CNCF distribution registry and crane: a real OCI registry for tests and the dev setup.
  {
    name: 'registry',
    module: 'registry',
    goPackage: 'github.com/distribution/distribution/v3/cmd/registry',
    versionOf: 'github.com/distribution/distribution/v3',
    stamp: (v) => [`-X github.com/distribution/distribution/v3/version.version=${v}`],
  },
  {
    name: 'crane',
    module: 'registry',
    goPackage: 'github.com/google/go-containerregistry/cmd/crane',
    versionOf: 'github.com/google/go-containerregistry',
    stamp: (v) => [`-X github.com/google/go-containerregistry/cmd/crane/cmd.Version=${v}`],
  },
  // A real node (src/dev/node.ts): its own module, so the control plane's cache key above stays valid.
  {
    name: 'kubelet',
    module: 'node',
    goPackage: 'k8s.io/kubernetes/cmd/kubelet',
    versionOf: 'k8s.io/kubernetes',
    stamp: kubernetesStamp,
  },
  {
    name: 'kube-proxy',
    module: 'node',
    goPackage: 'k8s.io/kubernetes/cmd/kube-proxy',
    versionOf: 'k8s.io/kubernetes',
    stamp: kubernetesStamp,
  },
  // The pod sandbox ("pause") program, static, baked into a scratch image by src/dev/node.ts.
  {
    name: 'pause',
    module: 'node',
    goPackage: 'capstan.dev/tools/node/pause',
    versionOf: 'k8s.io/kubernetes',
    stamp: () => [],
  },
];

/** The kwok stages (shipped inside its module) that make fake nodes and pods behave; kwok refuses to start without any. */
const KWOK_STAGE_FILES = [
  'kustomize/stage/node/fast/node-initialize.yaml',
  'kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml',
  'kustomize/stage/pod/fast/pod-ready.yaml',
  'kustomize/stage/pod/fast/pod-complete.yaml',
  'kustomize/stage/pod/fast/pod-delete.yaml',
  // Fails the containers of pods labelled `pod-container-running-failed.stage.kwok.x-k8s.io: "true"`:
  // how tests and the demo make a workload degrade without a real kubelet.
  'kustomize/stage/pod/chaos/pod-container-running-failed.yaml',
];

export type ToolPaths = Record<ToolName, string> & {
  /** kwok's `--config` file: the stages that make fake nodes Ready and pods Running. */
  readonly kwokStages: string;
  /** Gitea's `STATIC_ROOT_PATH`: the `options`, `public` and `templates` it reads at run time. */
  readonly giteaStaticRoot: string;
};

export interface EnsureToolsOptions {
  /** Where binaries are kept; default `$CAPSTAN_CACHE_DIR` or `~/.cache/capstan` (`$XDG_CACHE_HOME/capstan`). */
  readonly cacheDir?: string;
  /** The folder holding the Go tools modules; default the `tools/` folder of this project. */
  readonly toolsDir?: string;
  /** The `go` command; default `$CAPSTAN_GO` or `go` on PATH. */
  readonly go?: string;
  /** Receives one line per binary being built (and one while waiting for another run's build). */
  readonly progress?: (line: string) => void;
  /** Environment for `go`; default this process's. */
  readonly env?: NodeJS.ProcessEnv;
  /** Build only these when missing (the engine needs helm and kustomize, not a control plane or a forge). */
  readonly only?: readonly ToolName[];
}

/** A binary could not be built: names the module and carries the compiler's last lines. */
export class ToolBuildError extends CapstanError {
  constructor(
    readonly tool: ToolName,
    readonly module: string,
    readonly output: string,
    options?: { cause?: unknown },
  ) {
    super('environment', `building ${tool} from Go module ${module} failed:\n${output}`, options);
  }
}

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CAPSTAN_CACHE_DIR) return env.CAPSTAN_CACHE_DIR;
  const base = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'capstan');
}

export function defaultToolsDir(): string {
  // The project root holds tools/: two levels above src/dev/tools.ts and dist/dev/tools.js, one above
  // a bundled dist/capstan.mjs. Walk up rather than count.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'tools');
    if (existsSync(join(candidate, 'kubernetes', 'go.mod'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) return fileURLToPath(new URL('../../tools/', import.meta.url));
    dir = parent;
  }
}

/** Returns the path of every tool, building (once, under a lock) whatever the cache lacks. */
export async function ensureTools(options: EnsureToolsOptions = {}): Promise<ToolPaths> {
  const env = options.env ?? process.env;
  const cacheDir = options.cacheDir ?? defaultCacheDir(env);
  const toolsDir = options.toolsDir ?? defaultToolsDir();
  const go = options.go ?? env.CAPSTAN_GO ?? 'go';
  const progress = options.progress ?? (() => {});

  const modules = await Promise.all(
    (['kubernetes', 'kwok', 'helm', 'kustomize', 'registry', 'node'] as const).map((name) =>
      readToolModule(toolsDir, cacheDir, name),
    ),
  );
  const missing = (await missingTools(modules)).filter(
    (m) => !options.only || options.only.includes(m.spec.name),
  );
  const gitea = await readGiteaModule(toolsDir, cacheDir);
  const giteaMissing = (!options.only || options.only.includes('gitea')) && !(await isGiteaBuilt(gitea));
  if (missing.length > 0 || giteaMissing) {
    await checkGo(go, env);
    await ensureWritable(cacheDir);
  }

  const paths: Partial<Record<ToolName, string>> = {};
  let kwokStages = '';
  const counter = { built: 0, total: missing.length + (giteaMissing ? 1 : 0) };
  for (const module of modules) {
    for (const spec of TOOL_SPECS.filter((s) => s.module === module.name))
      paths[spec.name] = join(module.binDir, spec.name);
    if (module.name === 'kwok') kwokStages = join(module.binDir, `stages-${stagesDigest()}.yaml`);
    const needsStages =
      module.name === 'kwok' &&
      (!options.only || options.only.includes('kwok')) &&
      !(await exists(kwokStages));
    if (!needsStages && !missing.some((m) => m.module === module)) continue;
    await withBuildLock(module, progress, async () => {
      for (const spec of TOOL_SPECS.filter((s) => s.module === module.name)) {
        if (options.only && !options.only.includes(spec.name)) continue;
        if (await isExecutable(join(module.binDir, spec.name))) continue;
        counter.built++;
        const version = module.requires.get(spec.versionOf) ?? 'unknown';
        progress(
          `building ${spec.name} (${counter.built}/${counter.total}) from ${spec.versionOf}@${version} …`,
        );
        await buildTool(go, env, module, spec, version);
      }
      if (module.name === 'kwok' && !(await exists(kwokStages)))
        await writeKwokStages(go, env, module, kwokStages);
    });
  }
  if (giteaMissing) {
    await withBuildLock(gitea, progress, async () => {
      if (await isGiteaBuilt(gitea)) return;
      counter.built++;
      progress(
        `building gitea (${counter.built}/${counter.total}) from ${gitea.module}@${gitea.version} (about 3 min, 1.5 GB) …`,
      );
      await buildGitea(go, env, gitea);
    });
  }
  paths.gitea = join(gitea.binDir, 'gitea');
  return {
    ...(paths as Record<ToolName, string>),
    kwokStages,
    giteaStaticRoot: join(gitea.binDir, 'static'),
  };
}

interface ToolModule {
  readonly name: ToolModuleName;
  readonly dir: string;
  readonly binDir: string;
  readonly requires: ReadonlyMap<string, string>;
}

async function readToolModule(toolsDir: string, cacheDir: string, name: ToolModuleName): Promise<ToolModule> {
  const dir = join(toolsDir, name);
  let goMod: string;
  let goSum: string;
  try {
    [goMod, goSum] = await Promise.all([
      readFile(join(dir, 'go.mod'), 'utf8'),
      readFile(join(dir, 'go.sum'), 'utf8'),
    ]);
  } catch (error) {
    throw new EnvironmentError(`the Go tools module ${dir} is incomplete (go.mod and go.sum are needed)`, {
      cause: error,
    });
  }
  const requires = parseRequires(goMod);
  const flags = TOOL_SPECS.filter((s) => s.module === name).flatMap((s) =>
    s.stamp(requires.get(s.versionOf) ?? ''),
  );
  const key = createHash('sha256')
    .update(goMod)
    .update('\0')
    .update(goSum)
    .update('\0')
    .update(flags.join(' '))
    .digest('hex');
  return { name, dir, binDir: join(cacheDir, 'tools', `${name}-${key.slice(0, 16)}`), requires };
}

/** Gitea's pin (tools/gitea/module.json) and where its build is cached. */
interface GiteaModule {
  readonly name: 'gitea';
  readonly dir: string;
  readonly binDir: string;
  readonly module: string;
  readonly version: string;
  /** The `h1:` checksum of the module (what go.sum would hold); a download that differs is refused. */
  readonly sum: string;
  readonly ldflags: string;
}

/** What Gitea reads from `STATIC_ROOT_PATH` at run time when built without the `bindata` tag. */
const GITEA_STATIC_DIRS = ['options', 'public', 'templates'] as const;

async function readGiteaModule(toolsDir: string, cacheDir: string): Promise<GiteaModule> {
  const dir = join(toolsDir, 'gitea');
  const file = join(dir, 'module.json');
  let text: string;
  let pin: { module?: unknown; version?: unknown; sum?: unknown };
  try {
    text = await readFile(file, 'utf8');
    pin = JSON.parse(text) as typeof pin;
  } catch (error) {
    throw new EnvironmentError(`the Gitea pin ${file} is missing or not JSON`, { cause: error });
  }
  const { module, version, sum } = pin;
  if (
    typeof module !== 'string' ||
    typeof version !== 'string' ||
    !/^v\d+\.\d+\.\d+/.test(version) ||
    typeof sum !== 'string' ||
    !sum.startsWith('h1:')
  ) {
    throw new EnvironmentError(
      `${file} must hold {"module": "...", "version": "vX.Y.Z", "sum": "h1:..."} (see tools/gitea/README.md)`,
    );
  }
  const ldflags = `-s -w -X main.Version=${version.replace(/^v/, '')}`;
  const key = createHash('sha256').update(text).update('\0').update(ldflags).digest('hex');
  return {
    name: 'gitea',
    dir,
    binDir: join(cacheDir, 'tools', `gitea-${key.slice(0, 16)}`),
    module,
    version,
    sum,
    ldflags,
  };
}

async function isGiteaBuilt(gitea: GiteaModule): Promise<boolean> {
  // The binary is renamed into place last: with it there, the static folder is complete.
  return (
    (await isExecutable(join(gitea.binDir, 'gitea'))) &&
    (await exists(join(gitea.binDir, 'static', 'templates')))
  );
}

/**
 * Downloads Gitea's module (checking its checksum against the pin), builds a copy of it as the main
 * module — so its own replace directives apply — and keeps the binary and its static folders.
 */
async function buildGitea(go: string, env: NodeJS.ProcessEnv, gitea: GiteaModule): Promise<void> {
  const fail = (output: string, cause?: unknown): ToolBuildError =>
    new ToolBuildError('gitea', `${gitea.module}@${gitea.version} (tools/gitea)`, output, { cause });
  await mkdir(gitea.binDir, { recursive: true });
  const download = await run(
    go,
    ['mod', 'download', '-json', `${gitea.module}@${gitea.version}`],
    gitea.dir,
    goEnv(env),
  );
  let info: { Dir?: string; Sum?: string; Error?: string };
  try {
    info = JSON.parse(download.stdout) as typeof info;
  } catch (error) {
    throw fail(lastLines(download.output, 25), error);
  }
  if (download.code !== 0 || info.Error || !info.Dir)
    throw fail(info.Error ?? lastLines(download.output, 25));
  if (info.Sum !== gitea.sum)
    throw fail(
      `checksum mismatch: the module proxy served ${info.Sum ?? 'no checksum'}, tools/gitea/module.json pins ${gitea.sum}`,
    );

  // Inside binDir, so that removePartials() clears what a killed build left.
  const source = join(gitea.binDir, `source.partial-${process.pid}`);
  const staticRoot = join(gitea.binDir, 'static');
  const stagedStatic = `${staticRoot}.partial-${process.pid}`;
  const binary = join(gitea.binDir, 'gitea');
  const partial = `${binary}.partial-${process.pid}`;
  try {
    await rm(source, { recursive: true, force: true });
    await cp(info.Dir, source, { recursive: true });
    await makeWritable(source);
    const build = await run(
      go,
      ['build', '-trimpath', '-ldflags', gitea.ldflags, '-o', partial, '.'],
      source,
      goEnv(env),
    );
    if (build.code !== 0) throw fail(lastLines(build.output, 25));
    await rm(stagedStatic, { recursive: true, force: true });
    for (const name of GITEA_STATIC_DIRS)
      await cp(join(source, name), join(stagedStatic, name), { recursive: true });
    await rm(staticRoot, { recursive: true, force: true });
    await rename(stagedStatic, staticRoot);
    await rename(partial, binary);
  } finally {
    await rm(source, { recursive: true, force: true });
    await rm(partial, { force: true });
  }
}

/** The module cache is read-only; the copy must be writable to be removed again. */
async function makeWritable(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await makeWritable(path);
    else if (entry.isFile()) await chmod(path, (await stat(path)).mode | 0o200);
  }
}

/** Module path → version, from the `require` lines of a go.mod. */
export function parseRequires(goMod: string): Map<string, string> {
  const requires = new Map<string, string>();
  let inBlock = false;
  for (const raw of goMod.split('\n')) {
    const line = raw.replace(/\/\/.*$/, '').trim();
    if (line.startsWith('require (')) inBlock = true;
    else if (inBlock && line === ')') inBlock = false;
    const match = (
      inBlock ? line : line.startsWith('require ') ? line.slice('require '.length).trim() : ''
    ).match(/^(\S+)\s+(v\S+)$/);
    if (match?.[1] && match[2]) requires.set(match[1], match[2]);
  }
  return requires;
}

async function missingTools(
  modules: readonly ToolModule[],
): Promise<{ module: ToolModule; spec: ToolSpec }[]> {
  const missing: { module: ToolModule; spec: ToolSpec }[] = [];
  for (const module of modules) {
    for (const spec of TOOL_SPECS.filter((s) => s.module === module.name)) {
      if (!(await isExecutable(join(module.binDir, spec.name)))) missing.push({ module, spec });
    }
  }
  return missing;
}

/** Fails with one clear message when Go is missing or older than the tools modules need. */
export async function checkGo(go: string, env: NodeJS.ProcessEnv): Promise<string> {
  let output: string;
  try {
    ({ stdout: output } = await execFileAsync(go, ['env', 'GOVERSION'], {
      env: { ...env, GOTOOLCHAIN: 'local' },
    }));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new EnvironmentError(
        `Go is not installed (no '${go}' command on PATH). Capstan builds its local Kubernetes control plane from Go modules: install Go ${MINIMUM_GO.major}.${MINIMUM_GO.minor} or newer.`,
        { cause: error },
      );
    }
    throw new EnvironmentError(`'${go} env GOVERSION' failed: ${messageOf(error)}`, { cause: error });
  }
  const version = output.trim();
  const match = version.match(/^go(\d+)\.(\d+)/);
  if (!match)
    throw new EnvironmentError(
      `could not read the Go version from '${go} env GOVERSION' (it printed '${version}')`,
    );
  const [major, minor] = [Number(match[1]), Number(match[2])];
  if (major < MINIMUM_GO.major || (major === MINIMUM_GO.major && minor < MINIMUM_GO.minor)) {
    throw new EnvironmentError(
      `Go ${major}.${minor} is too old: the control-plane tools need Go ${MINIMUM_GO.major}.${MINIMUM_GO.minor} or newer (found ${version} at '${go}').`,
    );
  }
  return version;
}

/** Fails with one clear message when the cache folder cannot be created or written. */
export async function ensureWritable(dir: string): Promise<void> {
  const probe = join(dir, `.write-test-${process.pid}`);
  try {
    await mkdir(dir, { recursive: true });
    await writeFile(probe, '');
    await unlink(probe);
  } catch (error) {
    throw new EnvironmentError(
      `the tools cache folder ${dir} cannot be written (${(error as NodeJS.ErrnoException).code ?? messageOf(error)}); set CAPSTAN_CACHE_DIR to a writable folder`,
      { cause: error },
    );
  }
}

async function buildTool(
  go: string,
  env: NodeJS.ProcessEnv,
  module: ToolModule,
  spec: ToolSpec,
  version: string,
): Promise<void> {
  await mkdir(module.binDir, { recursive: true });
  const target = join(module.binDir, spec.name);
  const partial = `${target}.partial-${process.pid}`;
  const ldflags = ['-s', '-w', ...spec.stamp(version)].join(' ');
  const args = ['build', '-trimpath', '-ldflags', ldflags, '-o', partial, spec.goPackage];
  const { code, output } = await run(go, args, module.dir, goEnv(env));
  if (code !== 0) {
    await rm(partial, { force: true });
    throw new ToolBuildError(
      spec.name,
      `${spec.versionOf}@${version} (tools/${module.name})`,
      lastLines(output, 25),
    );
  }
  await rename(partial, target);
}

/** The stage file is named by the list it holds: a stage added here is written on the next run. */
function stagesDigest(): string {
  return createHash('sha256').update(KWOK_STAGE_FILES.join('\n')).digest('hex').slice(0, 12);
}

async function writeKwokStages(
  go: string,
  env: NodeJS.ProcessEnv,
  module: ToolModule,
  target: string,
): Promise<void> {
  const { code, output } = await run(
    go,
    ['list', '-m', '-f', '{{.Dir}}', 'sigs.k8s.io/kwok'],
    module.dir,
    goEnv(env),
  );
  if (code !== 0) throw new ToolBuildError('kwok', 'sigs.k8s.io/kwok (tools/kwok)', lastLines(output, 25));
  const kwokDir = output.trim().split('\n').pop() ?? '';
  const documents = await Promise.all(KWOK_STAGE_FILES.map((file) => readFile(join(kwokDir, file), 'utf8')));
  await writeFile(`${target}.partial`, documents.map((d) => d.trim()).join('\n---\n') + '\n');
  await rename(`${target}.partial`, target);
}

function goEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return {
    ...env,
    CGO_ENABLED: '0',
    GOTOOLCHAIN: 'local',
    GOWORK: 'off',
    GOFLAGS: `${env.GOFLAGS ?? ''} -mod=readonly`.trim(),
  };
}

function run(
  command: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; output: string; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    const stdout: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      stdout.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({
        code: code ?? 1,
        output: Buffer.concat(chunks).toString('utf8'),
        stdout: Buffer.concat(stdout).toString('utf8'),
      }),
    );
  });
}

function lastLines(text: string, count: number): string {
  return text.trimEnd().split('\n').slice(-count).join('\n');
}

/**
 * Runs `build` holding `<binDir>.lock`. Another live run holding it means it is building the same
 * binaries: wait for it (saying so once), then re-check. A lock left by a dead process is taken over.
 */
async function withBuildLock(
  module: { readonly name: string; readonly binDir: string },
  progress: (line: string) => void,
  build: () => Promise<void>,
): Promise<void> {
  const lockPath = `${module.binDir}.lock`;
  await mkdir(join(module.binDir, '..'), { recursive: true });
  let saidWaiting = false;
  for (;;) {
    try {
      const handle = await open(lockPath, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = Number((await readFile(lockPath, 'utf8').catch(() => '')).trim());
    if (!Number.isInteger(holder) || holder <= 0 || !isProcessAlive(holder)) {
      // The holder died mid-build (or has not written its pid yet: then the file is brand new).
      const age = await stat(lockPath)
        .then((s) => Date.now() - s.mtimeMs)
        .catch(() => Infinity);
      if (holder > 0 || age > 5_000) await unlink(lockPath).catch(() => {});
      await delay(100);
      continue;
    }
    if (!saidWaiting)
      progress(`waiting for another run (pid ${holder}) that is building the ${module.name} tools …`);
    saidWaiting = true;
    await delay(1_000);
  }
  try {
    await build();
  } finally {
    await unlink(lockPath).catch(() => {});
    await removePartials(module.binDir);
  }
}

async function removePartials(dir: string): Promise<void> {
  const entries = await readdir(dir).catch(() => [] as string[]);
  await Promise.all(
    entries.filter((e) => e.includes('.partial')).map((e) => rm(join(dir, e), { force: true })),
  );
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
