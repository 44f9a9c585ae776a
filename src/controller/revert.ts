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
  repositorySpecSchema,
  type Application,
  type ApplicationStatus,
  type Repository,
  type RollbackStatus,
} from '../api/v1alpha1.js';
import { isCapstanError, messageOf, UserError } from '../core/errors.js';
import { parseDuration } from '../core/time.js';
import type { KubeClient } from '../kube/index.js';
import { checkCredentialScope, CredentialScopeError } from '../source/credential-scope.js';
import {
  redactText,
  revertCommits,
  type ForgeAuth,
  type ForgeTarget,
  type RevertOptions,
  type RevertResult,
} from '../source/index.js';
import { forgeApiFor, forgeTargetFor } from '../source/writeback/index.js';
import { setCondition } from './conditions.js';
import type { EventRecorder } from './events.js';
import type { RepositoryAccess } from './repository.js';
import { patchStatus, StatusConflictError } from './status.js';

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
    const forge = mode === 'pullRequest' ? await forgeTarget(deps, repository) : undefined;
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

/** A plain branch name (`main`, `env/prod`); refs such as tags, ranges and SHAs are not branches. */
function branchOf(ref: string): string | undefined {
  const name = ref.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) : ref;
  if (ref.startsWith('refs/') && !ref.startsWith('refs/heads/')) return undefined;
  if (/^[0-9a-f]{40}$/.test(name) || /[\s~^:?*[\\<>=]/.test(name) || name.startsWith('-')) return undefined;
  return name;
}

/** A Secret as far as a forge token goes: its annotations (where it may go) and its data (base64). */
export interface ForgeSecret {
  readonly metadata?: { readonly annotations?: Readonly<Record<string, string>> | undefined } | undefined;
  readonly data?: Readonly<Record<string, string>> | undefined;
}

/** The Repository's forge, with the token from its Secret (read afresh: a rotated token is used). */
async function forgeTarget(deps: RevertDeps, repository: Repository): Promise<ForgeTarget> {
  const name = (repository.spec as { secretRef?: { name?: unknown } }).secretRef?.name;
  const secret =
    typeof name === 'string'
      ? ((await deps.kube.get({
          group: '',
          kind: 'Secret',
          namespace: repository.metadata.namespace,
          name,
        })) as ForgeSecret | undefined)
      : undefined;
  return forgeTargetOf(repository, secret);
}

/**
 * The client a pull-request revert goes through: `spec.forge` of the Repository, its API root (given,
 * or derived from `spec.url`) and the token of its Secret (`token`, else the password). The token
 * goes where the Secret's git credentials may go, and nowhere else: the Secret must cover
 * `spec.url` (capstan.dev/git-urls), and an API on another host than the URL's must be covered by
 * the annotation too; plain http:// needs the Secret's capstan.dev/allow-insecure-http. Throws a
 * user error saying what to fix; no Secret value is ever in it.
 */
export function forgeTargetOf(repository: Repository, secret: ForgeSecret | undefined): ForgeTarget {
  const where = `Repository ${repository.metadata.namespace}/${repository.metadata.name}`;
  const parsed = repositorySpecSchema.safeParse(repository.spec);
  if (!parsed.success) throw new UserError(`cannot open a pull request: the spec of ${where} is invalid`);
  const spec = parsed.data;
  if (!spec.forge) {
    throw new UserError(
      `gitRevert: pullRequest needs spec.forge on ${where} naming its Git host ({kind: gitea | github | gitlab}); or use gitRevert: commit`,
    );
  }
  if (!spec.secretRef) {
    throw new UserError(
      `gitRevert: pullRequest needs a token for the ${spec.forge.kind} API: ${where} has no spec.secretRef (a Secret with key token, or password)`,
    );
  }
  const secretName = spec.secretRef.name;
  if (!secret) {
    throw new UserError(
      `the Secret ${repository.metadata.namespace}/${secretName} named by ${where} does not exist`,
    );
  }
  const scope = {
    namespace: repository.metadata.namespace,
    name: secretName,
    annotations: secret.metadata?.annotations,
  };
  // As for Git: the Secret must serve this repository before any of its values is read.
  const grant = checkCredentialScope(spec.url, scope);
  const derived = forgeApiFor(spec.url, spec.forge.kind);
  const apiUrl = spec.forge.apiUrl ?? derived.apiUrl;
  let otherHost: boolean;
  try {
    otherHost = new URL(apiUrl).origin !== new URL(derived.apiUrl).origin;
  } catch {
    throw new UserError(`spec.forge.apiUrl of ${where} is not a URL`);
  }
  let allowInsecureHttp = grant.allowInsecureHttp;
  if (otherHost) {
    // Another host than the repository's: the Secret's owner must have listed it.
    try {
      allowInsecureHttp = checkCredentialScope(apiUrl, scope).allowInsecureHttp;
    } catch (error) {
      if (!(error instanceof CredentialScopeError)) throw error;
      throw new CredentialScopeError(
        `spec.forge.apiUrl of ${where} is not on the host of spec.url, so its Secret must allow it: ${error.message}`,
        { cause: error },
      );
    }
  }
  return forgeTargetFor(spec.url, {
    kind: spec.forge.kind,
    auth: forgeAuthFrom(secret.data, `${repository.metadata.namespace}/${secretName}`),
    ...(spec.forge.apiUrl === undefined ? {} : { apiUrl: spec.forge.apiUrl }),
    apiUrlOnOtherHost: otherHost,
    allowInsecureHttp,
    timeoutMs: parseDuration(spec.timeout),
  });
}

/** Secret data (base64) → the forge's credentials: `token`, else `username` + `password`. */
function forgeAuthFrom(data: Readonly<Record<string, string>> | undefined, secret: string): ForgeAuth {
  const value = (key: string): string | undefined => {
    const raw = data?.[key];
    const text = raw === undefined ? '' : Buffer.from(raw, 'base64').toString('utf8').trim();
    return text === '' ? undefined : text;
  };
  const token = value('token');
  if (token !== undefined) return { kind: 'token', token };
  const password = value('password');
  if (password !== undefined) return { kind: 'basic', username: value('username') ?? 'git', password };
  throw new UserError(`the Secret ${secret} has no token (or password) for the Git host's API`);
}
