/**
 * Live health and automatic rollback, measured: `capstan controller` as its own process, on a local
 * control plane with workloads (controller-manager, scheduler, kwok), Git served over HTTP with
 * pushes accepted (the controller pushes its revert commits there).
 *
 * A benchmark, not a test: it prints figures, and fails only when it cannot measure. See
 * bench/README.md, "Live health and rollback".
 *
 *   npm run bench:health                       # 1000 apps, 5 rollbacks, 5 probes, 60 s idle
 *   npm run bench:health -- --apps 100         # a quick look
 *
 * Four parts, one controller process throughout (fake Nodes are added so that every app's Pod fits):
 * 1. Fleet: N Applications (a ConfigMap and a Deployment of 1 replica each, their objects spread
 *    over --namespaces namespaces) until every one is Ready and Healthy: the burst to compare with.
 * 2. Rollback (beside the idle fleet), --runs times: a healthy head, then a commit whose Pods fail
 *    (kwok's chaos label, `minReadySeconds: 2`), announced by the Repository's request annotation;
 *    timed until it is applied, rolled back to `status.lastHealthyRevision`, the revert commit is on
 *    the branch (read from the bare repository) and that revert is applied. A run whose bad revision
 *    ends up as `lastHealthyRevision`, or that does not finish, is fixed forward (a good commit) and
 *    reported apart, with the Application's writes.
 * 3. Probes: one running Pod of one app of the fleet gets the chaos label; timed until the app's
 *    `status.health.status` is Degraded (from the bench's watch on Applications), and Healthy again;
 *    meanwhile every Application write (resourceVersion change) is counted, per app.
 * 4. Idle: a window in which nothing happens: Application writes, managed-object writes (by field
 *    manager), Capstan's Events and Lease renewals, write requests the API server served, the
 *    controller's CPU and RSS.
 * Throughout, each Application write is checked for going backwards (isStaleWrite): a status
 * computed from an out-of-date copy of the Application.
 *
 * Flags: --apps (1000), --namespaces (4, for the fleet's objects), --runs (5), --probes (5), --idle
 * seconds (60), --health-timeout (5s, the rollback app's spec.healthTimeout), --interval (10s, the
 * rollback Repository's poll interval: what applies the revert commit), --concurrency (4),
 * --resync (30m: the controller's full re-check, kept out of the idle window), --timeout seconds
 * for the fleet to be Ready (900), --warmup seconds after the control plane starts (10),
 * --log-level (info), --keep (keep the work folder with the controller log).
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import pLimit from 'p-limit';
import { crds } from '../src/api/crds.js';
import {
  API_VERSION,
  GROUP,
  REQUESTED_AT_ANNOTATION,
  VERSION,
  type Application,
} from '../src/api/v1alpha1.js';
import type { KubeObject } from '../src/core/objects.js';
import { parseDuration, sleep } from '../src/core/time.js';
import { freePort, startControlPlane, type ControlPlane } from '../src/dev/controlplane.js';
import { startGitHttpServer, type GitHttpServer } from '../src/dev/git-http-server.js';
import { loopbackRequest, type LoopbackApi } from '../src/dev/http.js';
import { installSingleTeamApplier } from '../src/dev/single-team.js';
import { createKubeClient, startInformer, type HttpKubeClient, type Informer } from '../src/kube/index.js';
import { startControllerProcess, type ControllerProcess } from './controller-process.js';
import { table } from './markdown.js';

const execFileAsync = promisify(execFile);

const { values: flags } = parseArgs({
  options: {
    apps: { type: 'string', default: '1000' },
    namespaces: { type: 'string', default: '4' },
    runs: { type: 'string', default: '5' },
    probes: { type: 'string', default: '5' },
    idle: { type: 'string', default: '60' },
    'health-timeout': { type: 'string', default: '5s' },
    interval: { type: 'string', default: '10s' },
    concurrency: { type: 'string', default: '4' },
    resync: { type: 'string', default: '30m' },
    timeout: { type: 'string', default: '900' },
    warmup: { type: 'string', default: '10' },
    'log-level': { type: 'string', default: 'info' },
    keep: { type: 'boolean', default: false },
  },
});
const APPS = Number(flags.apps);
const NAMESPACES = Number(flags.namespaces);
const RUNS = Number(flags.runs);
const PROBES = Number(flags.probes);
const IDLE_S = Number(flags.idle);
const TIMEOUT_S = Number(flags.timeout);
const WARMUP_S = Number(flags.warmup);
const HEALTH_TIMEOUT_MS = parseDuration(flags['health-timeout']);
parseDuration(flags.resync);
for (const [name, value] of Object.entries({ apps: APPS, namespaces: NAMESPACES, idle: IDLE_S }))
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} must be a positive integer`);
for (const [name, value] of Object.entries({ runs: RUNS, probes: PROBES, warmup: WARMUP_S }))
  if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} must be a whole number`);

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
/** kwok's chaos stage fails a Running Pod that carries this label, a second later (its default). */
const CHAOS_LABEL = 'pod-container-running-failed.stage.kwok.x-k8s.io';
const MANAGED = 'capstan.dev/managed=true';
/** The Applications and Repositories; the fleet's objects go to `${NS}-0` …; the rollback app's to `${NS}-rb`. */
const NS = 'bench-health';
const RB_NS = `${NS}-rb`;
const RB_APP = 'rollback-web';
/** kwok's fake Nodes take 110 Pods each; the control plane starts one. */
const PODS_PER_NODE = 100;
/** How long one rollback run may take: the health timeout, the rollback, and the Repository's next poll. */
const RUN_LIMIT_MS = HEALTH_TIMEOUT_MS + parseDuration(flags.interval) + 60_000;
const WRITE_VERBS = new Set(['POST', 'PUT', 'PATCH', 'APPLY', 'DELETE', 'DELETECOLLECTION']);

const log = (text: string): void => console.error(`[${new Date().toISOString().slice(11, 19)}] ${text}`);
const appName = (i: number): string => `app-${String(i).padStart(4, '0')}`;
const destinationOf = (i: number): string => `${NS}-${i % NAMESPACES}`;
const median = (values: readonly number[]): number => {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const max = (values: readonly number[]): number =>
  values.some((v) => !Number.isNaN(v)) ? Math.max(...values.filter((v) => !Number.isNaN(v))) : NaN;
const secs = (ms: number, digits = 2): string =>
  Number.isNaN(ms) ? '-' : `${(ms / 1000).toFixed(digits)} s`;

// ---------------------------------------------------------------------------------------------
// Manifests

function fleetFiles(i: number): Record<string, string> {
  const name = appName(i);
  const labels = { 'app.kubernetes.io/name': name, 'app.kubernetes.io/part-of': 'bench-health' };
  const configMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, labels },
    data: { 'settings.yaml': `level: info\napp: ${name}\n` },
  };
  // minReadySeconds as in test/controller/health.test.ts: a failed Pod's replacement counts as
  // available only 2 s after it is Ready, so the Deployment's loss of availability is seen.
  const deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels },
    spec: {
      replicas: 1,
      minReadySeconds: 2,
      selector: { matchLabels: { 'app.kubernetes.io/name': name } },
      template: {
        metadata: { labels },
        spec: { containers: [{ name: 'app', image: 'registry.invalid/bench/app:1.0.0' }] },
      },
    },
  };
  return {
    [`apps/${name}/configmap.yaml`]: JSON.stringify(configMap, null, 2),
    [`apps/${name}/deployment.yaml`]: JSON.stringify(deployment, null, 2),
  };
}

/**
 * The rollback app's Deployment; `failing`: its Pods carry the chaos label and never become available.
 * They fail 200 ms after they run (kwok's default is 1 s): with `minReadySeconds: 2`, a busy kwok
 * that fails a Pod a second late would let it count as available, and the bad revision as healthy.
 */
function web(version: string, failing: boolean): string {
  const labels = { app: 'web' };
  const chaos = {
    labels: { [CHAOS_LABEL]: 'true' },
    annotations: { [`${CHAOS_LABEL}/delay`]: '200ms', [`${CHAOS_LABEL}/jitter-delay`]: '200ms' },
  };
  return JSON.stringify(
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web' },
      spec: {
        replicas: 1,
        minReadySeconds: 2,
        selector: { matchLabels: labels },
        template: {
          metadata: failing ? { ...chaos, labels: { ...labels, ...chaos.labels } } : { labels },
          spec: { containers: [{ name: 'main', image: `registry.invalid/bench/web:${version}` }] },
        },
      },
    },
    null,
    2,
  );
}

// ---------------------------------------------------------------------------------------------
// Git: a bare repository the server serves, and a working clone the bench commits in.

const GIT_ENV = {
  ...process.env,
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: 'Bench',
  GIT_AUTHOR_EMAIL: 'bench@example.invalid',
  GIT_COMMITTER_NAME: 'Bench',
  GIT_COMMITTER_EMAIL: 'bench@example.invalid',
};

async function git(cwd: string, ...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync('git', args, { cwd, env: GIT_ENV, maxBuffer: 64 * 1024 * 1024 });
  return stdout.trim();
}

interface BenchRepo {
  readonly name: string;
  readonly bare: string;
  /** Brings in what others pushed (the controller's reverts), commits `files` and pushes. */
  commit(files: Record<string, string>, message: string): Promise<string>;
  /** The branch's tip in the bare repository (a file read, no process while the ref is loose). */
  head(): Promise<string>;
}

async function createRepo(root: string, name: string): Promise<BenchRepo> {
  const bare = join(root, `${name}.git`);
  const work = join(root, '.work', name);
  await mkdir(work, { recursive: true });
  await git(root, 'init', '--quiet', '--bare', '--initial-branch=main', bare);
  await git(work, 'init', '--quiet', '--initial-branch=main');
  await git(work, 'remote', 'add', 'origin', bare);
  let commits = 0;
  return {
    name,
    bare,
    async commit(files, message) {
      if (commits++ > 0) await git(work, 'pull', '--quiet', '--ff-only', 'origin', 'main');
      for (const [path, text] of Object.entries(files)) {
        await mkdir(dirname(join(work, path)), { recursive: true });
        await writeFile(join(work, path), text);
      }
      await git(work, 'add', '--all');
      await git(work, 'commit', '--quiet', '-m', message);
      await git(work, 'push', '--quiet', 'origin', 'main:main');
      return git(work, 'rev-parse', 'HEAD');
    },
    async head() {
      const loose = await readFile(join(bare, 'refs', 'heads', 'main'), 'utf8').catch(() => '');
      return loose.trim() || git(bare, 'rev-parse', 'refs/heads/main');
    },
  };
}

// ---------------------------------------------------------------------------------------------
// /proc, the API server's and the controller's metrics

interface ProcStats {
  /** utime + stime, seconds. */
  readonly cpu: number;
  /** cutime + cstime: the children it waited for (git). */
  readonly childCpu: number;
  readonly rssMiB: number;
  readonly peakMiB: number;
}

async function procStats(pid: number): Promise<ProcStats> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const status = (await readFile(`/proc/${pid}/status`, 'utf8')).split('\n');
  const kib = (field: string): number =>
    Number(/(\d+) kB/.exec(status.find((l) => l.startsWith(field)) ?? '')?.[1] ?? NaN);
  return {
    cpu: (Number(fields[11]) + Number(fields[12])) / CLK_TCK,
    childCpu: (Number(fields[13]) + Number(fields[14])) / CLK_TCK,
    rssMiB: kib('VmRSS:') / 1024,
    peakMiB: kib('VmHWM:') / 1024,
  };
}

type Counts = Record<string, number>;

function labelsOf(line: string): Record<string, string> {
  const inside = line.slice(line.indexOf('{') + 1, line.lastIndexOf('}'));
  return Object.fromEntries([...inside.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
}

/** Write requests the API server served, `VERB resource[/subresource]` → count (every client). */
async function apiWrites(api: LoopbackApi): Promise<Counts> {
  const response = await loopbackRequest(api, 'GET', '/metrics');
  if (response.status !== 200) throw new Error(`GET /metrics: HTTP ${response.status}`);
  const out: Counts = {};
  for (const line of response.body.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const l = labelsOf(line);
    if (!WRITE_VERBS.has(l.verb ?? '') || l.dry_run) continue;
    const key = `${l.verb} ${l.resource ?? '?'}${l.subresource ? `/${l.subresource}` : ''}`;
    out[key] = (out[key] ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return out;
}

function minus(after: Counts, before: Counts): Counts {
  const delta: Counts = {};
  for (const key of new Set([...Object.keys(after), ...Object.keys(before)])) {
    const d = (after[key] ?? 0) - (before[key] ?? 0);
    if (d !== 0) delta[key] = d;
  }
  return delta;
}
const total = (counts: Counts): number => Object.values(counts).reduce((a, b) => a + b, 0);
function formatCounts(counts: Counts, limit = 10): string {
  const entries = Object.entries(counts)
    .filter(([, v]) => v !== 0)
    .sort((a, b) => b[1] - a[1]);
  const shown = entries.slice(0, limit).map(([k, v]) => `${k} ${v}`);
  if (entries.length > limit) shown.push(`… ${entries.length - limit} more`);
  return shown.join(', ') || 'none';
}

async function controllerMetrics(
  port: number,
): Promise<{ queueDepth: number; reconciles: number; byKind: Counts }> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let queueDepth = NaN;
  let reconciles = 0;
  const byKind: Counts = {};
  for (const line of text.split('\n')) {
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.startsWith('capstan_queue_depth ')) queueDepth = value;
    if (line.startsWith('capstan_reconcile_duration_seconds_count{')) {
      reconciles += value;
      const kind = labelsOf(line).kind ?? '?';
      byKind[kind] = (byKind[kind] ?? 0) + value;
    }
  }
  return { queueDepth, reconciles, byKind };
}

/** Until the queue is empty and no reconcile ran for `quietMs` (or `maxMs` passed). */
async function waitQuiet(port: number, quietMs: number, maxMs: number): Promise<boolean> {
  const deadline = Date.now() + maxMs;
  let last = -1;
  let since = Date.now();
  while (Date.now() < deadline) {
    const m = await controllerMetrics(port);
    if (m.reconciles !== last || m.queueDepth !== 0) {
      last = m.reconciles;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) return true;
    await sleep(250);
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// The bench's watches: every write is a resourceVersion change, seen as a watch event.

const conditionOf = (object: KubeObject, type: string): { status?: string } | undefined =>
  (object.status as { conditions?: { type: string; status?: string }[] } | undefined)?.conditions?.find(
    (c) => c.type === type,
  );

/** Field managers whose managedFields entry changed between two versions of an object. */
function writersOf(previous: KubeObject, current: KubeObject): string[] {
  type Entry = { manager?: string; operation?: string; subresource?: string; time?: string };
  const key = (e: Entry): string => `${e.manager}|${e.operation}|${e.subresource ?? ''}`;
  const before = new Map(
    ((previous.metadata.managedFields ?? []) as Entry[]).map((e) => [key(e), JSON.stringify(e)]),
  );
  const writers = ((current.metadata.managedFields ?? []) as Entry[])
    .filter((e) => before.get(key(e)) !== JSON.stringify(e))
    .map((e) => `${e.manager ?? '?'}${e.subresource ? `/${e.subresource}` : ''}`);
  if (writers.length > 0) return [...new Set(writers)];
  // Entries carry times to the second: a second write in the same second by the same manager, to the
  // same fields, leaves them as they were. Name the newest.
  const newest = ((current.metadata.managedFields ?? []) as Entry[])
    .slice()
    .sort((a, b) => (a.time ?? '').localeCompare(b.time ?? ''))
    .at(-1);
  return [`${newest?.manager ?? '?'}${newest?.subresource ? `/${newest.subresource}` : ''} (same second)`];
}

/** `stale`: this write put back an older status (see isStaleWrite). */
type AppListener = (app: Application, at: number, stale: boolean) => void;
type ObjectListener = (object: KubeObject, at: number) => void;

class Observer {
  readonly apps: Informer<Application>;
  readonly deployments: Informer<KubeObject>;
  readonly configMaps: Informer<KubeObject>;
  readonly events: Informer<KubeObject>;
  readonly leases: Informer<KubeObject>;
  /** Monotonic counters: `app/<name>` (Application writes), `<Kind> by <manager>`, `event <reason>`. */
  readonly counts: Counts = {};
  private readonly appListeners = new Set<AppListener>();
  private readonly traces = new Map<string, { since: number; lines: string[] }>();
  /** Per app, the rollouts (`revision@startedAt`) a write has ended: one that comes back is stale. */
  private readonly endedRollouts: Record<string, Set<string>> = {};
  private readonly deploymentListeners = new Set<ObjectListener>();

  constructor(kube: HttpKubeClient, signal: AbortSignal) {
    const bump = (key: string): void => {
      this.counts[key] = (this.counts[key] ?? 0) + 1;
    };
    this.apps = startInformer<Application>(kube, {
      group: GROUP,
      version: VERSION,
      kind: 'Application',
      namespace: NS,
      signal,
      onUpdate: (previous, app) => {
        const at = Date.now();
        let stale = false;
        if (previous.metadata.resourceVersion !== app.metadata.resourceVersion) {
          bump(`app/${app.metadata.name}`);
          const ended = (this.endedRollouts[app.metadata.name] ??= new Set());
          stale = isStaleWrite(previous, app, ended);
          if (stale) bump(`stale/${app.metadata.name}`);
          const trace = this.traces.get(app.metadata.name);
          if (trace)
            trace.lines.push(
              `+${secs(at - trace.since)} ${stale ? 'STALE ' : ''}${describeWrite(previous, app)}`,
            );
        }
        for (const listener of this.appListeners) listener(app, at, stale);
      },
    });
    const managed = (kind: string) => (previous: KubeObject, current: KubeObject) => {
      if (previous.metadata.resourceVersion === current.metadata.resourceVersion) return;
      for (const writer of writersOf(previous, current)) bump(`${kind} by ${writer}`);
    };
    const onDeployment = managed('Deployment');
    this.deployments = startInformer<KubeObject>(kube, {
      group: 'apps',
      version: 'v1',
      kind: 'Deployment',
      labelSelector: MANAGED,
      signal,
      onUpdate: (previous, current) => {
        const at = Date.now();
        onDeployment(previous, current);
        for (const listener of this.deploymentListeners) listener(current, at);
      },
    });
    // Every ConfigMap of the bench's namespaces: the apps' own, and Capstan's inventories and history.
    const onConfigMap = managed('ConfigMap');
    this.configMaps = startInformer<KubeObject>(kube, {
      group: '',
      version: 'v1',
      kind: 'ConfigMap',
      signal,
      onAdd: (object) => {
        if (object.metadata.namespace?.startsWith(NS) && this.configMaps.hasSynced) bump('ConfigMap created');
      },
      onUpdate: (previous, current) => {
        if (current.metadata.namespace?.startsWith(NS)) onConfigMap(previous, current);
      },
    });
    // The controller's leader election Lease (renewed while it leads: the one write an idle controller makes).
    const onLease = managed('Lease');
    this.leases = startInformer<KubeObject>(kube, {
      group: 'coordination.k8s.io',
      version: 'v1',
      kind: 'Lease',
      namespace: NS,
      signal,
      onUpdate: onLease,
    });
    this.events = startInformer<KubeObject>(kube, {
      group: '',
      version: 'v1',
      kind: 'Event',
      namespace: NS,
      signal,
      onAdd: (event) => {
        const e = event as KubeObject & { reason?: string; reportingComponent?: string };
        if (this.events.hasSynced && e.reportingComponent === 'capstan-controller')
          bump(`Event ${e.reason ?? '?'}`);
      },
    });
  }

  async synced(): Promise<void> {
    await Promise.all([
      this.apps.synced,
      this.deployments.synced,
      this.configMaps.synced,
      this.events.synced,
      this.leases.synced,
    ]);
  }

  onApp(listener: AppListener): () => void {
    this.appListeners.add(listener);
    return () => this.appListeners.delete(listener);
  }

  onDeployment(listener: ObjectListener): () => void {
    this.deploymentListeners.add(listener);
    return () => this.deploymentListeners.delete(listener);
  }

  /** Resolves with the time `test` first holds for the app (now, or at a later watch event). */
  waitApp(name: string, test: (app: Application) => boolean, timeoutMs: number): Promise<number> {
    const current = this.apps.get(name, NS);
    if (current && test(current)) return Promise.resolve(Date.now());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        stop();
        reject(
          new Error(
            `${name}: not there after ${timeoutMs / 1000} s (${describeApp(this.apps.get(name, NS))})`,
          ),
        );
      }, timeoutMs);
      const stop = this.onApp((app, at) => {
        if (app.metadata.name !== name || !test(app)) return;
        clearTimeout(timer);
        stop();
        resolve(at);
      });
    });
  }

  /** Records each write of one Application (what changed) until the returned function is called. */
  trace(name: string): () => string[] {
    const trace = { since: Date.now(), lines: [] as string[] };
    this.traces.set(name, trace);
    return () => {
      this.traces.delete(name);
      return trace.lines;
    };
  }

  snapshot(): Counts {
    return { ...this.counts };
  }
}

function describeApp(app: Application | undefined): string {
  if (!app) return 'no such Application';
  const ready = app.status?.conditions?.find((c) => c.type === 'Ready');
  return `Ready=${ready?.status} ${ready?.reason}: ${ready?.message ?? ''}; health ${app.status?.health?.status}`;
}

/**
 * A status write that put back an older status: its history lost entries a previous write had
 * (history ids only grow), or a rollout that a previous write had ended comes back. (The writes after
 * it carry the old state on; only the one that brought it back counts.) Nothing in the
 * cluster does either; a status computed from an out-of-date copy of the Application does.
 */
function isStaleWrite(previous: Application, current: Application, endedRollouts: Set<string>): boolean {
  const newest = (app: Application) => Math.max(0, ...(app.status?.history ?? []).map((h) => h.id ?? 0));
  const rollout = (app: Application) =>
    app.status?.rollout ? `${app.status.rollout.revision}@${app.status.rollout.startedAt}` : undefined;
  const [before, after] = [rollout(previous), rollout(current)];
  if (before && before !== after) endedRollouts.add(before);
  return (
    newest(current) < newest(previous) ||
    (after !== before && after !== undefined && endedRollouts.has(after))
  );
}

/** One write of an Application: the status fields (and metadata) it changed, and where it left Ready and health. */
function describeWrite(previous: Application, current: Application): string {
  const changed: string[] = [];
  const before = (previous.status ?? {}) as Record<string, unknown>;
  const after = (current.status ?? {}) as Record<string, unknown>;
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (JSON.stringify(before[key]) === JSON.stringify(after[key])) continue;
    if (key !== 'conditions') {
      changed.push(key);
      continue;
    }
    const types = (app: Application) =>
      new Map((app.status?.conditions ?? []).map((c) => [c.type, JSON.stringify(c)]));
    const [b, a] = [types(previous), types(current)];
    const differ = [...new Set([...b.keys(), ...a.keys()])].filter((t) => b.get(t) !== a.get(t));
    changed.push(`conditions(${differ.join(' ')})`);
  }
  const meta = (app: Application) =>
    JSON.stringify([app.metadata.annotations, app.metadata.finalizers, app.metadata.labels, app.spec]);
  if (meta(previous) !== meta(current)) changed.push('(metadata or spec)');
  const ready = current.status?.conditions?.find((c) => c.type === 'Ready');
  return (
    `[${changed.join(', ')}] → Ready=${ready?.status}/${ready?.reason}, health ${healthOf(current)}, ` +
    `applied ${current.status?.lastAppliedRevision?.sha?.slice(0, 7) ?? '-'}` +
    `${current.status?.rollback?.gitRevert ? `, revert ${current.status.rollback.gitRevert.state}` : ''}`
  );
}

/** The rollback-relevant part of an Application's status, on one line. */
function statusSummary(app: Application | undefined): string {
  if (!app) return 'no such Application';
  const s = app.status ?? {};
  const sha = (value: string | undefined) => value?.slice(0, 7) ?? '-';
  const ready = s.conditions?.find((c) => c.type === 'Ready');
  return [
    `Ready=${ready?.status}/${ready?.reason} (${ready?.message ?? ''})`,
    `health ${s.health?.status}`,
    `applied ${sha(s.lastAppliedRevision?.sha)}`,
    `lastHealthy ${sha(s.lastHealthyRevision?.sha)}`,
    `rollout ${s.rollout ? `${sha(s.rollout.revision)} since ${s.rollout.startedAt}` : '-'}`,
    `rejected [${(s.rejectedRevisions ?? []).map((r) => sha(r.sha)).join(', ')}]`,
    `rollback ${s.rollback ? `${sha(s.rollback.from)} → ${sha(s.rollback.to)}, revert ${s.rollback.gitRevert?.state ?? '-'}` : '-'}`,
  ].join('; ');
}

/** Consecutive trace lines that say the same thing, as one line with a count. */
function collapse(lines: readonly string[]): string[] {
  const out: { first: string; last: string; text: string; count: number }[] = [];
  for (const line of lines) {
    const [time, ...rest] = line.split(' s ');
    const text = rest.join(' s ');
    const previous = out.at(-1);
    if (previous && previous.text === text) {
      previous.count++;
      previous.last = time!;
    } else out.push({ first: time!, last: time!, text, count: 1 });
  }
  return out.map((e) =>
    e.count === 1 ? `${e.first} s ${e.text}` : `${e.first} s … ${e.last} s, ${e.count} writes: ${e.text}`,
  );
}

const healthOf = (app: Application): string | undefined => app.status?.health?.status;
function isHealthyAt(app: Application, sha: string): boolean {
  const ready = app.status?.conditions?.find((c) => c.type === 'Ready');
  return (
    ready?.status === 'True' &&
    ready.observedGeneration === app.metadata.generation &&
    app.status?.lastAppliedRevision?.sha === sha &&
    healthOf(app) === 'Healthy'
  );
}

/** Application writes in a window, split into the named app's and everyone else's. */
function appWrites(
  delta: Counts,
  name?: string,
  among: (app: string) => boolean = () => true,
): { own: number; others: number; otherApps: string[] } {
  const apps = Object.entries(delta).filter(([k]) => k.startsWith('app/') && among(k.slice(4)));
  const others = apps.filter(([k]) => k !== `app/${name}`);
  return {
    own: apps.filter(([k]) => k === `app/${name}`).reduce((s, [, v]) => s + v, 0),
    others: others.reduce((s, [, v]) => s + v, 0),
    otherApps: others.map(([k, v]) => `${k.slice(4)} ×${v}`),
  };
}
const nonApp = (delta: Counts): Counts =>
  Object.fromEntries(Object.entries(delta).filter(([k]) => !k.startsWith('app/') && !k.startsWith('stale/')));

// ---------------------------------------------------------------------------------------------
// The environment

interface Env {
  readonly cp: ControlPlane;
  readonly api: LoopbackApi;
  readonly kube: HttpKubeClient;
  readonly git: GitHttpServer;
  readonly gitRoot: string;
  readonly controller: ControllerProcess;
  readonly observer: Observer;
}

/** More fake Nodes, as the control plane makes its own: kwok manages every Node, its Lease too. */
async function addNodes(kube: HttpKubeClient, pods: number): Promise<number> {
  const wanted = Math.ceil(pods / PODS_PER_NODE);
  for (let i = 1; i < wanted; i++) {
    const name = `capstan-node-${i}`;
    await kube.apply(
      {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name,
          annotations: { 'kwok.x-k8s.io/node': 'fake' },
          labels: { 'kubernetes.io/hostname': name, type: 'kwok' },
        },
        status: {
          allocatable: { cpu: '32', memory: '256Gi', pods: '110' },
          capacity: { cpu: '32', memory: '256Gi', pods: '110' },
        },
      } as KubeObject,
      { fieldManager: 'bench-setup', force: true },
    );
  }
  const deadline = Date.now() + 120_000;
  for (;;) {
    const nodes = (await kube.list('', 'v1', 'Node')).items;
    const ready = nodes.filter((n) => conditionOf(n, 'Ready')?.status === 'True').length;
    const leases = (await kube.list('coordination.k8s.io', 'v1', 'Lease', { namespace: 'kube-node-lease' }))
      .items.length;
    if (ready >= wanted && leases >= wanted) return wanted;
    if (Date.now() > deadline) throw new Error(`only ${ready} of ${wanted} Nodes Ready (${leases} Leases)`);
    await sleep(1000);
  }
}

// ---------------------------------------------------------------------------------------------
// Part 1: the fleet

interface Burst {
  readonly seconds: number;
  readonly cpu: number;
  readonly childCpu: number;
  readonly rssEndMiB: number;
  readonly writes: Counts;
  readonly api: Counts;
}

async function measure<T>(env: Env, work: () => Promise<T>): Promise<{ result: T; burst: Burst }> {
  const before = await procStats(env.controller.pid);
  const seen = env.observer.snapshot();
  const api = await apiWrites(env.api);
  const started = Date.now();
  const result = await work();
  const seconds = (Date.now() - started) / 1000;
  const after = await procStats(env.controller.pid);
  return {
    result,
    burst: {
      seconds,
      cpu: after.cpu - before.cpu,
      childCpu: after.childCpu - before.childCpu,
      rssEndMiB: after.rssMiB,
      writes: minus(env.observer.snapshot(), seen),
      api: minus(await apiWrites(env.api), api),
    },
  };
}

async function runFleet(env: Env): Promise<{ ready: number; burst: Burst }> {
  const { kube, observer } = env;
  log(`fleet: writing the repository (${APPS} app folders) …`);
  const repo = await createRepo(env.gitRoot, 'fleet');
  const files: Record<string, string> = {};
  for (let i = 1; i <= APPS; i++) Object.assign(files, fleetFiles(i));
  const head = await repo.commit(files, `${APPS} apps`);
  await kube.create({
    apiVersion: API_VERSION,
    kind: 'Repository',
    metadata: { name: 'fleet', namespace: NS },
    spec: { url: env.git.url(repo.name), interval: '1m' },
  });
  const ready = new Set<string>();
  const stop = observer.onApp((app) => {
    if (isHealthyAt(app, head)) ready.add(app.metadata.name);
    else ready.delete(app.metadata.name);
  });
  try {
    const { burst } = await measure(env, async () => {
      log(`fleet: creating ${APPS} Applications …`);
      const limit = pLimit(8);
      await Promise.all(
        Array.from({ length: APPS }, (_, k) =>
          limit(() =>
            kube.create({
              apiVersion: API_VERSION,
              kind: 'Application',
              metadata: { name: appName(k + 1), namespace: NS },
              spec: {
                sourceRef: { name: 'fleet' },
                path: `apps/${appName(k + 1)}`,
                destination: { namespace: destinationOf(k + 1) },
              },
            }),
          ),
        ),
      );
      const started = Date.now();
      let lastLog = Date.now();
      while (ready.size < APPS && Date.now() - started < TIMEOUT_S * 1000) {
        await sleep(500);
        if (Date.now() - lastLog >= 15_000) {
          lastLog = Date.now();
          const stats = await procStats(env.controller.pid);
          log(
            `  ${((Date.now() - started) / 1000).toFixed(0)} s: ${ready.size}/${APPS} Ready and Healthy; ` +
              `controller RSS ${stats.rssMiB.toFixed(0)} MiB`,
          );
        }
      }
    });
    log(`fleet: ${ready.size}/${APPS} Ready and Healthy after ${burst.seconds.toFixed(1)} s`);
    return { ready: ready.size, burst };
  } finally {
    stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Part 2: rollback

interface RollbackRun {
  readonly bad: string;
  /** ms from the push of the bad commit (the request annotation right after it). */
  readonly applied: number;
  readonly rolledBack: number;
  /** ms from the bad revision's `status.rollout.startedAt` + healthTimeout to the rollback in status. */
  readonly afterTimeout: number;
  readonly revertOnBranch: number;
  readonly revertPushedStatus: number;
  readonly revertApplied: number;
  readonly revertHealthy: number;
  /** Rolled back and Healthy at the good revision in status. */
  readonly healthyAtGood: number;
  /** Status writes that put back an older status (isStaleWrite): the first one, and how many. */
  readonly stale: number;
  readonly staleWrites: number;
  readonly trailerOk: boolean;
  /** The bad revision counted as healthy (its Pods were available once): no rollback, left out of the figures. */
  readonly badHealthy: boolean;
  readonly appWrites: number;
  /** Each write of the Application during the run. */
  readonly trace: string[];
  /** Where a run that did not finish left the Application's status. */
  readonly finalStatus?: string;
}

function emptyRun(bad: string): Omit<RollbackRun, 'trace' | 'badHealthy'> {
  return {
    bad,
    applied: NaN,
    rolledBack: NaN,
    afterTimeout: NaN,
    healthyAtGood: NaN,
    stale: NaN,
    staleWrites: 0,
    revertOnBranch: NaN,
    revertPushedStatus: NaN,
    revertApplied: NaN,
    revertHealthy: NaN,
    trailerOk: false,
    appWrites: 0,
  };
}

async function runRollback(env: Env): Promise<{ runs: RollbackRun[]; burst: Burst }> {
  const { kube, observer } = env;
  const repo = await createRepo(env.gitRoot, 'rollback');
  let head = await repo.commit({ 'web/deploy.yaml': web('1', false) }, 'web 1');
  await kube.create({
    apiVersion: API_VERSION,
    kind: 'Repository',
    metadata: { name: 'rollback', namespace: NS },
    spec: { url: env.git.url(repo.name), interval: flags.interval },
  });
  await kube.create({
    apiVersion: API_VERSION,
    kind: 'Application',
    metadata: { name: RB_APP, namespace: NS },
    spec: {
      sourceRef: { name: 'rollback' },
      path: 'web',
      destination: { namespace: RB_NS },
      healthTimeout: flags['health-timeout'],
      rollback: { automatic: true, gitRevert: 'commit' },
    },
  });
  const announce = () =>
    kube.patch(
      { group: GROUP, kind: 'Repository', namespace: NS, name: 'rollback' },
      { metadata: { annotations: { [REQUESTED_AT_ANNOTATION]: new Date().toISOString() } } },
      'merge',
    );
  const runs: RollbackRun[] = [];
  const { burst } = await measure(env, async () => {
    for (let k = 1; k <= RUNS; k++) {
      await observer.waitApp(
        RB_APP,
        (app) => isHealthyAt(app, head) && app.status?.lastHealthyRevision?.sha === head,
        120_000,
      );
      await waitQuiet(env.controller.port, 1000, 30_000);
      const good = head;
      const seen = observer.snapshot();
      const endTrace = observer.trace(RB_APP);
      const bad = await repo.commit(
        { 'web/deploy.yaml': web(`bad-${k}`, true) },
        `web bad-${k} (its pods fail)`,
      );
      const t0 = Date.now();
      await announce();
      const at: Record<string, number> = {};
      let rolloutStart = NaN;
      let staleWrites = 0;
      let revert = '';
      const note = (what: string, when: number): void => {
        at[what] ??= when - t0;
      };
      const stop = observer.onApp((app, when, stale) => {
        if (app.metadata.name !== RB_APP) return;
        if (stale) {
          note('stale', when);
          staleWrites++;
        }
        const s = app.status ?? {};
        if (s.lastAppliedRevision?.sha === bad) note('applied', when);
        if (s.lastHealthyRevision?.sha === bad) note('badHealthy', when);
        if (s.rollout?.revision === bad) rolloutStart = Date.parse(s.rollout.startedAt);
        if (s.rollback?.from === bad && s.lastAppliedRevision?.sha === good) note('rolledBack', when);
        if (at.rolledBack !== undefined && s.lastAppliedRevision?.sha === good && healthOf(app) === 'Healthy')
          note('healthyAtGood', when);
        if (s.rollback?.from === bad && s.rollback.gitRevert?.state === 'Pushed') {
          note('pushedStatus', when);
          revert ||= s.rollback.gitRevert.sha ?? '';
        }
        if (revert && s.lastAppliedRevision?.sha === revert) note('revertApplied', when);
        if (revert && isHealthyAt(app, revert)) note('revertHealthy', when);
      });
      // The branch, as the server holds it: polled (a file read) until it moves past the bad commit.
      const polling = (async () => {
        while (
          Date.now() - t0 < RUN_LIMIT_MS &&
          at.revertHealthy === undefined &&
          at.badHealthy === undefined
        ) {
          const tip = await repo.head();
          if (tip !== bad) {
            note('onBranch', Date.now());
            revert ||= tip;
            return;
          }
          await sleep(20);
        }
      })();
      while (at.revertHealthy === undefined && at.badHealthy === undefined && Date.now() - t0 < RUN_LIMIT_MS)
        await sleep(50);
      stop();
      if (at.badHealthy !== undefined) {
        // Its Pods counted as available once (kwok failed them late): nothing to roll back.
        log(`  run ${k}: the bad revision was judged healthy after ${secs(at.badHealthy)}; fixing forward`);
        at.revertHealthy = NaN;
        head = await repo.commit({ 'web/deploy.yaml': web('1', false) }, `web 1 again (after bad-${k})`);
        await announce();
        runs.push({ ...emptyRun(bad), badHealthy: true, trace: endTrace() });
        await polling;
        continue;
      }
      await polling;
      const unfinished = at.revertHealthy === undefined;
      const finalStatus = unfinished ? statusSummary(observer.apps.get(RB_APP, NS)) : undefined;
      if (unfinished) log(`  run ${k}: not finished after ${secs(RUN_LIMIT_MS, 0)} (${finalStatus})`);
      const message = revert ? await git(repo.bare, 'log', '-1', '--format=%B', revert).catch(() => '') : '';
      const run: RollbackRun = {
        bad,
        applied: at.applied ?? NaN,
        rolledBack: at.rolledBack ?? NaN,
        afterTimeout:
          at.rolledBack === undefined || Number.isNaN(rolloutStart)
            ? NaN
            : t0 + at.rolledBack - (rolloutStart + HEALTH_TIMEOUT_MS),
        revertOnBranch: at.onBranch ?? NaN,
        revertPushedStatus: at.pushedStatus ?? NaN,
        revertApplied: at.revertApplied ?? NaN,
        revertHealthy: at.revertHealthy ?? NaN,
        healthyAtGood: at.healthyAtGood ?? NaN,
        stale: at.stale ?? NaN,
        staleWrites,
        badHealthy: false,
        trailerOk: message.includes(`Capstan-Rollback: ${bad}`),
        appWrites: appWrites(minus(observer.snapshot(), seen), RB_APP).own,
        trace: endTrace(),
        ...(finalStatus ? { finalStatus } : {}),
      };
      runs.push(run);
      if (unfinished) {
        log(`  run ${k}: fixing forward`);
        head = await repo.commit({ 'web/deploy.yaml': web('1', false) }, `web 1 again (after bad-${k})`);
        await announce();
        continue;
      }
      log(
        `  run ${k}: applied ${secs(run.applied)}, rolled back ${secs(run.rolledBack)} ` +
          `(${secs(run.afterTimeout)} after the timeout), revert on the branch ${secs(run.revertOnBranch)}, ` +
          `applied ${secs(run.revertApplied)}`,
      );
      if (revert) head = revert;
    }
    // A run that was fixed forward last: let the fix land before the next part.
    await observer
      .waitApp(RB_APP, (app) => isHealthyAt(app, head), 120_000)
      .catch((error: unknown) => log(`  ${String(error)}`));
  });
  return { runs, burst };
}

// ---------------------------------------------------------------------------------------------
// Part 3: one Pod fails

interface Probe {
  readonly app: string;
  readonly deploymentUnavailable: number;
  readonly degraded: number;
  readonly deploymentAvailable: number;
  readonly healthy: number;
  readonly ownWrites: number;
  readonly otherWrites: number;
  readonly otherApps: string[];
  readonly other: Counts;
  readonly trace: string[];
}

async function runProbes(env: Env, fleetReady: boolean): Promise<{ probes: Probe[]; burst: Burst }> {
  const { kube, observer } = env;
  const probes: Probe[] = [];
  const { burst } = await measure(env, async () => {
    for (let k = 0; k < PROBES; k++) {
      const index = 1 + Math.floor(((k + 0.5) * APPS) / PROBES);
      const name = appName(index);
      const namespace = destinationOf(index);
      const current = observer.apps.get(name, NS);
      if (!current || healthOf(current) !== 'Healthy') {
        log(`  probe ${name}: not Healthy to begin with (${describeApp(current)}); skipped`);
        continue;
      }
      if (!fleetReady) log(`  probe ${name}: the fleet is not all Ready; other apps may write meanwhile`);
      const pods = await kube.list('', 'v1', 'Pod', {
        namespace,
        labelSelector: `app.kubernetes.io/name=${name}`,
      });
      const pod = pods.items.find(
        (p) =>
          (p.status as { phase?: string } | undefined)?.phase === 'Running' &&
          !p.metadata.deletionTimestamp &&
          !p.metadata.labels?.[CHAOS_LABEL],
      );
      if (!pod) {
        log(`  probe ${name}: no running Pod; skipped`);
        continue;
      }
      await waitQuiet(env.controller.port, 1000, 30_000);
      const seen = observer.snapshot();
      const endTrace = observer.trace(name);
      const at: Record<string, number> = {};
      const t0 = Date.now();
      const note = (what: string, when: number): void => {
        at[what] ??= when - t0;
      };
      const stopDeployments = observer.onDeployment((d, when) => {
        if (d.metadata.name !== name || d.metadata.namespace !== namespace) return;
        const available = conditionOf(d, 'Available')?.status;
        if (available === 'False') note('unavailable', when);
        if (available === 'True' && at.unavailable !== undefined) note('available', when);
      });
      const stopApps = observer.onApp((app, when) => {
        if (app.metadata.name !== name) return;
        if (healthOf(app) === 'Degraded') note('degraded', when);
        if (healthOf(app) === 'Healthy' && at.degraded !== undefined) note('healthy', when);
      });
      await kube.patch(
        { group: '', kind: 'Pod', namespace, name: pod.metadata.name! },
        { metadata: { labels: { [CHAOS_LABEL]: 'true' } } },
        'merge',
      );
      while (at.healthy === undefined && Date.now() - t0 < 120_000) await sleep(50);
      // Whatever follows the recovery (a late write) belongs to this probe too.
      await sleep(2000);
      stopApps();
      stopDeployments();
      const delta = minus(observer.snapshot(), seen);
      // The fleet's apps (the rollback app has its own story, told in its part).
      const writes = appWrites(delta, name, (app) => app !== RB_APP);
      const probe: Probe = {
        app: name,
        deploymentUnavailable: at.unavailable ?? NaN,
        degraded: at.degraded ?? NaN,
        deploymentAvailable: at.available ?? NaN,
        healthy: at.healthy ?? NaN,
        ownWrites: writes.own,
        otherWrites: writes.others,
        otherApps: writes.otherApps,
        other: nonApp(delta),
        trace: endTrace(),
      };
      probes.push(probe);
      log(
        `  probe ${name}: Deployment unavailable ${secs(probe.deploymentUnavailable)}, app Degraded ${secs(probe.degraded)}, ` +
          `Deployment available ${secs(probe.deploymentAvailable)}, app Healthy ${secs(probe.healthy)}; ` +
          `writes: ${probe.ownWrites} to it, ${probe.otherWrites} to other apps`,
      );
    }
  });
  return { probes, burst };
}

// ---------------------------------------------------------------------------------------------
// Part 4: idle

async function runIdle(
  env: Env,
): Promise<Burst & { quiet: boolean; reconciles: Counts; rssStartMiB: number; peakMiB: number }> {
  const quiet = await waitQuiet(env.controller.port, 5000, 120_000);
  log(
    `idle: controller ${quiet ? 'quiet' : 'still busy after 120 s'}; settling 5 s, then ${IDLE_S} s idle …`,
  );
  await sleep(5000);
  const before = await controllerMetrics(env.controller.port);
  if (!quiet) log('  (the idle window starts with the controller still busy: see the report)');
  const start = await procStats(env.controller.pid);
  const { burst } = await measure(env, () => sleep(IDLE_S * 1000));
  const after = await controllerMetrics(env.controller.port);
  const end = await procStats(env.controller.pid);
  return {
    ...burst,
    quiet,
    reconciles: minus(after.byKind, before.byKind),
    rssStartMiB: start.rssMiB,
    peakMiB: end.peakMiB,
  };
}

// ---------------------------------------------------------------------------------------------
// Reporting

function report(
  env: { nodes: number; loadStart: number[]; loadEnd: number[]; startup: ProcStats },
  fleet: { ready: number; burst: Burst } | undefined,
  rollback: { runs: RollbackRun[]; burst: Burst } | undefined,
  probes: { probes: Probe[]; burst: Burst } | undefined,
  idle: (Burst & { quiet: boolean; reconciles: Counts; rssStartMiB: number; peakMiB: number }) | undefined,
): string {
  const out: string[] = [];
  const load = (l: number[]): string => l.map((x) => x.toFixed(2)).join('/');
  out.push(`Capstan live health and rollback, ${new Date().toISOString()}`);
  out.push(
    `node ${process.version}, ${cpus().length} CPU(s), load average ${load(env.loadStart)} at start and ` +
      `${load(env.loadEnd)} at end; ${APPS} apps over ${NAMESPACES} namespaces, ${env.nodes} fake Nodes; ` +
      `controller --concurrency ${flags.concurrency} --resync ${flags.resync}; controller ready with ` +
      `RSS ${env.startup.rssMiB.toFixed(0)} MiB`,
  );
  if (rollback && rollback.runs.length > 0) {
    const r = rollback.runs.filter((x) => !x.badHealthy);
    const runLabels = rollback.runs.flatMap((x, i) => (x.badHealthy ? [] : [`run ${i + 1}`]));
    const invalid = rollback.runs.length - r.length;
    const col = (f: (x: RollbackRun) => number) => [secs(median(r.map(f))), secs(max(r.map(f)))];
    const fields: [string, (x: RollbackRun) => number][] = [
      ['bad commit applied', (x) => x.applied],
      ['rolled back (status)', (x) => x.rolledBack],
      ['rolled back, after the health timeout', (x) => x.afterTimeout],
      ['rolled back and Healthy (status)', (x) => x.healthyAtGood],
      ['first stale status write', (x) => x.stale],
      ['revert commit on the branch', (x) => x.revertOnBranch],
      ['revert recorded in status (Pushed)', (x) => x.revertPushedStatus],
      ['revert commit applied', (x) => x.revertApplied],
      ['revert commit Ready and Healthy', (x) => x.revertHealthy],
    ];
    out.push('');
    out.push(
      `## Rollback: ${r.length} runs, healthTimeout ${flags['health-timeout']}, Repository interval ${flags.interval}; ` +
        `times from the push of the bad commit (announced by the request annotation)`,
    );
    out.push('');
    out.push(
      table(
        ['from the push to', 'median', 'max', ...runLabels],
        fields.map(([label, f]) => [label, ...col(f), ...r.map((x) => secs(f(x)))]),
      ),
    );
    out.push('');
    out.push(
      `revert commits with the trailer \`Capstan-Rollback: <bad sha>\`: ${r.filter((x) => x.trailerOk).length} of ${r.length}; ` +
        `writes to the rollback app per run: ${r.map((x) => x.appWrites).join(', ')}; ` +
        `runs with a stale status write: ${r.filter((x) => x.staleWrites > 0).length} of ${r.length} ` +
        `(${r.map((x) => x.staleWrites).join(', ')} stale writes); ` +
        `controller CPU over the runs ${rollback.burst.cpu.toFixed(1)} s (+ ${rollback.burst.childCpu.toFixed(1)} s in git)`,
    );
    if (invalid > 0)
      out.push(
        `left out: ${invalid} run(s) whose bad revision was judged healthy (its Pods counted as available once)`,
      );
    out.push(`other writes seen over the runs: ${formatCounts(nonApp(rollback.burst.writes), 12)}`);
    out.push('');
    out.push(`The Application's writes in the first run, from the push:`);
    out.push('');
    for (const line of collapse((r[0] ?? rollback.runs[0]!).trace)) out.push(`    ${line}`);
    rollback.runs.forEach((run, i) => {
      if (run.badHealthy) {
        out.push('');
        out.push(
          `Run ${i + 1}, left out (the bad revision ${run.bad.slice(0, 7)} became lastHealthyRevision):`,
        );
      } else if (run.finalStatus) {
        out.push('');
        out.push(`Run ${i + 1} did not finish; the Application at the end: ${run.finalStatus}`);
      } else return;
      out.push('');
      for (const line of collapse(run.trace)) out.push(`    ${line}`);
    });
  }
  if (probes && probes.probes.length > 0) {
    const p = probes.probes;
    const fields: [string, (x: Probe) => number][] = [
      ['label → Deployment unavailable', (x) => x.deploymentUnavailable],
      ['label → app Degraded', (x) => x.degraded],
      ['Deployment unavailable → app Degraded', (x) => x.degraded - x.deploymentUnavailable],
      ['label → Deployment available again', (x) => x.deploymentAvailable],
      ['label → app Healthy again', (x) => x.healthy],
      ['Deployment available → app Healthy', (x) => x.healthy - x.deploymentAvailable],
    ];
    out.push('');
    out.push(
      `## One Pod fails, at ${APPS} apps: ${p.length} probes (apps ${p.map((x) => x.app).join(', ')}); ` +
        `times as the bench's watches saw the Deployment and the Application change`,
    );
    out.push('');
    out.push(
      table(
        ['', 'median', 'max', ...p.map((x) => x.app)],
        fields.map(([label, f]) => [
          label,
          secs(median(p.map(f))),
          secs(max(p.map(f))),
          ...p.map((x) => secs(f(x))),
        ]),
      ),
    );
    out.push('');
    out.push(
      `Application writes per probe: to the probed app ${p.map((x) => x.ownWrites).join(', ')}; to the other ` +
        `${APPS} apps ${p.map((x) => x.otherWrites).join(', ')}` +
        `${
          p.some((x) => x.otherApps.length)
            ? ` (${p
                .flatMap((x) => x.otherApps)
                .slice(0, 10)
                .join(', ')})`
            : ''
        }`,
    );
    out.push(`other writes seen over the probes: ${formatCounts(nonApp(probes.burst.writes), 12)}`);
    out.push('');
    out.push(`The probed Application's writes in probe 1 (${p[0]!.app}), from the label:`);
    out.push('');
    for (const line of collapse(p[0]!.trace)) out.push(`    ${line}`);
  }
  const bursts: [string, Burst | undefined, 'total' | 'hourly' | undefined][] = [
    [`fleet: create ${APPS} apps until all Ready`, fleet?.burst, 'total'],
    ['rollback runs', rollback?.burst, undefined],
    ['probes (one Pod fails, recovers)', probes?.burst, undefined],
    [`idle, ${APPS} healthy apps`, idle, 'hourly'],
  ];
  out.push('');
  out.push('## Controller cost');
  out.push('');
  out.push(
    table(
      [
        'window',
        'seconds',
        'CPU s',
        '+ git CPU s',
        'CPU s/h',
        'CPU per app',
        'RSS at end',
        'Application writes',
        'of which stale',
        'managed-object updates by capstan',
        'Capstan Events',
        'Lease renewals',
      ],
      bursts
        .filter((row): row is [string, Burst, 'total' | 'hourly' | undefined] => row[1] !== undefined)
        .map(([label, b, perApp]) => {
          const sumOf = (test: (key: string) => boolean): number =>
            Object.entries(b.writes)
              .filter(([k]) => test(k))
              .reduce((s, [, v]) => s + v, 0);
          const capstanWrites = sumOf((k) => / by capstan/.test(k) && !k.startsWith('Lease '));
          const leases = sumOf((k) => k.startsWith('Lease '));
          const stale = sumOf((k) => k.startsWith('stale/'));
          const appW = Object.entries(b.writes)
            .filter(([k]) => k.startsWith('app/'))
            .reduce((s, [, v]) => s + v, 0);
          const events = Object.entries(b.writes)
            .filter(([k]) => k.startsWith('Event '))
            .reduce((s, [, v]) => s + v, 0);
          const perHour = (b.cpu * 3600) / b.seconds;
          return [
            label,
            b.seconds.toFixed(0),
            b.cpu.toFixed(2),
            b.childCpu.toFixed(2),
            perHour.toFixed(0),
            perApp === 'total'
              ? `${((b.cpu * 1000) / APPS).toFixed(1)} ms`
              : perApp === 'hourly'
                ? `${((perHour * 1000) / APPS).toFixed(1)} ms/h`
                : '-',
            `${b.rssEndMiB.toFixed(0)} MiB`,
            String(appW),
            String(stale),
            String(capstanWrites),
            String(events),
            String(leases),
          ];
        }),
    ),
  );
  if (fleet) {
    out.push('');
    out.push(
      `fleet: ${fleet.ready}/${APPS} Ready and Healthy in ${fleet.burst.seconds.toFixed(1)} s; ` +
        `writes seen: ${formatCounts(nonApp(fleet.burst.writes), 8)}; Application writes ${total(
          Object.fromEntries(Object.entries(fleet.burst.writes).filter(([k]) => k.startsWith('app/'))),
        )}`,
    );
  }
  if (idle) {
    out.push('');
    out.push(
      `idle ${idle.seconds.toFixed(0)} s${idle.quiet ? '' : ' (NOT quiet: the controller was still busy 120 s after the probes)'}: reconciles ${formatCounts(idle.reconciles)}; controller RSS ${idle.rssStartMiB.toFixed(0)} → ` +
        `${idle.rssEndMiB.toFixed(0)} MiB (peak over the run ${idle.peakMiB.toFixed(0)} MiB); ` +
        `writes seen by the watches: ${formatCounts(idle.writes, 12)}`,
    );
    out.push(`  write requests the API server served (every client): ${formatCounts(idle.api, 12)}`);
  }
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const loadStart = loadavg();
  const work = await mkdtemp(join(tmpdir(), 'capstan-health-bench-'));
  log(`work folder ${work}`);
  log('starting the control plane (with controller-manager, scheduler and kwok) …');
  const cp = await startControlPlane({ workloads: true, progress: (line) => log(`  ${line}`) });
  let gitServer: GitHttpServer | undefined;
  let kube: HttpKubeClient | undefined;
  let controller: ControllerProcess | undefined;
  const abort = new AbortController();
  let fleet: Awaited<ReturnType<typeof runFleet>> | undefined;
  let rollback: Awaited<ReturnType<typeof runRollback>> | undefined;
  let probes: Awaited<ReturnType<typeof runProbes>> | undefined;
  let idle: Awaited<ReturnType<typeof runIdle>> | undefined;
  let nodes = 1;
  let startup: ProcStats | undefined;
  // The control plane stops itself on these; the controller is ours to stop.
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => controller?.child.kill('SIGTERM'));
  try {
    const api: LoopbackApi = {
      server: cp.server,
      caCertificate: cp.caCertificate,
      token: cp.users.admin.token,
    };
    kube = await createKubeClient({ kubeconfig: cp.kubeconfig, fieldManager: 'bench' });
    for (const crd of crds()) await kube.apply(crd as KubeObject, { force: true });
    for (const kind of ['Repository', 'Application'])
      await kube.mapper.waitForMapping(GROUP, kind, { timeoutMs: 60_000 });
    await installSingleTeamApplier(kube);
    for (const name of [NS, RB_NS, ...Array.from({ length: NAMESPACES }, (_, i) => `${NS}-${i}`)])
      await kube.apply(
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name } },
        { fieldManager: 'bench-setup', force: true },
      );
    nodes = await addNodes(kube, APPS + 20);
    log(`${nodes} fake Nodes Ready; warming up ${WARMUP_S} s …`);
    await sleep(WARMUP_S * 1000);
    const gitRoot = join(work, 'git');
    await mkdir(gitRoot, { recursive: true });
    gitServer = await startGitHttpServer({ root: gitRoot, allowPush: true });

    const observer = new Observer(kube, abort.signal);
    await observer.synced();
    log('starting capstan controller …');
    controller = await startControllerProcess({
      port: await freePort(),
      logPath: join(work, 'controller.log'),
      args: [
        '--kubeconfig',
        cp.kubeconfigPath,
        '--namespace',
        NS,
        '--state-dir',
        join(work, 'state'),
        '--default-service-account',
        'capstan-system/capstan-applier',
        '--concurrency',
        flags.concurrency,
        '--resync',
        flags.resync,
        '--log-level',
        flags['log-level'],
      ],
    });
    startup = await procStats(controller.pid);
    log(`  pid ${controller.pid}; log ${controller.logPath}`);
    const env: Env = { cp, api, kube, git: gitServer, gitRoot, controller, observer };

    fleet = await runFleet(env);
    if (RUNS > 0) {
      log(`rollback: ${RUNS} runs, healthTimeout ${flags['health-timeout']} …`);
      rollback = await runRollback(env);
    }
    if (PROBES > 0) {
      log(`probes: ${PROBES} apps lose their Pod …`);
      probes = await runProbes(env, fleet.ready === APPS);
    }
    idle = await runIdle(env);
    log(`idle: ${idle.cpu.toFixed(2)} CPU s, writes ${formatCounts(idle.writes)}`);
  } finally {
    const loadEnd = loadavg();
    if (startup) console.log(report({ nodes, loadStart, loadEnd, startup }, fleet, rollback, probes, idle));
    abort.abort();
    await controller?.stop();
    kube?.close();
    await gitServer?.close();
    await cp.stop();
    if (flags.keep) log(`kept ${work} (controller log)`);
    else await rm(work, { recursive: true, force: true });
  }
}

await main();
