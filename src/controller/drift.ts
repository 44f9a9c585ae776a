/**
 * Drift: watches of the objects Capstan applied — only the kinds apps use, only objects carrying
 * Capstan's label — that wake the owning Application when someone edits or deletes one. Every
 * change, status included, also goes to `onObject` (live health, see live-health.ts), which judges
 * it in memory: a Deployment's rollout progress never costs a reconcile.
 */
import { isDeepStrictEqual } from 'node:util';
import { ANNOTATION, MANAGED_LABEL } from '../apply/index.js';
import { refOf, type KubeObject, type ObjectRef } from '../core/objects.js';
import { startInformer, type Informer, type KubeClient } from '../kube/index.js';
import type { CachedObject } from './live-health.js';

export interface WatchedKind {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
}

export interface DriftWatcherOptions {
  readonly kube: KubeClient;
  readonly signal: AbortSignal;
  /** `appKey` is `<namespace>/<name>` from the object's owner annotation. */
  readonly onDrift: (appKey: string, object: KubeObject, change: 'modified' | 'deleted') => void;
  /** Every add, update (status too) and delete of a managed object; `object` undefined when deleted. */
  readonly onObject?: (appKey: string, ref: ObjectRef, object: KubeObject | undefined) => void;
  readonly onError?: (error: unknown) => void;
}

export class DriftWatcher {
  private readonly informers = new Map<string, Informer<KubeObject>>();
  /** The same informers by `group/Kind`, for lookups by object reference. */
  private readonly byGroupKind = new Map<string, Informer<KubeObject>>();

  constructor(private readonly options: DriftWatcherOptions) {}

  /**
   * Makes sure these kinds are watched (idempotent; a watch, once started, stays for the process).
   * One watch per kind across all namespaces, selected by Capstan's label: a thousand apps in a
   * thousand namespaces cost four watches, not four thousand.
   */
  watch(kinds: readonly WatchedKind[]): void {
    for (const kind of kinds) {
      const key = `${kind.group}/${kind.version}/${kind.kind}`;
      if (this.informers.has(key)) continue;
      const informer = startInformer<KubeObject>(this.options.kube, {
        group: kind.group,
        version: kind.version,
        kind: kind.kind,
        labelSelector: `${MANAGED_LABEL.key}=${MANAGED_LABEL.value}`,
        signal: this.options.signal,
        onAdd: (object) => this.seen(object, object),
        onUpdate: (previous, current) => {
          this.seen(current, current);
          if (!isDeepStrictEqual(desiredPart(previous), desiredPart(current)))
            this.notify(current, 'modified');
        },
        onDelete: (object) => {
          this.seen(object, undefined);
          this.notify(object, 'deleted');
        },
        ...(this.options.onError ? { onError: this.options.onError } : {}),
      });
      this.informers.set(key, informer);
      this.byGroupKind.set(`${kind.group}/${kind.kind}`, informer);
    }
  }

  /** The watch's copy of an object; `known: false` until its kind's watch has listed once. */
  cached(ref: ObjectRef): CachedObject {
    const informer = this.byGroupKind.get(`${ref.group}/${ref.kind}`);
    if (!informer?.hasSynced) return { known: false };
    const object = informer.get(ref.name, ref.namespace);
    return object ? { known: true, object } : { known: true };
  }

  watchedKinds(): number {
    return this.informers.size;
  }

  private seen(object: KubeObject, state: KubeObject | undefined): void {
    const owner = object.metadata.annotations?.[ANNOTATION.app];
    if (owner) this.options.onObject?.(owner, refOf(object), state);
  }

  private notify(object: KubeObject, change: 'modified' | 'deleted'): void {
    const owner = object.metadata.annotations?.[ANNOTATION.app];
    if (owner) this.options.onDrift(owner, object, change);
  }
}

/** What an edit can change: everything but status and the server's bookkeeping. */
function desiredPart(object: KubeObject): unknown {
  const { status: _status, metadata, ...rest } = object;
  const { resourceVersion: _rv, managedFields: _mf, generation: _g, ...meta } = metadata;
  return { ...rest, metadata: meta };
}
