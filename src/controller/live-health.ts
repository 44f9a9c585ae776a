/**
 * Live health: every Application's health, kept in memory and judged again whenever one of its
 * objects changes — no API call, no reconcile. A sync tells it which objects the app has (`track`);
 * the drift watches tell it every change of them (`observe`); when the app's aggregate health
 * (state or message) differs from what its status says, `onChange` asks for a status write. An
 * idle cluster sends no events, so it writes nothing.
 */
import type { ObjectResult } from '../apply/index.js';
import { refKey, type KubeObject, type ObjectRef } from '../core/objects.js';
import {
  aggregateHealth,
  computeStatus,
  stateOf,
  type AppHealth,
  type ObjectHealthState,
} from '../health/index.js';

export interface LiveHealthOptions {
  readonly now: () => Date;
  /** The app's aggregate health no longer matches what was published for it. */
  readonly onChange: (appKey: string) => void;
}

/** What the drift watches know of an object: `known` is false until its kind's watch has listed. */
export type CachedObject = { readonly known: false } | { readonly known: true; readonly object?: KubeObject };

interface TrackedObject {
  readonly ref: ObjectRef;
  health: ObjectHealthState;
  /** Of the state judged, to ignore a watch event older than what the sync already saw. */
  resourceVersion: string | undefined;
  /** The spec generation it was last Healthy at (see `judged`). */
  healthyGeneration: number | undefined;
}

interface TrackedApp {
  readonly objects: Map<string, TrackedObject>;
  health: AppHealth;
  /** What the app's status says now (written by a reconcile or a health update). */
  published: AppHealth | undefined;
}

export interface AppHealthView {
  readonly health: AppHealth;
  readonly objects: ReadonlyMap<string, { readonly ref: ObjectRef; readonly health: ObjectHealthState }>;
}

export class LiveHealth {
  private readonly apps = new Map<string, TrackedApp>();

  constructor(private readonly options: LiveHealthOptions) {}

  /**
   * After a sync: the app's objects from now on are these (pruned and failed ones excluded). Each
   * starts from the freshest state known — the object as the apply returned it, or the watch's copy
   * when the sync only compared (a dry-run's preview is not the cluster) — and from then on
   * follows the watches.
   */
  track(
    appKey: string,
    results: readonly ObjectResult[],
    cached: (ref: ObjectRef) => CachedObject,
    options: { mode: 'apply' | 'diff' },
  ): AppHealth {
    const previous = this.apps.get(appKey);
    const objects = new Map<string, TrackedObject>();
    for (const result of results) {
      if (result.action === 'pruned' || isApplicationItself(appKey, result.ref)) continue;
      const key = refKey(result.ref);
      const object = startingState(result, cached(result.ref), options.mode);
      const tracked: TrackedObject = {
        ref: result.ref,
        health: { state: 'Unknown', message: result.reason ?? 'not yet observed' },
        resourceVersion: undefined,
        healthyGeneration: previous?.objects.get(key)?.healthyGeneration,
      };
      if (object !== 'unknown') this.judge(tracked, object);
      objects.set(key, tracked);
    }
    const app: TrackedApp = {
      objects,
      health: aggregateHealth(objects.values()),
      published: previous?.published,
    };
    this.apps.set(appKey, app);
    return app.health;
  }

  /** A watch event for an object owned by `appKey`; `object` undefined: it was deleted. */
  observe(appKey: string, ref: ObjectRef, object: KubeObject | undefined): void {
    const app = this.apps.get(appKey);
    const tracked = app?.objects.get(refKey(ref));
    if (!app || !tracked) return;
    const version = object?.metadata.resourceVersion;
    if (object && isOlder(version, tracked.resourceVersion)) return;
    this.judge(tracked, object);
    app.health = aggregateHealth(app.objects.values());
    if (!sameHealth(app.health, app.published)) this.options.onChange(appKey);
  }

  /**
   * Judges one object. "Degraded" for a workload that is short of available replicas after its
   * rollout needs memory: it means Pods that ran well stopped doing so, which only an object seen
   * Healthy at this very generation can show. Otherwise (a scale-up waiting for minReadySeconds, a
   * first start) it is still Progressing.
   */
  private judge(tracked: TrackedObject, object: KubeObject | undefined): void {
    const verdict = computeStatus(object, this.options.now());
    const generation = object?.metadata.generation;
    let health = stateOf(verdict);
    if (verdict.degraded && (generation === undefined || tracked.healthyGeneration !== generation))
      health = { state: 'Progressing', message: verdict.message };
    if (health.state === 'Healthy') tracked.healthyGeneration = generation;
    tracked.health = health;
    tracked.resourceVersion = object?.metadata.resourceVersion;
  }

  /** The app's status now says `health`. */
  published(appKey: string, health: AppHealth): void {
    const app = this.apps.get(appKey);
    if (app) app.published = health;
  }

  view(appKey: string): AppHealthView | undefined {
    const app = this.apps.get(appKey);
    return app ? { health: app.health, objects: app.objects } : undefined;
  }

  forget(appKey: string): void {
    this.apps.delete(appKey);
  }

  trackedApps(): number {
    return this.apps.size;
  }
}

function startingState(
  result: ObjectResult,
  cached: CachedObject,
  mode: 'apply' | 'diff',
): KubeObject | undefined | 'unknown' {
  const fromWatch = cached.known ? cached.object : 'unknown';
  if (mode === 'diff') return cached.known ? cached.object : (result.applied ?? 'unknown');
  if (!result.applied) return fromWatch;
  // The watch may already be ahead of the apply's answer (a controller wrote status since).
  if (
    cached.known &&
    cached.object &&
    isOlder(result.applied.metadata.resourceVersion, cached.object.metadata.resourceVersion)
  )
    return cached.object;
  return result.applied;
}

/**
 * resourceVersions are opaque by contract; kube-apiserver's are etcd revisions, which only grow.
 * Compared only when both are plain integers; anything else is never "older".
 */
function isOlder(version: string | undefined, than: string | undefined): boolean {
  if (!version || !than || !/^\d{1,19}$/.test(version) || !/^\d{1,19}$/.test(than)) return false;
  return BigInt(version) < BigInt(than);
}

export function sameHealth(a: AppHealth | undefined, b: AppHealth | undefined): boolean {
  return a?.state === b?.state && a?.message === b?.message;
}

/**
 * An Application that applies its own object (Capstan managing itself: `capstan bootstrap`'s
 * sync.yaml) is no health signal for itself: its Ready condition waits for this very health, so it
 * would never turn healthy and every revision would time out and be rolled back. Other
 * Applications it applies (app-of-apps) count as usual.
 */
function isApplicationItself(appKey: string, ref: ObjectRef): boolean {
  return (
    ref.group === 'capstan.dev' && ref.kind === 'Application' && `${ref.namespace}/${ref.name}` === appKey
  );
}
