/**
 * The dashboard in a real browser, at scale: N Applications (default 10,000) with statuses in a real
 * API server (the local control plane, etcd and kube-apiserver only: no controller runs, so nothing
 * reconciles them), the dashboard started in this process (`startLocalDashboard`, the UI built from
 * web/ into a temporary folder), Debian's chromium driven by playwright-core. It measures:
 *   1. first meaningful paint of the list: a new page opens `/` logged in → the first
 *      `tr[data-app]` row is visible; cold (a new browser context, log-in by `#token`) and warm
 *      (`--loads` new pages of the logged-in context), with the page's own Performance API figures;
 *   2. time to apply a filter: text put into the "Search" box, or a health chip clicked → the rows
 *      reflect it, timed in the page (`--filters` runs of each);
 *   3. the server under churn: `--browsers` pages open on the list while a child process patches
 *      the status subresource of random apps at `--rate` writes per second for `--minutes`; the
 *      dashboard's RSS, heap after GC and CPU sampled every `--sample` seconds; each write followed
 *      to the API server's answer, the dashboard's cache, a control watch in the writer's process,
 *      and each page's EventSource listener (counts and latencies).
 * A benchmark, not a test: it prints figures (Markdown) and asserts no target. See bench/README.md,
 * "The dashboard in a browser".
 *
 *   npm run bench:dashboard                                  # 10,000 apps, 10 minutes of churn
 *   npm run bench:dashboard -- --apps 200 --minutes 0.2      # a quick look
 *
 * Flags: --apps (10000), --namespaces (20), --repositories (12), --concurrency (32, requests in
 * flight while creating the apps), --loads (10 warm loads), --filters (20), --browsers (5),
 * --rate (100 status writes per second), --minutes (10), --sample (10 s), --idle (20 s: the
 * baseline with the pages open and no writes), --row-timeout (60 s: how long a page may take to
 * show its first row), --browser-nice (10: chromium's priority during part 3, where the browsers
 * would otherwise take the CPU the API server and the dashboard need; 0 leaves it alone),
 * --heap-snapshots DIR (diagnostics: V8 heap snapshots of this process when the writes start and
 * end; they pause it for seconds).
 *
 * Run it with `--expose-gc` (the npm script does): heap figures are read after a full GC.
 * `--writer` is internal: the status writer, forked from this file so that its CPU is not the
 * dashboard's.
 */
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { cpus, loadavg, setPriority, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeHeapSnapshot } from 'node:v8';
import pLimit from 'p-limit';
import { pino } from 'pino';
import { chromium, type Browser, type BrowserContext, type CDPSession, type Page } from 'playwright-core';
import { crds } from '../src/api/crds.js';
import { API_VERSION, GROUP, VERSION, type Application } from '../src/api/v1alpha1.js';
import type { KubeObject } from '../src/core/objects.js';
import { sleep } from '../src/core/time.js';
import { startControlPlane, type ControlPlane } from '../src/dev/controlplane.js';
import { createKubeClient, startInformer, type HttpKubeClient } from '../src/kube/index.js';
import { startLocalDashboard, type LocalDashboard } from '../src/server/dashboard/serve.js';
import { table } from './markdown.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SELF = fileURLToPath(import.meta.url);

const { values: flags } = parseArgs({
  options: {
    apps: { type: 'string', default: '10000' },
    namespaces: { type: 'string', default: '20' },
    repositories: { type: 'string', default: '12' },
    concurrency: { type: 'string', default: '32' },
    loads: { type: 'string', default: '10' },
    filters: { type: 'string', default: '20' },
    browsers: { type: 'string', default: '5' },
    rate: { type: 'string', default: '100' },
    minutes: { type: 'string', default: '10' },
    sample: { type: 'string', default: '10' },
    idle: { type: 'string', default: '20' },
    'row-timeout': { type: 'string', default: '60' },
    'browser-nice': { type: 'string', default: '10' },
    // Diagnostics: write V8 heap snapshots of this process into DIR when the writes start and end.
    'heap-snapshots': { type: 'string' },
    // Internal: run as the status writer (forked by the bench).
    writer: { type: 'boolean', default: false },
    kubeconfig: { type: 'string' },
  },
});
const APPS = Number(flags.apps);
const NAMESPACES = Number(flags.namespaces);
const REPOSITORIES = Number(flags.repositories);
const CONCURRENCY = Number(flags.concurrency);
const LOADS = Number(flags.loads);
const FILTERS = Number(flags.filters);
const BROWSERS = Number(flags.browsers);
const RATE = Number(flags.rate);
const MINUTES = Number(flags.minutes);
const SAMPLE_S = Number(flags.sample);
const IDLE_S = Number(flags.idle);
const ROW_TIMEOUT_MS = Number(flags['row-timeout']) * 1000;
const BROWSER_NICE = Number(flags['browser-nice']);
if (!Number.isInteger(BROWSER_NICE) || BROWSER_NICE < 0 || BROWSER_NICE > 19)
  throw new Error('--browser-nice must be 0–19');
for (const [name, value] of Object.entries({
  apps: APPS,
  namespaces: NAMESPACES,
  repositories: REPOSITORIES,
  concurrency: CONCURRENCY,
  browsers: BROWSERS,
}))
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} must be a positive integer`);
for (const [name, value] of Object.entries({ loads: LOADS, filters: FILTERS }))
  if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} must be a whole number`);
for (const [name, value] of Object.entries({ rate: RATE, minutes: MINUTES, sample: SAMPLE_S }))
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
if (!Number.isFinite(IDLE_S) || IDLE_S < 0) throw new Error('--idle must be a number of seconds');

const CHROMIUM_PATH = process.env.CAPSTAN_CHROMIUM ?? '/usr/bin/chromium';
/** As test/support/browser.ts, plus what lets the bench read a page's heap after a GC. */
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--enable-precise-memory-info',
  '--js-flags=--expose-gc',
];
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
const PAGE_BYTES = Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).trim());
const MiB = 2 ** 20;

const log = (text: string): void => console.error(`[${new Date().toISOString().slice(11, 19)}] ${text}`);

// ── the Applications ──────────────────────────────────────────────────────────────────────────────

const pad = (n: number, width: number): string => String(n).padStart(width, '0');
const namespaceOf = (i: number): string => `bench-team-${pad(i % NAMESPACES, 2)}`;
const appName = (i: number): string => `app-${pad(i, 5)}`;

/** A fixed pseudo-random number in [0, 1) for app `i` and a purpose: the same every run. */
function unit(i: number, salt: number): number {
  let x = (i + 1) * 0x9e3779b1 + salt * 0x85ebca6b;
  x = Math.imul(x ^ (x >>> 16), 0x21f0aaad);
  x = Math.imul(x ^ (x >>> 15), 0x735a2d97);
  return ((x ^ (x >>> 15)) >>> 0) / 2 ** 32;
}

function weighted<T extends string>(choices: readonly (readonly [T, number])[], u: number): T {
  let acc = 0;
  for (const [value, weight] of choices) {
    acc += weight;
    if (u < acc) return value;
  }
  return choices[choices.length - 1]![0];
}

/** A fleet that is mostly fine, as real ones are. */
const HEALTH = [
  ['Healthy', 0.7],
  ['Progressing', 0.08],
  ['Degraded', 0.08],
  ['Missing', 0.04],
  ['Suspended', 0.05],
  ['Unknown', 0.05],
] as const;
const SYNC = [
  ['Synced', 0.8],
  ['OutOfSync', 0.12],
  ['Waiting', 0.04],
  ['Unknown', 0.04],
] as const;
const TIERS = ['frontend', 'backend', 'data'] as const;
const ENVS = ['prod', 'staging', 'dev'] as const;
const sha = (i: number, salt: number): string =>
  Array.from({ length: 5 }, (_, k) =>
    Math.floor(unit(i, salt + k) * 2 ** 32)
      .toString(16)
      .padStart(8, '0'),
  ).join('');

function application(i: number): Application {
  return {
    apiVersion: API_VERSION,
    kind: 'Application',
    metadata: {
      namespace: namespaceOf(i),
      name: appName(i),
      labels: {
        'app.kubernetes.io/part-of': 'dashboard-bench',
        tier: TIERS[i % TIERS.length]!,
        env: ENVS[Math.floor(unit(i, 1) * ENVS.length)]!,
        team: `team-${pad(i % NAMESPACES, 2)}`,
      },
    },
    spec: {
      sourceRef: { name: `repo-${pad(Math.floor(unit(i, 2) * REPOSITORIES), 2)}` },
      ref: unit(i, 3) < 0.2 ? 'production' : 'main',
      path: `apps/${appName(i)}`,
    },
  } as Application;
}

function applicationStatus(i: number): Application['status'] {
  const health = weighted(HEALTH, unit(i, 4));
  const sync = weighted(SYNC, unit(i, 5));
  const ready = health === 'Healthy' && sync === 'Synced';
  const revision = sha(i, 6);
  const finished = Date.now() - Math.floor(unit(i, 7) * 30 * 24 * 3600_000);
  return {
    conditions: [
      {
        type: 'Ready',
        status: ready ? 'True' : 'False',
        reason: ready ? 'Synced' : health === 'Degraded' ? 'HealthDegraded' : 'Progressing',
        message: ready ? `applied revision ${revision.slice(0, 7)}` : `health is ${health}`,
        lastTransitionTime: new Date(finished).toISOString(),
      },
    ],
    health: { status: health, message: `initial status at ${new Date(finished).toISOString()}` },
    sync: { status: sync, revision },
    lastAppliedRevision: {
      sha: revision,
      ref: 'main',
      message: `Bump the image (#${Math.floor(unit(i, 8) * 9000) + 1000})`,
      author: 'Bench Author',
      date: new Date(finished - 60_000).toISOString(),
    },
    history: [
      {
        id: 1,
        revision,
        trigger: 'commit',
        startedAt: new Date(finished - 4_000).toISOString(),
        finishedAt: new Date(finished).toISOString(),
        durationSeconds: 4,
        result: 'Succeeded',
        health,
      },
    ],
  };
}

// ── the status writer (a child process) ───────────────────────────────────────────────────────────

type ToWriter = { type: 'start'; rate: number; seconds: number };
type FromWriter =
  | { type: 'ready' }
  | { type: 'progress'; writes: number; failures: number }
  | {
      type: 'done';
      writes: number;
      failures: number;
      firstError?: string;
      seconds: number;
      /** Most writes due but not sent at once (the in-flight bound was reached). */
      maxBehind: number;
      latencyMs: { p50: number; p95: number; max: number };
      /** Per write number: when it was sent, and when its answer came (ms since the epoch; null: failed). */
      sentAt: (number | null)[];
      answeredAt: (number | null)[];
      cpuSeconds: number;
    }
  | {
      type: 'seen';
      /** Per write number: when the writer's own watch (a control) saw it; null: not within 30 s. */
      seenAt: (number | null)[];
    };

const WRITER_IN_FLIGHT = 64;
const WRITER_MANAGER = 'bench-writer';

/** Patches the status subresource of random apps at a steady rate, when told to start. */
async function runWriter(): Promise<void> {
  if (!flags.kubeconfig) throw new Error('--writer needs --kubeconfig');
  const send = (message: FromWriter): void => void process.send?.(message);
  // The bench went away (crashed, interrupted): so does the writer.
  process.on('disconnect', () => process.exit(0));
  const kube = await createKubeClient({
    kubeconfigPath: flags.kubeconfig,
    fieldManager: WRITER_MANAGER,
    maxSockets: WRITER_IN_FLIGHT,
  });
  await kube.mapper.waitForMapping(GROUP, 'Application', { timeoutMs: 60_000 });
  await kube.get({ group: GROUP, kind: 'Application', namespace: namespaceOf(0), name: appName(0) });
  // A control: a watch of its own, in this other process, notes when each write comes back. Lag here
  // as well as in the dashboard's cache is the API server's; lag in the dashboard's alone is its own.
  const seenAt: (number | null)[] = [];
  const stopWatch = new AbortController();
  const control = startInformer<Application>(kube, {
    group: GROUP,
    version: VERSION,
    kind: 'Application',
    signal: stopWatch.signal,
    onUpdate: (_previous, app) => {
      const match = /^bench write (\d+) at /.exec(app.status?.health?.message ?? '');
      if (match) seenAt[Number(match[1])] = Date.now();
    },
  });
  await control.synced;
  const start = await new Promise<ToWriter>((resolve) => {
    process.once('message', (message) => resolve(message as ToWriter));
    send({ type: 'ready' });
  });
  const cpuBefore = process.cpuUsage();
  const latencies: number[] = [];
  const sentAt: (number | null)[] = [];
  const answeredAt: (number | null)[] = [];
  let writes = 0;
  let failures = 0;
  let firstError: string | undefined;
  let issued = 0;
  let inFlight = 0;
  let maxBehind = 0;
  const pending = new Set<Promise<void>>();
  const HEALTHS = HEALTH.map(([h]) => h);
  const SYNCS = SYNC.map(([s]) => s);
  const write = async (k: number): Promise<void> => {
    const i = Math.floor(Math.random() * APPS);
    const health = HEALTHS[Math.floor(Math.random() * HEALTHS.length)]!;
    const t = performance.now();
    const sent = new Date();
    sentAt[k] = sent.getTime();
    try {
      await kube.patch(
        { group: GROUP, kind: 'Application', namespace: namespaceOf(i), name: appName(i) },
        {
          status: {
            // A new message each time: every write changes what the list shows, so each is an event.
            health: { status: health, message: `bench write ${k} at ${sent.toISOString()}` },
            sync: { status: SYNCS[Math.floor(Math.random() * SYNCS.length)]! },
          },
        },
        'merge',
        { subresource: 'status' },
      );
      writes++;
      latencies.push(performance.now() - t);
      answeredAt[k] = Date.now();
    } catch (error) {
      failures++;
      firstError ??= String(error);
    }
  };
  const began = performance.now();
  let lastProgress = began;
  for (;;) {
    const now = performance.now();
    const elapsed = now - began;
    if (elapsed >= start.seconds * 1000) break;
    const due = Math.floor((elapsed * start.rate) / 1000);
    while (issued < due && inFlight < WRITER_IN_FLIGHT) {
      inFlight++;
      const p: Promise<void> = write(issued++).finally(() => {
        inFlight--;
        pending.delete(p);
      });
      pending.add(p);
    }
    maxBehind = Math.max(maxBehind, due - issued);
    if (now - lastProgress >= 1000) {
      lastProgress = now;
      send({ type: 'progress', writes, failures });
    }
    await sleep(5);
  }
  await Promise.all(pending);
  const seconds = (performance.now() - began) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const sorted = latencies.sort((a, b) => a - b);
  send({
    type: 'done',
    writes,
    failures,
    ...(firstError ? { firstError } : {}),
    seconds,
    maxBehind,
    latencyMs: { p50: quantile(sorted, 0.5), p95: quantile(sorted, 0.95), max: sorted.at(-1) ?? NaN },
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    sentAt: Array.from({ length: issued }, (_, k) => sentAt[k] ?? null),
    answeredAt: Array.from({ length: issued }, (_, k) => answeredAt[k] ?? null),
  });
  // The control watch's view, once it has seen every write answered (or nothing more for 30 s).
  let lastCount = -1;
  let lastMove = performance.now();
  for (;;) {
    let count = 0;
    let missing = false;
    for (let k = 0; k < issued; k++) {
      if (seenAt[k] != null) count++;
      else if (answeredAt[k] != null) missing = true;
    }
    if (!missing) break;
    if (count !== lastCount) {
      lastCount = count;
      lastMove = performance.now();
    } else if (performance.now() - lastMove > 30_000) break;
    await sleep(250);
  }
  stopWatch.abort();
  send({ type: 'seen', seenAt: Array.from({ length: issued }, (_, k) => seenAt[k] ?? null) });
  kube.close();
  // Stays until the bench disconnects or stops it: exiting now could overtake the message above.
}

interface Writer {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Latest progress. */
  readonly progress: { writes: number; failures: number };
  run(rate: number, seconds: number): Promise<Extract<FromWriter, { type: 'done' }>>;
  /** The control watch's times, after `run`. */
  readonly seen: Promise<(number | null)[]>;
  stop(): Promise<void>;
}

async function startWriter(kubeconfigPath: string): Promise<Writer> {
  const child = fork(
    SELF,
    ['--writer', '--kubeconfig', kubeconfigPath, '--apps', String(APPS), '--namespaces', String(NAMESPACES)],
    { cwd: ROOT, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const progress = { writes: 0, failures: 0 };
  let onDone: ((message: Extract<FromWriter, { type: 'done' }>) => void) | undefined;
  let onSeen!: (seenAt: (number | null)[]) => void;
  const seen = new Promise<(number | null)[]>((r) => (onSeen = r));
  let ready!: () => void;
  const readyNow = new Promise<void>((r) => (ready = r));
  child.on('message', (raw) => {
    const message = raw as FromWriter;
    if (message.type === 'ready') ready();
    else if (message.type === 'progress') Object.assign(progress, message);
    else if (message.type === 'done') onDone?.(message);
    else if (message.type === 'seen') onSeen(message.seenAt);
  });
  await Promise.race([
    readyNow,
    exited.then(() => {
      throw new Error(`the status writer exited (${child.exitCode ?? child.signalCode}) before it was ready`);
    }),
  ]);
  return {
    child,
    pid: child.pid!,
    progress,
    seen,
    run: (rate, seconds) =>
      new Promise((resolve, reject) => {
        onDone = resolve;
        void exited.then(() => reject(new Error('the status writer exited while writing')));
        child.send({ type: 'start', rate, seconds } satisfies ToWriter);
      }),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

// ── figures ───────────────────────────────────────────────────────────────────────────────────────

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!;
}
function stats(values: readonly (number | null | undefined)[]): { p50: number; p95: number; max: number } {
  const sorted = values.filter((v): v is number => typeof v === 'number' && !Number.isNaN(v));
  sorted.sort((a, b) => a - b);
  return { p50: quantile(sorted, 0.5), p95: quantile(sorted, 0.95), max: sorted.at(-1) ?? NaN };
}
const fmtMs = (v: number | null | undefined): string =>
  v === null || v === undefined || Number.isNaN(v)
    ? '-'
    : `${Math.abs(v) < 10 ? v.toFixed(1) : Math.round(v)} ms`;
const fmtMiB = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;
const pct = (v: number): string => (Number.isNaN(v) ? '-' : `${v.toFixed(1)} %`);

/** Least-squares slope of y over x. */
function slope(points: readonly (readonly [number, number])[]): number {
  const n = points.length;
  if (n < 2) return NaN;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxy = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return sxx === 0 ? NaN : sxy / sxx;
}

interface ProcTimes {
  readonly cpu: number;
  readonly rss: number;
  /** How many of the processes were there. */
  readonly found: number;
}

/** utime+stime (s) and RSS (bytes) of processes, from /proc; a missing process counts 0. */
async function procTimes(pids: readonly number[]): Promise<ProcTimes> {
  let cpu = 0;
  let rss = 0;
  let found = 0;
  for (const pid of pids) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
    if (!stat) continue;
    found++;
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    cpu += (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
    rss += Number(fields[21]) * PAGE_BYTES;
  }
  return { cpu, rss, found };
}

/** Every descendant of `root` (chromium's processes are children of this one), but not `except`'s tree. */
async function descendants(root: number, except: readonly number[]): Promise<number[]> {
  const children = new Map<number, number[]>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => undefined);
    if (!stat) continue;
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(entry));
    children.set(ppid, list);
  }
  const out: number[] = [];
  const walk = (pid: number): void => {
    for (const child of children.get(pid) ?? []) {
      if (except.includes(child)) continue;
      out.push(child);
      walk(child);
    }
  };
  walk(root);
  return out;
}

const gc = (globalThis as { gc?: () => void }).gc;

// ── in the page ───────────────────────────────────────────────────────────────────────────────────

/**
 * Installed in every page before the app's own scripts (plain JavaScript: it runs in the browser).
 * It counts what the page's own EventSource receives (the constructor is wrapped, so the app's
 * stream is the one counted: no second stream is opened), counts and times the page's fetches,
 * notes when the first `tr[data-app]` enters the DOM (a MutationObserver from the start), and
 * offers `measure` (a filter action, timed).
 */
const INSTRUMENT = String.raw`(() => {
  if (window.__bench) return;
  const bench = {
    events: { app: 0, ready: 0, errors: 0, opened: 0 },
    // Per bench write number: when this page's EventSource listener got it (ms since the epoch).
    received: null,
    longTasks: [],
    fetches: {},
    appFetches: [],
    firstRowAt: null,
    firstRowFrameAt: null,
    lcp: null,
  };
  Object.defineProperty(window, '__bench', { value: bench });

  const NativeEventSource = window.EventSource;
  window.EventSource = class extends NativeEventSource {
    constructor(url, init) {
      super(url, init);
      bench.events.opened++;
      this.addEventListener('app', (message) => {
        bench.events.app++;
        // The status writer's message carries its write's number.
        const match = bench.received && /bench write (\d+) at /.exec(message.data);
        if (match && Number(match[1]) < bench.received.length) bench.received[Number(match[1])] = Date.now();
      });
      this.addEventListener('ready', () => { bench.events.ready++; });
      this.addEventListener('error', () => { bench.events.errors++; });
    }
  };

  const nativeFetch = window.fetch.bind(window);
  window.fetch = (input, init) => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? String(input) : input.url, location.href);
    bench.fetches[url.pathname] = (bench.fetches[url.pathname] || 0) + 1;
    if (url.pathname !== '/api/v1/apps') return nativeFetch(input, init);
    const entry = { search: url.search, start: performance.now(), end: null };
    bench.appFetches.push(entry);
    if (bench.appFetches.length > 200) bench.appFetches.splice(0, 100);
    const done = () => { entry.end = performance.now(); };
    const answer = nativeFetch(input, init);
    answer.then(done, done);
    return answer;
  };

  const afterFrame = (then) => requestAnimationFrame(() => setTimeout(then, 0));
  const observer = new MutationObserver(() => {
    if (bench.firstRowAt !== null || !document.querySelector('tr[data-app]')) return;
    bench.firstRowAt = performance.now();
    observer.disconnect();
    afterFrame(() => { bench.firstRowFrameAt = performance.now(); });
  });
  observer.observe(document, { childList: true, subtree: true });
  try {
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) bench.lcp = entry.renderTime || entry.startTime;
    }).observe({ type: 'largest-contentful-paint', buffered: true });
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries())
        if (bench.longTasks.length < 1000) bench.longTasks.push([entry.startTime, entry.duration]);
    }).observe({ type: 'longtask', buffered: true });
  } catch {}

  bench.paintMetrics = () => {
    const nav = performance.getEntriesByType('navigation')[0];
    const fcp = performance.getEntriesByName('first-contentful-paint')[0];
    const resources = performance.getEntriesByType('resource').map((e) => ({
      path: new URL(e.name).pathname,
      search: new URL(e.name).search,
      start: e.startTime,
      firstByte: e.responseStart,
      end: e.responseEnd,
      transferred: e.transferSize,
      decoded: e.decodedBodySize,
    }));
    return {
      firstRowAt: bench.firstRowAt,
      firstRowFrameAt: bench.firstRowFrameAt,
      // Main-thread tasks over 50 ms before the first row: what kept the page busy.
      longTasksMs: bench.longTasks
        .filter(([start]) => bench.firstRowAt !== null && start < bench.firstRowAt)
        .reduce((sum, [, duration]) => sum + duration, 0),
      // The same, from the list's answer (GET /api/v1/apps done) to the first row: rendering it.
      longTasksAfterAppsMs: (() => {
        const apps = resources.find((r) => r.path === '/api/v1/apps');
        if (!apps || bench.firstRowAt === null) return null;
        return bench.longTasks.reduce((sum, [start, duration]) => {
          const from = Math.max(start, apps.end);
          const to = Math.min(start + duration, bench.firstRowAt);
          return sum + Math.max(0, to - from);
        }, 0);
      })(),
      fcp: fcp ? fcp.startTime : null,
      lcp: bench.lcp,
      responseEnd: nav ? nav.responseEnd : null,
      domContentLoaded: nav ? nav.domContentLoadedEventEnd : null,
      load: nav ? nav.loadEventEnd : null,
      resources,
    };
  };

  bench.rows = () => Array.from(document.querySelectorAll('tr[data-app]'), (r) => r.getAttribute('data-app'));

  // One filter action, timed: 'search' puts the query into the input marked data-bench-search (one
  // input event, as a paste); 'chip' clicks the health chip marked data-bench-chip. Then waits until
  // the rows differ from before and reflect it: every row contains the query, or (expect 'only')
  // has that health; (expect 'changed') any change.
  bench.measure = (spec, timeoutMs) => new Promise((resolve) => {
    const target = spec.kind === 'search'
      ? document.querySelector('[data-bench-search]')
      : document.querySelector('[data-bench-chip="' + spec.health + '"]');
    if (!target) return resolve({ error: 'no element for ' + JSON.stringify(spec) });
    const before = bench.rows().join('\n');
    const q = spec.kind === 'search' ? spec.query.toLowerCase() : '';
    const reflected = () => {
      const cells = Array.from(document.querySelectorAll('tr[data-app]'));
      const rows = cells.map((r) => r.getAttribute('data-app'));
      if (rows.length === 0 || rows.join('\n') === before) return false;
      if (spec.kind === 'search') return rows.every((k) => k.toLowerCase().includes(q));
      if (spec.expect === 'only') return cells.every((r) => r.getAttribute('data-health') === spec.health);
      return true;
    };
    const fetchesBefore = bench.appFetches.length;
    let t0 = 0;
    let finished = false;
    let timer = 0;
    const finish = (timedOut) => {
      if (finished) return;
      finished = true;
      const dom = performance.now();
      observer.disconnect();
      clearTimeout(timer);
      afterFrame(() => {
        const fetches = bench.appFetches.slice(fetchesBefore);
        const last = fetches[fetches.length - 1];
        resolve({
          domMs: dom - t0,
          frameMs: performance.now() - t0,
          timedOut,
          rows: bench.rows().length,
          fetches: fetches.length,
          requestAtMs: fetches.length ? fetches[0].start - t0 : null,
          firstAnswerAtMs: fetches.length && fetches[0].end !== null ? fetches[0].end - t0 : null,
          responseAtMs: last && last.end !== null ? last.end - t0 : null,
        });
      });
    };
    const observer = new MutationObserver(() => { if (reflected()) finish(false); });
    observer.observe(document.body, { childList: true, subtree: true, characterData: true, attributes: true });
    timer = setTimeout(() => finish(true), timeoutMs);
    t0 = performance.now();
    if (spec.kind === 'search') {
      Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set.call(target, spec.query);
      target.dispatchEvent(new Event('input', { bubbles: true }));
    } else target.click();
  });

  // Before the churn: room for n writes' arrival times (outside the JS heap).
  bench.expect = (n) => { bench.received = new Float64Array(n); };
  bench.receivedTimes = () => Array.from(bench.received || []);

  bench.memory = () => {
    if (typeof window.gc === 'function') window.gc();
    return performance.memory ? performance.memory.usedJSHeapSize : null;
  };
})();`;

interface PaintMetrics {
  firstRowAt: number | null;
  firstRowFrameAt: number | null;
  longTasksMs: number;
  longTasksAfterAppsMs: number | null;
  fcp: number | null;
  lcp: number | null;
  responseEnd: number | null;
  domContentLoaded: number | null;
  load: number | null;
  resources: {
    path: string;
    search: string;
    start: number;
    firstByte: number;
    end: number;
    transferred: number;
    decoded: number;
  }[];
}
interface FilterRun {
  error?: string;
  domMs: number;
  frameMs: number;
  timedOut: boolean;
  rows: number;
  fetches: number;
  requestAtMs: number | null;
  /** When the first request's answer came (its headers: the fetch resolved). */
  firstAnswerAtMs: number | null;
  responseAtMs: number | null;
}
type MeasureSpec =
  { kind: 'search'; query: string } | { kind: 'chip'; health: string; expect: 'only' | 'changed' };
/** The health chips clicked in part 2: the states other than the most common. */
const CHIP_STATES = ['Degraded', 'Progressing', 'Missing', 'Suspended', 'Unknown'] as const;
const FILTER_TIMEOUT_MS = 10_000;
/** A page's main thread, seconds since it opened (Chrome's Performance.getMetrics). */
interface MainThread {
  task: number;
  script: number;
  /** Layout and style recalculation. */
  layout: number;
}
interface PageCounters {
  events: { app: number; ready: number; errors: number; opened: number };
  fetches: Record<string, number>;
}

const counters = (page: Page): Promise<PageCounters> =>
  page.evaluate('({ events: { ...window.__bench.events }, fetches: { ...window.__bench.fetches } })');
const pageHeap = (page: Page): Promise<number | null> => page.evaluate('window.__bench.memory()');

interface LoadResult {
  /** From page.goto to the first row visible, as the test side sees it. */
  wallMs: number;
  metrics: PaintMetrics;
}

/** Opens `url` in a new page of `context` and waits for the first row; the page stays open. */
async function loadList(context: BrowserContext, url: string): Promise<{ page: Page; result: LoadResult }> {
  const page = await context.newPage();
  const started = performance.now();
  await page.goto(url, { waitUntil: 'commit' });
  await page.locator('tr[data-app]').first().waitFor({ state: 'visible', timeout: ROW_TIMEOUT_MS });
  const wallMs = performance.now() - started;
  // The frame after the first row: give it a moment to be noted.
  await page.waitForFunction('window.__bench.firstRowFrameAt !== null', undefined, { timeout: 5_000 });
  const metrics = (await page.evaluate('window.__bench.paintMetrics()')) as PaintMetrics;
  return { page, result: { wallMs, metrics } };
}

function loadRow(label: string, results: readonly LoadResult[], pick: 'p50' | 'p95' | 'one'): string[] {
  const q = (f: (r: LoadResult) => number | null | undefined): string => {
    const values = results.map(f);
    return fmtMs(pick === 'one' ? values[0] : stats(values)[pick]);
  };
  const api = (r: LoadResult, path: string, field: 'start' | 'firstByte' | 'end'): number | undefined =>
    r.metrics.resources.find((e) => e.path === path)?.[field];
  return [
    label,
    q((r) => r.wallMs),
    q((r) => r.metrics.firstRowAt),
    q((r) => r.metrics.firstRowFrameAt),
    q((r) => r.metrics.longTasksMs),
    q((r) => r.metrics.longTasksAfterAppsMs),
    q((r) => r.metrics.fcp),
    q((r) => r.metrics.lcp),
    q((r) => r.metrics.domContentLoaded),
    q((r) => api(r, '/api/v1/apps', 'start')),
    q((r) => api(r, '/api/v1/apps', 'firstByte')),
    q((r) => api(r, '/api/v1/apps', 'end')),
  ];
}

// ── the bench ─────────────────────────────────────────────────────────────────────────────────────

interface Sample {
  t: number;
  rss: number;
  heap: number;
  /** This process's CPU over the interval, forced GCs left out, % of one core. */
  cpu: number;
  writes: number;
  /** Bench writes the dashboard's cache has seen (its informer, before the streams). */
  indexed: number;
  /** Events received, summed over the pages. */
  events: number;
  apiserverCpu: number;
  browserCpu: number;
  writerCpu: number;
}

const cleanups: (() => Promise<unknown> | unknown)[] = [];
let cleaning: Promise<void> | undefined;
function cleanUp(): Promise<void> {
  cleaning ??= (async () => {
    for (const step of cleanups.splice(0).reverse()) {
      try {
        await step();
      } catch (error) {
        log(`clean-up: ${String(error)}`);
      }
    }
  })();
  return cleaning;
}

function cleanUpOnSignals(): void {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
    process.on(signal, () => {
      log(`${signal}: cleaning up …`);
      void cleanUp().finally(() => process.exit(130));
    });
}

/** What the steps share once the dashboard and the browser run. */
interface Bench {
  dashboard: LocalDashboard;
  newContext: () => Promise<BrowserContext>;
  writer: Writer;
  apiserverPid: number;
  /** What went wrong or could not be measured, for the report's notes. */
  notes: string[];
}

async function main(): Promise<void> {
  cleanUpOnSignals();
  if (!gc) log('run with --expose-gc (npm run bench:dashboard does) for heap figures after GC');
  const loadStart = loadavg();
  const startedAt = new Date();
  const work = await mkdtemp(join(tmpdir(), 'capstan-dashboard-bench-'));
  cleanups.push(() => rm(work, { recursive: true, force: true }));

  const ui = await buildUi(work);
  const cluster = await startCluster();
  const createS = await createApps(cluster.admin);
  const writer = await startWriter(cluster.cp.kubeconfigPath);
  cleanups.push(() => writer.stop());
  const server = await startDashboard(cluster.cp, ui.assets);
  const newContext = await launchBrowser();
  const bench: Bench = {
    dashboard: server.dashboard,
    newContext,
    writer,
    apiserverPid: cluster.apiserverPid,
    notes: [],
  };
  const pages = await measurePages(bench);
  const churn = await measureChurn(bench);
  const loadEnd = loadavg();
  report({
    startedAt,
    loadStart,
    loadEnd,
    createS,
    assetBytes: ui.assetBytes,
    server,
    notes: bench.notes,
    pages,
    churn,
  });
}

// ── setting up ────────────────────────────────────────────────────────────────────────────────────

/** Builds the browser app from web/ into a folder of `work`. */
async function buildUi(work: string): Promise<{ assets: string; assetBytes: number }> {
  log('building the browser app …');
  const assets = join(work, 'dashboard');
  const built = performance.now();
  await new Promise<void>((done, fail) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        "await (await import('./scripts/build.ts')).buildDashboard(process.argv[1]);",
        assets,
      ],
      { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] },
    );
    child.once('exit', (code) => (code === 0 ? done() : fail(new Error(`the UI build failed (${code})`))));
  });
  const assetFiles = await readdir(join(assets, 'assets'));
  let assetBytes = 0;
  for (const file of assetFiles) assetBytes += (await readFile(join(assets, 'assets', file))).length;
  log(
    `built in ${((performance.now() - built) / 1000).toFixed(1)} s (${(assetBytes / 1024).toFixed(0)} KiB of assets)`,
  );
  return { assets, assetBytes };
}

interface Cluster {
  cp: ControlPlane;
  apiserverPid: number;
  admin: HttpKubeClient;
}

/** The control plane, the CRDs and the namespaces. */
async function startCluster(): Promise<Cluster> {
  log('starting the control plane (etcd and kube-apiserver) …');
  const cp: ControlPlane = await startControlPlane({
    workloads: false,
    progress: (line) => log(`  ${line}`),
  });
  cleanups.push(() => cp.stop());
  const apiserverPid = cp.processes.find((p) => p.name === 'kube-apiserver')?.pid;
  if (!apiserverPid) throw new Error('the control plane has no kube-apiserver');

  const admin: HttpKubeClient = await createKubeClient({
    kubeconfig: cp.kubeconfig,
    fieldManager: 'bench',
    maxSockets: CONCURRENCY,
  });
  cleanups.push(() => admin.close());
  for (const crd of crds()) await admin.apply(crd as KubeObject, { force: true });
  await admin.mapper.waitForMapping(GROUP, 'Application', { timeoutMs: 60_000 });
  for (let n = 0; n < NAMESPACES; n++)
    await admin.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespaceOf(n) } });
  return { cp, apiserverPid, admin };
}

/** Creates the Applications with their statuses; returns the seconds it took. */
async function createApps(admin: HttpKubeClient): Promise<number> {
  log(`creating ${APPS} Applications with statuses (${CONCURRENCY} requests in flight) …`);
  const creating = performance.now();
  const limit = pLimit(CONCURRENCY);
  let created = 0;
  await Promise.all(
    Array.from({ length: APPS }, (_, i) =>
      limit(async () => {
        const app = application(i);
        await admin.apply(app as KubeObject, { force: true });
        // The status as the writer will write it (a merge patch, its field manager, a message as
        // long): its first write to an app must not grow the object (a managedFields entry more),
        // or the dashboard's memory would grow with every app touched for the first time.
        await admin.patch(
          { group: GROUP, kind: 'Application', namespace: app.metadata.namespace, name: app.metadata.name },
          { status: applicationStatus(i) },
          'merge',
          { subresource: 'status', fieldManager: WRITER_MANAGER },
        );
        if (++created % 1000 === 0) log(`  ${created}`);
      }),
    ),
  );
  const createS = (performance.now() - creating) / 1000;
  log(`created in ${createS.toFixed(1)} s (${((APPS * 2) / createS).toFixed(0)} requests/s)`);
  return createS;
}

interface DashboardFigures {
  dashboard: LocalDashboard;
  /** The dashboard's warnings, as it logs them (the array keeps filling). */
  serverWarnings: string[];
  syncMs: number;
  cacheHeap: number;
}

/** The dashboard in this process, its cache synced; its heap measured around it. */
async function startDashboard(cp: ControlPlane, assets: string): Promise<DashboardFigures> {
  log('starting the dashboard …');
  gc?.();
  const heapBeforeDashboard = process.memoryUsage().heapUsed;
  const dashboardKube = await createKubeClient({
    kubeconfig: cp.kubeconfig,
    fieldManager: 'capstan-dashboard',
  });
  cleanups.push(() => dashboardKube.close());
  const syncing = performance.now();
  const serverWarnings: string[] = [];
  const dashboard: LocalDashboard = await startLocalDashboard({
    kube: dashboardKube,
    assets,
    // Every page of the bench logs in from 127.0.0.1: more than the default 10 a minute.
    limits: { loginsPerMinute: 1000 },
    // Warnings only (a failed list/watch of the cache, a failed request): counted and reported.
    logger: pino({ level: 'warn' }, { write: (line: string) => void serverWarnings.push(line) }),
  });
  cleanups.push(() => dashboard.close());
  await dashboard.cache.synced;
  const syncMs = performance.now() - syncing;
  gc?.();
  const cacheHeap = process.memoryUsage().heapUsed - heapBeforeDashboard;
  log(
    `dashboard at ${dashboard.url}; cache of ${dashboard.cache.index.size} apps synced in ${fmtMs(syncMs)}`,
  );
  if (dashboard.cache.index.size !== APPS)
    log(`  ! the cache holds ${dashboard.cache.index.size} apps, not ${APPS}`);
  return { dashboard, serverWarnings, syncMs, cacheHeap };
}

/** Launches chromium; returns how to open a new, instrumented context of it. */
async function launchBrowser(): Promise<() => Promise<BrowserContext>> {
  const browser: Browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: CHROMIUM_FLAGS,
    headless: true,
    // The bench cleans up itself (control plane included) on a signal; playwright's own handler exits.
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
  });
  cleanups.push(() => browser.close());
  return async (): Promise<BrowserContext> => {
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    await context.addInitScript(INSTRUMENT);
    return context;
  };
}

// ── 1. first meaningful paint, 2. time to apply a filter ──────────────────────────────────────────

interface FilterRuns {
  search: FilterRun[];
  chipOn: FilterRun[];
  chipOnAgain: FilterRun[];
  chipOff: FilterRun[];
}

interface PageFigures {
  cold: LoadResult | undefined;
  /** GET /api/v1/apps as the page sends it, from Node with the page's cookie (ms). */
  directApps: number[];
  directBytes: number;
  warm: LoadResult[];
  filterRuns: FilterRuns;
}

/** Parts 1 and 2, in one logged-in context; what was measured before a failure is kept. */
async function measurePages(bench: Bench): Promise<PageFigures> {
  const figures: PageFigures = {
    cold: undefined,
    directApps: [],
    directBytes: 0,
    warm: [],
    filterRuns: { search: [], chipOn: [], chipOnAgain: [], chipOff: [] },
  };
  const loggedIn = await bench.newContext();
  try {
    const keep = await measureFirstPaint(bench, loggedIn, figures);
    if (FILTERS > 0) {
      const page = keep ?? (await loadList(loggedIn, `${bench.dashboard.url}/`)).page;
      await measureFilters(bench, page, figures.filterRuns);
    } else await keep?.close();
  } catch (error) {
    bench.notes.push(`Parts 1–2 stopped: ${String(error).split('\n')[0]}`);
    log(`! parts 1–2 stopped: ${String(error)}`);
  }
  await loggedIn.close();
  return figures;
}

/** Part 1: a cold load, the same request from Node, warm loads; returns the last warm page, open. */
async function measureFirstPaint(
  bench: Bench,
  loggedIn: BrowserContext,
  figures: PageFigures,
): Promise<Page | undefined> {
  log('1. first paint: cold …');
  const first = await loadList(loggedIn, bench.dashboard.openUrl);
  figures.cold = first.result;
  for (const [what, locator] of [
    ['h1 "Applications"', first.page.getByRole('heading', { level: 1, name: 'Applications' })],
    ['table named "Applications"', first.page.getByRole('table', { name: 'Applications' })],
    ['input labelled "Search"', first.page.getByLabel('Search', { exact: true })],
  ] as const)
    if ((await locator.count()) !== 1) bench.notes.push(`The list page has no single ${what}.`);
  await first.page.close();
  await measureDirectApps(bench, loggedIn, first.result, figures);
  log(`1. first paint: ${LOADS} warm loads …`);
  let keep: Page | undefined;
  for (let k = 0; k < LOADS; k++) {
    const { page, result } = await loadList(loggedIn, `${bench.dashboard.url}/`);
    figures.warm.push(result);
    if (k === LOADS - 1) keep = page;
    else await page.close();
  }
  return keep;
}

/** The same request without a browser: what the server and loopback take. */
async function measureDirectApps(
  bench: Bench,
  loggedIn: BrowserContext,
  cold: LoadResult,
  figures: PageFigures,
): Promise<void> {
  const appsSearch = cold.metrics.resources.find((r) => r.path === '/api/v1/apps')?.search ?? '';
  const cookie = (await loggedIn.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
  for (let k = 0; k < 25; k++) {
    const t = performance.now();
    const answer = await fetch(`${bench.dashboard.url}/api/v1/apps${appsSearch}`, { headers: { cookie } });
    const body = await answer.arrayBuffer();
    if (k >= 5) figures.directApps.push(performance.now() - t);
    if (!answer.ok) {
      bench.notes.push(`GET /api/v1/apps${appsSearch} from Node answered ${answer.status}.`);
      break;
    }
    figures.directBytes = body.byteLength;
  }
}

/** Times one filter action in the page; undefined if it failed (noted). */
type Measure = (spec: MeasureSpec) => Promise<FilterRun | undefined>;

/** Part 2, on `page` (closed after): searches, then health chips. */
async function measureFilters(bench: Bench, page: Page, runs: FilterRuns): Promise<void> {
  const measure: Measure = async (spec) => {
    const run = (await page.evaluate(
      `window.__bench.measure(${JSON.stringify(spec)}, ${FILTER_TIMEOUT_MS})`,
    )) as FilterRun;
    if (run.error) bench.notes.push(`Filter: ${run.error}`);
    await sleep(300);
    return run.error ? undefined : run;
  };
  await measureSearch(bench, page, measure, runs);
  await measureChips(bench, page, measure, runs);
  await page.close();
}

async function measureSearch(bench: Bench, page: Page, measure: Measure, runs: FilterRuns): Promise<void> {
  const search = page.getByLabel('Search', { exact: true });
  if ((await search.count()) === 0) {
    bench.notes.push('No input labelled "Search": the search was not timed.');
    return;
  }
  log(`2. filter: ${FILTERS} searches …`);
  await search.first().evaluate((input) => input.setAttribute('data-bench-search', ''));
  // Queries that match 10 apps each (app-0123 → app-01230 … app-01239), a different one each run.
  const groups = Math.max(2, Math.floor(APPS / 10));
  let previousGroup = -1;
  for (let k = 0; k < FILTERS; k++) {
    let group = Math.floor(unit(k, 99) * groups);
    if (group === previousGroup) group = (group + 1) % groups;
    previousGroup = group;
    const run = await measure({ kind: 'search', query: `app-${pad(group, 4)}` });
    if (!run) break;
    runs.search.push(run);
  }
  await measure({ kind: 'search', query: '' });
}

/** Marks the page's health chips for the in-page timer; returns how many were found. */
async function markChips(page: Page): Promise<number> {
  const chips = page.getByRole('group', { name: 'Filter by health' });
  let marked = 0;
  for (const state of CHIP_STATES) {
    const chip = chips.getByRole('button', { name: new RegExp(`^\\W*${state}\\b`) });
    if ((await chip.count()) !== 1) continue;
    await chip.evaluate((button, name) => button.setAttribute('data-bench-chip', name), state);
    marked++;
  }
  return marked;
}

// Health chips. React Query keeps what it fetched: a filter seen before shows from its cache at once
// (and is refetched behind). So each round starts from a reloaded page (an empty cache): "on" is a
// first time, "on again" the cached case; "off" goes back to the unfiltered list, which is cached.
async function measureChips(bench: Bench, page: Page, measure: Measure, runs: FilterRuns): Promise<void> {
  const marked = await markChips(page);
  if (marked < CHIP_STATES.length) {
    bench.notes.push(`Found ${marked} of ${CHIP_STATES.length} health chips (group "Filter by health").`);
    return;
  }
  log(`2. filter: ${FILTERS} health chips, on and off, first time and again …`);
  for (let k = 0; k < FILTERS; k += CHIP_STATES.length) {
    if (k > 0) {
      await page.reload({ waitUntil: 'commit' });
      await page.locator('tr[data-app]').first().waitFor({ state: 'visible', timeout: ROW_TIMEOUT_MS });
      await markChips(page);
    }
    const round = CHIP_STATES.slice(0, Math.min(CHIP_STATES.length, FILTERS - k));
    for (const on of [runs.chipOn, runs.chipOnAgain]) {
      for (const health of round) {
        const run = await measure({ kind: 'chip', health, expect: 'only' });
        if (!run) return;
        on.push(run);
        const off = await measure({ kind: 'chip', health, expect: 'changed' });
        if (!off) return;
        runs.chipOff.push(off);
      }
    }
  }
}

// ── 3. churn with open pages ─────────────────────────────────────────────────────────────────────

/** CPU times (s) at one moment, per process; `at` in ms (performance.now). */
interface Mark {
  at: number;
  cpu: number;
  gcCpu: number;
  apiserver: number;
  browser: number;
  writer: number;
}

/** % of one core between two marks. */
const share = (a: Mark, b: Mark, f: (m: Mark) => number): number =>
  ((f(b) - f(a)) / ((b.at - a.at) / 1000)) * 100;
/** This process's share, the forced GCs left out. */
const ownShare = (a: Mark, b: Mark): number =>
  ((b.cpu - a.cpu - (b.gcCpu - a.gcCpu)) / ((b.at - a.at) / 1000)) * 100;

const sumEvents = (list: readonly PageCounters[]): number => list.reduce((s, c) => s + c.events.app, 0);

interface Meter {
  mark(): Promise<Mark>;
  /** A full GC, its CPU counted apart. */
  forcedGc(): void;
}

function createMeter(bench: Bench): Meter {
  const { writer, apiserverPid } = bench;
  let gcCpu = 0;
  // The writer's CPU once it has exited (and /proc forgot it): what it had.
  let writerCpu = 0;
  return {
    forcedGc: (): void => {
      const before = process.cpuUsage();
      gc?.();
      const used = process.cpuUsage(before);
      gcCpu += (used.user + used.system) / 1e6;
    },
    mark: async (): Promise<Mark> => {
      const usage = process.cpuUsage();
      const writerTimes = await procTimes([writer.pid]);
      if (writerTimes.found) writerCpu = writerTimes.cpu;
      return {
        at: performance.now(),
        cpu: (usage.user + usage.system) / 1e6,
        gcCpu,
        apiserver: (await procTimes([apiserverPid])).cpu,
        browser: (await procTimes(await descendants(process.pid, [writer.pid]))).cpu,
        writer: writerCpu,
      };
    },
  };
}

async function mainThread(cdps: readonly CDPSession[]): Promise<MainThread[]> {
  return Promise.all(
    cdps.map(async (cdp) => {
      const { metrics } = await cdp.send('Performance.getMetrics');
      const get = (name: string): number => metrics.find((m) => m.name === name)?.value ?? 0;
      return {
        task: get('TaskDuration'),
        script: get('ScriptDuration'),
        layout: get('LayoutDuration') + get('RecalcStyleDuration'),
      };
    }),
  );
}

/** What part 3's steps share. */
interface Churn {
  bench: Bench;
  viewers: Page[];
  cdps: CDPSession[];
  meter: Meter;
  countersStart: PageCounters[];
  eventsStart: number;
}

interface WriteFigures {
  seconds: number;
  samples: Sample[];
  loadFrom: Mark;
  loadTo: Mark;
  threadFrom: MainThread[];
  threadTo: MainThread[];
  /** App events each page received between loadFrom and loadTo. */
  eventsInWindow: number[];
  result: Extract<FromWriter, { type: 'done' }>;
  drainS: number;
  controlSeen: (number | null)[] | undefined;
  /** When each bench write reached the dashboard's cache (ms since the epoch; 0: not yet). */
  cacheAt: Float64Array;
}

interface ChurnFigures extends WriteFigures {
  idleFrom: Mark;
  idleTo: Mark;
  countersStart: PageCounters[];
  countersEnd: PageCounters[];
  pageHeapStart: (number | null)[];
  pageHeapEnd: (number | null)[];
  /** Per page, per write number: when its listener got it (0: not). */
  pageReceived: number[][];
}

/** Part 3: pages open on the list, an idle baseline, then the writes. */
async function measureChurn(bench: Bench): Promise<ChurnFigures> {
  const viewers = await openViewers(bench);
  await lowerBrowserPriority(bench.writer);
  const cdps = await Promise.all(viewers.map((page) => page.context().newCDPSession(page)));
  for (const cdp of cdps) await cdp.send('Performance.enable');
  const pageHeapStart = await Promise.all(viewers.map(pageHeap));
  const countersStart = await Promise.all(viewers.map(counters));
  const meter = createMeter(bench);
  const churn: Churn = { bench, viewers, cdps, meter, countersStart, eventsStart: sumEvents(countersStart) };

  log(`3. churn: ${IDLE_S} s idle baseline …`);
  meter.forcedGc();
  const idleFrom = await meter.mark();
  await sleep(IDLE_S * 1000);
  const idleTo = await meter.mark();

  const writes = await measureWrites(churn);
  const pageReceived = await Promise.all(
    viewers.map((p) => p.evaluate('window.__bench.receivedTimes()') as Promise<number[]>),
  );
  const countersEnd = await Promise.all(viewers.map(counters));
  const pageHeapEnd = await Promise.all(viewers.map(pageHeap));
  return {
    ...writes,
    idleFrom,
    idleTo,
    countersStart,
    countersEnd,
    pageHeapStart,
    pageHeapEnd,
    pageReceived,
  };
}

/** `--browsers` pages, a context and a session each, showing the list with their streams connected. */
async function openViewers(bench: Bench): Promise<Page[]> {
  log(`3. churn: opening ${BROWSERS} pages (a context and a session each) …`);
  const viewers: Page[] = [];
  for (let k = 0; k < BROWSERS; k++) {
    const context = await bench.newContext();
    cleanups.push(() => context.close());
    const page = await context.newPage();
    await page.goto(bench.dashboard.openUrl, { waitUntil: 'commit' });
    await page
      .locator('tr[data-app]')
      .first()
      .waitFor({ state: 'visible', timeout: ROW_TIMEOUT_MS })
      .catch(() => bench.notes.push(`Churn page ${k + 1} showed no row within ${ROW_TIMEOUT_MS / 1000} s.`));
    viewers.push(page);
  }
  // Every page's stream connected (its `ready` received).
  for (const page of viewers)
    await page
      .waitForFunction('window.__bench.events.ready > 0', undefined, { timeout: 30_000 })
      .catch(() => bench.notes.push('A page had not received its stream\'s "ready" after 30 s.'));
  return viewers;
}

// Users' browsers do not run on the server's machine: here they do, so during the churn they get the
// lower priority (renderers forked later inherit it from chromium's zygote).
async function lowerBrowserPriority(writer: Writer): Promise<void> {
  if (BROWSER_NICE > 0)
    for (const pid of await descendants(process.pid, [writer.pid]))
      try {
        setPriority(pid, BROWSER_NICE);
      } catch {
        // Gone meanwhile.
      }
}

/** The writes at `--rate` for `--minutes`, sampled; then the last events drained. */
async function measureWrites(churn: Churn): Promise<WriteFigures> {
  const { bench, viewers, meter } = churn;
  const seconds = MINUTES * 60;
  log(`3. churn: ${RATE} status writes/s for ${seconds} s, sampling every ${SAMPLE_S} s …`);
  meter.forcedGc();
  const loadFrom = await meter.mark();
  const tracker = await trackCache(churn, seconds);
  const sampler = createSampler(churn, tracker, loadFrom);
  await sampler.take();
  const threadFrom = await mainThread(churn.cdps);
  if (flags['heap-snapshots']) writeHeapSnapshot(join(flags['heap-snapshots'], 'start.heapsnapshot'));
  const result = await writeWhileSampling(churn, seconds, sampler);
  const loadTo = await meter.mark();
  const threadTo = await mainThread(churn.cdps);
  const eventsInWindow = (await Promise.all(viewers.map(counters))).map(
    (c, k) => c.events.app - churn.countersStart[k]!.events.app,
  );
  const drainS = await drainEvents(churn, tracker, result.writes);
  const controlSeen = await Promise.race([bench.writer.seen, sleep(45_000).then(() => undefined)]);
  if (flags['heap-snapshots']) writeHeapSnapshot(join(flags['heap-snapshots'], 'end.heapsnapshot'));
  tracker.unsubscribe();
  await sampler.take();
  const { samples } = sampler;
  const { cacheAt } = tracker;
  return {
    seconds,
    samples,
    loadFrom,
    loadTo,
    threadFrom,
    threadTo,
    eventsInWindow,
    result,
    drainS,
    controlSeen,
    cacheAt,
  };
}

interface CacheTracker {
  /** When each bench write reached the dashboard's cache (ms since the epoch; 0: not yet). */
  cacheAt: Float64Array;
  /** Bench writes the cache has seen. */
  indexUpdates: number;
  unsubscribe: () => void;
}

/** Tells the pages how many writes to expect and follows them into the dashboard's cache. */
async function trackCache(churn: Churn, seconds: number): Promise<CacheTracker> {
  const expectedWrites = Math.ceil(RATE * seconds) + 1;
  const cacheAt = new Float64Array(expectedWrites);
  for (const page of churn.viewers) await page.evaluate(`window.__bench.expect(${expectedWrites})`);
  const tracker: CacheTracker = { cacheAt, indexUpdates: 0, unsubscribe: () => undefined };
  tracker.unsubscribe = churn.bench.dashboard.cache.index.subscribe((change) => {
    if (change.type !== 'updated') return;
    const match = /^bench write (\d+) at /.exec(change.app.healthMessage ?? '');
    if (!match) return;
    tracker.indexUpdates++;
    const k = Number(match[1]);
    if (k < cacheAt.length) cacheAt[k] = Date.now();
  });
  cleanups.push(tracker.unsubscribe);
  return tracker;
}

interface Sampler {
  readonly samples: Sample[];
  /** When the first sample's mark was taken (ms, performance.now). */
  readonly t0: number;
  take(): Promise<void>;
}

function createSampler(churn: Churn, tracker: CacheTracker, from: Mark): Sampler {
  const samples: Sample[] = [];
  let previous = from;
  const t0 = from.at;
  const take = async (): Promise<void> => {
    const now = await churn.meter.mark();
    churn.meter.forcedGc();
    const memory = process.memoryUsage();
    const pageCounts = await Promise.all(churn.viewers.map((p) => counters(p).catch(() => undefined)));
    samples.push({
      t: (now.at - t0) / 1000,
      rss: memory.rss,
      heap: memory.heapUsed,
      cpu: samples.length === 0 ? NaN : ownShare(previous, now),
      writes: churn.bench.writer.progress.writes,
      indexed: tracker.indexUpdates,
      events: pageCounts.reduce((s, c) => s + (c?.events.app ?? 0), 0) - churn.eventsStart,
      apiserverCpu: share(previous, now, (m) => m.apiserver),
      browserCpu: share(previous, now, (m) => m.browser),
      writerCpu: share(previous, now, (m) => m.writer),
    });
    previous = now;
  };
  return { samples, t0, take };
}

/** Runs the writer, a sample every `--sample` seconds until it is done; returns its result. */
async function writeWhileSampling(
  churn: Churn,
  seconds: number,
  sampler: Sampler,
): Promise<Extract<FromWriter, { type: 'done' }>> {
  const { samples, t0 } = sampler;
  const done = churn.bench.writer.run(RATE, seconds);
  let finished = false;
  void done.finally(() => (finished = true)).catch(() => undefined);
  while (!finished) {
    const next = t0 + samples.length * SAMPLE_S * 1000;
    while (!finished && performance.now() < next) await sleep(Math.min(250, next - performance.now()));
    if (!finished) {
      await sampler.take();
      const last = samples.at(-1)!;
      log(
        `  ${last.t.toFixed(0)} s: rss ${fmtMiB(last.rss)}, heap ${fmtMiB(last.heap)}, cpu ${pct(last.cpu)}, ` +
          `${last.writes} writes, ${last.events} events in ${BROWSERS} pages`,
      );
    }
  }
  return done;
}

// Let the last changes reach the cache and the pages: until all have, or nothing moved for 15 s.
// Returns the seconds it waited.
async function drainEvents(churn: Churn, tracker: CacheTracker, writes: number): Promise<number> {
  log('3. churn: waiting for the last events …');
  const drainFrom = performance.now();
  let lastMove = drainFrom;
  let lastSeen = -1;
  for (;;) {
    const delivered = sumEvents(await Promise.all(churn.viewers.map(counters))) - churn.eventsStart;
    const { indexUpdates } = tracker;
    if (indexUpdates >= writes && delivered >= indexUpdates * BROWSERS) break;
    if (indexUpdates + delivered !== lastSeen) {
      lastSeen = indexUpdates + delivered;
      lastMove = performance.now();
    } else if (performance.now() - lastMove > 15_000) break;
    if (performance.now() - drainFrom > 300_000) break;
    await sleep(250);
  }
  return (performance.now() - drainFrom) / 1000;
}

// ── the report ───────────────────────────────────────────────────────────────────────────────────

interface ReportInput {
  startedAt: Date;
  loadStart: number[];
  loadEnd: number[];
  createS: number;
  assetBytes: number;
  server: DashboardFigures;
  notes: string[];
  pages: PageFigures;
  churn: ChurnFigures;
}

/** Prints the figures (Markdown) on stdout. */
function report(r: ReportInput): void {
  const out: string[] = [];
  reportHeader(r, out);
  reportFirstPaint(r.pages, out);
  reportFilters(r.pages.filterRuns, out);
  reportMemory(r.churn, out);
  reportCpu(r.churn, out);
  reportDelivery(r.churn, out);
  reportMainThread(r.churn, out);
  const { serverWarnings } = r.server;
  if (serverWarnings.length)
    out.push(
      `\nThe dashboard logged ${serverWarnings.length} warnings; the first: \`${serverWarnings[0]!.trim().slice(0, 300)}\``,
    );
  reportSamples(r.churn.samples, out);
  if (r.notes.length) out.push(`\n## Notes\n\n${r.notes.map((n) => `- ${n}`).join('\n')}`);
  console.log(out.join('\n'));
}

function reportHeader(r: ReportInput, out: string[]): void {
  const { startedAt, loadStart, loadEnd, createS, assetBytes } = r;
  const { syncMs, cacheHeap } = r.server;
  out.push(`# The dashboard in a browser, ${APPS.toLocaleString('en')} Applications\n`);
  out.push(
    `${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC; ${cpus().length} CPUs, Node ${process.version}, ` +
      `chromium at ${CHROMIUM_PATH}; load average ${loadStart[0]!.toFixed(1)} at start, ${loadEnd[0]!.toFixed(1)} at end. ` +
      `${NAMESPACES} namespaces, ${REPOSITORIES} repositories; created (apply + status apply) in ${createS.toFixed(1)} s; ` +
      `the dashboard's cache synced in ${fmtMs(syncMs)} and holds ${fmtMiB(cacheHeap)} of heap; ` +
      `the UI's assets are ${(assetBytes / 1024).toFixed(0)} KiB (uncompressed).\n`,
  );
}

function reportFirstPaint(pages: PageFigures, out: string[]): void {
  const { cold, warm, directApps, directBytes } = pages;
  out.push('## 1. First meaningful paint of the list\n');
  if (!cold) {
    out.push('Not measured (see the notes).\n');
    return;
  }
  out.push(
    'From the page: milliseconds since navigation start (Performance API). "wall" is the test side: ' +
      '`page.goto` → first `tr[data-app]` visible.\n',
  );
  out.push(
    table(
      [
        'load',
        'wall',
        'first row in DOM',
        'next frame',
        'long tasks before it',
        'of which after GET /apps',
        'FCP',
        'LCP',
        'DOMContentLoaded',
        'GET /apps sent',
        'first byte',
        'GET /apps done',
      ],
      [
        loadRow('cold (new context, log-in by #token)', [cold], 'one'),
        ...(warm.length ? [loadRow(`warm p50 (${warm.length} loads)`, warm, 'p50')] : []),
        ...(warm.length ? [loadRow(`warm p95 (${warm.length} loads)`, warm, 'p95')] : []),
      ],
    ),
  );
  const apps = cold.metrics.resources.find((r) => r.path === '/api/v1/apps');
  const transfers = (r: LoadResult): string =>
    r.metrics.resources.map((e) => `${e.path} ${(e.transferred / 1024).toFixed(1)} KiB`).join(', ');
  const direct = stats(directApps);
  out.push(
    `\nThe same \`GET /api/v1/apps\` from Node with the session's cookie (no browser; ${directApps.length} ` +
      `in a row after 5 unmeasured): p50 ${fmtMs(direct.p50)}, p95 ${fmtMs(direct.p95)}, ` +
      `${(directBytes / 1024).toFixed(1)} KiB.`,
  );
  out.push(
    `\nCold load's requests: ${transfers(cold)}.` +
      (apps ? ` The first page of apps: ${(apps.decoded / 1024).toFixed(1)} KiB of JSON.` : '') +
      (warm[0] ? `\nA warm load's: ${transfers(warm[0])}.` : '') +
      '\n',
  );
}

function reportFilters(filterRuns: FilterRuns, out: string[]): void {
  out.push('## 2. Time to apply a filter\n');
  const allRuns = [
    ...filterRuns.search,
    ...filterRuns.chipOn,
    ...filterRuns.chipOnAgain,
    ...filterRuns.chipOff,
  ];
  if (!allRuns.length) {
    out.push('Not measured (see the notes).\n');
    return;
  }
  out.push(
    'Timed in the page: `performance.now()` just before the action, a MutationObserver until the rows ' +
      'differ from before and reflect it, then one frame more (`requestAnimationFrame` + `setTimeout 0`). ' +
      '**search**: the query put into the box labelled "Search" with one `input` event (as a paste; ' +
      '`app-0123`-style, 10 matches each, a different one each run), done when every row contains it. ' +
      '**health chip on**: a click on a chip of the "Filter by health" group (Degraded, Progressing, ' +
      'Missing, Suspended, Unknown in turn) on a freshly loaded page, done when every row has that ' +
      "health; **on again**: the same chips once more, now in the page's query cache (shown from it, " +
      'refetched behind); **off**: the chip clicked again, back to the unfiltered list (cached), done ' +
      'when the rows change. No status changes meanwhile. "answered" is the first request\'s answer ' +
      '(its headers).\n',
  );
  const rows: string[][] = [];
  for (const [label, runs] of [
    ['search', filterRuns.search],
    ['health chip on (first time)', filterRuns.chipOn],
    ['health chip on again (cached)', filterRuns.chipOnAgain],
    ['health chip off', filterRuns.chipOff],
  ] as const) {
    if (runs.length === 0) continue;
    const ok = runs.filter((r) => !r.timedOut);
    const cell = (f: (r: FilterRun) => number | null, q: 'p50' | 'p95'): string => fmtMs(stats(ok.map(f))[q]);
    rows.push([
      `${label} (${runs.length} runs${ok.length < runs.length ? `, ${runs.length - ok.length} timed out` : ''})`,
      cell((r) => r.requestAtMs, 'p50'),
      cell((r) => r.firstAnswerAtMs, 'p50'),
      cell((r) => r.domMs, 'p50'),
      cell((r) => r.domMs, 'p95'),
      cell((r) => r.frameMs, 'p50'),
      cell((r) => r.frameMs, 'p95'),
      String(stats(ok.map((r) => r.fetches)).max),
    ]);
  }
  out.push(
    table(
      [
        'action',
        'GET /apps sent p50',
        'answered p50',
        'rows p50',
        'rows p95',
        'next frame p50',
        'next frame p95',
        'requests (max)',
      ],
      rows,
    ),
  );
  out.push('');
}

/** The samples taken while the writes ran (and the one after them). */
const loadSamplesOf = (churn: ChurnFigures): Sample[] =>
  churn.samples.filter((s) => s.t <= churn.seconds + SAMPLE_S / 2);
/** The seconds between the marks around the writes. */
const loadSecondsOf = (churn: ChurnFigures): number => (churn.loadTo.at - churn.loadFrom.at) / 1000;

function reportMemory(churn: ChurnFigures, out: string[]): void {
  const { seconds } = churn;
  out.push(`## 3. Server under churn: ${BROWSERS} pages open, ${RATE} status writes/s for ${seconds} s\n`);
  const loadSamples = loadSamplesOf(churn);
  const series = (f: (s: Sample) => number): { start: number; end: number; max: number; slope: number } => ({
    start: f(loadSamples[0]!),
    end: f(loadSamples.at(-1)!),
    max: Math.max(...loadSamples.map(f)),
    slope: slope(loadSamples.map((s) => [s.t / 60, f(s) / MiB] as const)),
  });
  const later = loadSamples.filter((s) => s.t >= seconds / 2);
  const halfSlope = (f: (s: Sample) => number): number =>
    slope(later.map((s) => [s.t / 60, f(s) / MiB] as const));
  const memRow = (label: string, f: (s: Sample) => number): string[] => {
    const s = series(f);
    return [
      label,
      fmtMiB(s.start),
      fmtMiB(s.end),
      fmtMiB(s.max),
      `${s.slope.toFixed(2)}`,
      `${halfSlope(f).toFixed(2)}`,
    ];
  };
  out.push(
    `The dashboard runs in the bench's process; the status writer is a child process (its CPU is apart), ` +
      `chromium is its own processes. RSS and heap are the bench process's, the heap read after a forced ` +
      `full GC every ${SAMPLE_S} s (the GC's own CPU is left out of the CPU figures). The process also holds ` +
      "playwright's client, which keeps each page's last 100 requests (playwright-core's " +
      '`ensureArrayLimit(networkRequests, 100)`), about 9 KiB each: the pages refetch the list every 2 s, so ' +
      "up to ~4.5 MiB of heap in the first ~3.5 minutes that is not the dashboard's (a heap-snapshot diff, " +
      '`--heap-snapshots DIR`, showed it as the whole growth); the heap is flat after that.\n',
  );
  out.push(
    table(
      ['memory', 'start', 'end', 'max', 'MiB/min', 'MiB/min (2nd half)'],
      [memRow('RSS', (s) => s.rss), memRow('heap used after GC', (s) => s.heap)],
    ),
  );
}

function reportCpu(churn: ChurnFigures, out: string[]): void {
  const { result, idleFrom, idleTo, loadFrom, loadTo } = churn;
  const loadSamples = loadSamplesOf(churn);
  const writeS = result.seconds;
  const loadS = loadSecondsOf(churn);
  /** Mean % over the window, the max sample, and CPU ms per write above the idle baseline. */
  const cpuRow = (label: string, idle: number, load: number, f: (s: Sample) => number): string[] => [
    label,
    label.startsWith('status writer') ? '-' : pct(idle),
    pct(load),
    pct(Math.max(...loadSamples.slice(1).map(f))),
    result.writes ? ((((load - idle) / 100) * loadS * 1000) / result.writes).toFixed(2) : '-',
  ];
  out.push('');
  out.push(
    table(
      [
        'CPU, % of one core',
        `idle (${IDLE_S} s, pages open)`,
        'under churn (mean)',
        'max sample',
        'CPU ms per write, above idle',
      ],
      [
        cpuRow(
          'bench process: dashboard (+ playwright client)',
          ownShare(idleFrom, idleTo),
          ownShare(loadFrom, loadTo),
          (s) => s.cpu,
        ),
        cpuRow('status writer (child process)', 0, (result.cpuSeconds / writeS) * 100, (s) => s.writerCpu),
        cpuRow(
          'kube-apiserver',
          share(idleFrom, idleTo, (m) => m.apiserver),
          share(loadFrom, loadTo, (m) => m.apiserver),
          (s) => s.apiserverCpu,
        ),
        cpuRow(
          `chromium (all processes, ${BROWSERS} pages)`,
          share(idleFrom, idleTo, (m) => m.browser),
          share(loadFrom, loadTo, (m) => m.browser),
          (s) => s.browserCpu,
        ),
      ],
    ),
  );
}

interface Latencies {
  patchMs: number[];
  watchMs: number[];
  controlMs: number[];
  streamMs: number[];
  endToEndMs: number[];
  /** Writes that reached the dashboard's cache. */
  cached: number;
  /** Per page: writes its listener got. */
  pageGot: number[];
}

// Per write: sent → answered (the patch), answered → in the cache (the API server's watch and the
// informer), cache → each page's listener (the event stream), sent → page.
function latencies(churn: ChurnFigures): Latencies {
  const { result, controlSeen, cacheAt, pageReceived } = churn;
  const l: Latencies = {
    patchMs: [],
    watchMs: [],
    controlMs: [],
    streamMs: [],
    endToEndMs: [],
    cached: 0,
    pageGot: pageReceived.map(() => 0),
  };
  for (let k = 0; k < result.sentAt.length; k++) {
    const sent = result.sentAt[k];
    const answered = result.answeredAt[k];
    if (sent == null || answered == null) continue;
    l.patchMs.push(answered - sent);
    const controlAt = controlSeen?.[k];
    if (controlAt != null) l.controlMs.push(controlAt - answered);
    const inCache = cacheAt[k] || undefined;
    if (inCache !== undefined) {
      l.cached++;
      l.watchMs.push(inCache - answered);
    }
    pageReceived.forEach((times, j) => {
      const got = times[k] || undefined;
      if (got === undefined) return;
      l.pageGot[j]!++;
      l.endToEndMs.push(got - sent);
      if (inCache !== undefined) l.streamMs.push(got - inCache);
    });
  }
  return l;
}

const quantiles = (label: string, values: number[]): string[] => {
  const sorted = values.sort((a, b) => a - b);
  return [
    label,
    String(sorted.length),
    ...[0.5, 0.95, 0.99].map((q) => fmtMs(quantile(sorted, q))),
    fmtMs(sorted.at(-1)),
  ];
};

function reportDelivery(churn: ChurnFigures, out: string[]): void {
  const { result, drainS } = churn;
  const writeS = result.seconds;
  out.push('');
  out.push(
    `Status writes: ${result.writes} made (${(result.writes / writeS).toFixed(1)}/s), ${result.failures} failed` +
      `${result.firstError ? ` (first: ${result.firstError.split('\n')[0]})` : ''}; patch latency p50 ` +
      `${fmtMs(result.latencyMs.p50)}, p95 ${fmtMs(result.latencyMs.p95)}, max ${fmtMs(result.latencyMs.max)}; ` +
      `at most ${result.maxBehind} writes waited for one of the writer's ${WRITER_IN_FLIGHT} slots.\n`,
  );
  const l = latencies(churn);
  const ofWrites = (n: number): string => `${((n / Math.max(1, result.writes)) * 100).toFixed(1)} %`;
  out.push(
    `Delivery: the dashboard's cache took in ${l.cached} of the ${result.writes} writes (${ofWrites(l.cached)}); ` +
      `after the writer stopped the bench waited ${drainS.toFixed(1)} s for the last ones (until every ` +
      'write had reached the cache and every page, or nothing moved for 15 s). Each write carries its ' +
      'number in the status message; the writer notes when it sent and when it got the answer, the bench ' +
      "when the number reached the dashboard's cache (a listener on it), each page when its EventSource " +
      'listener got it (one clock: one machine).\n',
  );
  out.push(
    table(
      ['stage, per write', 'samples', 'p50', 'p95', 'p99', 'max'],
      [
        quantiles('sent → API server answered (the patch)', l.patchMs),
        quantiles("answered → in the dashboard's cache (watch + informer)", l.watchMs),
        quantiles("answered → the writer's own watch (a control in another process)", l.controlMs),
        quantiles(`cache → page's listener (event stream, ${BROWSERS} pages)`, l.streamMs),
        quantiles('sent → page (end to end)', l.endToEndMs),
      ],
    ),
  );
  reportPerPage(churn, l.pageGot, ofWrites, out);
}

function reportPerPage(
  churn: ChurnFigures,
  pageGot: number[],
  ofWrites: (n: number) => string,
  out: string[],
): void {
  const { countersStart, countersEnd, pageHeapStart, pageHeapEnd } = churn;
  const perPage = countersEnd.map((c, k) => ({
    events: c.events.app - countersStart[k]!.events.app,
    reconnects: c.events.ready - countersStart[k]!.events.ready,
    errors: c.events.errors - countersStart[k]!.events.errors,
    listFetches: (c.fetches['/api/v1/apps'] ?? 0) - (countersStart[k]!.fetches['/api/v1/apps'] ?? 0),
    heapStart: pageHeapStart[k] ?? null,
    heapEnd: pageHeapEnd[k] ?? null,
  }));
  out.push('');
  out.push(
    table(
      [
        'page',
        'writes received',
        'of writes',
        'app events (all)',
        'stream re-opened / errors',
        'GET /apps during churn',
        'JS heap after GC, start → end',
      ],
      perPage.map((p, k) => [
        `page ${k + 1}`,
        String(pageGot[k]),
        ofWrites(pageGot[k]!),
        String(p.events),
        `${p.reconnects} / ${p.errors}`,
        String(p.listFetches),
        p.heapStart === null || p.heapEnd === null ? '-' : `${fmtMiB(p.heapStart)} → ${fmtMiB(p.heapEnd)}`,
      ]),
    ),
  );
}

function reportMainThread(churn: ChurnFigures, out: string[]): void {
  const { threadFrom, threadTo, eventsInWindow } = churn;
  const loadS = loadSecondsOf(churn);
  out.push('');
  out.push(
    "Each page's main thread during the writes (Chrome's `Performance.getMetrics`: TaskDuration, " +
      'ScriptDuration, LayoutDuration + RecalcStyleDuration), as a share of the wall time, and per app event ' +
      `it received meanwhile. Chromium ran at nice ${BROWSER_NICE} during this part (users' browsers are not ` +
      "on the server's machine).\n",
  );
  out.push(
    table(
      ['page', 'busy', 'script', 'style + layout', 'events', 'main thread ms per event'],
      threadTo.map((to, k) => {
        const from = threadFrom[k]!;
        const busy = to.task - from.task;
        const events = eventsInWindow[k]!;
        return [
          `page ${k + 1}`,
          pct((busy / loadS) * 100),
          pct(((to.script - from.script) / loadS) * 100),
          pct(((to.layout - from.layout) / loadS) * 100),
          String(events),
          events ? ((busy * 1000) / events).toFixed(2) : '-',
        ];
      }),
    ),
  );
}

function reportSamples(samples: readonly Sample[], out: string[]): void {
  out.push(`\n### Samples (every ${SAMPLE_S} s)\n`);
  out.push(
    table(
      [
        't',
        'RSS',
        'heap after GC',
        'CPU',
        'writes',
        'in the cache',
        'events (all pages)',
        'apiserver CPU',
        'chromium CPU',
        'writer CPU',
      ],
      samples.map((s) => [
        `${s.t.toFixed(0)} s`,
        fmtMiB(s.rss),
        fmtMiB(s.heap),
        pct(s.cpu),
        String(s.writes),
        String(s.indexed),
        String(s.events),
        pct(s.apiserverCpu),
        pct(s.browserCpu),
        pct(s.writerCpu),
      ]),
    ),
  );
}

if (flags.writer) await runWriter();
else {
  try {
    await main();
  } finally {
    await cleanUp();
  }
}
