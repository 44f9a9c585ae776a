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
 * request aborts the older plan; plans run a few at a time.
 *
 * A pull request from a fork is not planned unless the Repository allows it (`forks`): the comment
 * would show live cluster state to whoever opened it. Forge errors are logged (they carry no token:
 * src/forge redacts them); a rate limit is waited out when the host says for how long.
 */
import pLimit from 'p-limit';
import {
  applicationSpecSchema,
  repositorySpecSchema,
  type Application,
  type Repository,
} from '../api/v1alpha1.js';
import { messageOf } from '../core/errors.js';
import { sleep, systemClock, type Clock } from '../core/time.js';
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
  /** Plans computed at once. Default 2. */
  readonly concurrency?: number;
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

interface Running {
  readonly headSha: string;
  readonly abort: AbortController;
}

/** Head commits remembered as planned; the oldest are forgotten past this (they re-plan at worst). */
const MAX_REMEMBERED = 10_000;
const RATE_LIMIT_ATTEMPTS = 3;

export class PullRequestPlans {
  private readonly limit: ReturnType<typeof pLimit>;
  private readonly clock: Clock;
  private readonly running = new Map<string, Running>();
  private readonly planned = new Set<string>();
  private readonly listed = new Map<string, { readonly atMs: number; readonly wake: string | undefined }>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly stopping = new AbortController();
  /** Repositories (at a generation) already reported as wanting plans without a forge or token. */
  private readonly misconfigured = new Set<string>();

  constructor(private readonly deps: PullRequestPlansDeps) {
    this.limit = pLimit(deps.concurrency ?? 2);
    this.clock = deps.clock ?? systemClock;
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
        this.running.get(runKey(repository, pullRequest.number))?.abort.abort();
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
    const settings = this.settingsOf(repository);
    if (!settings || !this.dueForListing(repository)) return;
    this.track(
      this.listAndPlan(repository, settings.forks).catch((error: unknown) =>
        this.deps.log.warn(
          { repository: nameOf(repository), err: redactText(messageOf(error)) },
          'listing open pull requests failed',
        ),
      ),
    );
  }

  /** Waits until no plan or listing runs (tests, and `close`). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** Aborts every plan and waits until none runs. */
  async close(): Promise<void> {
    this.stopping.abort();
    for (const running of this.running.values()) running.abort.abort();
    await this.idle();
  }

  /**
   * `spec.pullRequests` of a Repository that wants plans and can have them; one that wants them
   * without a Git host to post to is reported once per generation (its spec must change to fix it).
   */
  private settingsOf(repository: Repository): { forks: boolean } | undefined {
    const parsed = repositorySpecSchema.safeParse(repository.spec);
    if (!parsed.success || !parsed.data.pullRequests?.plan) return undefined;
    if (parsed.data.forge && parsed.data.secretRef) return { forks: parsed.data.pullRequests.forks };
    const reported = `${nameOf(repository)}@${repository.metadata.generation ?? 0}`;
    if (!this.misconfigured.has(reported)) {
      this.misconfigured.add(reported);
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
    this.listed.set(key, { atMs: nowMs, wake });
    return true;
  }

  private async listAndPlan(repository: Repository, forks: boolean): Promise<void> {
    const target = await this.deps.forgeOf(repository);
    const open = await this.withRateLimit(
      () => target.forge.listOpenPullRequests(target.repo),
      this.stopping.signal,
    );
    for (const pull of open) {
      if (pull.head.fork && !forks) continue;
      const planTarget = { number: pull.number, headSha: pull.head.sha, baseRef: pull.base.ref };
      if (!this.planned.has(plannedKey(repository, planTarget))) this.schedule(repository, planTarget);
    }
  }

  /** Starts (bounded) the plan of `target`, aborting an older head's plan of the same pull request. */
  private schedule(repository: Repository, target: PlanTarget): void {
    if (this.stopping.signal.aborted) return;
    const key = runKey(repository, target.number);
    const current = this.running.get(key);
    if (current?.headSha === target.headSha) return;
    current?.abort.abort();
    if (!this.followedBase(repository, target.baseRef)) {
      this.deps.log.debug(
        { repository: nameOf(repository), pullRequest: target.number, base: target.baseRef },
        'no Application follows the base branch: nothing to plan',
      );
      return;
    }
    const abort = new AbortController();
    const running = { headSha: target.headSha, abort };
    this.running.set(key, running);
    this.track(
      this.limit(() => this.planOnce(repository, target, abort.signal)).finally(() => {
        if (this.running.get(key) === running) this.running.delete(key);
      }),
    );
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

  private async planOnce(repository: Repository, target: PlanTarget, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    const fields = { repository: nameOf(repository), pullRequest: target.number, head: target.headSha };
    try {
      await this.planAndReport(repository, target, signal);
      this.remember(plannedKey(repository, target));
      this.deps.log.info(fields, 'pull request planned');
    } catch (error) {
      if (signal.aborted) {
        this.deps.log.debug(fields, 'plan aborted: a newer head or a shutdown');
        return;
      }
      // Remembered too: a broken setup must not be retried at every listing; a new push plans again.
      this.remember(plannedKey(repository, target));
      this.deps.log.warn(
        { ...fields, err: redactText(messageOf(error)) },
        'planning the pull request failed',
      );
      await this.reportFailure(repository, target).catch(() => undefined);
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
        () => forge.setCommitStatus(repo, target.headSha, { state, context, description }),
        signal,
      );
    await status('pending', 'Capstan is planning what this change does to the cluster');
    const plan = await this.deps.plan(planRequest(repository, target, signal));
    signal.throwIfAborted();
    const body = `${planMarker(repository)}\n${formatPlanMarkdown(plan)}`;
    await this.withRateLimit(
      () => forge.upsertComment(repo, target.number, { marker: planMarker(repository), body }),
      signal,
    );
    signal.throwIfAborted();
    const verdict = verdictOf(plan);
    await status(verdict.state, verdict.description);
  }

  /** Best effort: the status says the plan could not be made, never why (that is in the log). */
  private async reportFailure(repository: Repository, target: PlanTarget): Promise<void> {
    const { forge, repo } = await this.deps.forgeOf(repository);
    await forge.setCommitStatus(repo, target.headSha, {
      state: 'error',
      context: `${PLAN_CONTEXT_PREFIX}${repository.metadata.namespace}`,
      description: "Capstan could not plan this change; the controller's log says why",
    });
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
