/**
 * Capstan apply vs `kubectl apply --server-side`, on one local control plane, in one process.
 *
 * A benchmark, not a test: it prints figures, and fails only when a run did not do what it claims
 * (every object created by a first apply, nothing rewritten by a no-op re-sync). See bench/README.md.
 *
 *   npm run bench
 *   BENCH_SIZES=100 BENCH_REPEATS=1 npm run bench      # a quick look
 *
 * Knobs (environment): BENCH_SIZES (default "100,1000"), BENCH_REPEATS (default 5),
 * BENCH_COMPILED=0 to skip the compiled-CLI column (it compiles src/ into a temporary folder).
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigMapInventoryStore } from '../src/apply/index.js';
import type { KubeObject } from '../src/core/objects.js';
import { bundleCli } from '../scripts/build.js';
import { startControlPlane, type ControlPlane } from '../src/dev/controlplane.js';
import { loopbackRequest, type LoopbackApi } from '../src/dev/http.js';
import { createEngine, type Engine, type SyncEvent } from '../src/engine/sync.js';
import { createKubeClient, type HttpKubeClient } from '../src/kube/index.js';
import { cachedRenderer, createRenderer, RenderCache } from '../src/render/index.js';
import { createGitSource } from '../src/source/index.js';
import { table } from './markdown.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SIZES = (process.env.BENCH_SIZES ?? '100,1000').split(',').map((s) => Number(s.trim()));
const REPEATS = Number(process.env.BENCH_REPEATS ?? 5);
const WITH_COMPILED = process.env.BENCH_COMPILED !== '0';
const STARTUP_RUNS = 5;
const APP_NAME = 'bench';
const PHASES = ['first', 'noop'] as const;
type Phase = (typeof PHASES)[number];
const PHASE_LABEL: Record<Phase, string> = { first: 'first apply', noop: 'no-op re-sync' };

/** A way of applying a folder of manifests to a namespace. */
interface Runner {
  /** Short id, used in namespace names. */
  readonly id: string;
  readonly label: string;
  /** The field manager its applies record. */
  readonly manager: string;
  apply(dir: string, namespace: string): Promise<RunDetail>;
  /** A run of the same program that makes no API call: process start-up and module loading. */
  startup?(): Promise<void>;
}

interface RunDetail {
  /** Stretch of the sync → seconds (in-process engine only). */
  readonly stages?: Record<string, number>;
  /** CPU seconds of the bench process during the run (in-process engine only). */
  readonly selfCpu?: number;
  /** Action → count, as the engine reports it (in-process engine only). */
  readonly actions?: Record<string, number>;
}

interface Measurement extends RunDetail {
  readonly seconds: number;
  readonly requests: RequestCounts;
  /** CPU seconds the kube-apiserver spent during the run. */
  readonly apiserverCpu: number;
  /** CPU seconds of the client: the child process (kubectl, CLI) or this process (engine). */
  readonly clientCpu: number;
}

/** verb (dry-runs marked) → count, from apiserver_request_total. */
type RequestCounts = Record<string, number>;

// ---------------------------------------------------------------------------------------------
// Manifests

function configMapYaml(index: number, size: number): string {
  const name = `cm-${String(index).padStart(4, '0')}`;
  return [
    'apiVersion: v1',
    'kind: ConfigMap',
    'metadata:',
    `  name: ${name}`,
    '  labels:',
    '    app.kubernetes.io/part-of: capstan-bench',
    `    bench/size: "${size}"`,
    'data:',
    `  index: "${index}"`,
    `  greeting: hello from ${name}`,
    '  settings.yaml: |',
    '    level: info',
    `    replicas: ${(index % 5) + 1}`,
    `  checksum: "${(index * 2654435761) % 4294967296}"`,
    '',
  ].join('\n');
}

/** One file per object, no namespace in them: each tool is told the namespace. */
async function writeManifests(root: string, size: number): Promise<string> {
  const dir = join(root, `objects-${size}`);
  await mkdir(dir, { recursive: true });
  for (let i = 0; i < size; i++) {
    await writeFile(join(dir, `cm-${String(i).padStart(4, '0')}.yaml`), configMapYaml(i, size));
  }
  return dir;
}

// ---------------------------------------------------------------------------------------------
// Processes

interface ProcessRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(command: string, args: readonly string[]): Promise<ProcessRun> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.once('error', reject);
    child.once('close', (code) =>
      resolvePromise({
        code,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      }),
    );
  });
}

function mustSucceed(what: string, result: ProcessRun): void {
  if (result.code === 0) return;
  const tail = (text: string): string => text.trim().split('\n').slice(-15).join('\n');
  throw new Error(
    `${what} exited with ${result.code}\n--- stderr ---\n${tail(result.stderr)}\n--- stdout ---\n${tail(result.stdout)}`,
  );
}

// ---------------------------------------------------------------------------------------------
// Runners

function kubectlRunner(cp: ControlPlane, cacheDir: string): Runner {
  return {
    id: 'kubectl',
    label: 'kubectl',
    manager: 'bench',
    async apply(dir, namespace) {
      const result = await run(cp.tools.kubectl, [
        `--kubeconfig=${cp.kubeconfigPath}`,
        `--cache-dir=${cacheDir}`,
        'apply',
        '--server-side',
        '--field-manager=bench',
        '-n',
        namespace,
        '-f',
        dir,
      ]);
      mustSucceed(`kubectl apply -n ${namespace}`, result);
      return {};
    },
    async startup() {
      mustSucceed('kubectl version --client', await run(cp.tools.kubectl, ['version', '--client']));
    },
  };
}

/**
 * The engine announces each stage as it starts it; the time until the next announcement is what
 * that stretch of the sync cost. `plan` is announced before the apply phases run, `apply` after
 * each phase was applied.
 */
const STRETCH_AFTER: Record<string, string> = {
  start: 'read inventory',
  source: 'source',
  render: 'render+namespaces+sort',
  plan: 'LIST live+apply',
  apply: 'prune check',
  prune: 'prune',
  record: 'write inventory',
  health: 'health',
};

function engineRunner(engine: Engine): Runner {
  return {
    id: 'engine',
    label: 'engine (in-process)',
    manager: 'capstan',
    async apply(dir, namespace) {
      const stages: Record<string, number> = {};
      let current: { stage: string; at: number } | undefined;
      const mark = (stage: string): void => {
        const now = performance.now();
        if (current) {
          const stretch = STRETCH_AFTER[current.stage] ?? current.stage;
          stages[stretch] = (stages[stretch] ?? 0) + (now - current.at) / 1000;
        }
        current = { stage, at: now };
      };
      const cpu = process.cpuUsage();
      mark('start');
      const result = await engine.sync(
        {
          identity: { namespace, name: APP_NAME },
          source: { type: 'directory', dir, path: '.' },
          destinationNamespace: namespace,
          prune: true,
          health: { wait: false, timeoutSeconds: 60 },
        },
        {
          mode: 'apply',
          onEvent: (event: SyncEvent) => {
            if (event.type === 'stage' && event.stage !== current?.stage) mark(event.stage);
          },
        },
      );
      mark('end');
      const used = process.cpuUsage(cpu);
      if (result.failed) {
        const failures = result.objects.filter((o) => o.action === 'failed').slice(0, 5);
        throw new Error(`engine sync of ${namespace} failed: ${JSON.stringify(failures)}`);
      }
      const actions: Record<string, number> = {};
      for (const object of result.objects) actions[object.action] = (actions[object.action] ?? 0) + 1;
      return { stages, selfCpu: (used.user + used.system) / 1e6, actions };
    },
  };
}

function cliRunner(cp: ControlPlane, id: string, label: string, command: readonly string[]): Runner {
  const [program, ...prefix] = command;
  return {
    id,
    label,
    manager: 'capstan',
    async apply(dir, namespace) {
      const args = [
        'apply',
        dir,
        '-n',
        namespace,
        '--name',
        APP_NAME,
        '--no-wait',
        '--kubeconfig',
        cp.kubeconfigPath,
      ];
      mustSucceed(`capstan apply -n ${namespace} (${label})`, await run(program!, [...prefix, ...args]));
      return {};
    },
    async startup() {
      mustSucceed(`capstan --help (${label})`, await run(program!, [...prefix, '--help']));
    },
  };
}

/**
 * The CLI as installed runs the bundle `npm run build` makes (dist/capstan.mjs), not TypeScript
 * through tsx. Bundle it into a temporary folder shaped like the package (dist/, tools/), so that
 * nothing in the clone changes.
 */
async function buildCompiledCli(root: string): Promise<string> {
  const pkg = join(root, 'pkg');
  await mkdir(pkg, { recursive: true });
  await symlink(join(ROOT, 'tools'), join(pkg, 'tools'));
  return bundleCli(join(pkg, 'dist'));
}

// ---------------------------------------------------------------------------------------------
// Observations

function apiOf(cp: ControlPlane): LoopbackApi {
  return { server: cp.server, caCertificate: cp.caCertificate, token: cp.users.admin.token };
}

/**
 * Requests the apiserver served, by verb, from its own metrics. No controller-manager runs, so the
 * bench is the only client apart from the apiserver's own lease renewals, which are left out.
 */
async function requestCounts(api: LoopbackApi): Promise<RequestCounts> {
  const response = await loopbackRequest(api, 'GET', '/metrics');
  if (response.status !== 200) throw new Error(`GET /metrics: HTTP ${response.status}`);
  const counts: RequestCounts = {};
  for (const line of response.body.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const labels = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
    if (labels.resource === 'leases') continue;
    const key = `${labels.verb}${labels.dry_run ? ' (dry-run)' : ''}`;
    counts[key] = (counts[key] ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return counts;
}

function difference(after: RequestCounts, before: RequestCounts, scrape: RequestCounts): RequestCounts {
  const delta: RequestCounts = {};
  for (const [key, value] of Object.entries(after)) {
    const d = value - (before[key] ?? 0) - (scrape[key] ?? 0);
    if (d > 0) delta[key] = d;
  }
  return delta;
}

function total(counts: RequestCounts): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

/**
 * utime + stime in seconds (USER_HZ is 100 on Linux); with `children`, the CPU time of this
 * process's children that have exited and been waited for — a finished kubectl or CLI run.
 */
async function cpuSeconds(pid: number | 'self', children = false): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const [user, system] = children ? [13, 14] : [11, 12];
  return (Number(fields[user!]) + Number(fields[system!])) / 100;
}

async function memoryMiB(pid: number): Promise<{ rss: number; peak: number }> {
  const status = (await readFile(`/proc/${pid}/status`, 'utf8')).split('\n');
  const kib = (field: string): number =>
    Number(/(\d+) kB/.exec(status.find((l) => l.startsWith(field)) ?? '')?.[1] ?? NaN);
  return { rss: kib('VmRSS:') / 1024, peak: kib('VmHWM:') / 1024 };
}

async function benchConfigMaps(kube: HttpKubeClient, namespace: string): Promise<KubeObject[]> {
  const list = await kube.list('', 'v1', 'ConfigMap', { namespace });
  return list.items.filter((item) => item.metadata.name?.startsWith('cm-'));
}

// ---------------------------------------------------------------------------------------------
// Measuring

interface Context {
  readonly api: LoopbackApi;
  /** For set-up and checks, never for measured work. */
  readonly kube: HttpKubeClient;
  readonly apiserverPid: number;
  /** What one metrics scrape adds to the counts by itself. */
  readonly scrapeCost: RequestCounts;
}

async function measure(ctx: Context, runner: Runner, dir: string, namespace: string): Promise<Measurement> {
  const before = await requestCounts(ctx.api);
  const apiserverBefore = await cpuSeconds(ctx.apiserverPid);
  const childrenBefore = await cpuSeconds('self', true);
  const started = performance.now();
  const detail = await runner.apply(dir, namespace);
  const seconds = (performance.now() - started) / 1000;
  const children = (await cpuSeconds('self', true)) - childrenBefore;
  const apiserverCpu = (await cpuSeconds(ctx.apiserverPid)) - apiserverBefore;
  const requests = difference(await requestCounts(ctx.api), before, ctx.scrapeCost);
  return { seconds, requests, apiserverCpu, clientCpu: detail.selfCpu ?? children, ...detail };
}

/** A first apply and a no-op re-sync in a fresh namespace, each checked against the cluster. */
async function scenario(
  ctx: Context,
  runner: Runner,
  dir: string,
  size: number,
  namespace: string,
): Promise<Record<Phase, Measurement>> {
  const fail = (what: string): never => {
    throw new Error(`${runner.id} in ${namespace}: ${what}`);
  };
  await ctx.kube.apply(
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
    { fieldManager: 'bench-setup', force: true },
  );

  const first = await measure(ctx, runner, dir, namespace);
  const created = await benchConfigMaps(ctx.kube, namespace);
  if (created.length !== size) fail(`after the first apply ${created.length} of ${size} objects exist`);
  const managed = created.filter((o) =>
    o.metadata.managedFields?.some((m) => m.manager === runner.manager && m.operation === 'Apply'),
  );
  if (managed.length !== size)
    fail(`only ${managed.length} of ${size} objects are applied by ${runner.manager}`);
  if (first.actions && first.actions.created !== size) fail(`first apply: ${JSON.stringify(first.actions)}`);
  const versions = new Map(created.map((o) => [o.metadata.name, o.metadata.resourceVersion]));

  const noop = await measure(ctx, runner, dir, namespace);
  const after = await benchConfigMaps(ctx.kube, namespace);
  const rewritten = after.filter((o) => versions.get(o.metadata.name) !== o.metadata.resourceVersion);
  if (rewritten.length > 0) fail(`the no-op re-sync rewrote ${rewritten.length} object(s)`);
  if (noop.actions && noop.actions.unchanged !== size) fail(`no-op re-sync: ${JSON.stringify(noop.actions)}`);

  // Without a controller-manager a namespace never finishes deleting: empty it instead, so that
  // the apiserver's caches stay the same size from one scenario to the next.
  const emptied = await loopbackRequest(ctx.api, 'DELETE', `/api/v1/namespaces/${namespace}/configmaps`);
  if (emptied.status !== 200) fail(`emptying the namespace: HTTP ${emptied.status}`);
  return { first, noop };
}

async function startupSeconds(runner: Runner): Promise<number | undefined> {
  if (!runner.startup) return undefined;
  const times: number[] = [];
  for (let i = 0; i < STARTUP_RUNS; i++) {
    const started = performance.now();
    await runner.startup();
    times.push((performance.now() - started) / 1000);
  }
  return median(times);
}

// ---------------------------------------------------------------------------------------------
// Reporting

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The run whose wall time is nearest the median (its other figures come along). */
function medianRun(runs: readonly Measurement[]): Measurement {
  const m = median(runs.map((r) => r.seconds));
  return [...runs].sort((a, b) => Math.abs(a.seconds - m) - Math.abs(b.seconds - m))[0]!;
}

function formatCounts(counts: RequestCounts): string {
  return Object.entries(counts)
    .sort((a, b) => b[1] - a[1])
    .map(([verb, n]) => `${verb} ${n}`)
    .join(', ');
}

const seconds = (value: number): string => `${value.toFixed(2)} s`;
const ratio = (value: number, base: number): string => `${(value / base).toFixed(2)}×`;

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const log = (text: string): void => console.error(text);
  const work = await mkdtemp(join(tmpdir(), 'capstan-bench-'));
  const loadAtStart = loadavg()[0]!;
  log('starting the control plane (etcd + kube-apiserver) …');
  const cp = await startControlPlane({ workloads: false, progress: (line) => log(`  ${line}`) });
  const clients: HttpKubeClient[] = [];
  try {
    const api = apiOf(cp);
    const kube = await createKubeClient({ kubeconfig: cp.kubeconfig });
    clients.push(kube);
    const apiserver = cp.processes.find((p) => p.name === 'kube-apiserver');
    if (!apiserver) throw new Error('the control plane has no kube-apiserver process');
    const m0 = await requestCounts(api);
    const scrapeCost = difference(await requestCounts(api), m0, {});
    const ctx: Context = { api, kube, apiserverPid: apiserver.pid, scrapeCost };
    const memoryAtStart = await memoryMiB(apiserver.pid);

    // The in-process engine lives as long as the bench, as a controller's does.
    const engineKube = await createKubeClient({ kubeconfig: cp.kubeconfig });
    clients.push(engineKube);
    const renderer = createRenderer({ tools: { helm: cp.tools.helm, kustomize: cp.tools.kustomize } });
    const engine = createEngine({
      kube: engineKube,
      git: createGitSource({ cacheDir: join(work, 'git'), log: () => {} }),
      renderer: cachedRenderer(renderer, new RenderCache()),
      inventory: new ConfigMapInventoryStore(engineKube),
      workDir: join(work, 'engine'),
    });

    const tsxCli = [process.execPath, '--import', 'tsx', join(ROOT, 'src/cli/main.ts')];
    const runners: Runner[] = [
      kubectlRunner(cp, join(work, 'kubectl-cache')),
      engineRunner(engine),
      cliRunner(cp, 'cli', 'CLI (tsx)', tsxCli),
    ];
    if (WITH_COMPILED) {
      log('compiling the CLI into a temporary folder …');
      try {
        runners.push(
          cliRunner(cp, 'clijs', 'CLI (compiled)', [process.execPath, await buildCompiledCli(work)]),
        );
      } catch (error) {
        log(`  no compiled-CLI column: ${(error as Error).message}`);
      }
    }

    const dirs = new Map<number, string>();
    for (const size of SIZES) dirs.set(size, await writeManifests(work, size));

    // Not measured: the apiserver's first requests, kubectl's discovery cache, tsx's compile cache,
    // the engine's discovery (a controller's engine is warm after its first sync).
    log('warming up …');
    const warm = await writeManifests(join(work, 'warm'), 5);
    for (const runner of runners) await scenario(ctx, runner, warm, 5, `bench-warmup-${runner.id}`);

    log('process start-up (no API calls) …');
    const startup = new Map<string, number | undefined>();
    for (const runner of runners) startup.set(runner.id, await startupSeconds(runner));

    const results = new Map<string, Record<Phase, Measurement[]>>();
    const key = (runner: Runner, size: number): string => `${runner.id}/${size}`;
    for (const size of SIZES) {
      for (let rep = 1; rep <= REPEATS; rep++) {
        // Rotate the order, so that no tool always runs right after another's burst of writes.
        const order = runners.map((_, i) => runners[(i + rep - 1) % runners.length]!);
        for (const runner of order) {
          const namespace = `bench-${runner.id}-${size}-r${rep}`;
          const outcome = await scenario(ctx, runner, dirs.get(size)!, size, namespace);
          const entry = results.get(key(runner, size)) ?? { first: [], noop: [] };
          entry.first.push(outcome.first);
          entry.noop.push(outcome.noop);
          results.set(key(runner, size), entry);
          log(
            `  ${namespace.padEnd(22)} first ${seconds(outcome.first.seconds)} (${total(outcome.first.requests)} req)` +
              `   no-op ${seconds(outcome.noop.seconds)} (${total(outcome.noop.requests)} req)`,
          );
        }
      }
    }
    const memoryAtEnd = await memoryMiB(apiserver.pid);
    const loadAtEnd = loadavg()[0]!;

    // --- Output -------------------------------------------------------------------------------
    const [kubectl, ...capstan] = runners as [Runner, ...Runner[]];
    const medianOf = (runner: Runner, size: number, phase: Phase): number =>
      median(results.get(key(runner, size))![phase].map((m) => m.seconds));
    const out: string[] = [];
    out.push(`Capstan apply benchmark, ${new Date().toISOString()}`);
    out.push(
      `node ${process.version}, ${cpus().length} CPU(s), load average ${loadAtStart.toFixed(1)} at start and ` +
        `${loadAtEnd.toFixed(1)} at end; median of ${REPEATS} run(s), wall-clock seconds; ` +
        'ratio = Capstan / kubectl (lower is better)',
    );
    out.push('');
    const rows: string[][] = [];
    for (const phase of PHASES) {
      for (const size of SIZES) {
        const base = medianOf(kubectl, size, phase);
        const row = [`${PHASE_LABEL[phase]} ${size}`, seconds(base)];
        for (const runner of capstan) {
          const value = medianOf(runner, size, phase);
          row.push(seconds(value), ratio(value, base));
        }
        rows.push(row);
      }
    }
    const startupRow = ['process start-up, no API calls', seconds(startup.get(kubectl.id)!)];
    for (const runner of capstan) {
      const value = startup.get(runner.id);
      startupRow.push(
        value === undefined ? '-' : seconds(value),
        value === undefined ? '-' : ratio(value, startup.get(kubectl.id)!),
      );
    }
    rows.push(startupRow);
    out.push(table(['scenario', 'kubectl', ...capstan.flatMap((r) => [r.label, 'ratio'])], rows));
    out.push('');
    out.push('Median run of each: API requests (apiserver_request_total, leases left out) and CPU seconds:');
    out.push('');
    const detailRows: string[][] = [];
    for (const phase of PHASES) {
      for (const size of SIZES) {
        for (const runner of runners) {
          const m = medianRun(results.get(key(runner, size))![phase]);
          detailRows.push([
            `${PHASE_LABEL[phase]} ${size}`,
            runner.label,
            seconds(m.seconds),
            String(total(m.requests)),
            formatCounts(m.requests),
            m.clientCpu.toFixed(2),
            m.apiserverCpu.toFixed(2),
          ]);
        }
      }
    }
    const detailHeaders = [
      'scenario',
      'tool',
      'wall',
      'requests',
      'by verb',
      'client CPU s',
      'apiserver CPU s',
    ];
    out.push(table(detailHeaders, detailRows));
    out.push('');
    out.push('Engine (in-process), where the time goes (median run, seconds):');
    out.push('');
    const engineRuns = capstan[0]!;
    const stageRows: string[][] = [];
    for (const phase of PHASES) {
      for (const size of SIZES) {
        const m = medianRun(results.get(key(engineRuns, size))![phase]);
        const stages = Object.entries(m.stages ?? {})
          .map(([stage, s]) => `${stage} ${s.toFixed(3)}`)
          .join(', ');
        stageRows.push([`${PHASE_LABEL[phase]} ${size}`, m.seconds.toFixed(3), stages]);
      }
    }
    out.push(table(['scenario', 'total', 'stretches of the sync'], stageRows));
    out.push('');
    out.push(
      `kube-apiserver RSS: ${memoryAtStart.rss.toFixed(0)} MiB at start, ${memoryAtEnd.rss.toFixed(0)} MiB ` +
        `at end, peak ${memoryAtEnd.peak.toFixed(0)} MiB`,
    );
    out.push('');
    out.push('Every run, wall-clock seconds:');
    for (const [k, entry] of results) {
      const list = (ms: readonly Measurement[]): string => ms.map((m) => m.seconds.toFixed(2)).join(' ');
      out.push(`  ${k.padEnd(12)} first apply ${list(entry.first)}   no-op ${list(entry.noop)}`);
    }
    console.log(out.join('\n'));
  } finally {
    for (const client of clients) client.close();
    await cp.stop();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
