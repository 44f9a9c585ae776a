/**
 * The controller's side of promotion (its own queue key, `promote/<namespace>/<target>`, on the
 * leader): a `capstan.dev/promote` request on the target Application, or, with
 * `spec.promotion.automatic`, a new last healthy revision of the source, becomes a commit on the
 * target's branch (pushed, or carried by a pull request) made with the target Repository's
 * credentials. The answer goes to `status.promotion` and an Event; never a credential in either.
 */
import { APP_LABEL } from '../api/names.js';
import {
  GROUP,
  PROMOTE_ANNOTATION,
  type Application,
  type ApplicationStatus,
  type PromotionStatus,
  type Repository,
} from '../api/v1alpha1.js';
import { isCapstanError, messageOf, UserError } from '../core/errors.js';
import type { KubeClient } from '../kube/index.js';
import type { EventRecorder } from '../controller/events.js';
import type { RepositoryAccess } from '../controller/repository.js';
import { repositoryForge, type ForgePurpose } from '../controller/repository-forge.js';
import { patchStatus, StatusConflictError } from '../controller/status.js';
import { formatPlanMarkdown, type ChangePlan, type PlanRequest } from '../review/index.js';
import { redactText } from '../source/redact.js';
import { promoteInGit, type PromoteGitOptions, type PromoteGitResult } from './git.js';
import { parsePromotionRequest, type PromotionMode } from './request.js';
import { automaticRevision, branchOfApp, refusalOf, short } from './rules.js';

const PROMOTION_PURPOSE: ForgePurpose = {
  feature: 'a promotion by pull request',
  otherwise: 'or promote with --push (spec.promotion.mode: push)',
};

export interface PromotionDeps {
  readonly kube: KubeClient;
  readonly repositories: { get(name: string, namespace: string): Repository | undefined };
  readonly access: Pick<RepositoryAccess, 'source'>;
  readonly recordEvent: EventRecorder;
  readonly now: () => Date;
  readonly git?: PromoteGitOptions;
  /** The plan of a change (src/review, the controller's planChange); without it, a pull request lists the files. */
  readonly plan?: (request: PlanRequest) => Promise<ChangePlan>;
}

/** A plan in a pull request's body leaves room for the file summary. */
const MAX_PLAN_CHARS = 30_000;

/** One promotion to perform: asked for (`capstan promote`), or automatic. */
interface Job {
  readonly id: string;
  readonly from: string;
  readonly mode: PromotionMode;
  readonly automatic: boolean;
  readonly by?: string;
  /** Set for requests: the annotation id recorded as handled. */
  readonly requestId?: string;
}

type Answer = Omit<PromotionStatus, 'id' | 'from' | 'at' | 'mode' | 'automatic' | 'by'>;

const MAX_MESSAGE_CHARS = 1024;

/** Performs the promotion `target` asks for now, if any; throws only to be retried (transient). */
export async function reconcilePromotion(
  deps: PromotionDeps,
  namespace: string,
  name: string,
): Promise<void> {
  const target = await readApplication(deps.kube, namespace, name);
  if (!target || target.metadata.deletionTimestamp) return;
  const request = parsePromotionRequest(target.metadata.annotations?.[PROMOTE_ANNOTATION]);
  if (request && request.ok === false && request.id !== target.status?.lastHandledPromotion) {
    const job: Job = {
      id: request.id,
      from: '',
      mode: 'pullRequest',
      automatic: false,
      requestId: request.id,
    };
    await finish(deps, target, job, { state: 'Refused', message: request.message });
    return;
  }
  if (request?.ok && request.request.id !== target.status?.lastHandledPromotion) {
    const { id, from, mode, by } = request.request;
    await promote(deps, target, { id, from, mode, automatic: false, requestId: id, ...(by ? { by } : {}) });
    return;
  }
  await promoteAutomatically(deps, target);
}

async function promoteAutomatically(deps: PromotionDeps, target: Application): Promise<void> {
  const promotion = target.spec.promotion;
  if (!promotion?.automatic) return;
  const source = await readApplication(deps.kube, target.metadata.namespace, promotion.from.name);
  if (!source) return;
  const sha = automaticRevision(ends(deps, source), ends(deps, target));
  if (!sha) return;
  await promote(deps, target, {
    id: `auto-${short(sha)}`,
    from: source.metadata.name,
    mode: promotion.mode ?? 'pullRequest',
    automatic: true,
  });
}

async function promote(deps: PromotionDeps, target: Application, job: Job): Promise<void> {
  const source = await readApplication(deps.kube, target.metadata.namespace, job.from);
  if (!source) {
    await finish(deps, target, job, {
      state: 'Refused',
      message: `the source Application ${target.metadata.namespace}/${job.from} does not exist`,
    });
    return;
  }
  const refusal = refusalOf(ends(deps, source), ends(deps, target));
  const sourceRevision = source.status?.lastHealthyRevision?.sha;
  if (refusal !== undefined || !sourceRevision) {
    await finish(deps, target, job, {
      state: 'Refused',
      message: `cannot promote: ${refusal ?? 'the source has no last healthy revision'}`,
      ...(sourceRevision ? { sourceRevision } : {}),
    });
    return;
  }
  await writePromotion(
    deps,
    target,
    job,
    {
      state: 'Pending',
      sourceRevision,
      message: `promoting ${source.metadata.name}@${short(sourceRevision)} (${job.mode})`,
    },
    { handled: false },
  );
  let answer: Answer;
  try {
    answer = answerOf(await runInGit(deps, source, target, job.mode, sourceRevision), sourceRevision);
  } catch (error) {
    if (isCapstanError(error) && error.kind === 'transient') throw error;
    answer = {
      state: 'Failed',
      sourceRevision,
      message: redactText(messageOf(error)).slice(0, MAX_MESSAGE_CHARS),
    };
  }
  await finish(deps, target, job, answer);
}

async function runInGit(
  deps: PromotionDeps,
  source: Application,
  target: Application,
  mode: PromotionMode,
  sha: string,
): Promise<PromoteGitResult> {
  const repository = deps.repositories.get(target.spec.sourceRef.name, target.metadata.namespace);
  if (!repository)
    throw new UserError(
      `the Repository ${target.spec.sourceRef.name} of ${target.metadata.name} does not exist`,
    );
  // The forge first: a Repository that cannot open a pull request gets no branch pushed either.
  const forge =
    mode === 'pullRequest' ? await repositoryForge(deps.kube)(repository, PROMOTION_PURPOSE) : undefined;
  const targetBranch = branchOfApp(target)!;
  const plan = deps.plan;
  return promoteInGit(
    {
      repository: await deps.access.source(repository),
      description: {
        app:
          target.metadata.labels?.[APP_LABEL] ?? source.metadata.labels?.[APP_LABEL] ?? target.metadata.name,
        namespace: target.metadata.namespace,
        source: {
          name: source.metadata.name,
          branch: branchOfApp(source) ?? 'main',
          path: source.spec.path ?? '',
          sha,
        },
        target: { name: target.metadata.name, branch: targetBranch, path: target.spec.path ?? '' },
      },
      mode,
      ...(forge ? { forge } : {}),
      ...(plan
        ? {
            plan: (commit: string) =>
              planOf(plan, {
                repositoryUrl: repository.spec.url,
                base: targetBranch,
                head: commit,
                namespace: target.metadata.namespace,
              }),
          }
        : {}),
    },
    deps.git ?? {},
  );
}

/**
 * The plan of the promotion commit against the target branch (every app of the namespace it
 * touches, dry-run as its own identity), as Markdown; a plan that cannot be made says why instead.
 */
async function planOf(
  plan: (request: PlanRequest) => Promise<ChangePlan>,
  request: PlanRequest,
): Promise<string> {
  try {
    return formatPlanMarkdown(await plan(request), { maxChars: MAX_PLAN_CHARS });
  } catch (error) {
    if (isCapstanError(error) && error.kind === 'transient') throw error;
    return `_The plan of this change could not be made: ${redactText(messageOf(error))
      .slice(0, 300)
      .replace(/[`*_<>[\]]/g, ' ')}_\n`;
  }
}

function answerOf(result: PromoteGitResult, sourceRevision: string): Answer {
  const message = redactText(result.message).slice(0, MAX_MESSAGE_CHARS);
  switch (result.outcome) {
    case 'upToDate':
      return { state: 'UpToDate', sourceRevision, message };
    case 'pushed':
      return { state: 'Pushed', sourceRevision, message, sha: result.sha };
    case 'pullRequest':
      return { state: 'PullRequestOpened', sourceRevision, message, sha: result.sha, url: result.url };
    case 'refused':
      return { state: 'Refused', sourceRevision, message };
    default:
      return { state: 'Failed', sourceRevision, message };
  }
}

/** Records the final answer (and, for a request, that it was handled) and tells it in an Event. */
async function finish(deps: PromotionDeps, target: Application, job: Job, answer: Answer): Promise<void> {
  await writePromotion(deps, target, job, answer, { handled: true });
  const ok = answer.state === 'PullRequestOpened' || answer.state === 'Pushed' || answer.state === 'UpToDate';
  await deps.recordEvent(
    target,
    ok ? 'Normal' : 'Warning',
    ok ? 'Promoted' : answer.state === 'Refused' ? 'PromotionRefused' : 'PromotionFailed',
    answer.message,
  );
}

/** Writes `status.promotion` into a fresh copy (the status moves on meanwhile: health, syncs). */
async function writePromotion(
  deps: PromotionDeps,
  stored: Application,
  job: Job,
  answer: Answer,
  options: { handled: boolean },
): Promise<void> {
  const promotion: PromotionStatus = {
    id: job.id,
    from: job.from,
    mode: job.mode,
    automatic: job.automatic,
    ...(job.by ? { by: job.by } : {}),
    ...answer,
    at: deps.now().toISOString(),
  };
  for (let attempt = 0; ; attempt++) {
    const fresh = await readApplication(deps.kube, stored.metadata.namespace, stored.metadata.name);
    if (!fresh) return;
    const status: ApplicationStatus = structuredClone(fresh.status ?? {});
    status.promotion = promotion;
    if (options.handled && job.requestId) status.lastHandledPromotion = job.requestId;
    try {
      await patchStatus(deps.kube, fresh, status);
      return;
    } catch (error) {
      if (!(error instanceof StatusConflictError) || attempt >= 4) throw error;
    }
  }
}

function ends(
  deps: PromotionDeps,
  app: Application,
): { app: Application; repository: Repository | undefined } {
  return { app, repository: deps.repositories.get(app.spec.sourceRef.name, app.metadata.namespace) };
}

function readApplication(
  kube: KubeClient,
  namespace: string,
  name: string,
): Promise<Application | undefined> {
  return kube.get<Application>({ group: GROUP, kind: 'Application', namespace, name });
}
