/**
 * The ApplicationGenerator component of the controller: an informer on generators, one on the
 * Applications they made (by label), a work queue keyed `namespace/name`, and a run per generator
 * every `spec.interval`. A change of a generator, or a hand edit or deletion of an Application it
 * made, runs it at once; so do pushes and pull-request webhooks, through `wake`.
 *
 * The same events keep each pull request's preview comment up to date (comments.ts), on a queue of
 * their own: the forge's pace never holds up a reconcile.
 *
 * Tenants share the workers, and a generator lists through its tenant's own Git host, which may
 * never answer: so the queue is fair across namespaces (src/controller/tenant-queue.ts: one namespace runs
 * `namespaceConcurrency` generators at most, below `concurrency`), and each reconcile's listings
 * (git and forge) share a deadline (LISTING_TIMEOUT_MS) after which they are abandoned (an error the
 * reconcile reports and retries; nothing is deleted). Shutdown aborts them.
 *
 * Started by Controller.run, so it runs only on the leading replica.
 */
import { GENERATOR_KIND, GENERATOR_LABEL, type ApplicationGenerator } from '../api/generator.js';
import { GROUP, VERSION, type Application, type Repository } from '../api/v1alpha1.js';
import { abandonOnAbort } from '../core/abort.js';
import { TransientError, messageOf } from '../core/errors.js';
import { startInformer, type Informer, type KubeClient } from '../kube/index.js';
import type { GitSource, Repository as GitRepository } from '../source/index.js';
import type { ControllerLog } from '../controller/controller.js';
import type { EventRecorder } from '../controller/events.js';
import type { RepositoryAccess } from '../controller/repository.js';
import { repositoryForge, type ForgePurpose } from '../controller/repository-forge.js';
import { PreviewComments } from './comments.js';
import type { ListingDeps, PullRequestListing } from './elements.js';
import { reconcileGenerator } from './reconcile.js';
import { TenantQueues } from '../controller/tenant-queue.js';

export interface Generators {
  /** Resolves once both informers have listed. */
  readonly synced: Promise<void>;
  /** Runs now the generators of `namespace` listing the Repository `repositoryName`; returns how many. */
  wake(namespace: string, repositoryName: string): number;
  /** Stops the queue (the informers stop with the signal). */
  close(): Promise<void>;
}

export interface GeneratorsOptions {
  readonly signal: AbortSignal;
  readonly log: ControllerLog;
  readonly git: GitSource;
  readonly access: RepositoryAccess;
  readonly repositories: { get(name: string, namespace: string): Repository | undefined };
  readonly recordEvent: EventRecorder;
  readonly now: () => Date;
  readonly namespace?: string;
  readonly labelSelector?: string;
  /** Generators reconciled at once, all namespaces together. Default 4. */
  readonly concurrency?: number;
  /** Generators of one namespace reconciled at once; kept below `concurrency`. Default 1. */
  readonly namespaceConcurrency?: number;
  /** The deadline of one reconcile's listings (git and forge). Default LISTING_TIMEOUT_MS. */
  readonly listingTimeoutMs?: number;
}

/** One reconcile's listings (ls-remote, fetch, the forge's pages) end by then, or are abandoned. */
export const LISTING_TIMEOUT_MS = 5 * 60_000;
export const DEFAULT_CONCURRENCY = 4;
export const DEFAULT_NAMESPACE_CONCURRENCY = 1;

export function startGenerators(kube: KubeClient, options: GeneratorsOptions): Generators {
  const { log } = options;
  const scope = options.namespace ? { namespace: options.namespace } : {};
  const keyOf = (namespace: string, name: string) => `${namespace}/${name}`;
  // Declared before the informers, whose first events reach it.
  const comments: PreviewComments = new PreviewComments({
    generators: { get: (name, namespace) => generators.get(name, namespace) },
    applications: { list: () => applications.list() },
    repositories: options.repositories,
    forgeOf: async (repository) => repositoryForge(kube)(repository, COMMENT_PURPOSE),
    log,
  });
  const queue = new TenantQueues({
    concurrency: options.concurrency ?? DEFAULT_CONCURRENCY,
    namespaceConcurrency: options.namespaceConcurrency ?? DEFAULT_NAMESPACE_CONCURRENCY,
    namespaceOf: (key) => key.slice(0, key.indexOf('/')),
    handler: async (key, signal) => {
      const [namespace = '', name = ''] = key.split('/');
      const timeoutMs = options.listingTimeoutMs ?? LISTING_TIMEOUT_MS;
      const listingSignal = AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]);
      const listing = listingDeps(kube, options, listingSignal, Date.now() + timeoutMs);
      try {
        return await reconcileGenerator({ ...deps, listing }, namespace, name);
      } catch (error) {
        log.warn(
          { generator: key, err: messageOf(error) },
          'ApplicationGenerator reconcile failed; retrying',
        );
        throw error;
      }
    },
  });
  const generators: Informer<ApplicationGenerator> = startInformer<ApplicationGenerator>(kube, {
    group: GROUP,
    version: VERSION,
    kind: GENERATOR_KIND,
    ...scope,
    ...(options.labelSelector ? { labelSelector: options.labelSelector } : {}),
    signal: options.signal,
    onAdd: (generator) => {
      comments.generatorChanged(generator);
      queue.add(keyOf(generator.metadata.namespace, generator.metadata.name));
    },
    onUpdate: (previous, generator) => {
      if (previous.metadata.generation !== generator.metadata.generation)
        comments.generatorChanged(generator, previous);
      if (wantsReconcile(previous, generator))
        queue.add(keyOf(generator.metadata.namespace, generator.metadata.name), { urgent: true });
    },
    onDelete: (generator) => queue.forget(keyOf(generator.metadata.namespace, generator.metadata.name)),
    onError: (error) => log.warn({ err: messageOf(error) }, 'ApplicationGenerator watch error'),
  });
  // Only Applications a generator made (by label): a hand edit or deletion puts the template back.
  const ownerOf = (app: Application) => app.metadata.labels?.[GENERATOR_LABEL];
  const wakeOwner = (app: Application) => {
    const owner = ownerOf(app);
    if (owner && generators.get(owner, app.metadata.namespace))
      queue.add(keyOf(app.metadata.namespace, owner));
  };
  const applications = startInformer<Application>(kube, {
    group: GROUP,
    version: VERSION,
    kind: 'Application',
    ...scope,
    labelSelector: GENERATOR_LABEL,
    signal: options.signal,
    onAdd: (app) => comments.applicationChanged(app),
    onUpdate: (previous, app) => {
      if (previous.metadata.generation !== app.metadata.generation) wakeOwner(app);
      // Readiness, health, revision, deletion: the comment's text decides whether it is written.
      comments.applicationChanged(app);
    },
    onDelete: (app) => {
      wakeOwner(app);
      comments.applicationChanged(app);
    },
    onError: (error) => log.warn({ err: messageOf(error) }, 'generated Application watch error'),
  });
  const deps = {
    kube,
    generators: { get: (name: string, namespace: string) => generators.get(name, namespace) },
    labelled: {
      list: (namespace: string, generator: string) =>
        applications
          .list()
          .filter((app) => app.metadata.namespace === namespace && ownerOf(app) === generator),
    },
    repositories: options.repositories,
    recordEvent: options.recordEvent,
    now: options.now,
  };
  return {
    // Generators wait for the Applications: a run before would see none of them and make them anew.
    synced: Promise.all([generators.synced, applications.synced]).then(() => {
      for (const generator of generators.list())
        queue.add(keyOf(generator.metadata.namespace, generator.metadata.name));
      comments.start();
    }),
    wake(namespace, repositoryName) {
      let woken = 0;
      for (const generator of generators.list()) {
        const source = (generator.spec as { sourceRef?: { name?: unknown } }).sourceRef?.name;
        if (generator.metadata.namespace !== namespace || source !== repositoryName) continue;
        queue.add(keyOf(namespace, generator.metadata.name), { urgent: true });
        woken++;
      }
      return woken;
    },
    close: async () => {
      await Promise.all([queue.shutdown({ drain: false }), comments.close()]);
    },
  };
}

/** A spec change, a deletion, or a new approval: our own status writes change none of these. */
function wantsReconcile(previous: ApplicationGenerator, current: ApplicationGenerator): boolean {
  return (
    previous.metadata.generation !== current.metadata.generation ||
    previous.metadata.deletionTimestamp !== current.metadata.deletionTimestamp ||
    JSON.stringify(previous.metadata.annotations ?? {}) !== JSON.stringify(current.metadata.annotations ?? {})
  );
}

/**
 * The listings of one reconcile, abandoned when `signal` aborts (its deadline, `deadlineAtMs`, or a
 * shutdown): forge calls take the signal; git's network operations get no more time than is left
 * (their own timeout, the Repository's spec.timeout, cut to it), and are not waited for past it.
 */
function listingDeps(
  kube: KubeClient,
  options: GeneratorsOptions,
  signal: AbortSignal,
  deadlineAtMs: number,
): ListingDeps {
  const { git } = options;
  const bounded = (repo: GitRepository): GitRepository => {
    const leftMs = Math.max(1_000, deadlineAtMs - Date.now());
    return { ...repo, timeoutMs: Math.min(repo.timeoutMs ?? leftMs, leftMs) };
  };
  return {
    git: {
      listBranches: (repo) => abandonedOnAbort(git.listBranches(bounded(repo)), signal),
      listDirectories: (repo, commit, listOptions) =>
        abandonedOnAbort(git.listDirectories(bounded(repo), commit, listOptions), signal),
      resolve: (repo, ref) => abandonedOnAbort(git.resolve(bounded(repo), ref), signal),
    },
    source: (repository) => abandonedOnAbort(options.access.source(repository), signal),
    pullRequests: (repository, listOptions) =>
      abandonedOnAbort(openPullRequests(kube, repository, listOptions, signal), signal),
  };
}

/** `work`, or a transient error as soon as `signal` aborts (the work itself ends on its own bound). */
function abandonedOnAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return abandonOnAbort(
    work,
    signal,
    () =>
      new TransientError(
        signal.reason instanceof DOMException && signal.reason.name === 'TimeoutError'
          ? 'the listing took too long and was abandoned (the Git host does not answer in time)'
          : 'the listing was abandoned (the controller is stopping)',
      ),
  );
}

const GENERATOR_PURPOSE: ForgePurpose = { feature: 'the pullRequests generator' };
const COMMENT_PURPOSE: ForgePurpose = {
  feature: 'the preview comment of the pullRequests generator',
  otherwise: 'or set spec.pullRequests.comment: false on the ApplicationGenerator',
};

/** The open pull requests of the Repository's forge (spec.forge, its Secret's token). */
async function openPullRequests(
  kube: KubeClient,
  repository: Repository,
  options: { readonly base?: string; readonly limit: number },
  signal: AbortSignal,
): Promise<PullRequestListing> {
  const { forge, repo } = await repositoryForge(kube)(repository, GENERATOR_PURPOSE);
  return { kind: forge.kind, pullRequests: await forge.listOpenPullRequests(repo, { ...options, signal }) };
}
