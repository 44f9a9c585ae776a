/**
 * The dashboard's server side at scale, in one process, without a cluster: N made-up Applications
 * (default 10,000) in the shared cache (AppIndex), then
 *   1. the cost of filling the cache and the memory it takes;
 *   2. list queries straight on the index (filter, count, sort, page), p50 and p95;
 *   3. the same through HTTP (`GET /api/v1/apps`, Fastify inject, a logged-in session whose access
 *      reviews are cached): what a browser's request costs the server;
 *   4. the event stream: `--streams` open streams (default 5) while `--rate` apps change per second
 *      (default 100) for `--seconds` (default 20): CPU used and heap before and after.
 * A benchmark, not a test: it prints figures. The browser-side bench of the issue (first paint,
 * real API server, open browsers) comes with the UI.
 *
 *   npx tsx --expose-gc bench/dashboard.bench.ts
 *   npx tsx bench/dashboard.bench.ts --apps 2000 --seconds 5
 */
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { parseArgs } from 'node:util';
import type { Application } from '../src/api/v1alpha1.js';
import { systemClock } from '../src/core/time.js';
import { AppIndex } from '../src/server/dashboard/app-index.js';
import { appListQuerySchema } from '../src/server/dashboard/schema.js';
import { createDashboardServer } from '../src/server/dashboard/server.js';
import { AppEventStreams } from '../src/server/dashboard/stream.js';
import { fakeApp } from '../src/server/dashboard/testdata/apps.js';
import { FakeCluster } from '../src/server/dashboard/testdata/fake-cluster.js';
import { table } from './markdown.js';

const { values: flags } = parseArgs({
  options: {
    apps: { type: 'string', default: '10000' },
    streams: { type: 'string', default: '5' },
    rate: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '20' },
    runs: { type: 'string', default: '200' },
  },
});
const N = Number(flags.apps);
const STREAMS = Number(flags.streams);
const RATE = Number(flags.rate);
const SECONDS = Number(flags.seconds);
const RUNS = Number(flags.runs);

const gc = (globalThis as { gc?: () => void }).gc;
const heapMiB = (): number => {
  gc?.();
  return process.memoryUsage().heapUsed / 2 ** 20;
};
const ms = (x: number): string => x.toFixed(2);
function percentiles(samples: number[]): { p50: number; p95: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: sorted[Math.floor(sorted.length * 0.5)]!, p95: sorted[Math.floor(sorted.length * 0.95)]! };
}

const CASES: [string, Record<string, string>][] = [
  ['first page, sort by name', {}],
  ['sort by health (worst first)', { sort: 'health' }],
  ['sort by last sync', { sort: 'lastSync' }],
  ['health=Degraded,Missing', { health: 'Degraded,Missing' }],
  ['sync=OutOfSync & repository & ref', { sync: 'OutOfSync', repository: 'repo-3', ref: 'main' }],
  ['label tier=frontend, sort by health', { label: 'tier=frontend', sort: 'health' }],
  ['text search "app-01"', { q: 'app-01' }],
  ['page 100 (offset)', { page: '100' }],
];

// ── 1. the cache ──────────────────────────────────────────────────────────────────────────────────
const apps: Application[] = Array.from({ length: N }, (_, i) => fakeApp(i));
const before = heapMiB();
let started = performance.now();
const index = new AppIndex();
for (const app of apps) index.upsert(app);
const fillMs = performance.now() - started;
const cacheMiB = heapMiB() - before;
index.markSynced();

// ── 2. queries on the index ───────────────────────────────────────────────────────────────────────
const queryRows: string[][] = [];
const halfScope = new Set(Array.from({ length: 25 }, (_, i) => `team-${i}`));
for (const [name, input] of CASES) {
  for (const [scopeName, scope] of [
    ['all namespaces', 'all'],
    ['25 of 50 namespaces', halfScope],
  ] as const) {
    const query = appListQuerySchema.parse({ limit: '50', ...input });
    for (let i = 0; i < 20; i++) index.query(query, scope);
    const samples: number[] = [];
    let total = 0;
    for (let i = 0; i < RUNS; i++) {
      const t = performance.now();
      total = index.query(query, scope).total;
      samples.push(performance.now() - t);
    }
    const { p50, p95 } = percentiles(samples);
    queryRows.push([`${name} (${scopeName})`, String(total), ms(p50), ms(p95)]);
  }
}

// ── 3. through HTTP ───────────────────────────────────────────────────────────────────────────────
const fake = new FakeCluster();
fake.addUser('token', {
  username: 'bench',
  can: (verb, _g, _r, namespace) => verb === 'list' && namespace !== undefined && halfScope.has(namespace),
});
const server = createDashboardServer({
  mode: 'controller',
  index,
  authenticate: async (token) =>
    token === 'token'
      ? { identity: { username: 'bench', groups: [] }, kube: fake.clientFor(token) }
      : undefined,
  eventRecorder: () => async () => {},
  limits: { loginsPerMinute: 1000 },
});
const login = await server.inject({
  method: 'POST',
  url: '/api/v1/session',
  headers: { origin: 'http://bench', host: 'bench', 'content-type': 'application/json' },
  payload: { token: 'token' },
});
const cookie = String(login.headers['set-cookie']).split(';')[0]!;
const httpRows: string[][] = [];
for (const [name, input] of CASES) {
  const url = `/api/v1/apps?${new URLSearchParams({ limit: '50', ...input }).toString()}`;
  for (let i = 0; i < 20; i++) await server.inject({ method: 'GET', url, headers: { cookie } });
  const samples: number[] = [];
  let bytes = 0;
  for (let i = 0; i < Math.min(RUNS, 100); i++) {
    const t = performance.now();
    const response = await server.inject({ method: 'GET', url, headers: { cookie } });
    samples.push(performance.now() - t);
    bytes = response.rawPayload.length;
    if (response.statusCode !== 200) throw new Error(`${url}: ${response.statusCode} ${response.body}`);
  }
  const { p50, p95 } = percentiles(samples);
  httpRows.push([name, `${(bytes / 1024).toFixed(1)} KiB`, ms(p50), ms(p95)]);
}
await server.close();

// ── 4. the event stream under churn ───────────────────────────────────────────────────────────────
/** A response that drains as a fast client would. */
class DrainingResponse extends EventEmitter {
  bytes = 0;
  writableLength = 0;
  writableEnded = false;
  write(chunk: string): boolean {
    this.bytes += chunk.length;
    return true;
  }
  end(): void {
    this.writableEnded = true;
  }
  destroy(): void {
    this.writableEnded = true;
  }
}
const streams = new AppEventStreams({ clock: systemClock });
const unsubscribe = index.subscribe((change) => streams.publish(change));
const responses = Array.from({ length: STREAMS }, (_, i) => {
  const response = new DrainingResponse();
  // Half the streams may see every namespace, half only 25 of the 50 (access decisions cached).
  streams.open(`s${i}`, response as unknown as ServerResponse, {
    visible: (ns) => i % 2 === 0 || halfScope.has(ns),
    first: 'event: ready\ndata: {}\n\n',
  });
  return response;
});
const heapBefore = heapMiB();
const cpuBefore = process.cpuUsage();
started = performance.now();
let changes = 0;
const HEALTH = ['Healthy', 'Progressing', 'Degraded'];
for (let second = 0; second < SECONDS; second++) {
  const tickStart = performance.now();
  for (let k = 0; k < RATE; k++) {
    const i = (changes * 7919) % N;
    const app = apps[i]!;
    app.status!.health = { status: HEALTH[changes % HEALTH.length]!, message: `change ${changes}` };
    app.metadata.resourceVersion = String(N + changes);
    index.upsert(app);
    changes++;
    // Spread the changes over the second, as an informer would deliver them.
    if (k % 10 === 9) await new Promise((resolve) => setTimeout(resolve, 100 / 10 - 1));
  }
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, 1000 - (performance.now() - tickStart))));
}
const wallS = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuBefore);
const heapAfter = heapMiB();
unsubscribe();
streams.closeAll();

console.log(`# Dashboard API at ${N.toLocaleString('en')} Applications\n`);
console.log(
  `Cache: filled in ${fillMs.toFixed(0)} ms; ${cacheMiB.toFixed(1)} MiB of heap for the summaries and index${gc ? '' : ' (run with --expose-gc for steadier memory figures)'}.\n`,
);
console.log('## List queries on the index (limit 50)\n');
console.log(table(['query', 'matches', 'p50 ms', 'p95 ms'], queryRows));
console.log(
  '\n## GET /api/v1/apps through HTTP (inject; a user allowed 25 of 50 namespaces, reviews cached)\n',
);
console.log(table(['query', 'answer', 'p50 ms', 'p95 ms'], httpRows));
console.log(`\n## Event stream: ${STREAMS} streams, ${RATE} changes/s for ${SECONDS} s\n`);
console.log(
  table(
    ['figure', 'value'],
    [
      ['changes published', String(changes)],
      [
        'bytes sent per stream (mean)',
        `${(responses.reduce((a, r) => a + r.bytes, 0) / STREAMS / 1024).toFixed(0)} KiB`,
      ],
      ['CPU (user+system) / wall', `${(((cpu.user + cpu.system) / 1e6 / wallS) * 100).toFixed(1)} %`],
      ['heap before → after', `${heapBefore.toFixed(1)} → ${heapAfter.toFixed(1)} MiB`],
    ],
  ),
);
