/**
 * The controller: informers on Repositories and Applications, one keyed work queue for both, drift
 * watches on managed objects, and the triggers that feed the queue — spec changes, a manual request
 * annotation, new revisions found by polling or announced by webhooks, drift, and dependencies
 * becoming Ready or applying a new revision.
 */
import { setMaxListeners } from 'node:events';
import {
  GROUP,
  PROMOTE_ANNOTATION,
  REQUESTED_AT_ANNOTATION,
  ROLLBACK_ANNOTATION,
  VERSION,
  type Application,
  type Repository,
} from '../api/v1alpha1.js';
import { splitApiVersion } from '../core/objects.js';
import { messageOf } from '../core/errors.js';
import type { Engine, SyncResult } from '../engine/sync.js';
import { serviceAccountIdentity, startInformer, type Informer, type KubeClient } from '../kube/index.js';
import { isPushedRepository, type GitSource, type RevertOptions, type Revision } from '../source/index.js';
import {
  dependenciesOf,
  reconcileApplication,
  reconcileHealth,
  type AppNotice,
  type ApplicationReconcilerDeps,
  type ReconcileOutcome,
} from './application.js';
import type { SyncTrigger } from './app-status.js';
import { ConfigMapHistoryStore } from './history.js';
import { LiveHealth } from './live-health.js';
import { startNotifications } from './notifications.js';
import { startGenerators, type Generators } from '../generate/index.js';
import { startImagePolicies, type ImagePolicies, type ImagePoliciesOptions } from '../images/index.js';
import { recordRollbackInGit, type RevertDeps } from './revert.js';
import { reconcilePromotion, type PromotionDeps } from '../promote/index.js';
import { StatusConflictError } from './status.js';
import { readyOf } from './dependencies.js';
import { DriftWatcher } from './drift.js';
import { kubeEventRecorder } from './events.js';
import { WorkQueue } from './queue.js';
import { createRepositoryAccess, reconcileRepository } from './repository.js';
import { startPolicyIndex, type PolicyChange, type PolicyIndex } from './policies.js';
import {
  controllerPreparer,
  previewApplication,
  PreviewUnavailableError,
  type ApplicationPreview,
} from './preview.js';
import type { ServiceAccountRef, TenancyOptions } from './tenancy.js';
import { planChange, type ChangePlan, type PlanRequest, type RenderAt } from '../review/index.js';
import { PullRequestPlans, type PullRequestNotice } from '../review/pull-requests.js';
import { repositoryForge } from './repository-forge.js';

export interface ControllerLog {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

export interface ControllerOptions {
  /** The controller's own client (status, inventories, secrets, drift watches). */
  readonly kube: KubeClient;
  readonly git: GitSource;
  /** Makes the engine for a client impersonating an Application's ServiceAccount. */
  readonly createEngine: (kube: KubeClient) => Engine;
  /** Who applies Applications that name no ServiceAccount (never the controller itself). */
  readonly tenancy: TenancyOptions;
  /** Reconciles running at once. Default 4. */
  readonly concurrency?: number;
  /** Full re-check of every Application this often. Default 10 minutes. */
  readonly resyncMs?: number;
  /** Only this namespace (default: all). */
  readonly namespace?: string;
  /**
   * Only Applications and Repositories matching this label selector (e.g. `shard=a`, or
   * `!capstan.dev/isolated`): controllers that split the objects of one cluster between them.
   */
  readonly labelSelector?: string;
  readonly log: ControllerLog;
  readonly now?: () => Date;
  /** Also told every sync, health and rollback notice (Notification objects get them regardless). */
  readonly notify?: (notice: AppNotice) => void;
  /** Let notifications reach link-local and metadata addresses (an operator's flag). */
  readonly notificationsAllowLinkLocal?: boolean;
  /** How Git reverts of automatic rollbacks run (temp space, file:// for tests). */
  readonly writeback?: RevertOptions;
  /** ImagePolicies: a registry client of the test's, private registry addresses, Git options. */
  readonly images?: Pick<
    ImagePoliciesOptions,
    'createRegistryClient' | 'allowPrivateRegistries' | 'git' | 'timeoutMs'
  >;
  /** Renders an app at a commit for plans of changes (src/review); without it, `planChange` refuses. */
  readonly renderAt?: RenderAt;
  readonly hooks?: {
    readonly onReconcile?: (kind: 'application' | 'repository', seconds: number, ok: boolean) => void;
    readonly onSynced?: (app: Application, result: SyncResult) => void;
    readonly onHealth?: (app: Application, health: string, ready: boolean) => void;
    /** A rollout failed its health: a failed sync, judged after its apply. */
    readonly onRolloutFailed?: (app: Application) => void;
    readonly onFetch?: (repository: Repository, seconds: number, error?: unknown) => void;
    readonly onQueueDepth?: (depth: number) => void;
    readonly onAppDeleted?: (namespace: string, name: string) => void;
  };
}

/**
 * `app/`: a full reconcile (sync); `health/`: a live health update of the same Application, which
 * never runs beside its full reconcile; `revert/`: recording a rollback in Git; `repo/`: a fetch.
 */
/** How soon a status computed from an overtaken copy is computed again (the informer catches up). */
const RECOMPUTE_AFTER_MS = 200;

/**
 * How long reconciles already running may go on once the controller stops. Well inside the leader
 * Lease's 15 s (renewed every 3 s until the stop), so no other replica leads meanwhile, and inside a
 * pod's 30 s termination grace period.
 */
export const SHUTDOWN_DRAIN_MS = 5_000;

/** `promote/`: a promotion into that Application (src/promote/), asked for or automatic. */
type QueueKey =
  `app/${string}` | `health/${string}` | `revert/${string}` | `promote/${string}` | `repo/${string}`;

export class Controller {
  private queue: WorkQueue<QueueKey> | undefined;
  private applications: Informer<Application> | undefined;
  private repositories: Informer<Repository> | undefined;
  private policies: PolicyIndex | undefined;
  /** ApplicationGenerators (src/generate/): Applications made per branch, folder, entry, pull request. */
  private generators: Generators | undefined;
  /** ImagePolicies (src/images/): new image tags written into Git. */
  private images: ImagePolicies | undefined;
  private started = false;
  /** Why each waiting full reconcile was asked for (the first reason wins), for history. */
  private readonly triggers = new Map<string, SyncTrigger>();
  /** Applications whose full reconcile runs now, and those whose health changed meanwhile. */
  private readonly reconciling = new Set<string>();
  private readonly healthAfterReconcile = new Set<string>();
  /** Repositories a webhook announced, so their Applications' history says "webhook". */
  private readonly pushed = new Set<string>();
  /** Computes previews with this run's engines, fetches and informers; unset while not running. */
  private previewer:
    | ((app: Application, signal?: AbortSignal, revision?: Revision) => Promise<ApplicationPreview>)
    | undefined;
  /** Plans changes with this run's informers, fetches and previews; unset while not running. */
  private planner: ((request: PlanRequest) => Promise<ChangePlan>) | undefined;
  /** Plans of pull requests on the Git host (src/review/pull-requests.ts); unset while not running. */
  private pullRequestPlans: PullRequestPlans | undefined;

  constructor(private readonly options: ControllerOptions) {}

  /** Informers synced and the queue running. */
  isReady(): boolean {
    return (
      this.started &&
      (this.applications?.hasSynced ?? false) &&
      (this.repositories?.hasSynced ?? false) &&
      (this.policies?.hasSynced ?? false)
    );
  }

  /** Runs until `signal` aborts; then stops taking work and waits for running reconciles. */
  async run(signal: AbortSignal): Promise<void> {
    // Every informer, watch, queue and component of this run listens for it: more than Node's
    // default of 10 listeners is the design, not a leak.
    setMaxListeners(0, signal);
    const { kube, log } = this.options;
    const now = this.options.now ?? (() => new Date());
    const resyncMs = this.options.resyncMs ?? 10 * 60_000;
    const scope = {
      ...(this.options.namespace ? { namespace: this.options.namespace } : {}),
      ...(this.options.labelSelector ? { labelSelector: this.options.labelSelector } : {}),
    };
    // Before anything else: no reconcile may run before the policies are known (it would fail closed).
    const policies = startPolicyIndex(kube, {
      signal,
      onChange: (change) => this.policyChanged(change),
      onError: (error) => log.warn({ err: messageOf(error) }, 'AccessPolicy'),
    });
    this.policies = policies;
    const policyFor = (namespace: string) => policies.forNamespace(namespace);
    const access = createRepositoryAccess({
      kube,
      policyFor,
      git: this.options.git,
      now,
      onRefMoved: (repo) => this.enqueue(`repo/${repo.metadata.namespace}/${repo.metadata.name}`),
    });
    const recordEvent = kubeEventRecorder(kube, 'capstan-controller', (error) =>
      log.warn({ err: messageOf(error) }, 'recording an event failed'),
    );
    const clients = new Map<string, KubeClient>();
    const engines = new Map<string, Engine>();
    /** A client impersonating the ServiceAccount: what its syncs (and previews) act through. */
    const clientFor = (serviceAccount: ServiceAccountRef): KubeClient => {
      const key = `${serviceAccount.namespace}/${serviceAccount.name}`;
      let client = clients.get(key);
      if (!client) {
        client = kube.impersonate(serviceAccountIdentity(serviceAccount.namespace, serviceAccount.name));
        clients.set(key, client);
      }
      return client;
    };
    const engineFor = (serviceAccount: ServiceAccountRef): Engine => {
      const key = `${serviceAccount.namespace}/${serviceAccount.name}`;
      let engine = engines.get(key);
      if (!engine) {
        engine = this.options.createEngine(clientFor(serviceAccount));
        engines.set(key, engine);
      }
      return engine;
    };

    const generators = startGenerators(kube, {
      signal,
      log,
      git: this.options.git,
      access,
      repositories: { get: (n, ns) => this.repositories?.get(n, ns) },
      recordEvent,
      now,
      ...scope,
    });
    this.generators = generators;
    const images = startImagePolicies(kube, {
      signal,
      log,
      access,
      applications: { get: (n, ns) => this.applications?.get(n, ns) },
      repositories: { get: (n, ns) => this.repositories?.get(n, ns) },
      recordEvent,
      now,
      // The commit is on the server: the Applications on that branch sync it now, not at the next poll.
      onPushed: (repo) =>
        this.enqueue(`repo/${repo.metadata.namespace}/${repo.metadata.name}`, { urgent: true }),
      ...scope,
      ...this.options.images,
    });
    this.images = images;
    const notifications = startNotifications(kube, {
      signal,
      log,
      ...(this.options.namespace ? { namespace: this.options.namespace } : {}),
      ...(this.options.notificationsAllowLinkLocal ? { allowLinkLocal: true } : {}),
    });
    const notify = (notice: AppNotice): void => {
      const sourceRef = (notice.app.spec as { sourceRef?: { name?: string } }).sourceRef?.name ?? '';
      notifications.notify(notice, this.repositories?.get(sourceRef, notice.app.metadata.namespace));
      this.options.notify?.(notice);
    };
    const liveHealth = new LiveHealth({ now, onChange: (appKey) => this.enqueue(`health/${appKey}`) });
    const drift = new DriftWatcher({
      kube,
      signal,
      onDrift: (appKey, object, change) => {
        // Our own applies show up here too: debug, or a busy sync floods the log.
        log.debug(
          { app: appKey, object: `${object.kind}/${object.metadata.name}`, change },
          'managed object changed',
        );
        this.enqueue(`app/${appKey}`, { trigger: 'drift' });
      },
      onObject: (appKey, ref, object) => liveHealth.observe(appKey, ref, object),
      onError: (error) => log.warn({ err: messageOf(error) }, 'drift watch error'),
    });

    const historyStore = new ConfigMapHistoryStore(kube);
    const appDeps = (key: string): ApplicationReconcilerDeps => ({
      kube,
      applications: {
        get: (n, ns) => this.applications!.get(n, ns),
        list: () => this.applications!.list(),
      },
      repositories: { get: (n, ns) => this.repositories!.get(n, ns) },
      access,
      engineFor,
      tenancy: this.options.tenancy,
      policyFor,
      recordEvent,
      now,
      resyncMs,
      failedAttempts: queue.failures(key as QueueKey),
      health: {
        track: (appKey, result) => {
          drift.watch(kindsOf(result));
          return liveHealth.track(appKey, result.objects, (ref) => drift.cached(ref), { mode: result.mode });
        },
        view: (appKey) => liveHealth.view(appKey),
        published: (appKey, health) => liveHealth.published(appKey, health),
      },
      notify,
      history: historyStore,
      onHistoryError: (app, error) =>
        log.warn(
          { app: `${app.metadata.namespace}/${app.metadata.name}`, err: messageOf(error) },
          'recording history failed',
        ),
      onRollback: (app) => this.enqueue(`revert/${app.metadata.namespace}/${app.metadata.name}`),
      requestReconcile: (app, trigger) =>
        this.enqueue(`app/${app.metadata.namespace}/${app.metadata.name}`, { urgent: true, trigger }),
      ...(this.options.hooks?.onSynced ? { onSynced: this.options.hooks.onSynced } : {}),
      ...(this.options.hooks?.onHealth ? { onHealth: this.options.hooks.onHealth } : {}),
      ...(this.options.hooks?.onRolloutFailed ? { onRolloutFailed: this.options.hooks.onRolloutFailed } : {}),
    });

    const queue: WorkQueue<QueueKey> = new WorkQueue<QueueKey>({
      concurrency: this.options.concurrency ?? 4,
      ...(this.options.hooks?.onQueueDepth ? { onDepthChange: this.options.hooks.onQueueDepth } : {}),
      handler: async (key) => {
        const [kind, namespace, name] = key.split('/') as [
          'app' | 'health' | 'revert' | 'promote' | 'repo',
          string,
          string,
        ];
        const started = Date.now();
        const metricKind = kind === 'repo' ? 'repository' : 'application';
        try {
          const result = await this.handle(kind, namespace, name, {
            appDeps,
            revertDeps: {
              kube,
              repositories: { get: (n, ns) => this.repositories!.get(n, ns) },
              access,
              recordEvent,
              now,
              ...(this.options.writeback ? { git: this.options.writeback } : {}),
            },
            promotionDeps: {
              kube,
              repositories: { get: (n, ns) => this.repositories!.get(n, ns) },
              access,
              recordEvent,
              now,
              ...(this.options.writeback ? { git: this.options.writeback } : {}),
              ...(this.options.renderAt ? { plan: (request: PlanRequest) => this.planChange(request) } : {}),
            },
            repositoryDeps: {
              kube,
              access,
              repositories: { get: (n, ns) => this.repositories!.get(n, ns) },
              applications: { list: () => this.applications!.list() },
              enqueueApplication: (ns, n, options) =>
                this.enqueue(`app/${ns}/${n}`, {
                  ...options,
                  trigger: this.pushed.has(`${namespace}/${name}`) ? 'webhook' : 'commit',
                }),
              now,
              ...(this.options.hooks?.onFetch ? { onFetch: this.options.hooks.onFetch } : {}),
            },
          });
          this.options.hooks?.onReconcile?.(metricKind, (Date.now() - started) / 1000, true);
          return result;
        } catch (error) {
          this.options.hooks?.onReconcile?.(metricKind, (Date.now() - started) / 1000, false);
          log.warn({ key, err: messageOf(error) }, 'reconcile failed; retrying with backoff');
          throw error;
        }
      },
    });
    this.queue = queue;

    this.repositories = startInformer<Repository>(kube, {
      group: GROUP,
      version: VERSION,
      kind: 'Repository',
      ...scope,
      signal,
      onAdd: (repo) => this.repositoryChanged(repo),
      onUpdate: (previous, repo) => {
        if (wantsReconcile(previous, repo)) this.repositoryChanged(repo, { urgent: true });
      },
      onDelete: (repo) => {
        queue.forget(`repo/${repo.metadata.namespace}/${repo.metadata.name}`);
        access.forget(repo);
      },
      onError: (error) => log.warn({ err: messageOf(error) }, 'Repository watch error'),
    });
    this.applications = startInformer<Application>(kube, {
      group: GROUP,
      version: VERSION,
      kind: 'Application',
      ...scope,
      signal,
      onAdd: (app) => {
        // A new Application's first sync is its spec's doing; after a restart, the resync's.
        this.enqueue(`app/${app.metadata.namespace}/${app.metadata.name}`, {
          trigger: app.status?.lastAppliedRevision ? 'resync' : 'spec',
        });
        // Its Repository now has a ref to resolve.
        this.enqueueSourceOf(app);
        this.enqueuePromotions(undefined, app);
      },
      onUpdate: (previous, app) => {
        if (wantsReconcile(previous, app)) {
          this.enqueue(`app/${app.metadata.namespace}/${app.metadata.name}`, {
            urgent: true,
            trigger: triggerOf(previous, app),
          });
          if ((previous.spec as { ref?: string }).ref !== (app.spec as { ref?: string }).ref)
            this.enqueueSourceOf(app);
        }
        if (readyOf(previous) !== readyOf(app)) this.enqueueDependents(app);
        this.enqueuePromotions(previous, app);
      },
      onDelete: (app) => {
        const appKey = `${app.metadata.namespace}/${app.metadata.name}`;
        queue.forget(`app/${appKey}`);
        queue.forget(`health/${appKey}`);
        queue.forget(`promote/${appKey}`);
        liveHealth.forget(appKey);
        this.options.hooks?.onAppDeleted?.(app.metadata.namespace, app.metadata.name);
        this.enqueueDependents(app);
      },
      onError: (error) => log.warn({ err: messageOf(error) }, 'Application watch error'),
    });
    await Promise.all([
      this.repositories.synced,
      this.applications.synced,
      policies.synced,
      notifications.synced,
      generators.synced,
      images.synced,
    ]);
    images.start();
    this.previewer = (app, previewSignal, revision) =>
      previewApplication(
        {
          prepare: controllerPreparer({
            checks: {
              applications: { get: (n, ns) => this.applications?.get(n, ns) },
              repositories: { get: (n, ns) => this.repositories?.get(n, ns) },
              tenancy: this.options.tenancy,
              policyFor,
            },
            manages: (candidate) => {
              const known = this.applications?.get(candidate.metadata.name, candidate.metadata.namespace);
              return known !== undefined && known.metadata.uid === candidate.metadata.uid;
            },
            engineFor,
            clientFor,
          }),
          access,
          application: async (ns, n) => this.applications?.get(n, ns),
          repository: async (ns, n) => this.repositories?.get(n, ns),
          now,
        },
        app,
        previewSignal,
        revision ? { revision } : {},
      );
    const renderAt = this.options.renderAt;
    if (renderAt)
      this.planner = (request) =>
        planChange(
          {
            listApplications: async (ns) =>
              (this.applications?.list() ?? []).filter(
                (app) => ns === undefined || app.metadata.namespace === ns,
              ),
            repository: async (ns, n) => this.repositories?.get(n, ns),
            access,
            git: this.options.git,
            renderAt,
            preview: (app, revision, previewSignal) => this.previewSync(app, previewSignal, revision),
          },
          request,
        );
    if (renderAt)
      this.pullRequestPlans = new PullRequestPlans({
        repositories: {
          list: () => this.repositories?.list() ?? [],
          get: (n, ns) => this.repositories?.get(n, ns),
        },
        applications: { list: () => this.applications?.list() ?? [] },
        forgeOf: (repository) => repositoryForge(kube)(repository, { feature: 'spec.pullRequests.plan' }),
        plan: (request) => this.planChange(request),
        log,
        wakeAnnotation: REQUESTED_AT_ANNOTATION,
      });
    this.started = true;
    log.info(
      { applications: this.applications.list().length, repositories: this.repositories.list().length },
      'controller started',
    );

    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    this.started = false;
    this.previewer = undefined;
    this.planner = undefined;
    await this.pullRequestPlans?.close();
    this.pullRequestPlans = undefined;
    // Reconciles already running finish (bounded), the way a sync that started before SIGTERM
    // completes: when Capstan's own Deployment is deleted, the sync that re-creates it is under way
    // as the garbage collector terminates these very pods, and aborting it would leave nothing to
    // heal the cluster. Bounded well within the Lease, which is not renewed meanwhile.
    await queue.shutdown({ drain: true, drainTimeoutMs: SHUTDOWN_DRAIN_MS });
    await notifications.close();
    await generators.close();
    await images.close();
    this.images = undefined;
    await Promise.allSettled([this.repositories.stopped, this.applications.stopped, policies.stopped]);
  }

  /**
   * What a sync of `app` would change now, changing nothing (the dashboard's diff; see preview.ts):
   * as the app's ServiceAccount, at the revision its next reconcile would apply. Only while this
   * controller runs (a standby replica has no engines, fetches or informers to compute it with).
   */
  async previewSync(
    app: Application,
    signal?: AbortSignal,
    revision?: Revision,
  ): Promise<ApplicationPreview> {
    const previewer = this.previewer;
    if (!previewer)
      throw new PreviewUnavailableError(
        'the controller does not run on this replica now (it is starting, or a standby)',
      );
    return previewer(app, signal, revision);
  }

  /**
   * What merging a change would do to the Applications this controller reconciles (src/review):
   * each touched app dry-run at the head commit as its own ServiceAccount, like `previewSync`.
   */
  async planChange(request: PlanRequest): Promise<ChangePlan> {
    if (!this.options.renderAt)
      throw new PreviewUnavailableError('this controller was started without a renderer for plans');
    const planner = this.planner;
    if (!planner)
      throw new PreviewUnavailableError(
        'the controller does not run on this replica now (it is starting, or a standby)',
      );
    return planner(request);
  }

  /**
   * A webhook announced a push: poll now the Repositories it names. `repositoryKeys` are the keys
   * the server computed from the webhook's URLs (`PushEvent.repositoryKeys`); matching them with
   * the same function a standby forwards with is what makes leader and standby wake the same
   * Repositories. Returns how many matched.
   */
  repositoriesPushed(repositoryKeys: readonly string[]): number {
    const pushed = new Set(repositoryKeys);
    let matched = 0;
    for (const repo of this.repositories?.list() ?? []) {
      if (!isPushedRepository((repo.spec as { url?: string }).url ?? '', pushed)) continue;
      matched++;
      this.pushed.add(`${repo.metadata.namespace}/${repo.metadata.name}`);
      this.enqueue(`repo/${repo.metadata.namespace}/${repo.metadata.name}`, { urgent: true });
      // Generators listing its branches or pull requests look again too.
      this.generators?.wake(repo.metadata.namespace, repo.metadata.name);
    }
    return matched;
  }

  /**
   * A webhook announced a pull request opened, pushed to, reopened or closed: its plan on the Git
   * host (Repositories with spec.pullRequests.plan), and the generators listing pull requests look
   * again. Returns how many Repositories want plans of it.
   */
  pullRequestChanged(notice: PullRequestNotice): number {
    const keys = new Set(notice.repositoryKeys);
    for (const repo of this.repositories?.list() ?? [])
      if (isPushedRepository((repo.spec as { url?: string }).url ?? '', keys))
        this.generators?.wake(repo.metadata.namespace, repo.metadata.name);
    return this.pullRequestPlans?.pullRequestChanged(notice) ?? 0;
  }

  /**
   * Runs now the ApplicationGenerators listing the Repository `namespace/repositoryName` (a pull
   * request opened or closed there); returns how many. `repositoriesPushed` wakes them too.
   */
  wakeGenerators(namespace: string, repositoryName: string): number {
    return this.generators?.wake(namespace, repositoryName) ?? 0;
  }

  /**
   * A registry webhook announced a pushed image (its path in the registry, `team/web`): the
   * ImagePolicies of that image scan now. Returns how many.
   */
  imagesPushed(images: readonly { readonly repository: string }[]): number {
    return images.reduce((woken, image) => woken + (this.images?.wake(image) ?? 0), 0);
  }

  /** Urgent keys (someone is waiting: a person's edit or request, a push) go before the backlog. */
  private enqueue(key: QueueKey, options: { urgent?: boolean; trigger?: SyncTrigger } = {}): void {
    if (options.trigger && key.startsWith('app/') && !this.triggers.has(key.slice(4)))
      this.triggers.set(key.slice(4), options.trigger);
    this.queue?.add(key, options.urgent ? { urgent: true } : {});
  }

  private async handle(
    kind: 'app' | 'health' | 'revert' | 'promote' | 'repo',
    namespace: string,
    name: string,
    deps: {
      promotionDeps: PromotionDeps;
      appDeps: (key: string) => ApplicationReconcilerDeps;
      repositoryDeps: Parameters<typeof reconcileRepository>[0];
      revertDeps: RevertDeps;
    },
  ): Promise<ReconcileOutcome | undefined> {
    const appKey = `${namespace}/${name}`;
    if (kind === 'repo') {
      const result = await reconcileRepository(deps.repositoryDeps, namespace, name);
      this.pushed.delete(appKey);
      // Pull requests whose webhook was missed (or reached a standby) are planned from here.
      const polled = this.repositories?.get(name, namespace);
      if (polled) this.pullRequestPlans?.reviewOpen(polled);
      return result;
    }
    if (kind === 'promote') {
      await reconcilePromotion(deps.promotionDeps, namespace, name);
      return undefined;
    }
    if (kind === 'revert') {
      const app = this.applications?.get(name, namespace);
      if (!app) return undefined;
      await recordRollbackInGit(deps.revertDeps, app);
      // Fetch now: the revert is a new commit to apply, not something to learn of at the next poll.
      const source = (app.spec as { sourceRef?: { name?: string } }).sourceRef?.name;
      if (source) this.enqueue(`repo/${namespace}/${source}`, { urgent: true });
      return undefined;
    }
    if (kind === 'health') {
      // Its full reconcile judges health at its end; look again once it is done.
      if (this.reconciling.has(appKey)) {
        this.healthAfterReconcile.add(appKey);
        return undefined;
      }
      try {
        return this.scheduleHealthCheck(
          appKey,
          await reconcileHealth(deps.appDeps(`health/${appKey}`), namespace, name),
        );
      } catch (error) {
        // Judged from a copy a reconcile's write overtook: judge again once the informer has it.
        if (error instanceof StatusConflictError) return { requeueAfterMs: RECOMPUTE_AFTER_MS };
        throw error;
      }
    }
    const trigger = this.triggers.get(appKey);
    this.triggers.delete(appKey);
    this.reconciling.add(appKey);
    try {
      const base = deps.appDeps(`app/${appKey}`);
      const outcome = await reconcileApplication(
        { ...base, ...(trigger ? { trigger } : {}) },
        namespace,
        name,
      );
      return this.scheduleHealthCheck(appKey, outcome);
    } catch (error) {
      if (!(error instanceof StatusConflictError)) throw error;
      this.options.log.debug({ app: appKey }, 'status conflict: reconciling again');
      // Someone wrote the Application meanwhile: reconcile again from its new state, same trigger.
      if (trigger && !this.triggers.has(appKey)) this.triggers.set(appKey, trigger);
      return { requeueAfterMs: RECOMPUTE_AFTER_MS };
    } finally {
      this.reconciling.delete(appKey);
      if (this.healthAfterReconcile.delete(appKey)) this.enqueue(`health/${appKey}`);
    }
  }

  /** A rollout's health timeout ends: judge it then, without a sync. */
  private scheduleHealthCheck(appKey: string, outcome: ReconcileOutcome): ReconcileOutcome {
    if (outcome.healthCheckAfterMs !== undefined)
      this.queue?.addAfter(`health/${appKey}`, outcome.healthCheckAfterMs);
    return outcome.requeueAfterMs === undefined ? {} : { requeueAfterMs: outcome.requeueAfterMs };
  }

  private repositoryChanged(repo: Repository, options: { urgent?: boolean } = {}): void {
    this.enqueue(`repo/${repo.metadata.namespace}/${repo.metadata.name}`, options);
    // Applications that were waiting for it (SourceNotFound) can go on.
    for (const app of this.applications?.list() ?? []) {
      if (
        app.metadata.namespace === repo.metadata.namespace &&
        (app.spec as { sourceRef?: { name?: string } }).sourceRef?.name === repo.metadata.name
      ) {
        this.enqueue(`app/${app.metadata.namespace}/${app.metadata.name}`);
      }
    }
  }

  /** What a policy allows changed: everything in the namespaces it binds is judged again. */
  private policyChanged(change: PolicyChange): void {
    for (const repo of this.repositories?.list() ?? [])
      if (change.affects(repo.metadata.namespace))
        this.enqueue(`repo/${repo.metadata.namespace}/${repo.metadata.name}`);
    for (const app of this.applications?.list() ?? [])
      if (change.affects(app.metadata.namespace))
        this.enqueue(`app/${app.metadata.namespace}/${app.metadata.name}`);
  }

  private enqueueSourceOf(app: Application): void {
    const source = (app.spec as { sourceRef?: { name?: string } }).sourceRef?.name;
    if (source) this.enqueue(`repo/${app.metadata.namespace}/${source}`);
  }

  /**
   * Promotions `app`'s change may call for: a new `capstan.dev/promote` request or promotion spec
   * on it; and, when its health or last healthy revision moved, an automatic promotion into each
   * Application promoting from it (src/promote/ decides whether there is anything to do).
   */
  private enqueuePromotions(previous: Application | undefined, app: Application): void {
    const { namespace, name } = app.metadata;
    const promote = (a: Application) => a.metadata.annotations?.[PROMOTE_ANNOTATION];
    if (
      (promote(app) !== undefined && promote(previous ?? app) !== promote(app)) ||
      (previous === undefined && (promote(app) !== undefined || app.spec.promotion?.automatic)) ||
      (previous !== undefined &&
        previous.metadata.generation !== app.metadata.generation &&
        app.spec.promotion)
    )
      this.enqueue(`promote/${namespace}/${name}`, { urgent: true });
    const healthOf = (a: Application | undefined) =>
      `${a?.status?.health?.status}/${a?.status?.lastHealthyRevision?.sha}/${a?.status?.rollback?.from}`;
    // A new Application (a start-up) is no news to the others: each target enqueued itself above.
    if (previous === undefined || healthOf(previous) === healthOf(app)) return;
    for (const other of this.applications?.list() ?? [])
      if (
        other.metadata.namespace === namespace &&
        other.spec.promotion?.automatic &&
        other.spec.promotion.from.name === name
      )
        this.enqueue(`promote/${namespace}/${other.metadata.name}`);
  }

  private enqueueDependents(app: Application): void {
    for (const other of this.applications?.list() ?? []) {
      if (
        dependenciesOf(other).some(
          (d) => d.namespace === app.metadata.namespace && d.name === app.metadata.name,
        )
      ) {
        this.enqueue(`app/${other.metadata.namespace}/${other.metadata.name}`, { trigger: 'dependency' });
      }
    }
  }
}

function triggerOf(previous: Application, current: Application): SyncTrigger {
  const requested = (app: Application) => app.metadata.annotations?.[REQUESTED_AT_ANNOTATION];
  const rollback = (app: Application) => app.metadata.annotations?.[ROLLBACK_ANNOTATION];
  if (rollback(previous) !== rollback(current)) return 'rollback';
  if (requested(previous) !== requested(current)) return 'request';
  return 'spec';
}

/**
 * A spec change (generation), a deletion, or a new manual request: status-only updates are our own
 * writes.
 */
function wantsReconcile(previous: Application | Repository, current: Application | Repository): boolean {
  return (
    previous.metadata.generation !== current.metadata.generation ||
    previous.metadata.deletionTimestamp !== current.metadata.deletionTimestamp ||
    previous.metadata.annotations?.[REQUESTED_AT_ANNOTATION] !==
      current.metadata.annotations?.[REQUESTED_AT_ANNOTATION] ||
    previous.metadata.annotations?.[ROLLBACK_ANNOTATION] !==
      current.metadata.annotations?.[ROLLBACK_ANNOTATION]
  );
}

function kindsOf(result: SyncResult): { group: string; version: string; kind: string }[] {
  const kinds = new Map<string, { group: string; version: string; kind: string }>();
  for (const object of result.objects) {
    if (!object.applied || object.action === 'pruned' || object.action === 'failed') continue;
    const { group, version } = splitApiVersion(object.applied.apiVersion);
    kinds.set(`${group}/${version}/${object.ref.kind}`, { group, version, kind: object.ref.kind });
  }
  return [...kinds.values()];
}
