/**
 * The operator at scale: `capstan controller`, run as its own process, reconciling N Applications
 * from one Git repository served over HTTP, on a local control plane with workloads
 * (controller-manager, scheduler, kwok).
 *
 * A benchmark, not a test: it prints figures, and fails only when it cannot measure (a process that
 * does not start, a Git server that does not serve). See bench/README.md, "Operator at scale".
 *
 *   npm run bench:apps                                   # N = 100 and 1000, 120 s idle window
 *   npm run bench:apps -- --apps 100 --idle 60           # a quick look
 *
 * Flags: --apps (default "100,1000"), --idle seconds (120), --baseline seconds (60), --settle seconds
 * (10), --timeout seconds to wait for all Ready (900), --concurrency (4, the controller's), --resync
 * (the controller's, default its own default), --change (index of the app whose ConfigMap the commit
 * changes; default the last one), --log-level (info), --layout shared|per-app (where the apps'
 * objects go: the Applications' namespace, default, or one namespace per app), --warmup seconds
 * after the control plane starts (30), --keep (keep the work folder with the controller logs).
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import pLimit from 'p-limit';
import { crds } from '../src/api/crds.js';
import { API_VERSION, GROUP, VERSION, type Application } from '../src/api/v1alpha1.js';
import type { KubeObject } from '../src/core/objects.js';
import { freePort, startControlPlane, type ControlPlane } from '../src/dev/controlplane.js';
import { startGitHttpServer, type GitHttpServer } from '../src/dev/git-http-server.js';
import { installSingleTeamApplier } from '../src/dev/single-team.js';
import { loopbackRequest, type LoopbackApi } from '../src/dev/http.js';
import { createKubeClient, startInformer, type HttpKubeClient } from '../src/kube/index.js';
import { startControllerProcess, type ControllerProcess } from './controller-process.js';
import { table } from './markdown.js';
import { sleep } from '../src/core/time.js';

const execFileAsync = promisify(execFile);

const { values: flags } = parseArgs({
  options: {
    apps: { type: 'string', default: '100,1000' },
    idle: { type: 'string', default: '120' },
    baseline: { type: 'string', default: '60' },
    settle: { type: 'string', default: '10' },
    timeout: { type: 'string', default: '900' },
    concurrency: { type: 'string', default: '4' },
    resync: { type: 'string' },
    change: { type: 'string' },
    'log-level': { type: 'string', default: 'info' },
    layout: { type: 'string', default: 'shared' },
    warmup: { type: 'string', default: '30' },
    keep: { type: 'boolean', default: false },
  },
});
const SIZES = flags.apps.split(',').map((s) => Number(s.trim()));
const IDLE_S = Number(flags.idle);
const BASELINE_S = Number(flags.baseline);
const SETTLE_S = Number(flags.settle);
const TIMEOUT_S = Number(flags.timeout);
const WARMUP_S = Number(flags.warmup);
if (flags.layout !== 'shared' && flags.layout !== 'per-app')
  throw new Error(`--layout must be shared or per-app, not '${flags.layout}'`);
/** shared: every app's objects in the Applications' namespace; per-app: one destination namespace each. */
const PER_APP = flags.layout === 'per-app';
for (const [name, value] of Object.entries({
  apps: Math.min(...SIZES),
  idle: IDLE_S,
  baseline: BASELINE_S,
  timeout: TIMEOUT_S,
}))
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
const WRITE_VERBS = new Set(['POST', 'PUT', 'PATCH', 'APPLY', 'DELETE', 'DELETECOLLECTION']);

const log = (text: string): void => console.error(`[${new Date().toISOString().slice(11, 19)}] ${text}`);
const appName = (i: number): string => `app-${String(i).padStart(4, '0')}`;

// ---------------------------------------------------------------------------------------------
// The Git repository: apps/app-0001/ … apps/app-NNNN/, four objects each.

function appFiles(i: number, version: number): Record<string, string> {
  const name = appName(i);
  const dir = `apps/${name}`;
  const labels = ['  labels:', `    app.kubernetes.io/name: ${name}`, '    app.kubernetes.io/part-of: bench'];
  return {
    [`${dir}/serviceaccount.yaml`]: ['apiVersion: v1', 'kind: ServiceAccount', 'metadata:', `  name: ${name}`]
      .concat(labels, '')
      .join('\n'),
    [`${dir}/configmap.yaml`]: ['apiVersion: v1', 'kind: ConfigMap', 'metadata:', `  name: ${name}`]
      .concat(labels, [
        'data:',
        `  version: "${version}"`,
        '  settings.yaml: |',
        '    level: info',
        `    app: ${name}`,
        '',
      ])
      .join('\n'),
    // Headless: the control plane's service range is a /24, too small for a ClusterIP per app.
    [`${dir}/service.yaml`]: ['apiVersion: v1', 'kind: Service', 'metadata:', `  name: ${name}`]
      .concat(labels, [
        'spec:',
        '  clusterIP: None',
        '  selector:',
        `    app.kubernetes.io/name: ${name}`,
        '  ports:',
        '    - name: http',
        '      port: 80',
        '      targetPort: 8080',
        '',
      ])
      .join('\n'),
    [`${dir}/deployment.yaml`]: ['apiVersion: apps/v1', 'kind: Deployment', 'metadata:', `  name: ${name}`]
      .concat(labels, [
        'spec:',
        '  replicas: 0',
        '  selector:',
        '    matchLabels:',
        `      app.kubernetes.io/name: ${name}`,
        '  template:',
        '    metadata:',
        '      labels:',
        `        app.kubernetes.io/name: ${name}`,
        '    spec:',
        `      serviceAccountName: ${name}`,
        '      containers:',
        '        - name: app',
        '          image: registry.invalid/bench/app:1.0.0',
        '          ports:',
        '            - containerPort: 8080',
        '',
      ])
      .join('\n'),
  };
}

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
  commit(files: Record<string, string>, message: string): Promise<string>;
}

async function createRepo(root: string, name: string): Promise<BenchRepo> {
  const bare = join(root, `${name}.git`);
  const work = join(root, '.work', name);
  await mkdir(work, { recursive: true });
  await git(root, 'init', '--quiet', '--bare', '--initial-branch=main', bare);
  await git(work, 'init', '--quiet', '--initial-branch=main');
  await git(work, 'remote', 'add', 'origin', bare);
  return {
    name,
    async commit(files, message) {
      for (const [path, text] of Object.entries(files)) {
        await mkdir(dirname(join(work, path)), { recursive: true });
        await writeFile(join(work, path), text);
      }
      await git(work, 'add', '--all');
      await git(work, 'commit', '--quiet', '-m', message);
      await git(work, 'push', '--quiet', 'origin', 'main:main');
      return git(work, 'rev-parse', 'HEAD');
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Observations: /proc, the apiserver's metrics, the controller's metrics.

interface ProcStats {
  /** utime + stime, seconds. */
  readonly cpu: number;
  /** cutime + cstime, seconds: the children it waited for (git, helm, kustomize). */
  readonly childCpu: number;
  readonly rssMiB: number;
  /** VmHWM: the peak resident set. */
  readonly peakMiB: number;
}

async function procStats(pid: number): Promise<ProcStats> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpu = (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  const status = (await readFile(`/proc/${pid}/status`, 'utf8')).split('\n');
  const kib = (field: string): number =>
    Number(/(\d+) kB/.exec(status.find((l) => l.startsWith(field)) ?? '')?.[1] ?? NaN);
  const childCpu = (Number(fields[13]) + Number(fields[14])) / CLK_TCK;
  return { cpu, childCpu, rssMiB: kib('VmRSS:') / 1024, peakMiB: kib('VmHWM:') / 1024 };
}

/** `VERB resource[/subresource]` (dry-runs marked) → count. */
type Counts = Record<string, number>;

interface ApiMetrics {
  readonly requests: Counts;
  /** Long-running requests open now (watches), `resource` → count. */
  readonly watches: Counts;
}

function labelsOf(line: string): Record<string, string> {
  const inside = line.slice(line.indexOf('{') + 1, line.lastIndexOf('}'));
  return Object.fromEntries([...inside.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
}

async function apiMetrics(api: LoopbackApi): Promise<ApiMetrics> {
  const response = await loopbackRequest(api, 'GET', '/metrics');
  if (response.status !== 200) throw new Error(`GET /metrics: HTTP ${response.status}`);
  const requests: Counts = {};
  const watches: Counts = {};
  for (const line of response.body.split('\n')) {
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.startsWith('apiserver_request_total{')) {
      const l = labelsOf(line);
      const resource = l.resource
        ? `${l.resource}${l.subresource ? `/${l.subresource}` : ''}`
        : '(non-resource)';
      const key = `${l.verb} ${resource}${l.dry_run ? ' (dry-run)' : ''}`;
      requests[key] = (requests[key] ?? 0) + value;
    } else if (line.startsWith('apiserver_longrunning_requests{')) {
      const l = labelsOf(line);
      if (l.verb !== 'WATCH' || !value) continue;
      watches[l.resource ?? '?'] = (watches[l.resource ?? '?'] ?? 0) + value;
    }
  }
  return { requests, watches };
}

function minus(after: Counts, before: Counts, ...others: Counts[]): Counts {
  const delta: Counts = {};
  for (const key of new Set([...Object.keys(after), ...Object.keys(before)])) {
    const d = (after[key] ?? 0) - (before[key] ?? 0) - others.reduce((s, o) => s + (o[key] ?? 0), 0);
    if (d !== 0) delta[key] = d;
  }
  return delta;
}

const sum = (counts: Counts): number => Object.values(counts).reduce((a, b) => a + b, 0);
const isWrite = (key: string): boolean => WRITE_VERBS.has(key.split(' ')[0]!) && !key.endsWith('(dry-run)');
/**
 * Requests the controller makes, as far as the apiserver's metrics can tell (they do not name the
 * client): its own kinds, and reads and server-side applies of the kinds the apps hold. The
 * controller-manager writes those kinds with PUT and POST (status, default ServiceAccounts,
 * kube-root-ca.crt), which Capstan never uses; Events are created by both.
 */
const CAPSTAN_RESOURCES = new Set([
  'applications',
  'repositories',
  'configmaps',
  'serviceaccounts',
  'services',
  'deployments',
  'secrets',
  'namespaces',
]);
function isCapstanKey(key: string): boolean {
  const [verb, resource = ''] = key.split(' ');
  const base = resource.split('/')[0]!;
  if (base === 'applications' || base === 'repositories') return true;
  return CAPSTAN_RESOURCES.has(base) && verb !== 'PUT' && verb !== 'POST' && !resource.includes('/');
}
const pick = (counts: Counts, test: (key: string) => boolean): Counts =>
  Object.fromEntries(Object.entries(counts).filter(([k, v]) => test(k) && v !== 0));
const writesOf = (counts: Counts): Counts =>
  Object.fromEntries(Object.entries(counts).filter(([k, v]) => isWrite(k) && v > 0));

interface ControllerMetrics {
  readonly queueDepth: number;
  /** `kind/result` → count and sum of seconds. */
  readonly reconciles: Record<string, { count: number; sum: number }>;
  /** `le` → cumulative count, applications only (success and failure). */
  readonly appBuckets: Record<string, number>;
}

async function controllerMetrics(port: number): Promise<ControllerMetrics> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let queueDepth = NaN;
  const reconciles: Record<string, { count: number; sum: number }> = {};
  const appBuckets: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.startsWith('capstan_queue_depth ')) queueDepth = value;
    const m = /^capstan_reconcile_duration_seconds_(count|sum|bucket)\{/.exec(line);
    if (!m) continue;
    const l = labelsOf(line);
    const key = `${l.kind}/${l.result}`;
    const entry = (reconciles[key] ??= { count: 0, sum: 0 });
    if (m[1] === 'count') entry.count = value;
    else if (m[1] === 'sum') entry.sum = value;
    else if (l.kind === 'application') appBuckets[l.le!] = (appBuckets[l.le!] ?? 0) + value;
  }
  return { queueDepth, reconciles, appBuckets };
}

function reconcileCount(m: ControllerMetrics, kind?: string): number {
  return Object.entries(m.reconciles)
    .filter(([k]) => !kind || k.startsWith(`${kind}/`))
    .reduce((s, [, v]) => s + v.count, 0);
}

function reconcileSeconds(m: ControllerMetrics, kind?: string): number {
  return Object.entries(m.reconciles)
    .filter(([k]) => !kind || k.startsWith(`${kind}/`))
    .reduce((s, [, v]) => s + v.sum, 0);
}

/** Approximate quantile from cumulative histogram buckets (the bucket's upper bound). */
function bucketQuantile(before: Record<string, number>, after: Record<string, number>, q: number): string {
  const les = Object.keys(after)
    .filter((le) => le !== '+Inf')
    .sort((a, b) => Number(a) - Number(b));
  const total = (after['+Inf'] ?? 0) - (before['+Inf'] ?? 0);
  if (total <= 0) return '-';
  for (const le of les) if ((after[le] ?? 0) - (before[le] ?? 0) >= q * total) return `≤ ${le} s`;
  return `> ${les.at(-1)} s`;
}

/**
 * `Kind/name` → resourceVersion of every bench app object (in the namespace, or in the per-app
 * namespaces), of the inventories, the Applications and the Repository.
 */
async function versions(kube: HttpKubeClient, namespace: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const add = (kind: string, items: readonly KubeObject[]): void => {
    for (const item of items) out.set(`${kind}/${item.metadata.name}`, item.metadata.resourceVersion ?? '');
  };
  const appKinds: [string, string, string][] = [
    ['', 'v1', 'ServiceAccount'],
    ['', 'v1', 'ConfigMap'],
    ['', 'v1', 'Service'],
    ['apps', 'v1', 'Deployment'],
  ];
  for (const [group, version, kind] of appKinds) {
    const list = await kube.list(group, version, kind, {
      ...(PER_APP ? {} : { namespace }),
      labelSelector: 'app.kubernetes.io/part-of=bench',
    });
    const ours = list.items.filter(
      (o) => o.metadata.namespace === namespace || o.metadata.namespace?.startsWith(`${namespace}-`),
    );
    add(kind, ours);
  }
  add(
    'ConfigMap',
    (await kube.list('', 'v1', 'ConfigMap', { namespace, labelSelector: 'capstan.dev/inventory-of' })).items,
  );
  add('Application', (await kube.list(GROUP, VERSION, 'Application', { namespace })).items);
  add('Repository', (await kube.list(GROUP, VERSION, 'Repository', { namespace })).items);
  return out;
}

const destinationOf = (namespace: string, app: string): string =>
  PER_APP ? `${namespace}-${app}` : namespace;

/** Changed resourceVersions, sorted into what they belong to. */
function changedObjects(
  before: Map<string, string>,
  after: Map<string, string>,
  target?: string,
): Record<string, string[]> {
  const groups: Record<string, string[]> = {};
  for (const [key, rv] of after) {
    if (before.get(key) === rv) continue;
    const [kind, name] = key.split('/') as [string, string];
    let group: string;
    if (kind === 'Application') group = name === target ? 'target Application' : 'other Applications';
    else if (kind === 'Repository') group = 'Repository';
    else if (name.startsWith('capstan-inventory-'))
      group = name === `capstan-inventory-${target}` ? 'target inventory' : 'other inventories';
    else if (/^app-\d{4}$/.test(name)) group = name === target ? 'target objects' : 'other apps’ objects';
    else group = 'other';
    (groups[group] ??= []).push(before.has(key) ? key : `${key} (new)`);
  }
  return groups;
}

// ---------------------------------------------------------------------------------------------
// The controller process.

async function startController(
  cp: ControlPlane,
  namespace: string,
  work: string,
): Promise<ControllerProcess> {
  return startControllerProcess({
    port: await freePort(),
    logPath: join(work, `controller-${namespace}.log`),
    args: [
      '--kubeconfig',
      cp.kubeconfigPath,
      '--namespace',
      namespace,
      '--state-dir',
      join(work, `state-${namespace}`),
      '--default-service-account',
      'capstan-system/capstan-applier',
      '--concurrency',
      flags.concurrency,
      '--log-level',
      flags['log-level'],
      ...(flags.resync ? ['--resync', flags.resync] : []),
    ],
  });
}

/** Messages of the controller's log (pino JSON lines), by count. */
async function logSummary(path: string): Promise<{ lines: number; messages: Counts; warnings: string[] }> {
  const text = await readFile(path, 'utf8').catch(() => '');
  const messages: Counts = {};
  const warnings: string[] = [];
  let lines = 0;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    lines++;
    try {
      const entry = JSON.parse(line) as { level?: number; msg?: string; err?: string };
      const msg = entry.msg ?? '?';
      messages[msg] = (messages[msg] ?? 0) + 1;
      if ((entry.level ?? 0) >= 40 && warnings.length < 5)
        warnings.push(`${msg}: ${entry.err ?? ''}`.slice(0, 300));
    } catch {
      messages['(not JSON)'] = (messages['(not JSON)'] ?? 0) + 1;
    }
  }
  return { lines, messages, warnings };
}

// ---------------------------------------------------------------------------------------------
// One size.

interface Window {
  readonly seconds: number;
  /** Requests in the window, minus the bench's own metric scrapes. */
  readonly requests: Counts;
}

interface SizeResult {
  readonly size: number;
  readonly namespace: string;
  readonly createSeconds: number;
  readonly allReadySeconds?: number;
  readonly readyAtTimeout?: number;
  readonly milestones: { fraction: number; seconds: number }[];
  /** Apps Ready more than 60 s after 90 % of the apps were. */
  readonly late: string[];
  readonly controllerStartup: { seconds: number; cpu: number; rssMiB: number };
  /** From creating the Applications until all Ready. */
  readonly convergeCpu: number;
  readonly convergeChildCpu: number;
  readonly cpuAtReady: number;
  readonly peakMiB: number;
  readonly rssAtReadyMiB: number;
  readonly apiserverCpuConverge: number;
  readonly convergeRequests: Counts;
  readonly convergeReconciles: { app: number; repo: number; appSeconds: number; p50: string; p95: string };
  readonly baseline: Window;
  readonly idle?: Window & {
    readonly cpu: number;
    readonly childCpu: number;
    readonly apiserverCpu: number;
    readonly reconciles: number;
    readonly changed: Record<string, string[]>;
    readonly watches: Counts;
    readonly baselineWatches: Counts;
  };
  readonly commit?: {
    readonly target: string;
    readonly readySeconds: number;
    readonly quietSeconds: number;
    readonly quietReached: boolean;
    readonly cpu: number;
    readonly childCpu: number;
    readonly reconciles: number;
    readonly requests: Counts;
    readonly changed: Record<string, string[]>;
  };
  readonly peakMiBAtEnd: number;
  readonly log: { lines: number; messages: Counts; warnings: string[] };
  readonly logPath: string;
}

interface Env {
  readonly cp: ControlPlane;
  readonly api: LoopbackApi;
  readonly kube: HttpKubeClient;
  readonly gitServer: GitHttpServer;
  readonly gitRoot: string;
  readonly work: string;
  readonly apiserverPid: number;
  readonly scrapeCost: Counts;
}

function isReadyAt(app: Application, sha: string): boolean {
  const ready = app.status?.conditions?.find((c) => c.type === 'Ready');
  return (
    ready?.status === 'True' &&
    ready.observedGeneration === app.metadata.generation &&
    app.status?.lastAppliedRevision?.sha === sha
  );
}

/** Scrapes twice around `ms` of waiting: the requests in between, minus the scrapes themselves. */
async function requestWindow(env: Env, ms: number, during?: () => Promise<void>): Promise<Window> {
  const before = await apiMetrics(env.api);
  const started = performance.now();
  await (during ? during() : sleep(ms));
  const after = await apiMetrics(env.api);
  return {
    seconds: (performance.now() - started) / 1000,
    requests: minus(after.requests, before.requests, env.scrapeCost),
  };
}

/** Until the queue is empty and no reconcile ran for `quietMs`, or `maxMs` passed. */
async function waitQuiet(port: number, quietMs: number, maxMs: number): Promise<boolean> {
  const deadline = Date.now() + maxMs;
  let last = -1;
  let since = Date.now();
  while (Date.now() < deadline) {
    const m = await controllerMetrics(port);
    const count = reconcileCount(m);
    if (count !== last || m.queueDepth !== 0) {
      last = count;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) return true;
    await sleep(500);
  }
  return false;
}

async function runSize(env: Env, size: number): Promise<SizeResult> {
  const { kube } = env;
  const namespace = `bench-${size}`;
  log(`N = ${size}: writing the repository (${size} app folders, ${size * 4} files) …`);
  const repo = await createRepo(env.gitRoot, `apps-${size}`);
  const files: Record<string, string> = {};
  for (let i = 1; i <= size; i++) Object.assign(files, appFiles(i, 1));
  const head = await repo.commit(files, `${size} apps`);
  const namespaces = [
    namespace,
    ...(PER_APP ? Array.from({ length: size }, (_, k) => destinationOf(namespace, appName(k + 1))) : []),
  ];
  const nsLimit = pLimit(8);
  await Promise.all(
    namespaces.map((name) =>
      nsLimit(() =>
        kube.apply(
          { apiVersion: 'v1', kind: 'Namespace', metadata: { name } },
          { fieldManager: 'bench-setup', force: true },
        ),
      ),
    ),
  );
  if (PER_APP) {
    log(
      `  created ${namespaces.length - 1} destination namespaces; letting the controller-manager settle 30 s`,
    );
    await sleep(30_000);
  }

  // Baseline: what controller-manager, scheduler and kwok ask of the apiserver with no controller.
  log(`N = ${size}: baseline window, ${BASELINE_S} s without the controller …`);
  const baselineMetricsBefore = await apiMetrics(env.api);
  const baseline = await requestWindow(env, BASELINE_S * 1000);
  const baselineWatches = baselineMetricsBefore.watches;

  log(`N = ${size}: starting capstan controller …`);
  const startedAt = performance.now();
  const controller = await startController(env.cp, namespace, env.work);
  const startup = await procStats(controller.pid);
  const controllerStartup = {
    seconds: (performance.now() - startedAt) / 1000,
    cpu: startup.cpu,
    rssMiB: startup.rssMiB,
  };
  log(
    `  pid ${controller.pid}, ready in ${controllerStartup.seconds.toFixed(1)} s; log ${controller.logPath}`,
  );

  const abort = new AbortController();
  try {
    await kube.create({
      apiVersion: API_VERSION,
      kind: 'Repository',
      metadata: { name: 'apps', namespace },
      spec: { url: env.gitServer.url(repo.name), interval: '1m' },
    });

    // The bench's view of the Applications: one watch.
    const ready = new Set<string>();
    /** App → seconds from creating the Applications to its first Ready at the head. */
    const readyTimes = new Map<string, number>();
    let t0 = 0;
    let onChange: (() => void) | undefined;
    const informer = startInformer<Application>(kube, {
      group: GROUP,
      version: VERSION,
      kind: 'Application',
      namespace,
      signal: abort.signal,
      onAdd: (app) => {
        if (isReadyAt(app, head)) ready.add(app.metadata.name);
        onChange?.();
      },
      onUpdate: (_previous, app) => {
        if (isReadyAt(app, head)) {
          ready.add(app.metadata.name);
          if (!readyTimes.has(app.metadata.name))
            readyTimes.set(app.metadata.name, (performance.now() - t0) / 1000);
        } else ready.delete(app.metadata.name);
        onChange?.();
      },
    });
    await informer.synced;

    // --- Converge ------------------------------------------------------------------------------
    const { cpu: cpuBefore, childCpu: childBefore } = await procStats(controller.pid);
    const apiserverBefore = (await procStats(env.apiserverPid)).cpu;
    const metricsBefore = await apiMetrics(env.api);
    const ctlBefore = await controllerMetrics(controller.port);
    log(`N = ${size}: creating ${size} Applications …`);
    t0 = performance.now();
    const limit = pLimit(8);
    await Promise.all(
      Array.from({ length: size }, (_, k) =>
        limit(() =>
          kube.create({
            apiVersion: API_VERSION,
            kind: 'Application',
            metadata: { name: appName(k + 1), namespace },
            spec: {
              sourceRef: { name: 'apps' },
              path: `apps/${appName(k + 1)}`,
              ...(PER_APP ? { destination: { namespace: destinationOf(namespace, appName(k + 1)) } } : {}),
            },
          }),
        ),
      ),
    );
    const createSeconds = (performance.now() - t0) / 1000;
    log(`  created in ${createSeconds.toFixed(1)} s; waiting for all Ready at ${head.slice(0, 12)} …`);

    const milestones: { fraction: number; seconds: number }[] = [];
    const fractions = [0.01, 0.25, 0.5, 0.75, 0.9, 1];
    let allReadySeconds: number | undefined;
    let lastReadyCount = -1;
    let stalls = 0;
    await new Promise<void>((done) => {
      const check = (): void => {
        const elapsed = (performance.now() - t0) / 1000;
        while (fractions.length > 0 && ready.size >= Math.ceil(fractions[0]! * size))
          milestones.push({ fraction: fractions.shift()!, seconds: elapsed });
        if (ready.size >= size && allReadySeconds === undefined) {
          allReadySeconds = elapsed;
          onChange = undefined;
          clearInterval(progress);
          done();
        }
      };
      onChange = check;
      const progress = setInterval(() => {
        void (async () => {
          const elapsed = (performance.now() - t0) / 1000;
          const [stats, m] = await Promise.all([
            procStats(controller.pid),
            controllerMetrics(controller.port).catch(() => undefined),
          ]);
          log(
            `  ${elapsed.toFixed(0).padStart(4)} s: ${ready.size}/${size} Ready, queue ${m?.queueDepth ?? '?'}, ` +
              `reconciles ${m ? reconcileCount(m) - reconcileCount(ctlBefore) : '?'}, ` +
              `controller CPU ${(stats.cpu - cpuBefore).toFixed(1)} s, RSS ${stats.rssMiB.toFixed(0)} MiB`,
          );
          if (ready.size === lastReadyCount && ready.size < size && ++stalls % 3 === 0) {
            // No progress for 30 s: say what the apps that are not Ready are waiting for.
            for (const app of informer
              .list()
              .filter((a) => !ready.has(a.metadata.name))
              .slice(0, 3)) {
              const c = app.status?.conditions?.find((x) => x.type === 'Ready');
              log(`      ${app.metadata.name}: Ready=${c?.status} ${c?.reason}: ${c?.message}`);
            }
          }
          if (ready.size !== lastReadyCount) stalls = 0;
          lastReadyCount = ready.size;
          if (elapsed > TIMEOUT_S) {
            clearInterval(progress);
            onChange = undefined;
            done();
          }
        })();
      }, 10_000);
      check();
    });
    const readyStats = await procStats(controller.pid);
    const apiserverAfter = (await procStats(env.apiserverPid)).cpu;
    const metricsAfter = await apiMetrics(env.api);
    const ctlAfter = await controllerMetrics(controller.port);
    // The bench's own: the Application creates (its watch is still open, so not counted yet).
    const benchOwn: Counts = { 'POST applications': size };
    const convergeRequests = minus(metricsAfter.requests, metricsBefore.requests, env.scrapeCost, benchOwn);
    const convergeReconciles = {
      app: reconcileCount(ctlAfter, 'application') - reconcileCount(ctlBefore, 'application'),
      repo: reconcileCount(ctlAfter, 'repository') - reconcileCount(ctlBefore, 'repository'),
      appSeconds: reconcileSeconds(ctlAfter, 'application') - reconcileSeconds(ctlBefore, 'application'),
      p50: bucketQuantile(ctlBefore.appBuckets, ctlAfter.appBuckets, 0.5),
      p95: bucketQuantile(ctlBefore.appBuckets, ctlAfter.appBuckets, 0.95),
    };
    const times = [...readyTimes.values()].sort((a, b) => a - b);
    const p90 = times[Math.floor(times.length * 0.9)] ?? 0;
    const late = [...readyTimes].filter(([, sec]) => sec > p90 + 60).sort((a, b) => a[1] - b[1]);
    const base = {
      size,
      namespace,
      late: late.map(([name, sec]) => `${name} ${sec.toFixed(0)} s`),
      createSeconds,
      milestones,
      controllerStartup,
      convergeCpu: readyStats.cpu - cpuBefore,
      convergeChildCpu: readyStats.childCpu - childBefore,
      cpuAtReady: readyStats.cpu,
      peakMiB: readyStats.peakMiB,
      rssAtReadyMiB: readyStats.rssMiB,
      apiserverCpuConverge: apiserverAfter - apiserverBefore,
      convergeRequests,
      convergeReconciles,
      baseline,
      logPath: controller.logPath,
    };
    if (allReadySeconds === undefined) {
      log(
        `N = ${size}: not all Ready after ${TIMEOUT_S} s (${ready.size}/${size}); skipping idle and commit`,
      );
      const end = await procStats(controller.pid);
      return {
        ...base,
        readyAtTimeout: ready.size,
        peakMiBAtEnd: end.peakMiB,
        log: await logSummary(controller.logPath),
      };
    }
    log(`N = ${size}: all Ready after ${allReadySeconds.toFixed(1)} s`);

    // --- Idle ----------------------------------------------------------------------------------
    const quiet = await waitQuiet(controller.port, 5_000, 120_000);
    log(`  controller ${quiet ? 'quiet' : 'still busy after 120 s'}; settling ${SETTLE_S} s more`);
    abort.abort(); // the bench's watch ends before the window
    await informer.stopped.catch(() => {});
    await sleep(SETTLE_S * 1000);
    log(`N = ${size}: idle window, ${IDLE_S} s …`);
    const rvBeforeIdle = await versions(kube, namespace);
    const { cpu: idleCpuBefore, childCpu: idleChildBefore } = await procStats(controller.pid);
    const idleApiserverBefore = (await procStats(env.apiserverPid)).cpu;
    const idleCtlBefore = await controllerMetrics(controller.port);
    let watches: Counts = {};
    const idleWindow = await requestWindow(env, IDLE_S * 1000, async () => {
      await sleep((IDLE_S * 1000) / 2);
      watches = (await apiMetrics(env.api)).watches;
      await sleep((IDLE_S * 1000) / 2);
    });
    // The mid-window scrape is one more GET /metrics.
    idleWindow.requests['GET (non-resource)'] = (idleWindow.requests['GET (non-resource)'] ?? 0) - 1;
    if (!idleWindow.requests['GET (non-resource)']) delete idleWindow.requests['GET (non-resource)'];
    const idleEnd = await procStats(controller.pid);
    const idleCpu = idleEnd.cpu - idleCpuBefore;
    const idleApiserverCpu = (await procStats(env.apiserverPid)).cpu - idleApiserverBefore;
    const idleCtlAfter = await controllerMetrics(controller.port);
    const rvAfterIdle = await versions(kube, namespace);
    const idle = {
      ...idleWindow,
      cpu: idleCpu,
      childCpu: idleEnd.childCpu - idleChildBefore,
      apiserverCpu: idleApiserverCpu,
      reconciles: reconcileCount(idleCtlAfter) - reconcileCount(idleCtlBefore),
      changed: changedObjects(rvBeforeIdle, rvAfterIdle),
      watches,
      baselineWatches,
    };
    log(
      `  idle: controller CPU ${idleCpu.toFixed(2)} s, ${sum(idle.requests)} requests ` +
        `(${sum(writesOf(idle.requests))} writes), ${idle.reconciles} reconciles`,
    );

    // --- One commit ----------------------------------------------------------------------------
    const changeIndex = flags.change ? Number(flags.change) : size;
    const targetApp = appName(changeIndex);
    log(`N = ${size}: one commit changing ${targetApp}'s ConfigMap, announced by the request annotation …`);
    const sha = await repo.commit(
      { [`apps/${targetApp}/configmap.yaml`]: appFiles(changeIndex, 2)[`apps/${targetApp}/configmap.yaml`]! },
      `change ${targetApp}`,
    );
    const rvBeforeCommit = await versions(kube, namespace);
    const { cpu: commitCpuBefore, childCpu: commitChildBefore } = await procStats(controller.pid);
    const commitCtlBefore = await controllerMetrics(controller.port);
    const commitAbort = new AbortController();
    let targetReady: (() => void) | undefined;
    const check = (app: Application): void => {
      if (isReadyAt(app, sha)) targetReady?.();
    };
    const watchOne = startInformer<Application>(kube, {
      group: GROUP,
      version: VERSION,
      kind: 'Application',
      namespace,
      fieldSelector: `metadata.name=${targetApp}`,
      signal: commitAbort.signal,
      onAdd: check,
      onUpdate: (_p, app) => check(app),
    });
    await watchOne.synced;
    const commitMetricsBefore = await apiMetrics(env.api);
    const readyPromise = new Promise<void>((r) => (targetReady = r));
    const tc = performance.now();
    await kube.patch(
      { group: GROUP, kind: 'Repository', namespace, name: 'apps' },
      { metadata: { annotations: { 'capstan.dev/requested-at': new Date().toISOString() } } },
      'merge',
    );
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      readyPromise.then(() => false),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(true), TIMEOUT_S * 1000))),
    ]);
    clearTimeout(timer);
    if (timedOut) log(`  ${targetApp} not Ready at ${sha.slice(0, 12)} after ${TIMEOUT_S} s`);
    const readySeconds = timedOut ? NaN : (performance.now() - tc) / 1000;
    log(`  ${targetApp} Ready at the new commit after ${readySeconds.toFixed(2)} s; waiting until quiet …`);
    commitAbort.abort();
    await watchOne.stopped.catch(() => {});
    const quietReached = await waitQuiet(controller.port, 5_000, TIMEOUT_S * 1000);
    const quietSeconds = (performance.now() - tc) / 1000 - 5;
    const commitMetricsAfter = await apiMetrics(env.api);
    const commitEnd = await procStats(controller.pid);
    const commitCpu = commitEnd.cpu - commitCpuBefore;
    const commitCtlAfter = await controllerMetrics(controller.port);
    const rvAfterCommit = await versions(kube, namespace);
    const commit = {
      target: targetApp,
      readySeconds,
      quietSeconds,
      quietReached,
      cpu: commitCpu,
      childCpu: commitEnd.childCpu - commitChildBefore,
      reconciles: reconcileCount(commitCtlAfter) - reconcileCount(commitCtlBefore),
      // The bench's own: the annotation, and its one-object watch (LIST before, WATCH ended inside).
      requests: minus(commitMetricsAfter.requests, commitMetricsBefore.requests, env.scrapeCost, {
        'PATCH repositories': 1,
        'WATCH applications': 1,
      }),
      changed: changedObjects(rvBeforeCommit, rvAfterCommit, targetApp),
    };
    log(
      `  quiet ${quietSeconds.toFixed(1)} s after the annotation; ${commit.reconciles} reconciles, ` +
        `${sum(writesOf(commit.requests))} writes`,
    );
    const end = await procStats(controller.pid);
    return {
      ...base,
      allReadySeconds,
      idle,
      commit,
      peakMiBAtEnd: end.peakMiB,
      log: await logSummary(controller.logPath),
    };
  } finally {
    abort.abort();
    await controller.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Reporting

function formatCounts(counts: Counts, limit = 12): string {
  const entries = Object.entries(counts)
    .filter(([, v]) => v !== 0)
    .sort((a, b) => b[1] - a[1]);
  const shown = entries.slice(0, limit).map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toFixed(1)}`);
  if (entries.length > limit) shown.push(`… ${entries.length - limit} more`);
  return shown.join(', ') || 'none';
}

const s = (value: number | undefined, digits = 1): string =>
  value === undefined || Number.isNaN(value) ? '-' : `${value.toFixed(digits)} s`;

function report(results: readonly SizeResult[], loadStart: number[], loadEnd: number[]): string {
  const out: string[] = [];
  out.push(`Capstan operator at scale, ${new Date().toISOString()}`);
  out.push(
    `node ${process.version}, ${cpus().length} CPU(s), load average (1/5/15 min) ${loadStart.map((l) => l.toFixed(2)).join('/')} ` +
      `at start and ${loadEnd.map((l) => l.toFixed(2)).join('/')} at end; controller --concurrency ${flags.concurrency}` +
      `${flags.resync ? ` --resync ${flags.resync}` : ''}; idle window ${IDLE_S} s, baseline window ${BASELINE_S} s`,
  );
  out.push('');
  const rows = results.map((r) => {
    const perHour = r.idle ? 3600 / r.idle.seconds : NaN;
    const idleMine = r.idle ? pick(r.idle.requests, isCapstanKey) : {};
    const idleWrites = sum(writesOf(idleMine));
    return [
      String(r.size),
      s(r.createSeconds),
      r.allReadySeconds === undefined
        ? `> ${TIMEOUT_S} s (${r.readyAtTimeout}/${r.size})`
        : s(r.allReadySeconds),
      r.allReadySeconds ? (r.size / r.allReadySeconds).toFixed(1) : '-',
      `${r.peakMiBAtEnd.toFixed(0)} MiB`,
      `${r.convergeCpu.toFixed(1)} s + ${r.convergeChildCpu.toFixed(1)} s`,
      `${r.cpuAtReady.toFixed(1)} s`,
      r.idle ? `${r.idle.cpu.toFixed(2)} s (${(r.idle.cpu * perHour).toFixed(0)} s/h)` : '-',
      r.idle ? `${sum(idleMine).toFixed(0)} (${(sum(idleMine) * perHour).toFixed(0)}/h)` : '-',
      r.idle ? `${idleWrites.toFixed(0)} (${(idleWrites * perHour).toFixed(0)}/h)` : '-',
      r.commit ? s(r.commit.readySeconds, 2) : '-',
      r.commit ? s(r.commit.quietSeconds) : '-',
    ];
  });
  out.push(
    table(
      [
        'apps',
        'create apps',
        'all Ready',
        'apps/s',
        'peak RSS',
        'CPU converge (+ git)',
        'CPU start→Ready',
        'idle CPU',
        'idle requests',
        'idle writes',
        'commit → Ready',
        'commit → quiet',
      ],
      rows,
    ),
  );
  for (const r of results) {
    out.push('');
    out.push(`### N = ${r.size} (namespace ${r.namespace}; controller log ${r.logPath})`);
    out.push('');
    out.push(
      `controller start-up: ready in ${r.controllerStartup.seconds.toFixed(1)} s, ${r.controllerStartup.cpu.toFixed(1)} CPU s, ` +
        `RSS ${r.controllerStartup.rssMiB.toFixed(0)} MiB; RSS at all-Ready ${r.rssAtReadyMiB.toFixed(0)} MiB, ` +
        `peak (VmHWM) ${r.peakMiB.toFixed(0)} MiB at all-Ready and ${r.peakMiBAtEnd.toFixed(0)} MiB at the end`,
    );
    out.push(
      `Ready over time (from creating the Applications): ${r.milestones
        .map((m) => `${Math.round(m.fraction * 100)}% ${m.seconds.toFixed(1)} s`)
        .join(', ')}`,
    );
    const c = r.convergeReconciles;
    out.push(
      `converge: ${c.app} Application reconciles (${(c.app / r.size).toFixed(2)} per app; ${c.appSeconds.toFixed(1)} s in total, ` +
        `mean ${((c.appSeconds / Math.max(c.app, 1)) * 1000).toFixed(0)} ms, p50 ${c.p50}, p95 ${c.p95}), ${c.repo} Repository reconciles; ` +
        `kube-apiserver CPU ${r.apiserverCpuConverge.toFixed(1)} s`,
    );
    if (r.late.length > 0)
      out.push(
        `late apps (Ready more than 60 s after 90 % were): ${r.late.length}: ${r.late.slice(0, 10).join(', ')}`,
      );
    const mine = pick(r.convergeRequests, isCapstanKey);
    const others = pick(r.convergeRequests, (k) => !isCapstanKey(k));
    out.push(
      `converge API requests, the controller's (see isCapstanKey): ${sum(mine)} (${(sum(mine) / r.size).toFixed(1)} per app): ` +
        formatCounts(mine, 30),
    );
    out.push(
      `  of which writes: ${sum(writesOf(mine))} (${(sum(writesOf(mine)) / r.size).toFixed(1)} per app): ` +
        formatCounts(writesOf(mine), 20),
    );
    out.push(
      `converge API requests, other clients (controller-manager, scheduler, kwok; Events from both): ${sum(others)}: ` +
        formatCounts(others, 20),
    );
    if (r.idle) {
      const i = r.idle;
      const scale = i.seconds / r.baseline.seconds;
      out.push('');
      out.push(
        `idle window ${i.seconds.toFixed(0)} s: controller CPU ${i.cpu.toFixed(2)} s (+ ${i.childCpu.toFixed(2)} s in git), kube-apiserver CPU ${i.apiserverCpu.toFixed(2)} s, ` +
          `${i.reconciles} reconciles; watches open mid-window ${sum(i.watches)}, before the controller ` +
          `${sum(i.baselineWatches)}; difference: ${formatCounts(minus(i.watches, i.baselineWatches))}`,
      );
      out.push(
        `objects whose resourceVersion changed in the window: ${
          Object.entries(i.changed)
            .map(([g, keys]) => `${g} ${keys.length} (${keys.slice(0, 3).join(', ')})`)
            .join('; ') || 'none'
        }`,
      );
      // Other clients' watch re-opens (informers reconnect every 5–10 min) fill a page: one row.
      const otherWatch = (k: string): boolean => k.startsWith('WATCH ') && !isCapstanKey(k);
      const folded = (counts: Counts): Counts => {
        const out: Counts = {};
        for (const [k, v] of Object.entries(counts)) {
          const key = otherWatch(k) ? 'WATCH (other clients, all resources)' : k;
          out[key] = (out[key] ?? 0) + v;
        }
        return out;
      };
      const idleCounts = folded(i.requests);
      const baseCounts = folded(r.baseline.requests);
      const idleRows = [...new Set([...Object.keys(idleCounts), ...Object.keys(baseCounts)])]
        .sort()
        .map((k) => {
          const raw = idleCounts[k] ?? 0;
          const baseScaled = (baseCounts[k] ?? 0) * scale;
          const net = raw - baseScaled;
          return [
            k,
            `${isCapstanKey(k) ? 'controller' : 'others'}${isWrite(k) ? ', write' : ''}`,
            String(raw),
            baseScaled.toFixed(1),
            net.toFixed(1),
            ((net * 3600) / i.seconds).toFixed(0),
          ];
        })
        .filter((row) => row[2] !== '0' || row[3] !== '0.0');
      out.push('');
      out.push(
        table(
          [
            'request',
            '',
            `idle ${i.seconds.toFixed(0)} s`,
            `baseline ×${scale.toFixed(2)}`,
            'net (controller)',
            'net per hour',
          ],
          idleRows,
        ),
      );
    }
    if (r.commit) {
      const k = r.commit;
      out.push('');
      out.push(
        `one commit (${k.target}'s ConfigMap), announced by annotating the Repository: ${k.target} Ready at the new commit ` +
          `${s(k.readySeconds, 2)} after the annotation; the controller was quiet after ${s(k.quietSeconds)}` +
          `${k.quietReached ? '' : ' (NOT reached)'}; ${k.reconciles} reconciles, ${k.cpu.toFixed(2)} CPU s (+ ${k.childCpu.toFixed(2)} s in git)`,
      );
      const kMine = pick(k.requests, isCapstanKey);
      out.push(`  controller's requests: ${sum(kMine)}: ${formatCounts(kMine, 20)}`);
      out.push(`  controller's writes: ${sum(writesOf(kMine))}: ${formatCounts(writesOf(kMine), 20)}`);
      out.push(
        `  other clients: ${formatCounts(
          pick(k.requests, (key) => !isCapstanKey(key)),
          20,
        )}`,
      );
      out.push(
        `  resourceVersion changes: ${
          Object.entries(k.changed)
            .map(
              ([g, keys]) =>
                `${g} ${keys.length} (${keys.slice(0, 3).join(', ')}${keys.length > 3 ? ', …' : ''})`,
            )
            .join('; ') || 'none'
        }`,
      );
    }
    out.push('');
    out.push(`controller log: ${r.log.lines} lines; ${formatCounts(r.log.messages, 10)}`);
    for (const w of r.log.warnings) out.push(`  warn: ${w}`);
  }
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const loadStart = loadavg();
  const work = await mkdtemp(join(tmpdir(), 'capstan-apps-bench-'));
  log(`work folder ${work}`);
  log('starting the control plane (with controller-manager, scheduler and kwok) …');
  const cp = await startControlPlane({ workloads: true, progress: (line) => log(`  ${line}`) });
  let gitServer: GitHttpServer | undefined;
  let kube: HttpKubeClient | undefined;
  const results: SizeResult[] = [];
  try {
    const api: LoopbackApi = {
      server: cp.server,
      caCertificate: cp.caCertificate,
      token: cp.users.admin.token,
    };
    kube = await createKubeClient({ kubeconfig: cp.kubeconfig, fieldManager: 'bench' });
    const apiserver = cp.processes.find((p) => p.name === 'kube-apiserver');
    if (!apiserver) throw new Error('the control plane has no kube-apiserver process');
    for (const crd of crds()) await kube.apply(crd as KubeObject, { force: true });
    for (const kind of ['Repository', 'Application'])
      await kube.mapper.waitForMapping(GROUP, kind, { timeoutMs: 60_000 });
    await installSingleTeamApplier(kube);
    const gitRoot = join(work, 'git');
    await mkdir(gitRoot, { recursive: true });
    gitServer = await startGitHttpServer({ root: gitRoot });
    log(`warming up ${WARMUP_S} s (the controller-manager's start-up work) …`);
    await sleep(WARMUP_S * 1000);
    const m0 = await apiMetrics(api);
    const scrapeCost = minus((await apiMetrics(api)).requests, m0.requests);
    const env: Env = { cp, api, kube, gitServer, gitRoot, work, apiserverPid: apiserver.pid, scrapeCost };
    for (const size of SIZES) results.push(await runSize(env, size));
  } finally {
    const loadEnd = loadavg();
    if (results.length > 0) console.log(report(results, loadStart, loadEnd));
    kube?.close();
    await gitServer?.close();
    await cp.stop();
    if (flags.keep) log(`kept ${work} (controller logs)`);
    else await rm(work, { recursive: true, force: true });
  }
}

await main();
