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
import { waitForHealth, type ObjectHealth, type WaitResult } from '../health/index.js';
import type { KubeClient } from '../kube/index.js';
import {
  assertObjectsAllowed,
  assertSourceAllowed,
  isDefinition,
  pruneBatches,
  sortForApply,
} from '../plan/index.js';
import { renderCacheKey, type RenderKind, type Renderer } from '../render/index.js';
import type { GitSource, Revision } from '../source/index.js';
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

  return {
    uninstall: (app, options) =>
      uninstall({ kube: deps.kube, inventory: deps.inventory, concurrency }, app, options),
    async sync(app, options) {
      const emit = options.onEvent ?? (() => {});
      const signal = options.signal;
      const dryRun = options.mode === 'diff';

      // 1. Source — and the previous inventory, which says what the last render read.
      const previous = await deps.inventory.read(app.identity);
      let revision: SyncRevision;
      let checkoutDir: string;
      let cacheKey: string | undefined;
      if (app.source.type === 'git') {
        if (app.policy) assertSourceAllowed(app.policy, app.source.repository.url);
        emit({ type: 'stage', stage: 'source', message: `resolving ${app.source.ref}` });
        const commit = app.source.revision ?? (await deps.git.resolve(app.source.repository, app.source.ref));
        revision = { id: commit.sha, commit };
        cacheKey = await renderKeyFor(deps, app, commit.sha, previous?.renderInputs);
        emit({
          type: 'stage',
          stage: 'source',
          message: `at ${commit.sha.slice(0, 12)} (${firstLine(commit.message)})`,
        });
        checkoutDir = await checkouts.of(app.source.repository, commit.sha);
      } else {
        checkoutDir = app.source.dir;
        revision = { id: '' };
      }

      // 2. Render.
      emit({ type: 'stage', stage: 'render', message: `rendering ${app.source.path || '.'}` });
      const rendered = await deps.renderer.render({
        checkoutDir,
        appPath: app.source.path,
        ...(app.render ? { options: app.render } : {}),
        ...(cacheKey ? { cacheKey } : {}),
        ...(signal ? { signal } : {}),
      });
      const desired = await assignNamespaces(rendered.objects, app.destinationNamespace, deps.kube);
      assertUnique(desired);
      // The AccessPolicy wall, behind RBAC: one refused object refuses the whole render. Thrown
      // before apply, so nothing is applied and nothing pruned (prune runs only after apply); diff
      // mode refuses the same way, so a `capstan diff` shows what a sync would be refused for.
      if (app.policy) assertObjectsAllowed(app.policy, app.identity.namespace, desired);
      if (app.source.type === 'directory') revision = { id: `sha256:${contentHash(desired)}` };

      // 3. Plan.
      const phases = sortForApply(desired);
      emit({
        type: 'stage',
        stage: 'plan',
        message: `${desired.length} object(s) in ${phases.length} phase(s)`,
      });

      // 4. Apply, phase by phase.
      const objectResults = await applyPhases(phases, {
        kube: deps.kube,
        app: app.identity,
        ...(revision.commit ? { revision: revision.id } : {}),
        dryRun,
        withDiff: dryRun,
        forceRecreate: app.forceRecreate ?? false,
        leaveFieldsToManagers: app.leaveFieldsToManagers ?? [],
        fieldManager,
        concurrency,
        ...(signal ? { signal } : {}),
        onResult: (result) => emit({ type: 'object', result }),
        afterPhase: async (phase) => {
          emit({
            type: 'stage',
            stage: 'apply',
            message: `${dryRun ? 'planned' : 'applied'} ${phase.label}`,
          });
          if (dryRun) return undefined;
          if (phase.objects.some((o) => isDefinition(refOf(o))))
            return settleDefinitions(deps.kube, phase, signal);
          // Waves are ordered by health, not just by time: the next starts when this one is Current
          // (also when the caller does not wait for the last one, as the controller does not).
          if (phase === phases.at(-1)) return undefined;
          emit({ type: 'stage', stage: 'health', message: `waiting for ${phase.label} to be healthy` });
          const health = await waitForHealth(phase.objects.map(refOf), {
            watcher: kubeObjectWatcher(deps.kube, versionsOf(phase.objects)),
            timeoutMs: (app.health?.timeoutSeconds ?? 300) * 1000,
            ...(signal ? { signal } : {}),
            onProgress: (h) => emit({ type: 'health', health: h }),
          });
          return health.outcome === 'Current'
            ? undefined
            : `not applied: ${phase.label} did not become healthy (${health.message})`;
        },
      });
      const applyFailed = objectResults.some((r) => r.action === 'failed' || r.action === 'skipped');

      // 5. Prune — only after a clean apply, and never everything unless allowed.
      const desiredEntries = desired.map(inventoryEntry);
      const stale = staleEntries(previous?.entries ?? [], desiredEntries);
      let pruneSkipped: string | undefined;
      let retained: readonly InventoryEntry[] = [];
      const pruneResults: ObjectResult[] = [];
      if (!app.prune) {
        if (stale.length > 0) pruneSkipped = `${stale.length} object(s) left Git; prune is off`;
        retained = stale;
      } else if (applyFailed) {
        pruneSkipped = 'not pruned: some objects failed to apply';
        retained = stale;
      } else if (stale.length > 0) {
        emit({ type: 'stage', stage: 'prune', message: `pruning ${stale.length} object(s)` });
        try {
          const outcome = await prune(stale, desired.length, {
            kube: deps.kube,
            app: app.identity,
            dryRun,
            allowEmpty: app.allowEmpty ?? false,
            concurrency,
            order: pruneBatches,
            ...(signal ? { signal } : {}),
            onResult: (result) => emit({ type: 'object', result }),
          });
          pruneResults.push(...outcome.results);
          retained = outcome.retained;
        } catch (error) {
          if (!(error instanceof PruneRefusedError)) throw error;
          pruneSkipped = error.message;
          retained = stale;
        }
      }

      // 6. Record the inventory before waiting: what is applied is applied, healthy or not. Only
      // when it changed: a re-sync that finds nothing to do writes nothing, not even this.
      if (!dryRun) {
        const recorded = {
          entries: [...desiredEntries, ...retained].sort((a, b) => a.id.localeCompare(b.id)),
          ...(cacheKey ? { renderKey: cacheKey } : {}),
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
        if (!unchanged) {
          emit({ type: 'stage', stage: 'record', message: 'recording the inventory' });
          // The revision recorded is the one at which the inventory last changed.
          await deps.inventory.write(
            app.identity,
            { ...recorded, revision: revision.id },
            app.owner ? { owner: app.owner } : {},
          );
        }
      }

      // 7. Health.
      let health: WaitResult | undefined;
      if (!dryRun && !applyFailed && app.health?.wait) {
        emit({
          type: 'stage',
          stage: 'health',
          message: `waiting up to ${app.health.timeoutSeconds} s for health`,
        });
        health = await waitForHealth(desired.map(refOf), {
          watcher: kubeObjectWatcher(deps.kube, versionsOf(desired)),
          timeoutMs: app.health.timeoutSeconds * 1000,
          ...(signal ? { signal } : {}),
          onProgress: (h) => emit({ type: 'health', health: h }),
        });
      }

      const objects = [...objectResults, ...pruneResults];
      return {
        app: app.identity,
        mode: options.mode,
        revision,
        renderKind: rendered.kind,
        objects,
        ...(pruneSkipped ? { pruneSkipped } : {}),
        ...(health ? { health } : {}),
        changed: objects.some((r) => ['created', 'configured', 'recreated', 'pruned'].includes(r.action)),
        // Whether or not the caller waits for health: a wave left unapplied because an earlier one
        // failed or did not become healthy means this revision is not what the cluster runs.
        failed:
          applyFailed ||
          pruneResults.some((r) => r.action === 'failed') ||
          (health !== undefined && health.outcome !== 'Current'),
      };
    },
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
        throw new UserError(`path '${path}' does not exist at ${sha.slice(0, 12)}`, { cause: error });
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

function contentHash(objects: readonly KubeObject[]): string {
  return createHash('sha256').update(JSON.stringify(objects)).digest('hex').slice(0, 16);
}

function firstLine(text: string): string {
  return text.split('\n')[0]!.slice(0, 72);
}
