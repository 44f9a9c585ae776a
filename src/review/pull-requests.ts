/**
 * Plans of pull requests, on the Git host: for a Repository with `spec.pullRequests.plan`, each
 * open pull request into a branch its Applications follow gets
 *   1. a `pending` commit status on its head commit (context `capstan/plan/<namespace>`),
 *   2. the plan of the change (planChange: each touched app dry-run as its own ServiceAccount),
 *   3. ONE comment per pull request and Repository, found again by its marker and edited in place,
 *   4. the status `success` (planned, no app in error) or `failure` (an app fails to render or plan).
 *
 * Pull requests arrive by webhook (`pullRequestChanged`) and, because webhooks get lost and a standby
 * replica only forwards a wake-up, by listing the open ones when the Repository is polled
 * (`reviewOpen`): a head commit planned once is not planned again. A newer head of the same pull
 * request aborts the older plan (or takes its place in the queue).
 *
 * The controller is shared by tenants (namespaces), whose Git hosts it does not choose: a host that
 * never answers must cost its own tenant only. So plans run a few at a time for the controller
 * (`concurrency`) and fewer for one namespace (`namespaceConcurrency`, below it: no namespace holds
 * every slot); a free slot goes to the next namespace with waiting work, round-robin. Each plan has a
 * deadline (`planTimeoutMs`) that its forge calls and planChange get as their abort signal, and each
 * forge request is bounded on its own (src/controller/repository-forge.ts). A namespace keeps at
 * most `maxWaitingPerNamespace` pull requests waiting (the newest head of each): past it the oldest
 * waiting is dropped, to be listed again when its Repository is next polled. `close` aborts every
 * plan and listing and waits for them a short while only.
 *
 * A pull request from a fork is not planned unless the Repository allows it (`forks`): the comment
 * would show live cluster state to whoever opened it. Forge errors are logged (they carry no token:
 * src/forge redacts them); a rate limit is waited out when the host says for how long.
 */
import {
  applicationSpecSchema,
  repositorySpecSchema,
  type Application,
  type Repository,
} from '../api/v1alpha1.js';
import { abandonOnAbort } from '../core/abort.js';
import { messageOf } from '../core/errors.js';
import { sleep, systemClock, type Clock, type TimerHandle } from '../core/time.js';
import { ForgeError, type CommitState, type ForgeTarget } from '../forge/index.js';
import { isPushedRepository, redactText } from '../source/index.js';
import { branchName } from './candidates.js';
import { formatPlanMarkdown } from './markdown.js';
import type { PlanRequest } from './plan.js';
import type { ChangePlan } from './types.js';

/** The commit status context of the plans of one namespace's Repositories. */
export const PLAN_CONTEXT_PREFIX = 'capstan/plan/';

/** The invisible marker of the one comment a Repository keeps on a pull request. */
export function planMarker(repository: Repository): string {
  return `<!-- capstan:plan ${repository.metadata.namespace}/${repository.metadata.name} -->`;
}

/** A pull request as the webhook receivers read it (src/server/webhooks), validated there. */
export interface PullRequestChange {
  readonly action: 'opened' | 'synchronized' | 'reopened' | 'closed';
  readonly number: number;
  readonly headSha: string;
  readonly baseRef: string;
  readonly fork: boolean;
}

export interface PullRequestNotice {
  /** The base repository's match keys (`repositoryMatchKey`), as for pushes. */
  readonly repositoryKeys: readonly string[];
  readonly pullRequest: PullRequestChange;
}

export interface PlanLog {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

export interface PullRequestPlansDeps {
  /** The Repositories and Applications this controller reconciles (its informers). */
  readonly repositories: {
    list(): readonly Repository[];
    get(name: string, namespace: string): Repository | undefined;
  };
  readonly applications: { list(): readonly Application[] };
  /** The Repository's forge client and its name there, with the token of its Secret (read afresh). */
  forgeOf(repository: Repository): Promise<ForgeTarget>;
  /** planChange as the controller computes it (its informers, fetches and ServiceAccounts). */
  plan(request: PlanRequest): Promise<ChangePlan>;
  readonly log: PlanLog;
  readonly clock?: Clock;
  /** Plans computed at once, all namespaces together. Default 4. */
  readonly concurrency?: number;
  /** Plans of one namespace computed at once; kept below `concurrency`. Default 1. */
  readonly namespaceConcurrency?: number;
  /** A plan's deadline: its forge calls and planChange are aborted past it. Default 5 min. */
  readonly planTimeoutMs?: number;
  /** A listing's deadline (all its pages). Default 2 min. */
  readonly listTimeoutMs?: number;
  /** Pull requests of one namespace waiting for a slot; past it the oldest waiting is dropped. Default 50. */
  readonly maxWaitingPerNamespace?: number;
  /** How long `close` waits for aborted plans to end (real time). Default 10 s. */
  readonly closeGraceMs?: number;
  /** A Repository's open pull requests are listed at most this often (a wake-up aside). Default 60 s. */
  readonly listIntervalMs?: number;
  /** The longest rate-limit wait taken before retrying a forge call; past it the attempt fails. Default 5 min. */
  readonly maxRateLimitWaitMs?: number;
  /** Annotation whose new value on a Repository forces a listing (a person's or a standby's wake-up). */
  readonly wakeAnnotation?: string;
}

/** What a plan is computed for: one head commit of one pull request on one Repository. */
interface PlanTarget {
  readonly number: number;
  readonly headSha: string;
  readonly baseRef: string;
}

/** A plan to make: waiting for a slot, then running. The newest head of a pull request only. */
interface Job {
  /** runKey: the Repository and the pull request's number. */
  readonly key: string;
  readonly namespace: string;
  readonly repository: Repository;
  readonly target: PlanTarget;
  /** Aborted by a newer head, the pull request's closing, or `close`. */
  readonly abort: AbortController;
  running: boolean;
}

/** Head commits remembered as planned; the oldest are forgotten past this (they re-plan at worst). */
const MAX_REMEMBERED = 10_000;
const RATE_LIMIT_ATTEMPTS = 3;
export const DEFAULT_CONCURRENCY = 4;
export const DEFAULT_NAMESPACE_CONCURRENCY = 1;
export const DEFAULT_PLAN_TIMEOUT_MS = 5 * 60_000;
const DEFAULT_LIST_TIMEOUT_MS = 2 * 60_000;
export const DEFAULT_MAX_WAITING_PER_NAMESPACE = 50;
const DEFAULT_CLOSE_GRACE_MS = 10_000;
/** The failure status after a plan gave up is best effort, bounded by this. */
const REPORT_TIMEOUT_MS = 30_000;
/** A namespace whose waiting pull requests are dropped is told at most this often. */
const DROP_WARNING_INTERVAL_MS = 60_000;

export class PullRequestPlans {
  private readonly clock: Clock;
  private readonly concurrency: number;
  private readonly namespaceConcurrency: number;
  /** The newest job of each pull request (runKey), waiting or running. */
  private readonly jobs = new Map<string, Job>();
  /** Waiting jobs per namespace, oldest first; the namespaces in round-robin order. */
  private readonly waiting = new Map<string, Map<string, Job>>();
  /** Running jobs per namespace (superseded ones until they end included). */
  private readonly runningIn = new Map<string, number>();
  private runningCount = 0;
  private readonly planned = new Set<string>();
  private readonly listed = new Map<string, { readonly atMs: number; readonly wake: string | undefined }>();
  /** Repositories being listed now: one listing per Repository at a time. */
  private readonly listing = new Set<string>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly stopping = new AbortController();
  /** Repositories (by uid) → the generation already reported as wanting plans without a forge or token. */
  private readonly misconfigured = new Map<string, number>();
  /** Namespace → when dropped waiting pull requests were last reported, and how many since. */
  private readonly drops = new Map<string, { atMs: number; dropped: number }>();

  constructor(private readonly deps: PullRequestPlansDeps) {
    this.clock = deps.clock ?? systemClock;
    this.concurrency = Math.max(1, deps.concurrency ?? DEFAULT_CONCURRENCY);
    // Below the controller's limit when it can be: one namespace must leave a slot to the others.
    this.namespaceConcurrency = Math.max(
      1,
      Math.min(deps.namespaceConcurrency ?? DEFAULT_NAMESPACE_CONCURRENCY, this.concurrency - 1),
    );
  }

  /** A webhook's pull-request event: plans it on every Repository of that repository that wants plans. */
  pullRequestChanged(notice: PullRequestNotice): number {
    const keys = new Set(notice.repositoryKeys);
    let matched = 0;
    for (const repository of this.deps.repositories.list()) {
      const url = (repository.spec as { url?: unknown }).url;
      if (typeof url !== 'string' || !isPushedRepository(url, keys)) continue;
      const settings = this.settingsOf(repository);
      if (!settings) continue;
      matched++;
      const { pullRequest } = notice;
      if (pullRequest.action === 'closed') {
        // The comment stays as the record of what was planned; a plan still running is moot.
        const job = this.jobs.get(runKey(repository, pullRequest.number));
        if (job) this.drop(job);
        continue;
      }
      if (pullRequest.fork && !settings.forks) {
        this.deps.log.info(
          { repository: nameOf(repository), pullRequest: pullRequest.number },
          'pull request from a fork: not planned (spec.pullRequests.forks is off)',
        );
        continue;
      }
      this.schedule(repository, pullRequest);
    }
    return matched;
  }

  /**
   * The Repository was polled: list its open pull requests (at most every `listIntervalMs`, or at
   * once after a wake-up) and plan each head commit not planned yet. Never throws; errors are logged.
   */
  reviewOpen(repository: Repository): void {
    if (this.stopping.signal.aborted) return;
    const settings = this.settingsOf(repository);
    const key = nameOf(repository);
    if (!settings || this.listing.has(key) || !this.dueForListing(repository)) return;
    this.listing.add(key);
    const deadline = this.deadline(this.deps.listTimeoutMs ?? DEFAULT_LIST_TIMEOUT_MS, this.stopping.signal);
    this.track(
      abandonOnAbort(this.listAndPlan(repository, settings.forks, deadline.signal), deadline.signal)
        .catch((error: unknown) =>
          this.deps.log.warn(
            { repository: key, err: redactText(messageOf(error)) },
            'listing open pull requests failed',
          ),
        )
        .finally(() => {
          deadline.cancel();
          this.listing.delete(key);
        }),
    );
  }

  /** Waits until no plan or listing runs, nor waits for a slot (tests). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /**
   * Aborts every plan and listing, drops the waiting ones, and waits until none runs, or for
   * `closeGraceMs` at most: a call that ignores its abort signal is not waited out.
   */
  async close(): Promise<void> {
    this.stopping.abort();
    for (const job of this.jobs.values()) job.abort.abort();
    this.jobs.clear();
    this.waiting.clear();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.deps.closeGraceMs ?? DEFAULT_CLOSE_GRACE_MS);
      timer.unref();
    });
    await Promise.race([this.idle(), grace]);
    clearTimeout(timer);
    if (this.inFlight.size > 0)
      this.deps.log.warn(
        { running: this.inFlight.size },
        'pull-request plans did not end in time after their abort: not waited for',
      );
  }

  /**
   * `spec.pullRequests` of a Repository that wants plans and can have them; one that wants them
   * without a Git host to post to is reported once per generation (its spec must change to fix it).
   */
  private settingsOf(repository: Repository): { forks: boolean } | undefined {
    const parsed = repositorySpecSchema.safeParse(repository.spec);
    if (!parsed.success || !parsed.data.pullRequests?.plan) return undefined;
    if (parsed.data.forge && parsed.data.secretRef) return { forks: parsed.data.pullRequests.forks };
    const id = repository.metadata.uid ?? nameOf(repository);
    const generation = repository.metadata.generation ?? 0;
    if (this.misconfigured.get(id) !== generation) {
      remembered(this.misconfigured, id, generation);
      this.deps.log.warn(
        { repository: nameOf(repository) },
        'spec.pullRequests.plan needs spec.forge (the Git host) and spec.secretRef (a Secret with its API token): not planning',
      );
    }
    return undefined;
  }

  private dueForListing(repository: Repository): boolean {
    const key = nameOf(repository);
    const wake = this.deps.wakeAnnotation
      ? repository.metadata.annotations?.[this.deps.wakeAnnotation]
      : undefined;
    const nowMs = this.clock.now().getTime();
    const last = this.listed.get(key);
    const intervalMs = this.deps.listIntervalMs ?? 60_000;
    if (last && last.wake === wake && nowMs - last.atMs < intervalMs) return false;
    remembered(this.listed, key, { atMs: nowMs, wake });
    return true;
  }

  private async listAndPlan(repository: Repository, forks: boolean, signal: AbortSignal): Promise<void> {
    const target = await this.deps.forgeOf(repository);
    const open = await this.withRateLimit(
      () => target.forge.listOpenPullRequests(target.repo, { signal }),
      signal,
    );
    signal.throwIfAborted();
    for (const pull of open) {
      if (pull.head.fork && !forks) continue;
      const planTarget = { number: pull.number, headSha: pull.head.sha, baseRef: pull.base.ref };
      if (!this.planned.has(plannedKey(repository, planTarget))) this.schedule(repository, planTarget);
    }
  }

  /**
   * Queues the plan of `target` (its namespace's queue, bounded) and starts what the limits allow;
   * an older head of the same pull request is aborted, or leaves the queue.
   */
  private schedule(repository: Repository, target: PlanTarget): void {
    if (this.stopping.signal.aborted) return;
    const key = runKey(repository, target.number);
    const current = this.jobs.get(key);
    if (current?.target.headSha === target.headSha) return;
    if (current) this.drop(current);
    if (!this.followedBase(repository, target.baseRef)) {
      this.deps.log.debug(
        { repository: nameOf(repository), pullRequest: target.number, base: target.baseRef },
        'no Application follows the base branch: nothing to plan',
      );
      return;
    }
    const { namespace } = repository.metadata;
    const job: Job = { key, namespace, repository, target, abort: new AbortController(), running: false };
    this.jobs.set(key, job);
    let queue = this.waiting.get(namespace);
    if (!queue) {
      queue = new Map();
      this.waiting.set(namespace, queue);
    }
    queue.set(key, job);
    const maxWaiting = Math.max(1, this.deps.maxWaitingPerNamespace ?? DEFAULT_MAX_WAITING_PER_NAMESPACE);
    if (queue.size > maxWaiting) this.dropOldest(namespace, queue.values().next().value!);
    this.pump();
  }

  /** Aborts a job; a waiting one leaves its queue. */
  private drop(job: Job): void {
    job.abort.abort();
    if (this.jobs.get(job.key) === job) this.jobs.delete(job.key);
    if (job.running) return;
    const queue = this.waiting.get(job.namespace);
    queue?.delete(job.key);
    if (queue?.size === 0) this.waiting.delete(job.namespace);
  }

  /** The namespace waits for more plans than it may: its oldest waiting one goes (listed again later). */
  private dropOldest(namespace: string, job: Job): void {
    this.drop(job);
    const nowMs = this.clock.now().getTime();
    const drops = this.drops.get(namespace) ?? { atMs: -Infinity, dropped: 0 };
    drops.dropped++;
    if (nowMs - drops.atMs >= DROP_WARNING_INTERVAL_MS) {
      this.deps.log.warn(
        {
          namespace,
          repository: nameOf(job.repository),
          pullRequest: job.target.number,
          dropped: drops.dropped,
          maxWaiting: this.deps.maxWaitingPerNamespace ?? DEFAULT_MAX_WAITING_PER_NAMESPACE,
        },
        'too many pull requests of this namespace wait for a plan: the oldest waiting are dropped (planned when their Repository is next listed)',
      );
      drops.atMs = nowMs;
      drops.dropped = 0;
    }
    remembered(this.drops, namespace, drops);
  }

  /** Starts waiting jobs while slots are free: the next namespace below its own limit, round-robin. */
  private pump(): void {
    while (!this.stopping.signal.aborted && this.runningCount < this.concurrency) {
      const job = this.next();
      if (!job) return;
      this.start(job);
    }
  }

  private next(): Job | undefined {
    for (const [namespace, queue] of this.waiting) {
      if ((this.runningIn.get(namespace) ?? 0) >= this.namespaceConcurrency) continue;
      const job = queue.values().next().value!;
      queue.delete(job.key);
      // To the back of the line: the other namespaces' waiting work goes first.
      this.waiting.delete(namespace);
      if (queue.size > 0) this.waiting.set(namespace, queue);
      return job;
    }
    return undefined;
  }

  private start(job: Job): void {
    job.running = true;
    this.runningCount++;
    this.runningIn.set(job.namespace, (this.runningIn.get(job.namespace) ?? 0) + 1);
    const deadline = this.deadline(this.deps.planTimeoutMs ?? DEFAULT_PLAN_TIMEOUT_MS, job.abort.signal);
    this.track(
      this.planOnce(job, deadline.signal).finally(() => {
        deadline.cancel();
        this.runningCount--;
        const left = (this.runningIn.get(job.namespace) ?? 1) - 1;
        if (left > 0) this.runningIn.set(job.namespace, left);
        else this.runningIn.delete(job.namespace);
        if (this.jobs.get(job.key) === job) this.jobs.delete(job.key);
        this.pump();
      }),
    );
  }

  /** `parent`, also aborted after `ms` on the clock; `cancel` clears the timer. */
  private deadline(ms: number, parent: AbortSignal): { signal: AbortSignal; cancel: () => void } {
    const expired = new AbortController();
    const timer: TimerHandle = this.clock.setTimeout(() => expired.abort(new DeadlineExceeded(ms)), ms);
    return {
      signal: AbortSignal.any([parent, expired.signal]),
      cancel: () => this.clock.clearTimeout(timer),
    };
  }

  /** Whether some Application of this Repository follows the branch `baseRef` (as planChange picks them). */
  private followedBase(repository: Repository, baseRef: string): boolean {
    const { namespace, name } = repository.metadata;
    return this.deps.applications.list().some((app) => {
      if (app.metadata.namespace !== namespace) return false;
      const spec = applicationSpecSchema.safeParse(app.spec);
      return (
        spec.success && spec.data.sourceRef.name === name && branchName(spec.data.ref) === branchName(baseRef)
      );
    });
  }

  /** Never throws. `signal`: the job's own abort and its deadline. */
  private async planOnce(job: Job, signal: AbortSignal): Promise<void> {
    const { repository, target } = job;
    if (signal.aborted) return;
    const fields = { repository: nameOf(repository), pullRequest: target.number, head: target.headSha };
    try {
      // Not waited for past the signal, should a step ignore it: the slot is freed at the deadline.
      await abandonOnAbort(this.planAndReport(repository, target, signal), signal);
      this.remember(plannedKey(repository, target));
      this.deps.log.info(fields, 'pull request planned');
    } catch (error) {
      if (job.abort.signal.aborted) {
        this.deps.log.debug(fields, 'plan aborted: a newer head, the pull request closed, or a shutdown');
        return;
      }
      // Remembered too: a broken setup must not be retried at every listing; a new push plans again.
      this.remember(plannedKey(repository, target));
      const reason: unknown = signal.aborted ? signal.reason : error;
      this.deps.log.warn(
        { ...fields, err: redactText(messageOf(reason)) },
        reason instanceof DeadlineExceeded
          ? 'planning the pull request took too long: given up'
          : 'planning the pull request failed',
      );
      const bound = this.deadline(REPORT_TIMEOUT_MS, job.abort.signal);
      await this.reportFailure(repository, target, bound.signal)
        .catch(() => undefined)
        .finally(bound.cancel);
    }
  }

  /** The four steps: pending, plan, comment, verdict. */
  private async planAndReport(
    repository: Repository,
    target: PlanTarget,
    signal: AbortSignal,
  ): Promise<void> {
    const { forge, repo } = await this.deps.forgeOf(repository);
    const context = `${PLAN_CONTEXT_PREFIX}${repository.metadata.namespace}`;
    const status = (state: CommitState, description: string) =>
      this.withRateLimit(
        () => forge.setCommitStatus(repo, target.headSha, { state, context, description }, { signal }),
        signal,
      );
    await status('pending', 'Capstan is planning what this change does to the cluster');
    signal.throwIfAborted();
    const plan = await this.deps.plan(planRequest(repository, target, signal));
    signal.throwIfAborted();
    const body = `${planMarker(repository)}\n${formatPlanMarkdown(plan)}`;
    await this.withRateLimit(
      () => forge.upsertComment(repo, target.number, { marker: planMarker(repository), body }, { signal }),
      signal,
    );
    signal.throwIfAborted();
    const verdict = verdictOf(plan);
    await status(verdict.state, verdict.description);
  }

  /** Best effort: the status says the plan could not be made, never why (that is in the log). */
  private async reportFailure(
    repository: Repository,
    target: PlanTarget,
    signal: AbortSignal,
  ): Promise<void> {
    const { forge, repo } = await this.deps.forgeOf(repository);
    signal.throwIfAborted();
    await forge.setCommitStatus(
      repo,
      target.headSha,
      {
        state: 'error',
        context: `${PLAN_CONTEXT_PREFIX}${repository.metadata.namespace}`,
        description: "Capstan could not plan this change; the controller's log says why",
      },
      { signal },
    );
  }

  /** A forge call, again after the wait a rate limit asks for (bounded in count and length). */
  private async withRateLimit<T>(call: () => Promise<T>, signal: AbortSignal): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (error) {
        const waitMs = error instanceof ForgeError ? error.retryAfterMs : undefined;
        const maxWaitMs = this.deps.maxRateLimitWaitMs ?? 5 * 60_000;
        if (waitMs === undefined || waitMs > maxWaitMs || attempt >= RATE_LIMIT_ATTEMPTS) throw error;
        this.deps.log.info(
          { waitMs, err: redactText(messageOf(error)) },
          'forge rate limit: waiting before trying again',
        );
        await sleep(waitMs, { signal, clock: this.clock });
        signal.throwIfAborted();
      }
    }
  }

  private remember(key: string): void {
    this.planned.delete(key);
    this.planned.add(key);
    if (this.planned.size > MAX_REMEMBERED) this.planned.delete(this.planned.values().next().value!);
  }

  private track(work: Promise<void>): void {
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }
}

/** The reason a plan's or a listing's signal aborts when its deadline passes. */
export class DeadlineExceeded extends Error {
  constructor(readonly ms: number) {
    super(`gave up after ${Math.round(ms / 1000)}s`);
    this.name = 'DeadlineExceeded';
  }
}

/** Sets `key` as the newest entry of `map`, forgetting the oldest past MAX_REMEMBERED. */
function remembered<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > MAX_REMEMBERED) map.delete(map.keys().next().value!);
}

function planRequest(repository: Repository, target: PlanTarget, signal: AbortSignal): PlanRequest {
  const { namespace, name } = repository.metadata;
  return {
    repositoryUrl: String((repository.spec as { url?: unknown }).url),
    base: target.baseRef,
    head: target.headSha,
    namespace,
    // This Repository's Applications only: each Repository keeps its own comment.
    repositoryFilter: (candidate) =>
      candidate.metadata.namespace === namespace && candidate.metadata.name === name,
    signal,
  };
}

/** `success` when every touched app was planned; `failure` when one fails to render or plan. */
export function verdictOf(plan: ChangePlan): { state: CommitState; description: string } {
  const failed = plan.apps.filter((app) => app.result === 'error').length;
  const changed = plan.apps.filter((app) => app.result === 'changes').length;
  if (failed > 0)
    return {
      state: 'failure',
      description: `${failed} app(s) fail to render or plan; ${changed} would change`,
    };
  return {
    state: 'success',
    description:
      changed === 0 ? 'No app would change' : `${changed} app(s) would change; ${plan.untouched} untouched`,
  };
}

function nameOf(repository: Repository): string {
  return `${repository.metadata.namespace}/${repository.metadata.name}`;
}

function runKey(repository: Repository, number: number): string {
  return `${nameOf(repository)}#${number}`;
}

function plannedKey(repository: Repository, target: PlanTarget): string {
  return `${runKey(repository, target.number)}@${target.headSha}`;
}
