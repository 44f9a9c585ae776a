/**
 * The one shared cache of Applications the dashboard answers lists and streams from: an informer
 * (list + watch, src/kube/informer.ts) per namespace scope feeding an AppIndex. Every request and
 * every open stream reads this; none of them lists Applications from the API server.
 *
 * The informer reads with the client it is given: the controller's (it may list every
 * Application) or, for `capstan dashboard`, the user's own, limited to namespaces they may list.
 */
import { GROUP, VERSION, type Application } from '../../api/v1alpha1.js';
import { startInformer, type ListerWatcher } from '../../kube/index.js';
import { AppIndex } from './app-index.js';

export interface ApplicationCache {
  readonly index: AppIndex;
  /** Resolves once every informer has its first list (rejects if stopped before). */
  readonly synced: Promise<void>;
  /** Resolves when every informer has stopped. */
  readonly stopped: Promise<void>;
}

export function startApplicationCache(
  client: ListerWatcher,
  options: {
    /** Absent or empty: every namespace. */
    readonly namespaces?: readonly string[];
    readonly labelSelector?: string;
    readonly signal: AbortSignal;
    readonly onError?: (error: unknown) => void;
    readonly index?: AppIndex;
  },
): ApplicationCache {
  const index = options.index ?? new AppIndex();
  const scopes: (string | undefined)[] = options.namespaces?.length
    ? [...new Set(options.namespaces)]
    : [undefined];
  const informers = scopes.map((namespace) =>
    startInformer<Application>(client, {
      group: GROUP,
      version: VERSION,
      kind: 'Application',
      ...(namespace === undefined ? {} : { namespace }),
      ...(options.labelSelector ? { labelSelector: options.labelSelector } : {}),
      signal: options.signal,
      onAdd: (app) => index.upsert(app),
      onUpdate: (_previous, app) => index.upsert(app),
      onDelete: (app) => index.remove(app),
      ...(options.onError ? { onError: options.onError } : {}),
    }),
  );
  const synced = Promise.all(informers.map((informer) => informer.synced)).then(() => index.markSynced());
  synced.catch(() => undefined);
  return {
    index,
    synced,
    stopped: Promise.all(informers.map((informer) => informer.stopped)).then(() => undefined),
  };
}
