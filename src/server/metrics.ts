/**
 * Capstan's Prometheus metrics. One instance per process, created by the operator and handed to
 * whoever records (reconciler, source, server); it owns a private registry so that tests, and any
 * library that writes to prom-client's global registry, never mix their series with ours.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { redactUrl } from '../source/index.js';
import { WEBHOOK_PROVIDERS } from './webhooks/index.js';

export type ReconcileKind = 'application' | 'repository';
export type ReconcileResult = 'success' | 'failure';
export const SYNC_OUTCOMES = [
  'created',
  'configured',
  'unchanged',
  'pruned',
  'failed',
  'recreated',
  'skipped',
] as const;
export type SyncOutcome = (typeof SYNC_OUTCOMES)[number];
export const WEBHOOK_OUTCOMES = ['accepted', 'rejected', 'ignored', 'ratelimited', 'toolarge'] as const;
export type WebhookOutcome = (typeof WEBHOOK_OUTCOMES)[number];

export interface CapstanMetricsOptions {
  /** Process and Node.js runtime metrics (CPU, memory, event loop lag, GC); default true. */
  readonly defaultMetrics?: boolean;
}

// Reconciles range from a no-op (milliseconds) to a large sync with health waits (minutes).
const RECONCILE_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
// A fetch of an up-to-date repository takes a round trip; a first clone of a monorepo, minutes.
const GIT_FETCH_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

export class CapstanMetrics {
  readonly #registry = new Registry();
  readonly #reconcileDuration: Histogram<'kind' | 'result'>;
  readonly #syncResults: Counter<'outcome'>;
  readonly #syncs: Counter<'result'>;
  readonly #appReady: Gauge<'namespace' | 'name'>;
  readonly #appHealth: Gauge<'namespace' | 'name' | 'status'>;
  readonly #gitFetchDuration: Histogram<'repository'>;
  readonly #gitFetchErrors: Counter<'repository'>;
  readonly #queueDepth: Gauge;
  readonly #webhookRequests: Counter<'provider' | 'outcome'>;
  /** The health status each app's series currently carries, so a change can remove the old series. */
  readonly #appStatus = new Map<string, string>();

  constructor(options: CapstanMetricsOptions = {}) {
    const registers = [this.#registry];
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.#registry });
    this.#reconcileDuration = new Histogram({
      name: 'capstan_reconcile_duration_seconds',
      help: 'Time taken by one reconcile of an Application or a Repository.',
      labelNames: ['kind', 'result'],
      buckets: RECONCILE_BUCKETS,
      registers,
    });
    this.#syncResults = new Counter({
      name: 'capstan_sync_results_total',
      help: 'Objects handled by syncs, by what happened to each.',
      labelNames: ['outcome'],
      registers,
    });
    this.#syncs = new Counter({
      name: 'capstan_syncs_total',
      help: 'Syncs that applied or compared a revision, by result (failed: an object failed or a wave did not become healthy; a rollout that then fails its health counts once more, as failed).',
      labelNames: ['result'],
      registers,
    });
    this.#appReady = new Gauge({
      name: 'capstan_app_ready',
      help: 'Whether an Application is Ready (1) or not (0).',
      labelNames: ['namespace', 'name'],
      registers,
    });
    this.#appHealth = new Gauge({
      name: 'capstan_app_health',
      help: "An Application's health status: 1 on the series of its current status.",
      labelNames: ['namespace', 'name', 'status'],
      registers,
    });
    this.#gitFetchDuration = new Histogram({
      name: 'capstan_git_fetch_duration_seconds',
      help: 'Time taken by one fetch of a Git repository.',
      labelNames: ['repository'],
      buckets: GIT_FETCH_BUCKETS,
      registers,
    });
    this.#gitFetchErrors = new Counter({
      name: 'capstan_git_fetch_errors_total',
      help: 'Failed fetches of a Git repository.',
      labelNames: ['repository'],
      registers,
    });
    this.#queueDepth = new Gauge({
      name: 'capstan_queue_depth',
      help: 'Items waiting in the reconcile work queue.',
      registers,
    });
    this.#webhookRequests = new Counter({
      name: 'capstan_webhook_requests_total',
      help: 'Webhook requests received, by Git host and what became of them.',
      labelNames: ['provider', 'outcome'],
      registers,
    });
    // Series that exist from the start, so rate() and alerts see a 0 rather than nothing.
    for (const outcome of SYNC_OUTCOMES) this.#syncResults.inc({ outcome }, 0);
    for (const result of ['succeeded', 'failed']) this.#syncs.inc({ result }, 0);
    for (const provider of WEBHOOK_PROVIDERS) {
      for (const outcome of WEBHOOK_OUTCOMES) this.#webhookRequests.inc({ provider, outcome }, 0);
    }
    this.#queueDepth.set(0);
  }

  observeReconcile(kind: ReconcileKind, result: ReconcileResult, seconds: number): void {
    if (isDuration(seconds)) this.#reconcileDuration.observe({ kind, result }, seconds);
  }

  countSyncResult(outcome: SyncOutcome, count = 1): void {
    if (count > 0) this.#syncResults.inc({ outcome }, count);
  }

  countSync(result: 'succeeded' | 'failed'): void {
    this.#syncs.inc({ result });
  }

  /** Sets both the ready gauge and the health gauge, removing the series of the previous status. */
  setAppHealth(namespace: string, name: string, ready: boolean, status: string): void {
    this.#appReady.set({ namespace, name }, ready ? 1 : 0);
    const key = appKey(namespace, name);
    const previous = this.#appStatus.get(key);
    if (previous !== undefined && previous !== status) {
      this.#appHealth.remove({ namespace, name, status: previous });
    }
    this.#appHealth.set({ namespace, name, status }, 1);
    this.#appStatus.set(key, status);
  }

  /** Removes every series of a deleted Application. */
  forgetApp(namespace: string, name: string): void {
    this.#appReady.remove({ namespace, name });
    const key = appKey(namespace, name);
    const status = this.#appStatus.get(key);
    if (status !== undefined) this.#appHealth.remove({ namespace, name, status });
    this.#appStatus.delete(key);
  }

  /** One fetch of `repositoryUrl` (redacted before it becomes a label), successful or not. */
  observeGitFetch(repositoryUrl: string, seconds: number, succeeded: boolean): void {
    const repository = redactUrl(repositoryUrl);
    if (isDuration(seconds)) this.#gitFetchDuration.observe({ repository }, seconds);
    if (!succeeded) this.#gitFetchErrors.inc({ repository });
  }

  /** Removes the series of a repository no Repository object uses any more. */
  forgetRepository(repositoryUrl: string): void {
    const repository = redactUrl(repositoryUrl);
    this.#gitFetchDuration.remove({ repository });
    this.#gitFetchErrors.remove({ repository });
  }

  setQueueDepth(depth: number): void {
    if (Number.isFinite(depth) && depth >= 0) this.#queueDepth.set(depth);
  }

  /** `provider` is a receiver name, or `unknown` for a path that names none (bounded cardinality). */
  countWebhook(provider: string, outcome: WebhookOutcome): void {
    this.#webhookRequests.inc({ provider, outcome });
  }

  /** The `Content-Type` of `exposition()`. */
  get contentType(): string {
    return this.#registry.contentType;
  }

  /** Every metric in the Prometheus text format. */
  exposition(): Promise<string> {
    return this.#registry.metrics();
  }
}

function appKey(namespace: string, name: string): string {
  // Namespaces cannot contain "/", so this cannot collide.
  return `${namespace}/${name}`;
}

function isDuration(seconds: number): boolean {
  return Number.isFinite(seconds) && seconds >= 0;
}
