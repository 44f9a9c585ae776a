/**
 * GET /api/v1/apps/:ns/:name/diff in `dryRun` mode: what a sync would change now — the app's source
 * rendered at the revision a sync would use and applied with a server-side dry-run against the live
 * objects — each change with who owns that field now.
 *
 * The dashboard does not compute it: `planDiff` (DashboardDependencies) does, on the terms of a real
 * sync (see src/controller/preview.ts: in the controller, as the app's ServiceAccount; on a laptop,
 * as the kubeconfig user). The dashboard decides what of it each user sees, and what it may cost:
 *
 * - Authorization: the user may `get` the Application (the route read it as them), and each object
 *   is shown only if an access review as the user says they may `get` its resource in its namespace
 *   (cached per session, access.ts); otherwise it appears as `forbidden` by kind, namespace and name,
 *   with nothing else. The plan itself is computed once for everyone, so this filter is the wall.
 * - Secrets: the plan carries no value (plan/diff.ts masks Secrets before diffing; changes are
 *   paths and managers; owners are field sets), so there is nothing to strip here.
 * - Cost: a plan renders Git and calls the API server once or twice per object. Concurrent requests
 *   for one app version share one computation; its answer is reused for `ttlMs` (10 s); at most
 *   `concurrency` (2) run at once server-wide, `maxWaiting` more wait up to `maxWaitMs`, and the rest
 *   are answered 429. A computation is abandoned after `timeoutMs`.
 * - Failure: when no plan can be made (Git unreachable, a render error, no ServiceAccount), the
 *   answer is the `live` mode (drift.ts), its note saying why — redacted, like status.lastError.
 */
import type { Application } from '../../api/v1alpha1.js';
import { CapstanError, messageOf } from '../../core/errors.js';
import type { Clock, TimerHandle } from '../../core/time.js';
import { isKubeApiError, type KubeClient } from '../../kube/index.js';
import { redactText } from '../../source/redact.js';
import { appDrift, LIVE_NOTE } from './drift.js';
import type { AppDiff, DriftObject } from './schema.js';
import { syncOf } from './summary.js';

// ── what planDiff gives ─────────────────────────────────────────────────────────────────────────

export interface PlannedObject {
  readonly ref: {
    readonly group: string;
    readonly kind: string;
    readonly namespace?: string | undefined;
    readonly name: string;
  };
  /** `create`, `update`, `recreate`, `prune`, `failed`, `skipped`. */
  readonly action: string;
  readonly reason?: string | undefined;
  /** Masked. */
  readonly unifiedDiff?: string | undefined;
  readonly unifiedDiffTruncated?: boolean | undefined;
  readonly changes: readonly {
    readonly path: string;
    readonly op: 'add' | 'remove' | 'replace';
    readonly managers: readonly string[];
  }[];
  readonly changesOmitted?: number | undefined;
  /** Whether the object exists now. */
  readonly exists: boolean;
  readonly owners: readonly DriftObject['owners'][number][];
}

/** A dry-run of one app: bounded and masked by whoever computed it (engine/preview.ts). */
export interface DryRunPlan {
  readonly revision: string;
  /** What a sync would change (or could not), at most 50. */
  readonly objects: readonly PlannedObject[];
  readonly omitted: number;
  readonly unchanged: number;
  /** Who computed it: `ServiceAccount team-a/deployer`. */
  readonly actor: string;
  /** For people: a rollback pins the revision, prune is off, … */
  readonly notes: readonly string[];
}

/** Computes the dry-run of an app; rejects when it cannot (the answer falls back to `live`). */
export type PlanDiff = (app: Application, signal: AbortSignal) => Promise<DryRunPlan>;

// ── cost: single-flight, cache, bounded concurrency ─────────────────────────────────────────────

export interface DryRunLimits {
  /** How long an answer (or a failure) is reused for the same app version. Default 10 s. */
  readonly ttlMs: number;
  /** Computations at once, server-wide. Default 2. */
  readonly concurrency: number;
  /** Computations that may wait for a free slot (default 8); more are refused (429). */
  readonly maxWaiting: number;
  /** Longest wait for a free slot (default 10 s), then 429. */
  readonly maxWaitMs: number;
  /** Longest one computation may take (default 60 s); then it is abandoned and answered `live`. */
  readonly timeoutMs: number;
  /** Answers kept (default 64; each at most 50 objects of at most 64 KiB of diff). */
  readonly maxEntries: number;
}

export const DEFAULT_DRY_RUN_LIMITS: DryRunLimits = {
  ttlMs: 10_000,
  concurrency: 2,
  maxWaiting: 8,
  maxWaitMs: 10_000,
  timeoutMs: 60_000,
  maxEntries: 64,
};

/** Too many dry-runs running and waiting: try again shortly (HTTP 429). */
export class DryRunBusyError extends CapstanError {
  constructor() {
    super('transient', 'too many diffs are being computed; try again in a few seconds');
  }
}

/** A computation took longer than `timeoutMs`. */
export class DryRunTimeoutError extends CapstanError {
  constructor(ms: number) {
    super('transient', `it took longer than ${Math.round(ms / 1000)} s`);
  }
}

export type DryRunOutcome =
  | { readonly ok: true; readonly plan: DryRunPlan; readonly at: Date }
  | { readonly ok: false; readonly error: unknown; readonly at: Date };

interface Entry {
  readonly outcome: Promise<DryRunOutcome>;
  settledAt?: number;
}

export class DryRuns {
  readonly #plan: PlanDiff;
  readonly #clock: Clock;
  readonly #limits: DryRunLimits;
  readonly #entries = new Map<string, Entry>();
  readonly #waiting: { readonly start: () => void; readonly timer: TimerHandle }[] = [];
  readonly #stop = new AbortController();
  #running = 0;

  constructor(plan: PlanDiff, options: { clock: Clock; limits?: Partial<DryRunLimits> }) {
    this.#plan = plan;
    this.#clock = options.clock;
    this.#limits = { ...DEFAULT_DRY_RUN_LIMITS, ...options.limits };
  }

  /** Computations running now. */
  get running(): number {
    return this.#running;
  }

  /**
   * The dry-run of `app` as it is now (see versionOf): shared with concurrent requests, reused for
   * `ttlMs`. Rejects only with DryRunBusyError; a failed computation is an outcome (and is reused
   * too, so a broken repository is not fetched again on every request).
   */
  outcome(app: Application): Promise<DryRunOutcome> {
    const key = versionOf(app);
    const now = this.#clock.now().getTime();
    const known = this.#entries.get(key);
    if (known && (known.settledAt === undefined || now - known.settledAt < this.#limits.ttlMs))
      return known.outcome;
    if (this.#running >= this.#limits.concurrency && this.#waiting.length >= this.#limits.maxWaiting)
      return Promise.reject(new DryRunBusyError());
    const entry: Entry = { outcome: this.#compute(app) };
    entry.outcome.then(
      () => {
        entry.settledAt = this.#clock.now().getTime();
      },
      () => {
        // Refused for want of a slot: nothing to reuse.
        if (this.#entries.get(key) === entry) this.#entries.delete(key);
      },
    );
    this.#remember(key, entry, now);
    return entry.outcome;
  }

  /** Abandons every computation (the server is closing). */
  close(): void {
    this.#stop.abort(new CapstanError('transient', 'the dashboard is stopping'));
    for (const waiter of this.#waiting.splice(0)) {
      this.#clock.clearTimeout(waiter.timer);
      waiter.start();
    }
  }

  async #compute(app: Application): Promise<DryRunOutcome> {
    await this.#slot();
    try {
      const plan = await this.#bounded((signal) => this.#plan(app, signal));
      return { ok: true, plan, at: this.#clock.now() };
    } catch (error) {
      return { ok: false, error, at: this.#clock.now() };
    } finally {
      this.#release();
    }
  }

  /**
   * Runs `work` until it settles or `timeoutMs` passes. On timeout the work is told to stop (its
   * signal) and its slot is given back at once: a computation that ignores its signal must not
   * keep the dashboard's diffs blocked.
   */
  #bounded<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.#stop.signal.aborted) return Promise.reject(this.#stop.signal.reason as Error);
    const abort = new AbortController();
    const stopped = (): void => abort.abort(this.#stop.signal.reason);
    this.#stop.signal.addEventListener('abort', stopped, { once: true });
    return new Promise<T>((resolve, reject) => {
      const timer = this.#clock.setTimeout(() => {
        const error = new DryRunTimeoutError(this.#limits.timeoutMs);
        abort.abort(error);
        reject(error);
      }, this.#limits.timeoutMs);
      abort.signal.addEventListener('abort', () => reject(abort.signal.reason as Error), { once: true });
      work(abort.signal)
        .then(resolve, reject)
        .finally(() => {
          this.#clock.clearTimeout(timer);
          this.#stop.signal.removeEventListener('abort', stopped);
        });
    });
  }

  /** Waits for a free slot (at most `maxWaitMs`, else DryRunBusyError). */
  #slot(): Promise<void> {
    if (this.#running < this.#limits.concurrency) {
      this.#running++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        start: () => {
          this.#running++;
          resolve();
        },
        timer: this.#clock.setTimeout(() => {
          const at = this.#waiting.indexOf(waiter);
          if (at >= 0) this.#waiting.splice(at, 1);
          reject(new DryRunBusyError());
        }, this.#limits.maxWaitMs),
      };
      this.#waiting.push(waiter);
    });
  }

  #release(): void {
    this.#running--;
    const next = this.#waiting.shift();
    if (next) {
      this.#clock.clearTimeout(next.timer);
      next.start();
    }
  }

  /** Keeps `entry`, dropping expired answers and then the oldest beyond `maxEntries`. */
  #remember(key: string, entry: Entry, now: number): void {
    for (const [other, known] of this.#entries)
      if (known.settledAt !== undefined && now - known.settledAt >= this.#limits.ttlMs)
        this.#entries.delete(other);
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    while (this.#entries.size > this.#limits.maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.#entries.delete(oldest.value);
    }
  }
}

/**
 * What a dry-run of an app depends on, short of the cluster and Git themselves: which Application
 * (uid), its spec (generation), and the revisions its status records — the one last synced or
 * diffed, the one applied, a rollback's. Not its resourceVersion: health updates rewrite status
 * every few seconds while pods come and go, and would make every request a new computation.
 */
export function versionOf(app: Application): string {
  const status = app.status ?? {};
  return [
    app.metadata.uid ?? `${app.metadata.namespace}/${app.metadata.name}`,
    app.metadata.generation ?? '',
    status.sync?.revision ?? '',
    status.lastAppliedRevision?.sha ?? '',
    status.rollback?.to ?? '',
  ].join('\u0000');
}

// ── the answer ──────────────────────────────────────────────────────────────────────────────────

/** May the user `get` this object? (An access review as them; false when it cannot be told.) */
export type ObjectAccess = (ref: PlannedObject['ref']) => Promise<boolean>;

export interface DiffInputs {
  readonly app: Application;
  /** The user's client: the `live` fallback reads with it. */
  readonly kube: KubeClient;
  readonly dryRuns: DryRuns;
  readonly mayGet: ObjectAccess;
}

/** The diff of one app for one user: the dry-run filtered by what they may get, or `live` instead. */
export async function appDiff(inputs: DiffInputs): Promise<AppDiff> {
  const outcome = await inputs.dryRuns.outcome(inputs.app);
  if (!outcome.ok) return liveInstead(inputs, outcome.error);
  return shownPlan(inputs.app, outcome.plan, outcome.at, await authorize(outcome.plan, inputs.mayGet));
}

/** Each object, or — when the user may not get it — only what names it. */
async function authorize(plan: DryRunPlan, mayGet: ObjectAccess): Promise<DriftObject[]> {
  return Promise.all(
    plan.objects.map(async (object) =>
      (await mayGet(object.ref)) ? shownObject(object) : hiddenObject(object),
    ),
  );
}

function shownPlan(app: Application, plan: DryRunPlan, at: Date, objects: DriftObject[]): AppDiff {
  const hidden = objects.filter((object) => object.state === 'forbidden').length;
  const note = [
    `A server-side dry-run of ${plan.revision.slice(0, 12) || 'the render'} as ${plan.actor}, the way a sync would apply it: what a sync would change now, and who owns those fields on the live objects.`,
    ...plan.notes,
    ...(hidden > 0 ? [`${hidden} object(s) you may not get are named only.`] : []),
  ].join(' ');
  return {
    mode: 'dryRun',
    sync: syncOf(app.status?.sync?.status),
    ...(plan.revision ? { revision: plan.revision } : {}),
    objects,
    omitted: plan.omitted,
    unchanged: plan.unchanged,
    computedAt: at.toISOString(),
    note,
  };
}

function shownObject(object: PlannedObject): DriftObject {
  return {
    ...nameOf(object),
    action: object.action,
    ...(object.reason ? { message: object.reason } : {}),
    state: object.exists ? 'found' : 'missing',
    ...(object.unifiedDiff ? { unifiedDiff: object.unifiedDiff } : {}),
    ...(object.unifiedDiffTruncated ? { unifiedDiffTruncated: true } : {}),
    changes: object.changes.map((change) => ({
      path: change.path,
      op: change.op,
      managers: [...change.managers],
    })),
    ...(object.changesOmitted ? { changesOmitted: object.changesOmitted } : {}),
    owners: object.owners.map((owner) => ({ ...owner, fields: [...owner.fields] })),
  };
}

/** Kind, namespace and name: not even what a sync would do with it. */
function hiddenObject(object: PlannedObject): DriftObject {
  return { ...nameOf(object), action: 'hidden', state: 'forbidden', owners: [] };
}

function nameOf(object: PlannedObject): Pick<DriftObject, 'group' | 'kind' | 'namespace' | 'name'> {
  const { group, kind, namespace, name } = object.ref;
  return { group, kind, ...(namespace ? { namespace } : {}), name };
}

/** No dry-run: the live mode, saying why. */
async function liveInstead(inputs: DiffInputs, error: unknown): Promise<AppDiff> {
  const live = await appDrift(inputs.kube, inputs.app);
  return { ...live, note: `The dry-run could not be made: ${whyNot(error)}. ${LIVE_NOTE}` };
}

/**
 * Why a dry-run failed, for the page: redacted like status.lastError (no URL credentials, no
 * tokens), bounded, without the API server's answer bodies.
 */
export function whyNot(error: unknown): string {
  if (isKubeApiError(error)) {
    const what = error.status === 403 ? 'forbidden' : `the API server answered ${error.status}`;
    return `${what} (${redactText(error.message).slice(0, 300)})`;
  }
  return redactText(messageOf(error)).split('\n')[0]!.slice(0, 500).replace(/\.$/, '');
}
