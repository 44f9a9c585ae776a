/**
 * Repositories: one fetch per repository serves every Application on it (branches as environments
 * share it). The Repository reconciler polls at its interval — a cheap `ls-remote` decides whether a
 * fetch is needed — and wakes the Applications whose ref moved. When Git is unreachable the last
 * resolved revisions stay in use: Applications keep their state and nothing is pruned.
 */
import {
  repositorySpecSchema,
  type Application,
  type Repository,
  type RepositoryStatus,
} from '../api/v1alpha1.js';
import { isCapstanError, messageOf, UserError } from '../core/errors.js';
import { parseDuration, pollInterval } from '../core/time.js';
import type { KubeClient } from '../kube/index.js';
import {
  redactText,
  type GitCredentials,
  type GitSource,
  type Repository as GitRepository,
  type Revision,
} from '../source/index.js';
import { checkCredentialScope, CredentialScopeError } from '../source/credential-scope.js';
import {
  artifactRepository,
  scopeUrlOf,
  sourceRefOf,
  type ArtifactRepositorySpec,
} from '../source/artifacts/index.js';
import { assertSourceAllowed, PolicyViolationError, type EffectivePolicy } from '../plan/index.js';
import { outcomeConditions } from './conditions.js';
import { patchStatus } from './status.js';

/** @deprecated Import `parseDuration` from '../core/time.js'; kept until application.ts switches. */

/** What Applications need of their Repository: its URL with credentials, and resolved revisions. */
export interface RepositoryAccess {
  source(repository: Repository): Promise<GitRepository>;
  /** The revision of `ref` from the repository's last fetch; resolved now when unknown or `fresh`. */
  revision(repository: Repository, ref: string, options?: { fresh?: boolean }): Promise<Revision>;
  /** Resolves every ref again; returns the refs whose commit changed, with the commit before. */
  refresh(repository: Repository, refs: readonly string[]): Promise<RefChange[]>;
  /** Files that differ between two fetched commits; undefined when that cannot be told cheaply. */
  changedPaths(repository: Repository, from: string, to: string): Promise<readonly string[] | undefined>;
  /** The last resolved revision of each ref, for status. */
  known(repository: Repository): ReadonlyMap<string, { revision: Revision; fetchedAt: string }>;
  forget(repository: Repository): void;
}

export interface RefChange {
  readonly ref: string;
  /** The commit the ref was at before, when known. */
  readonly from?: string;
  readonly to: string;
}

export function createRepositoryAccess(deps: {
  kube: KubeClient;
  /** The AccessPolicies binding a namespace (their sourceUrls are checked before any Git access). */
  policyFor?: (namespace: string) => EffectivePolicy | undefined;
  git: GitSource;
  now: () => Date;
  /**
   * A ref moved while resolving it for one Application (a `capstan sync` resolves afresh): the
   * Repository should reconcile, so that the other Applications on that ref learn of the commit.
   */
  onRefMoved?: (repository: Repository) => void;
}): RepositoryAccess {
  const resolved = new Map<string, Map<string, { revision: Revision; fetchedAt: string }>>();
  /** The commit of each ref that `refresh` last reported, per repository: what "changed" is against. */
  const announced = new Map<string, Map<string, string>>();
  const keyOf = (repository: Repository): string =>
    `${repository.metadata.namespace}/${repository.metadata.name}`;

  const source = async (repository: Repository): Promise<GitRepository> => {
    const spec = repositorySpecSchema.parse(repository.spec);
    // The namespace's AccessPolicies decide which servers it may use at all, credentials or not.
    const policy = deps.policyFor?.(repository.metadata.namespace);
    if (policy)
      assertSourceAllowed(policy, spec.type === 'git' ? spec.url : scopeUrlOf({ ...spec, type: spec.type }));
    // The Repository's own timeout bounds every Git operation for it (a slow-drip server holds a
    // worker that long at most).
    const timeoutMs = parseDuration(spec.timeout);
    if (spec.type !== 'git')
      return artifactSource(deps.kube, repository, { ...spec, type: spec.type }, timeoutMs);
    if (!spec.secretRef) return { url: spec.url, timeoutMs };
    const secret = await deps.kube.get({
      group: '',
      kind: 'Secret',
      namespace: repository.metadata.namespace,
      name: spec.secretRef.name,
    });
    if (!secret)
      throw new UserError(
        `the Secret ${repository.metadata.namespace}/${spec.secretRef.name} named by Repository ${repository.metadata.name} does not exist`,
      );
    // Whoever wrote the Repository chose its URL and may not be able to read the Secret: the Secret
    // must list that URL as one it serves before its values are even read.
    const grant = checkCredentialScope(spec.url, {
      namespace: repository.metadata.namespace,
      name: spec.secretRef.name,
      annotations: secret.metadata.annotations,
    });
    const credentials = credentialsFrom(
      secret.data as Record<string, string> | undefined,
      spec.secretRef.name,
    );
    return {
      url: spec.url,
      timeoutMs,
      credentials:
        credentials.kind === 'basic' && grant.allowInsecureHttp
          ? { ...credentials, allowInsecureHttp: true }
          : credentials,
    };
  };

  const resolve = async (
    repository: Repository,
    ref: string,
  ): Promise<{ revision: Revision; changed: boolean }> => {
    const revision = await deps.git.resolve(await source(repository), ref);
    const refs = resolved.get(keyOf(repository)) ?? new Map();
    resolved.set(keyOf(repository), refs);
    const previous = refs.get(ref);
    const changed = previous?.revision.sha !== revision.sha;
    // fetchedAt marks when this commit was first seen, so an idle poll changes no status.
    refs.set(ref, {
      revision,
      fetchedAt: changed || !previous ? deps.now().toISOString() : previous.fetchedAt,
    });
    return { revision, changed };
  };

  return {
    source,
    async revision(repository, ref, options = {}) {
      const known = resolved.get(keyOf(repository))?.get(ref);
      if (known && !options.fresh) return known.revision;
      try {
        const { revision, changed } = await resolve(repository, ref);
        if (changed && known) deps.onRefMoved?.(repository);
        return revision;
      } catch (error) {
        // Git is down: the last good revision keeps the app where it is.
        if (known && isCapstanError(error) && error.kind === 'transient') return known.revision;
        throw error;
      }
    },
    async refresh(repository, refs) {
      const reported = announced.get(keyOf(repository)) ?? new Map<string, string>();
      announced.set(keyOf(repository), reported);
      const changed: RefChange[] = [];
      for (const ref of refs) {
        const { revision } = await resolve(repository, ref);
        // Against what was last reported, not last resolved: an Application's own fresh resolve
        // must not hide the new commit from the others on the ref.
        const from = reported.get(ref);
        if (from !== revision.sha) changed.push({ ref, to: revision.sha, ...(from ? { from } : {}) });
        reported.set(ref, revision.sha);
      }
      return changed;
    },
    changedPaths: async (repository, from, to) => deps.git.changedPaths(await source(repository), from, to),
    known: (repository) => resolved.get(keyOf(repository)) ?? new Map(),
    forget: (repository) => {
      resolved.delete(keyOf(repository));
      announced.delete(keyOf(repository));
    },
  };
}

/**
 * A Helm or OCI Repository for the source stage (source/artifacts): its Secret, when it names one,
 * read only after the Secret has agreed to go to its URL.
 */
async function artifactSource(
  kube: KubeClient,
  repository: Repository,
  spec: ArtifactRepositorySpec & { secretRef?: { name: string } | undefined },
  timeoutMs: number,
): Promise<GitRepository> {
  const { namespace } = repository.metadata;
  const base = { type: spec.type, url: spec.url, plainHttp: spec.plainHttp ?? false, timeoutMs };
  if (!spec.secretRef) return artifactRepository(base);
  const secret = await kube.get({ group: '', kind: 'Secret', namespace, name: spec.secretRef.name });
  if (!secret)
    throw new UserError(
      `the Secret ${namespace}/${spec.secretRef.name} named by Repository ${repository.metadata.name} does not exist`,
    );
  return artifactRepository(base, {
    namespace,
    name: spec.secretRef.name,
    annotations: secret.metadata.annotations,
    data: secret.data as Record<string, string> | undefined,
  });
}

/** Secret data (base64) → Git credentials. Never includes a value in an error. */
export function credentialsFrom(
  data: Record<string, string> | undefined,
  secretName: string,
): GitCredentials {
  const value = (key: string): string | undefined =>
    data?.[key] === undefined ? undefined : Buffer.from(data[key]!, 'base64').toString('utf8');
  const privateKey = value('sshPrivateKey') ?? value('identity');
  if (privateKey) {
    const knownHosts = value('knownHosts') ?? value('known_hosts');
    const passphrase = value('passphrase');
    return {
      kind: 'ssh',
      privateKey,
      ...(knownHosts ? { knownHosts } : {}),
      ...(passphrase ? { passphrase } : {}),
    };
  }
  const password = value('password') ?? value('token');
  if (password) return { kind: 'basic', username: value('username') ?? 'git', password };
  throw new UserError(`the Secret ${secretName} has neither username/password (or token) nor sshPrivateKey`);
}

export interface RepositoryReconcilerDeps {
  readonly kube: KubeClient;
  readonly access: RepositoryAccess;
  readonly repositories: { get(name: string, namespace: string): Repository | undefined };
  readonly applications: { list(): Application[] };
  /** Wake an Application whose ref moved; urgent when the commit touched its folder. */
  readonly enqueueApplication: (namespace: string, name: string, options: { urgent: boolean }) => void;
  readonly now: () => Date;
  readonly random?: () => number;
  readonly onFetch?: (repository: Repository, seconds: number, error?: unknown) => void;
}

export async function reconcileRepository(
  deps: RepositoryReconcilerDeps,
  namespace: string,
  name: string,
): Promise<{ requeueAfterMs?: number }> {
  const stored = deps.repositories.get(name, namespace);
  if (!stored || stored.metadata.deletionTimestamp) return {};
  // Our own copy: the informer's store must keep the state the next watch event is compared with.
  const repository = structuredClone(stored);
  const status: RepositoryStatus = structuredClone(repository.status ?? {});
  const parsed = repositorySpecSchema.safeParse(repository.spec);
  if (!parsed.success) {
    const message = parsed.error.issues.map((i) => `spec.${i.path.join('.')}: ${i.message}`).join('; ');
    await writeStatus(deps, repository, status, { state: 'stalled', reason: 'InvalidSpec', message });
    return {};
  }
  const spec = parsed.data;
  if (spec.suspend) return {};
  if (spec.type !== 'git' && (spec.forge || spec.pullRequests?.plan)) {
    const message = `spec.forge and spec.pullRequests need a Git repository; this one is of type ${spec.type}`;
    await writeStatus(deps, repository, status, { state: 'stalled', reason: 'InvalidSpec', message });
    return {};
  }
  const refOf = (app: Application): string =>
    sourceRefOf(spec.type, app.spec as { ref?: string; path?: string });
  const users = deps.applications
    .list()
    .filter(
      (app) =>
        app.metadata.namespace === namespace &&
        (app.spec as { sourceRef?: { name?: string } }).sourceRef?.name === name,
    );
  const refs = [...new Set(users.map(refOf))].sort();
  const interval = pollInterval(spec.interval);
  // Jitter spreads polls of many repositories over the interval instead of one burst.
  const nextPoll = Math.round(interval * (0.9 + 0.2 * (deps.random ?? Math.random)()));

  const started = Date.now();
  try {
    const changed = await deps.access.refresh(repository, refs);
    deps.onFetch?.(repository, (Date.now() - started) / 1000);
    for (const change of changed) {
      const onRef = users.filter((app) => refOf(app) === change.ref);
      const paths = change.from
        ? await deps.access.changedPaths(repository, change.from, change.to).catch(() => undefined)
        : undefined;
      // Every app on the ref is woken (its status records the new revision; what the commit did
      // not change costs it a render-cache hit and no writes), the apps it touched first.
      for (const app of onRef) {
        const path = (app.spec as { path?: string }).path ?? '';
        deps.enqueueApplication(namespace, app.metadata.name, { urgent: touches(paths, path) });
      }
    }
  } catch (error) {
    deps.onFetch?.(repository, (Date.now() - started) / 1000, error);
    const message = redactText(messageOf(error)).slice(0, 2048);
    const transient = !(isCapstanError(error) && error.kind === 'user');
    await writeStatus(
      deps,
      repository,
      { ...status, lastError: message },
      { state: 'failed', reason: failureReason(error, transient), message },
    );
    if (transient) throw error;
    return { requeueAfterMs: nextPoll };
  }
  const known = deps.access.known(repository);
  status.revisions = refs.flatMap((ref) => {
    const entry = known.get(ref);
    return entry ? [{ ref, sha: entry.revision.sha, fetchedAt: entry.fetchedAt }] : [];
  });
  delete status.lastError;
  const summary = status.revisions.map((r) => `${r.ref}@${r.sha.slice(0, 12)}`).join(', ');
  await writeStatus(deps, repository, status, {
    state: 'ready',
    reason: 'Fetched',
    message: refs.length > 0 ? summary : 'no Application uses this repository',
  });
  return { requeueAfterMs: nextPoll };
}

/** The Ready condition's reason when a fetch failed. */
function failureReason(error: unknown, transient: boolean): string {
  if (error instanceof CredentialScopeError) return 'CredentialsNotAllowed';
  if (error instanceof PolicyViolationError) return 'PolicyViolation';
  return transient ? 'GitUnavailable' : 'GitError';
}

/**
 * Whether a commit that changed `paths` touches the app at `appPath`. Unknown paths (no previous
 * commit to compare with) count as touching. Renders reading outside their folder (a Kustomize
 * base) are not seen here; they are still woken, just not first.
 */
export function touches(paths: readonly string[] | undefined, appPath: string): boolean {
  if (paths === undefined) return true;
  const folder = appPath.replace(/^(\.\/)+|^\.$/, '').replace(/\/+$/, '');
  if (folder === '') return paths.length > 0;
  return paths.some((path) => path === folder || path.startsWith(`${folder}/`));
}

async function writeStatus(
  deps: Pick<RepositoryReconcilerDeps, 'kube' | 'now'>,
  repository: Repository,
  status: RepositoryStatus,
  outcome: { state: 'ready' | 'failed' | 'stalled'; reason: string; message: string },
): Promise<void> {
  status.observedGeneration = repository.metadata.generation;
  status.conditions = outcomeConditions(
    status.conditions,
    outcome,
    repository.metadata.generation,
    deps.now(),
  );
  await patchStatus(deps.kube, repository, status);
}
