/**
 * `KubeClient`: what the rest of Capstan needs from a cluster. The HTTP implementation is in
 * client.ts; tests of other stages may substitute their own.
 */
import type { KubeObject, ObjectRef } from '../core/objects.js';
import type { RestMapper } from './mapper.js';
import type { WatchEvent } from './watch.js';

export interface RequestOptions {
  readonly signal?: AbortSignal;
}

export interface GetOptions extends RequestOptions {
  /** Default: the server's preferred version of the kind. */
  readonly version?: string;
}

export interface ListOptions extends RequestOptions {
  /** Absent: every namespace (or a cluster-scoped kind). */
  readonly namespace?: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /** Page size. `list` follows `continue` tokens until the end; default 500. */
  readonly limit?: number;
}

export interface ListPageOptions extends ListOptions {
  /** The `continue` token of the previous page. */
  readonly continue?: string;
}

export interface ObjectList<T extends KubeObject = KubeObject> {
  /** Each item carries its `apiVersion` and `kind` (the server leaves them out of list items). */
  readonly items: T[];
  /** The list's resourceVersion: where a watch should start to see every later change. */
  readonly resourceVersion: string;
}

export interface ObjectListPage<T extends KubeObject = KubeObject> extends ObjectList<T> {
  /** Present when there are more pages. */
  readonly continue?: string;
}

export interface WriteOptions extends RequestOptions {
  /** `dryRun=All`: the server validates, defaults and admits, then stores nothing. */
  readonly dryRun?: boolean;
  /** Default: the client's field manager (`capstan`). */
  readonly fieldManager?: string;
}

export interface ApplyOptions extends WriteOptions {
  /** Take ownership of fields other managers own instead of failing with a conflict. */
  readonly force?: boolean;
  /** Apply to a subresource (`status`) instead of the object. */
  readonly subresource?: string;
}

export interface UpdateOptions extends WriteOptions {
  /** Replace a subresource (`status`) instead of the object. */
  readonly subresource?: string;
}

export type PatchType = 'merge' | 'json' | 'strategic';

export interface PatchOptions extends WriteOptions {
  readonly version?: string;
  readonly subresource?: string;
}

export type PropagationPolicy = 'Background' | 'Foreground' | 'Orphan';

export interface DeleteOptions extends RequestOptions {
  readonly version?: string;
  readonly propagationPolicy?: PropagationPolicy;
  readonly dryRun?: boolean;
  /** Delete only if the object still has this uid / resourceVersion (else a conflict error). */
  readonly preconditions?: { readonly uid?: string; readonly resourceVersion?: string };
  readonly gracePeriodSeconds?: number;
}

export interface WatchOptions extends RequestOptions {
  readonly namespace?: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /** Start after this resourceVersion (from a list); absent: the server's current state first, as ADDED events. */
  readonly resourceVersion?: string;
  /** Default true. */
  readonly allowWatchBookmarks?: boolean;
  /** Server-side duration of the watch; default a random 5–10 minutes, so many watches do not reconnect together. */
  readonly timeoutSeconds?: number;
}

/** Who to act as: the API server checks RBAC for this identity instead of the client's own. */
export interface Identity {
  readonly user: string;
  readonly groups?: readonly string[];
  readonly uid?: string;
}

export interface KubeClient {
  readonly mapper: RestMapper;

  /** The object, or `undefined` when the server answers 404 (object or namespace absent). Throws on other errors. */
  get<T extends KubeObject = KubeObject>(ref: ObjectRef, options?: GetOptions): Promise<T | undefined>;

  /** Every object (all pages), with the list's resourceVersion. */
  list<T extends KubeObject = KubeObject>(
    group: string,
    version: string,
    kind: string,
    options?: ListOptions,
  ): Promise<ObjectList<T>>;

  /** One page; pass its `continue` to get the next. */
  listPage<T extends KubeObject = KubeObject>(
    group: string,
    version: string,
    kind: string,
    options?: ListPageOptions,
  ): Promise<ObjectListPage<T>>;

  /** Server-side apply (`application/apply-patch+yaml`); returns the object as stored (or as it would be, with dryRun). */
  apply<T extends KubeObject = KubeObject>(object: KubeObject, options?: ApplyOptions): Promise<T>;

  create<T extends KubeObject = KubeObject>(object: KubeObject, options?: WriteOptions): Promise<T>;

  /** PUT: replaces the object (or its status), guarded by `metadata.resourceVersion` when present. */
  update<T extends KubeObject = KubeObject>(object: KubeObject, options?: UpdateOptions): Promise<T>;

  patch<T extends KubeObject = KubeObject>(
    ref: ObjectRef,
    patch: unknown,
    type: PatchType,
    options?: PatchOptions,
  ): Promise<T>;

  /** `true` when deleted or deletion began (finalizers may hold it), `false` when it was already gone. */
  delete(ref: ObjectRef, options?: DeleteOptions): Promise<boolean>;

  /**
   * Events after `resourceVersion`. Ends when the server closes the stream or the signal aborts;
   * throws `KubeApiError` (410 `Expired`: relist) or `KubeTransportError`.
   */
  watch<T extends KubeObject = KubeObject>(
    group: string,
    version: string,
    kind: string,
    options?: WatchOptions,
  ): AsyncIterable<WatchEvent<T>>;

  /** A client acting as `identity`, sharing this one's connections and mapper. */
  impersonate(identity: Identity): KubeClient;

  /** Closes the connections (a no-op on impersonating clients: the pools belong to their parent). */
  close(): void;
}
