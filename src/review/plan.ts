/**
 * The plan of a change: what merging `head` into `base` would do to the cluster, app by app.
 *
 * 1. The Applications that follow the base branch of the repository (candidates.ts).
 * 2. Base and head resolved to commits, once, with the first such Repository's credentials.
 * 3. The apps the change touches: their render differs between the commits (touched.ts); the
 *    others are counted and cost one render at base (usually from the cache), never a dry-run.
 * 4. For each touched app, a diff-mode sync at head, as whoever `preview` acts as (the app's
 *    ServiceAccount in the controller, the kubeconfig user in the CLI): controller/preview.ts.
 * 5. Its counts and warnings (warnings.ts).
 *
 * One app failing (it does not render at head, its dry-run is refused) is that app's `error`; the
 * plan still covers the others.
 */
import pLimit from 'p-limit';
import type { Application, Repository } from '../api/v1alpha1.js';
import { toAppSpec } from '../controller/application.js';
import type { ApplicationPreview } from '../controller/preview.js';
import type { RepositoryAccess } from '../controller/repository.js';
import { messageOf, UserError } from '../core/errors.js';
import {
  isFullSha,
  parseRepoUrl,
  type GitSource,
  type Repository as GitRepository,
  type Revision,
} from '../source/index.js';
import { appsOnBranch, branchName, type CandidateApp, type CandidateLookup } from './candidates.js';
import { touchOf, type RenderAt } from './touched.js';
import { EMPTY_COUNTS, type AppPlan, type ChangePlan } from './types.js';
import { countsOf, warningsOf } from './warnings.js';

export interface ReviewDeps extends CandidateLookup {
  /** A Repository's Git URL and credentials (checked against its namespace's AccessPolicies). */
  readonly access: Pick<RepositoryAccess, 'source'>;
  readonly git: Pick<GitSource, 'resolve' | 'changedPaths' | 'treeId'>;
  readonly renderAt: RenderAt;
  /**
   * A diff-mode sync of `app` at `revision`, with the identity rules of previewApplication (its
   * `revision` option); throws when it cannot be made (PreviewUnavailableError).
   */
  preview(app: Application, revision: Revision, signal?: AbortSignal): Promise<ApplicationPreview>;
  /** Apps planned at once. Default 4. */
  readonly concurrency?: number;
}

export interface PlanRequest {
  /** The changed repository, spelled any way (https, ssh, with or without `.git`). */
  readonly repositoryUrl: string;
  /** The branch the change goes into (`main`, `refs/heads/main`). */
  readonly base: string;
  /** The change: a branch, a full ref (`refs/pull/7/head`) or a full commit SHA. */
  readonly head: string;
  /** Only Applications of this namespace (default: every namespace `listApplications` sees). */
  readonly namespace?: string;
  /** Only Applications whose Repository passes (the webhook's: those with this forge). */
  readonly repositoryFilter?: (repository: Repository) => boolean;
  readonly signal?: AbortSignal;
}

export async function planChange(deps: ReviewDeps, request: PlanRequest): Promise<ChangePlan> {
  const display = parseRepoUrl(request.repositoryUrl, { allowFileUrls: true }).display;
  const candidates = await appsOnBranch(deps, request);
  const sources = sourceCache(deps);
  const first = candidates[0];
  if (!first) return emptyPlan(display, request);
  const revisions = await resolveSides(deps, await sources(first.repository), request);
  const limit = pLimit(deps.concurrency ?? 4);
  const planned = await Promise.all(
    candidates.map((candidate) => limit(() => planApp(deps, sources, candidate, revisions, request.signal))),
  );
  const apps = planned.filter((app): app is AppPlan => app !== undefined);
  return {
    repository: display,
    base: { ref: request.base, sha: revisions.base.sha },
    head: { ref: request.head, sha: revisions.head.sha },
    apps,
    untouched: planned.length - apps.length,
  };
}

interface Sides {
  readonly base: Revision;
  readonly head: Revision;
}

/** Base is a branch (its head now); head a branch, a full ref or a SHA (fetched by SHA if need be). */
async function resolveSides(deps: ReviewDeps, source: GitRepository, request: PlanRequest): Promise<Sides> {
  const base = await deps.git.resolve(source, { kind: 'branch', name: branchName(request.base) });
  const head = await deps.git.resolve(source, request.head);
  return { base, head };
}

/** One app: touched or not (undefined: untouched), then its dry-run at head. */
async function planApp(
  deps: ReviewDeps,
  sources: (repository: Repository) => Promise<GitRepository>,
  candidate: CandidateApp,
  sides: Sides,
  signal: AbortSignal | undefined,
): Promise<AppPlan | undefined> {
  const { app, spec } = candidate;
  try {
    const repository = await sources(candidate.repository);
    const touch = await touchOf(deps, {
      repository,
      base: sides.base.sha,
      head: sides.head.sha,
      path: spec.path,
      options: toAppSpec(app, spec, { type: 'directory', dir: '', path: spec.path }).render,
      signal,
    });
    if (!touch.touched) return undefined;
    if ('renderError' in touch)
      return failedApp(candidate, `does not render at head: ${messageOf(touch.renderError)}`);
    const preview = await deps.preview(app, sides.head, signal);
    return appPlanOf(candidate, preview);
  } catch (error) {
    if (signal?.aborted) throw error;
    return failedApp(candidate, messageOf(error));
  }
}

function appPlanOf(candidate: CandidateApp, preview: ApplicationPreview): AppPlan {
  const counts = countsOf(preview.objects);
  const changed = counts.create + counts.update + counts.recreate + counts.prune > 0;
  return {
    ...identityOf(candidate),
    result: counts.failed > 0 ? 'error' : changed ? 'changes' : 'noChanges',
    ...(counts.failed > 0 ? { error: `${counts.failed} object(s) would fail to apply` } : {}),
    counts,
    objects: preview.objects,
    warnings: warningsOf(preview),
    actor: preview.actor,
    notes: preview.notes,
  };
}

function failedApp(candidate: CandidateApp, error: string): AppPlan {
  return {
    ...identityOf(candidate),
    result: 'error',
    error,
    counts: EMPTY_COUNTS,
    objects: [],
    warnings: [],
    notes: [],
  };
}

function identityOf(candidate: CandidateApp): Pick<AppPlan, 'namespace' | 'name' | 'path'> {
  return {
    namespace: candidate.app.metadata.namespace,
    name: candidate.app.metadata.name,
    path: candidate.spec.path,
  };
}

/** Each Repository's Git URL and credentials, read once per plan (a Secret read each). */
function sourceCache(deps: ReviewDeps): (repository: Repository) => Promise<GitRepository> {
  const sources = new Map<string, Promise<GitRepository>>();
  return (repository) => {
    const key = `${repository.metadata.namespace}/${repository.metadata.name}`;
    let source = sources.get(key);
    if (!source) {
      source = deps.access.source(repository);
      sources.set(key, source);
    }
    return source;
  };
}

/**
 * No Application follows this branch of this repository: nothing to plan, and no Repository whose
 * credentials could resolve the refs (a SHA asked for is known anyway).
 */
function emptyPlan(repository: string, request: PlanRequest): ChangePlan {
  if (request.head.trim() === '') throw new UserError('the head of the change is empty');
  const headSha = isFullSha(request.head.toLowerCase()) ? request.head.toLowerCase() : '';
  return {
    repository,
    base: { ref: request.base, sha: '' },
    head: { ref: request.head, sha: headSha },
    apps: [],
    untouched: 0,
  };
}
