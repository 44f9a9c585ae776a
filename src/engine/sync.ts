/**
 * One sync of one app: source → render → plan → apply → prune → health → record.
 *
 * The order of the guards matters more than anything else here: a sync that cannot resolve its
 * source or render its manifests throws before it touches the cluster, so nothing is applied and,
 * above all, nothing is pruned. Prune runs only after every object applied cleanly.
 */
import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { AppIdentity } from '../apply/annotations.js';
import { applyPhases, type ApplyPhase, type ObjectResult } from '../apply/applier.js';
import { inventoryEntry, staleEntries, type InventoryEntry, type InventoryStore } from '../apply/index.js';
import { prune, PruneRefusedError } from '../apply/prune.js';
import { UserError } from '../core/errors.js';
import { formatRef, refKey, refOf, splitApiVersion, type KubeObject } from '../core/objects.js';
import {
  computeStatus,
  describeHealth,
  waitForHealth,
  type ObjectHealth,
  type WaitResult,
} from '../health/index.js';
import type { KubeClient } from '../kube/index.js';
import {
  assertObjectsAllowed,
  assertSourceAllowed,
  isDefinition,
  pruneBatches,
  sortForApply,
} from '../plan/index.js';
import { renderCacheKey, type RenderKind, type Renderer } from '../render/index.js';
import type { GitSource, Repository, Revision } from '../source/index.js';
import { isArtifactRepository, scopeUrlOf, shortRevision } from '../source/artifacts/index.js';
import type { AppSpec } from './app.js';
import { createCheckouts, type Checkouts } from './checkouts.js';
import { uninstall, type UninstallOptions, type UninstallResult } from './uninstall.js';
import { kubeObjectWatcher, versionsOf } from './watcher.js';

export type SyncMode = 'diff' | 'apply';

export type SyncStage = 'source' | 'render' | 'plan' | 'apply' | 'prune' | 'health' | 'record';

export type SyncEvent =
  | { readonly type: 'stage'; readonly stage: SyncStage; readonly message: string }
  | { readonly type: 'object'; readonly result: ObjectResult }
  | { readonly type: 'health'; readonly health: ObjectHealth };

export interface EngineDeps {
  readonly kube: KubeClient;
  readonly git: GitSource;
  readonly renderer: Renderer;
  readonly inventory: InventoryStore;
  /** Where commits are checked out for rendering (one folder per commit, shared by apps). */
  readonly workDir: string;
  /** Shared between engines of one process (one per impersonated identity); default a private one. */
  readonly checkouts?: Checkouts;
  /** Versions of helm and kustomize: part of every render key. */
  readonly toolVersions?: Readonly<Record<string, string>>;
  /** Default `capstan`. */
  readonly fieldManager?: string;
  /** API requests in flight at once per sync. Default 16. */
  readonly concurrency?: number;
}

export interface SyncOptions {
  readonly mode: SyncMode;
  readonly signal?: AbortSignal;
  readonly onEvent?: (event: SyncEvent) => void;
}

export interface SyncRevision {
  /** A commit SHA, or `sha256:…` of the rendered objects for a local folder. */
  readonly id: string;
  readonly commit?: Revision;
}

export interface SyncResult {
  readonly app: AppIdentity;
  readonly mode: SyncMode;
  readonly revision: SyncRevision;
  readonly renderKind: RenderKind;
  /** Every desired object, then every pruned one, each with what happened (or would). */
  readonly objects: readonly ObjectResult[];
  /** Why prune did not run, when it was wanted. */
  readonly pruneSkipped?: string;
  /**
   * Without a health wait: a wave is not healthy yet, and the later ones were left (skipped) for the
   * next sync, which its objects' changes start. Not a failure.
   */
  readonly waitingFor?: string;
  readonly health?: WaitResult;
  /** Some object was (or would be) created, changed, re-created or pruned. */
  readonly changed: boolean;
  /**
   * Some object failed, or was not applied (an earlier phase failed or did not become healthy), or
   * health — when waited for — did not reach Current.
   */
  readonly failed: boolean;
}

export interface Engine {
  sync(app: AppSpec, options: SyncOptions): Promise<SyncResult>;
  /** Deletes everything the app's inventory lists (the app itself is going away). */
  uninstall(app: AppIdentity, options?: UninstallOptions): Promise<UninstallResult>;
}

export function createEngine(deps: EngineDeps): Engine {
  const fieldManager = deps.fieldManager ?? 'capstan';
  const concurrency = deps.concurrency ?? 16;
  const checkouts = deps.checkouts ?? createCheckouts(deps.git, deps.workDir);
  const steps: Steps = { deps, fieldManager, concurrency, checkouts };

  return {
    uninstall: (app, options) =>
      uninstall({ kube: deps.kube, inventory: deps.inventory, concurrency }, app, options),
    async sync(app, options) {
      const run: SyncRun = {
        app,
        options,
        emit: options.onEvent ?? (() => {}),
        dryRun: options.mode === 'diff',
      };
      const resolved = await resolveSource(steps, run);
      const rendered = await renderDesired(steps, run, resolved);
      // A local folder has no commit: its revision is the hash of what it renders to.
      const source =
        app.source.type === 'directory'
          ? { ...resolved, revision: { id: `sha256:${contentHash(rendered.desired)}` } }
          : resolved;
      const phases = planPhases(run, rendered.desired);
      const applied = await applyAll(steps, run, phases, source.revision);
      const pruned = await pruneStale(steps, run, rendered.desired, source.previous, applied);
      await recordInventory(steps, run, source, rendered, pruned);
      const health = await awaitHealth(steps, run, rendered.desired, applied);
      return syncResult(run, source.revision, rendered.kind, applied, pruned, health);
    },
  };
}

/** What every step of one engine shares. */
interface Steps {
  readonly deps: EngineDeps;
  readonly fieldManager: string;
  readonly concurrency: number;
  readonly checkouts: Checkouts;
}

/** One sync's request. */
interface SyncRun {
  readonly app: AppSpec;
  readonly options: SyncOptions;
  readonly emit: (event: SyncEvent) => void;
  readonly dryRun: boolean;
}

interface ResolvedSource {
  readonly revision: SyncRevision;
  readonly checkoutDir: string;
  readonly cacheKey: string | undefined;
  /** The inventory before this sync: what to prune against, and what the last render read. */
  readonly previous: Awaited<ReturnType<InventoryStore['read']>>;
}

interface RenderedApp {
  readonly desired: KubeObject[];
  readonly kind: RenderKind;
  readonly inputs: readonly string[];
}

interface AppliedObjects {
  readonly results: ObjectResult[];
  /** Some object failed, or was not applied because an earlier phase failed. */
  readonly failed: boolean;
  /** A wave is not healthy yet and later ones were left for the next sync (health.wait off). */
  readonly waitingFor?: string;
}

interface PrunedObjects {
  readonly results: ObjectResult[];
  readonly retained: readonly InventoryEntry[];
  readonly skipped?: string;
}

/** 1. Source: the commit (or folder), checked out; and the previous inventory. */
async function resolveSource(steps: Steps, run: SyncRun): Promise<ResolvedSource> {
  const { deps, checkouts } = steps;
  const { app, emit } = run;
  const previous = await deps.inventory.read(app.identity);
  if (app.source.type !== 'git')
    return { revision: { id: '' }, checkoutDir: app.source.dir, cacheKey: undefined, previous };
  if (app.policy) assertSourceAllowed(app.policy, policyUrlOf(app.source.repository));
  emit({ type: 'stage', stage: 'source', message: `resolving ${app.source.ref}` });
  const commit = app.source.revision ?? (await deps.git.resolve(app.source.repository, app.source.ref));
  const cacheKey = await renderKeyFor(deps, app, commit.sha, previous?.renderInputs);
  emit({
    type: 'stage',
    stage: 'source',
    message: `at ${shortRevision(commit.sha)} (${firstLine(commit.message)})`,
  });
  const checkoutDir = await checkouts.of(app.source.repository, commit.sha);
  return { revision: { id: commit.sha, commit }, checkoutDir, cacheKey, previous };
}

/**
 * 2. Render, namespaces assigned, behind the AccessPolicy wall: one refused object refuses the whole
 * render. Thrown before apply, so nothing is applied and nothing pruned; diff mode refuses the same
 * way, so a `capstan diff` shows what a sync would be refused for.
 */
async function renderDesired(steps: Steps, run: SyncRun, source: ResolvedSource): Promise<RenderedApp> {
  const { app, emit, options } = run;
  emit({ type: 'stage', stage: 'render', message: `rendering ${app.source.path || '.'}` });
  const rendered = await steps.deps.renderer.render({
    checkoutDir: source.checkoutDir,
    appPath: app.source.path,
    ...(app.render ? { options: app.render } : {}),
    ...(source.cacheKey ? { cacheKey: source.cacheKey } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const assigned = await assignNamespaces(rendered.objects, app.destinationNamespace, steps.deps.kube);
  const desired = app.createNamespace ? withDestinationNamespace(assigned, app) : assigned;
  assertUnique(desired);
  if (app.policy) assertObjectsAllowed(app.policy, app.identity.namespace, desired);
  return { desired, kind: rendered.kind, inputs: rendered.inputs };
}

/** 3. Plan: phases in apply order (definitions, then waves). */
function planPhases(run: SyncRun, desired: readonly KubeObject[]): ApplyPhase[] {
  const phases = sortForApply(desired);
  run.emit({
    type: 'stage',
    stage: 'plan',
    message: `${desired.length} object(s) in ${phases.length} phase(s)`,
  });
  return phases;
}

/** 4. Apply, phase by phase; each wave healthy before the next (see `afterPhase`). */
async function applyAll(
  steps: Steps,
  run: SyncRun,
  phases: readonly ApplyPhase[],
  revision: SyncRevision,
): Promise<AppliedObjects> {
  const { app, emit, dryRun, options } = run;
  const signal = options.signal;
  const results = await applyPhases(phases, {
    kube: steps.deps.kube,
    app: app.identity,
    ...(revision.commit ? { revision: revision.id } : {}),
    dryRun,
    withDiff: dryRun,
    forceRecreate: app.forceRecreate ?? false,
    leaveFieldsToManagers: app.leaveFieldsToManagers ?? [],
    fieldManager: steps.fieldManager,
    concurrency: steps.concurrency,
    ...(signal ? { signal } : {}),
    onResult: (result) => emit({ type: 'object', result }),
    afterPhase: async (phase, phaseResults) => {
      emit({ type: 'stage', stage: 'apply', message: `${dryRun ? 'planned' : 'applied'} ${phase.label}` });
      if (dryRun) return undefined;
      if (phase.objects.some((o) => isDefinition(refOf(o))))
        return settleDefinitions(steps.deps.kube, phase, signal);
      if (phase === phases.at(-1)) return undefined;
      return app.health?.wait === false ? waveVerdict(phase, phaseResults) : waitForWave(steps, run, phase);
    },
  });
  const waiting = results.find((r) => r.action === 'skipped' && r.reason?.startsWith(WAITING));
  return {
    results,
    failed: results.some(
      (r) =>
        r.action === 'failed' || (r.action === 'skipped' && r !== waiting && !r.reason?.startsWith(WAITING)),
    ),
    ...(waiting?.reason ? { waitingFor: waiting.reason } : {}),
  };
}

/** The reason later waves carry when an earlier one is merely not healthy yet. */
const WAITING = 'waiting: ';

/**
 * Waves are ordered by health, not just by time: the next starts when this one is Current. Waiting
 * for it blocks this sync (the CLI's `--wait`, a person watching)…
 */
async function waitForWave(steps: Steps, run: SyncRun, phase: ApplyPhase): Promise<string | undefined> {
  const { app, emit, options } = run;
  emit({ type: 'stage', stage: 'health', message: `waiting for ${phase.label} to be healthy` });
  const health = await waitForHealth(phase.objects.map(refOf), {
    watcher: kubeObjectWatcher(steps.deps.kube, versionsOf(phase.objects)),
    timeoutMs: (app.health?.timeoutSeconds ?? 300) * 1000,
    ...(options.signal ? { signal: options.signal } : {}),
    onProgress: (h) => emit({ type: 'health', health: h }),
  });
  return health.outcome === 'Current'
    ? undefined
    : `not applied: ${phase.label} did not become healthy (${health.message})`;
}

/**
 * …or, for the controller, is judged once from what the apply returned: Current goes on, Failed
 * fails, anything else stops here as waiting. The wave's objects changing wakes the app again.
 */
function waveVerdict(phase: ApplyPhase, results: readonly ObjectResult[]): string | undefined {
  const verdicts = results.map((r) => ({ ref: r.ref, health: computeStatus(r.applied) }));
  const failing = verdicts.find((v) => v.health.status === 'Failed');
  if (failing)
    return `not applied: ${phase.label} failed its health (${describeHealth(failing.ref, failing.health)})`;
  const pending = verdicts.find((v) => v.health.status !== 'Current');
  if (!pending) return undefined;
  return `${WAITING}${phase.label} is not healthy yet (${describeHealth(pending.ref, pending.health)})`;
}

/** 5. Prune — only after a clean, complete apply, and never everything unless allowed. */
async function pruneStale(
  steps: Steps,
  run: SyncRun,
  desired: readonly KubeObject[],
  previous: ResolvedSource['previous'],
  applied: AppliedObjects,
): Promise<PrunedObjects> {
  const { app, emit, dryRun, options } = run;
  const stale = staleEntries(previous?.entries ?? [], desired.map(inventoryEntry));
  if (stale.length === 0) return { results: [], retained: [] };
  if (!app.prune)
    return { results: [], retained: stale, skipped: `${stale.length} object(s) left Git; prune is off` };
  if (applied.failed)
    return { results: [], retained: stale, skipped: 'not pruned: some objects failed to apply' };
  if (applied.waitingFor)
    return { results: [], retained: stale, skipped: 'not pruned yet: later waves are not applied' };
  emit({ type: 'stage', stage: 'prune', message: `pruning ${stale.length} object(s)` });
  try {
    const outcome = await prune(stale, desired.length, {
      kube: steps.deps.kube,
      app: app.identity,
      dryRun,
      allowEmpty: app.allowEmpty ?? false,
      concurrency: steps.concurrency,
      order: pruneBatches,
      ...(options.signal ? { signal: options.signal } : {}),
      onResult: (result) => emit({ type: 'object', result }),
    });
    return { results: [...outcome.results], retained: outcome.retained };
  } catch (error) {
    if (!(error instanceof PruneRefusedError)) throw error;
    return { results: [], retained: stale, skipped: error.message };
  }
}

/**
 * 6. Record the inventory before any health wait: what is applied is applied, healthy or not. Only
 * when it changed: a re-sync that finds nothing to do writes nothing, not even this.
 */
async function recordInventory(
  steps: Steps,
  run: SyncRun,
  source: ResolvedSource,
  rendered: RenderedApp,
  pruned: PrunedObjects,
): Promise<void> {
  if (run.dryRun) return;
  const { previous } = source;
  const recorded = {
    entries: [...rendered.desired.map(inventoryEntry), ...pruned.retained].sort((a, b) =>
      a.id.localeCompare(b.id),
    ),
    ...(source.cacheKey ? { renderKey: source.cacheKey } : {}),
    renderInputs: [...rendered.inputs],
  };
  const unchanged =
    previous !== undefined &&
    isDeepStrictEqual(
      {
        entries: [...previous.entries].sort((a, b) => a.id.localeCompare(b.id)),
        renderKey: previous.renderKey,
        renderInputs: previous.renderInputs,
      },
      { renderKey: undefined, ...recorded },
    );
  if (unchanged) return;
  run.emit({ type: 'stage', stage: 'record', message: 'recording the inventory' });
  // The revision recorded is the one at which the inventory last changed.
  await steps.deps.inventory.write(
    run.app.identity,
    { ...recorded, revision: source.revision.id },
    run.app.owner ? { owner: run.app.owner } : {},
  );
}

/** 7. Health, when the caller waits for it (the CLI); the controller follows it live instead. */
async function awaitHealth(
  steps: Steps,
  run: SyncRun,
  desired: readonly KubeObject[],
  applied: AppliedObjects,
): Promise<WaitResult | undefined> {
  const { app, emit, dryRun, options } = run;
  if (dryRun || applied.failed || applied.waitingFor || !app.health?.wait) return undefined;
  emit({
    type: 'stage',
    stage: 'health',
    message: `waiting up to ${app.health.timeoutSeconds} s for health`,
  });
  return waitForHealth(desired.map(refOf), {
    watcher: kubeObjectWatcher(steps.deps.kube, versionsOf(desired)),
    timeoutMs: app.health.timeoutSeconds * 1000,
    ...(options.signal ? { signal: options.signal } : {}),
    onProgress: (h) => emit({ type: 'health', health: h }),
  });
}

function syncResult(
  run: SyncRun,
  revision: SyncRevision,
  renderKind: RenderKind,
  applied: AppliedObjects,
  pruned: PrunedObjects,
  health: WaitResult | undefined,
): SyncResult {
  const objects = [...applied.results, ...pruned.results];
  return {
    app: run.app.identity,
    mode: run.options.mode,
    revision,
    renderKind,
    objects,
    ...(pruned.skipped ? { pruneSkipped: pruned.skipped } : {}),
    ...(health ? { health } : {}),
    ...(applied.waitingFor ? { waitingFor: applied.waitingFor } : {}),
    changed: objects.some((r) => ['created', 'configured', 'recreated', 'pruned'].includes(r.action)),
    // Whether or not the caller waits for health: a wave left unapplied because an earlier one
    // failed or did not become healthy means this revision is not what the cluster runs.
    failed:
      applied.failed ||
      pruned.results.some((r) => r.action === 'failed') ||
      (health !== undefined && health.outcome !== 'Current'),
  };
}

/**
 * The render key from Git alone: the tree ids (at this commit) of every path the previous render
 * read, or of the app path for a first render. Unchanged ids mean an unchanged render; see
 * render/cache.ts. A path that no longer exists means no key: render afresh.
 */
async function renderKeyFor(
  deps: EngineDeps,
  app: AppSpec,
  sha: string,
  previousInputs: readonly string[] | undefined,
): Promise<string | undefined> {
  if (app.source.type !== 'git') return undefined;
  const paths = previousInputs && previousInputs.length > 0 ? previousInputs : [app.source.path];
  const trees: Record<string, string> = {};
  for (const path of paths) {
    try {
      trees[path] = await deps.git.treeId(app.source.repository, sha, path);
    } catch (error) {
      // The app path itself must exist: say so now, with the revision.
      if (path === app.source.path)
        throw new UserError(`path '${path}' does not exist at ${shortRevision(sha)}`, { cause: error });
      return undefined;
    }
  }
  return renderCacheKey({ repository: app.source.repository.url, trees, tools: deps.toolVersions ?? {} });
}

/**
 * Namespaced objects without a namespace get the app's destination namespace (or `default`).
 * Whether a kind is namespaced comes from discovery; for a kind the server does not serve yet, from
 * a real CRD (`apiextensions.k8s.io`) rendered in the same app. Discovery always wins: a rendered
 * "CRD" must never redeclare the scope of a kind that exists, or an AccessPolicy would judge a
 * cluster-scoped object by a namespace the API server then ignores.
 */
async function assignNamespaces(
  objects: readonly KubeObject[],
  destination: string | undefined,
  kube: KubeClient,
): Promise<KubeObject[]> {
  const renderedScopes = new Map<string, boolean>();
  for (const object of objects) {
    const ref = refOf(object);
    if (ref.group !== 'apiextensions.k8s.io' || ref.kind !== 'CustomResourceDefinition') continue;
    const spec = object.spec as { group?: string; scope?: string; names?: { kind?: string } } | undefined;
    if (spec?.group && spec.names?.kind)
      renderedScopes.set(`${spec.group}/${spec.names.kind}`, spec.scope === 'Namespaced');
  }
  return Promise.all(
    objects.map(async (object) => {
      const { group } = splitApiVersion(object.apiVersion);
      const namespaced =
        (await kube.mapper.tryMapping(group, object.kind))?.namespaced ??
        renderedScopes.get(`${group}/${object.kind}`);
      if (namespaced === undefined) return object;
      if (!namespaced) {
        if (!object.metadata.namespace) return object;
        const { namespace: _dropped, ...metadata } = object.metadata;
        return { ...object, metadata };
      }
      if (object.metadata.namespace) return object;
      return { ...object, metadata: { ...object.metadata, namespace: destination ?? 'default' } };
    }),
  );
}

/**
 * `destination.createNamespace`: the destination Namespace joins the rendered set, so it meets the
 * same AccessPolicy checks and RBAC, and is inventoried and pruned like any object of the app. A
 * Namespace of that name in Git wins (it may carry labels or the adopt annotation); the app's own
 * namespace exists already and is never made part of an app.
 */
function withDestinationNamespace(objects: KubeObject[], app: AppSpec): KubeObject[] {
  const name = app.destinationNamespace;
  if (name === undefined || name === app.identity.namespace) return objects;
  const inGit = objects.some(
    (o) => o.kind === 'Namespace' && o.apiVersion === 'v1' && o.metadata.name === name,
  );
  if (inGit) return objects;
  return [...objects, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } }];
}

function assertUnique(objects: readonly KubeObject[]): void {
  const seen = new Set<string>();
  const duplicates = new Set<string>();
  for (const object of objects) {
    if (!object.metadata.name) throw new UserError(`a rendered ${object.kind} has no metadata.name`);
    const key = refKey(refOf(object));
    if (seen.has(key)) duplicates.add(formatRef(refOf(object)));
    seen.add(key);
  }
  if (duplicates.size > 0)
    throw new UserError(`the render has the same object more than once: ${[...duplicates].join(', ')}`);
}

/** After CRDs and Namespaces are applied: wait until CRDs are Established, then refresh discovery. */
async function settleDefinitions(
  kube: KubeClient,
  phase: ApplyPhase,
  signal: AbortSignal | undefined,
): Promise<string | undefined> {
  const result = await waitForHealth(phase.objects.map(refOf), {
    watcher: kubeObjectWatcher(kube, versionsOf(phase.objects)),
    timeoutMs: 60_000,
    ...(signal ? { signal } : {}),
  });
  if (result.outcome !== 'Current')
    return `not applied: CustomResourceDefinitions and Namespaces did not settle (${result.message})`;
  // Discovery often lags a moment behind Established: wait until each new kind is actually served.
  for (const object of phase.objects) {
    const spec = object.spec as { group?: string; names?: { kind?: string } } | undefined;
    if (object.kind === 'CustomResourceDefinition' && spec?.group && spec.names?.kind) {
      await kube.mapper.waitForMapping(spec.group, spec.names.kind, {
        timeoutMs: 30_000,
        ...(signal ? { signal } : {}),
      });
    }
  }
  return undefined;
}

/** The URL AccessPolicy sourceUrls are matched against (an oci:// URL as https://host/path). */
function policyUrlOf(repository: Repository): string {
  if (!isArtifactRepository(repository)) return repository.url;
  const { kind: type, url } = repository;
  return scopeUrlOf({ type, url, plainHttp: repository.artifact.plainHttp ?? false });
}

function contentHash(objects: readonly KubeObject[]): string {
  return createHash('sha256').update(JSON.stringify(objects)).digest('hex').slice(0, 16);
}

function firstLine(text: string): string {
  return text.split('\n')[0]!.slice(0, 72);
}
