/**
 * Recording an automatic rollback in Git, off the reconcile path (its own queue key): a revert of
 * the rejected commit, pushed to the branch the Application follows, or to a branch of its own with
 * a pull request on the Repository's Git host (`spec.forge`) (source/writeback/). Whatever
 * Git answers, the cluster stays rolled back; the answer goes to `status.rollback.gitRevert`, the
 * `RollbackRecorded` condition and an Event. A revert that lands is an ordinary new commit on the
 * branch, which the Application then applies like any other.
 */
import {
  applicationSpecSchema,
  GROUP,
  type Application,
  type ApplicationStatus,
  type Repository,
  type RollbackStatus,
} from '../api/v1alpha1.js';
import { isCapstanError, messageOf } from '../core/errors.js';
import type { KubeClient } from '../kube/index.js';
import { redactText, revertCommits, type RevertOptions, type RevertResult } from '../source/index.js';
import { branchOf } from '../source/refs.js';
import { setCondition } from './conditions.js';
import { repositoryForge, type ForgePurpose } from './repository-forge.js';
import type { EventRecorder } from './events.js';
import type { RepositoryAccess } from './repository.js';
import { patchStatus, StatusConflictError } from './status.js';

const REVERT_PURPOSE: ForgePurpose = {
  feature: 'gitRevert: pullRequest',
  otherwise: 'or use gitRevert: commit',
};

export interface RevertDeps {
  readonly kube: KubeClient;
  readonly repositories: { get(name: string, namespace: string): Repository | undefined };
  readonly access: RepositoryAccess;
  readonly recordEvent: EventRecorder;
  readonly now: () => Date;
  readonly git?: RevertOptions;
}

type GitRevert = NonNullable<RollbackStatus['gitRevert']>;

/** Runs the pending Git revert of `app`'s rollback, if any; throws only to be retried (transient). */
export async function recordRollbackInGit(deps: RevertDeps, stored: Application): Promise<void> {
  // Read afresh: the rollback that asked for this was written a moment ago, the informer may lag.
  const app = (await readApplication(deps, stored)) ?? structuredClone(stored);
  const rollback = app.status?.rollback;
  if (!rollback?.gitRevert || rollback.gitRevert.state !== 'Pending') return;
  const answer = await revert(deps, app, rollback, rollback.gitRevert.mode);
  const recorded =
    answer.state === 'Pushed' || answer.state === 'PullRequestOpened' || answer.state === 'NotNeeded';
  // The push took a while and the status moved on meanwhile (health, the revert applied): write
  // the answer into a fresh copy, never the one read before the push.
  for (let attempt = 0; ; attempt++) {
    const fresh = await readApplication(deps, stored);
    const pending = fresh?.status?.rollback;
    if (!fresh || pending?.from !== rollback.from || pending.gitRevert?.state !== 'Pending') break;
    const status: ApplicationStatus = structuredClone(fresh.status ?? {});
    status.rollback = { ...pending, gitRevert: { ...answer, at: deps.now().toISOString() } };
    status.conditions = setCondition(
      status.conditions,
      {
        type: 'RollbackRecorded',
        status: recorded ? 'True' : 'False',
        reason: answer.state,
        message: answer.message,
      },
      fresh.metadata.generation,
      deps.now(),
    );
    try {
      await patchStatus(deps.kube, fresh, status);
      break;
    } catch (error) {
      if (!(error instanceof StatusConflictError) || attempt >= 4) throw error;
    }
  }
  await deps.recordEvent(
    app,
    recorded ? 'Normal' : 'Warning',
    recorded ? 'RevertRecorded' : 'RevertRefused',
    answer.message,
  );
}

function readApplication(deps: RevertDeps, app: Application): Promise<Application | undefined> {
  return deps.kube.get<Application>({
    group: GROUP,
    kind: 'Application',
    namespace: app.metadata.namespace,
    name: app.metadata.name,
  });
}

async function revert(
  deps: RevertDeps,
  app: Application,
  rollback: RollbackStatus,
  mode: GitRevert['mode'],
): Promise<Omit<GitRevert, 'at'>> {
  const parsed = applicationSpecSchema.safeParse(app.spec);
  const repository = parsed.success
    ? deps.repositories.get(parsed.data.sourceRef.name, app.metadata.namespace)
    : undefined;
  if (!parsed.success || !repository)
    return {
      mode,
      state: 'Failed',
      message: 'cannot revert in Git: the Application or its Repository is gone',
    };
  const branch = branchOf(parsed.data.ref);
  if (!branch)
    return {
      mode,
      state: 'NotNeeded',
      message: `ref ${parsed.data.ref} is not a branch: there is nothing to revert on`,
    };
  let result: RevertResult;
  try {
    // The forge first: a Repository that cannot open a pull request gets no branch pushed either.
    const forge =
      mode === 'pullRequest' ? await repositoryForge(deps.kube)(repository, REVERT_PURPOSE) : undefined;
    result = await revertCommits(
      {
        repository: await deps.access.source(repository),
        branch,
        good: rollback.to,
        bad: rollback.from,
        appPath: parsed.data.path,
        app: { namespace: app.metadata.namespace, name: app.metadata.name },
        evidence: rollback.reason,
        mode,
        ...(forge ? { forge } : {}),
      },
      deps.git ?? {},
    );
  } catch (error) {
    if (isCapstanError(error) && error.kind === 'transient') throw error;
    return { mode, state: 'Failed', message: redactText(messageOf(error)).slice(0, 1024) };
  }
  return answerOf(mode, result);
}

function answerOf(mode: GitRevert['mode'], result: RevertResult): Omit<GitRevert, 'at'> {
  const message = redactText(result.message).slice(0, 1024);
  switch (result.outcome) {
    case 'pushed':
      return { mode, state: 'Pushed', message, sha: result.sha };
    case 'pullRequest':
      return { mode, state: 'PullRequestOpened', message, sha: result.sha, url: result.url };
    case 'notNeeded':
      return { mode, state: 'NotNeeded', message };
    case 'refused':
      return { mode, state: 'Refused', message };
    default:
      return { mode, state: 'Failed', message };
  }
}
