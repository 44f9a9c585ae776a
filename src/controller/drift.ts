/**
 * Drift: watches of the objects Capstan applied — only the kinds apps use, only
 * objects carrying Capstan's label — that wake the owning Application when someone edits or deletes
 * one. Status-only changes (a Deployment's rollout progress) wake only apps whose health is still
 * being judged, so a busy cluster does not keep healthy apps reconciling.
 */
import { isDeepStrictEqual } from 'node:util';
import { ANNOTATION, MANAGED_LABEL } from '../apply/index.js';
import type { KubeObject } from '../core/objects.js';
import { startInformer, type Informer, type KubeClient } from '../kube/index.js';

export interface WatchedKind {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
}

export interface DriftWatcherOptions {
  readonly kube: KubeClient;
  readonly signal: AbortSignal;
  /** `appKey` is `<namespace>/<name>` from the object's owner annotation. */
  readonly onDrift: (appKey: string, object: KubeObject, change: 'modified' | 'deleted' | 'status') => void;
  readonly onError?: (error: unknown) => void;
}

export class DriftWatcher {
  private readonly informers = new Map<string, Informer<KubeObject>>();
  private readonly progressing = new Set<string>();

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
      this.informers.set(
        key,
        startInformer<KubeObject>(this.options.kube, {
          group: kind.group,
          version: kind.version,
          kind: kind.kind,
          labelSelector: `${MANAGED_LABEL.key}=${MANAGED_LABEL.value}`,
          signal: this.options.signal,
          // A watch started after an app's apply may first see its objects already rolled out: an
          // app whose health is being judged must hear of them, or it waits for the resync.
          onAdd: (object) => {
            if (this.progressing.has(object.metadata.annotations?.[ANNOTATION.app] ?? ''))
              this.notify(object, 'status');
          },
          onUpdate: (previous, current) => this.changed(previous, current),
          onDelete: (object) => this.notify(object, 'deleted'),
          ...(this.options.onError ? { onError: this.options.onError } : {}),
        }),
      );
    }
  }

  /** While an app's health is being judged, every change of its objects (status too) wakes it. */
  setProgressing(appKey: string, progressing: boolean): void {
    if (progressing) this.progressing.add(appKey);
    else this.progressing.delete(appKey);
  }

  watchedKinds(): number {
    return this.informers.size;
  }

  private changed(previous: KubeObject, current: KubeObject): void {
    if (!isDeepStrictEqual(desiredPart(previous), desiredPart(current))) this.notify(current, 'modified');
    else if (this.progressing.has(current.metadata.annotations?.[ANNOTATION.app] ?? ''))
      this.notify(current, 'status');
  }

  private notify(object: KubeObject, change: 'modified' | 'deleted' | 'status'): void {
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
