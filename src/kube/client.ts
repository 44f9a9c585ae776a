/**
 * The HTTP implementation of `KubeClient`: resolves kinds through the REST mapper, builds encoded
 * paths, sends JSON, and turns error statuses into `KubeApiError`s.
 */
import { UserError } from '../core/errors.js';
import { splitApiVersion, type KubeObject, type ObjectRef } from '../core/objects.js';
import { errorFromResponse, isGone, KubeTransportError, type RequestTarget } from './errors.js';
import type { ResourceMapping, RestMapper } from './mapper.js';
import { collectionPath, objectPath, withQuery } from './paths.js';
import type { HttpMethod, Transport, TransportResponse } from './transport.js';
import type {
  ApplyOptions,
  DeleteOptions,
  GetOptions,
  Identity,
  KubeClient,
  ListOptions,
  ListPageOptions,
  ObjectList,
  ObjectListPage,
  PatchOptions,
  PatchType,
  UpdateOptions,
  WatchOptions,
  WriteOptions,
} from './types.js';
import { DEFAULT_MAX_WATCH_LINE_BYTES, openWatch, type WatchEvent } from './watch.js';

export interface HttpKubeClientOptions {
  readonly transport: Transport;
  readonly mapper: RestMapper;
  /** Default `capstan`. */
  readonly fieldManager?: string;
  /** Default 500. */
  readonly listPageSize?: number;
  readonly maxWatchLineBytes?: number;
  /** Source of randomness for watch timeouts (tests pin it). Default `Math.random`. */
  readonly random?: () => number;
  /** The kubeconfig context's namespace, for front ends that default to it. */
  readonly contextNamespace?: string | undefined;
}

const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
};
const JSON_TYPE = 'application/json';
const APPLY_TYPE = 'application/apply-patch+yaml';

export class HttpKubeClient implements KubeClient {
  readonly mapper: RestMapper;
  readonly contextNamespace: string | undefined;
  private readonly transport: Transport;
  private readonly fieldManager: string;
  private readonly listPageSize: number;
  private readonly maxWatchLineBytes: number;
  private readonly random: () => number;

  constructor(
    private readonly options: HttpKubeClientOptions,
    /** The un-impersonated transport, so impersonating twice replaces rather than stacks headers. */
    private readonly baseTransport: Transport = options.transport,
  ) {
    this.mapper = options.mapper;
    this.contextNamespace = options.contextNamespace;
    this.transport = options.transport;
    this.fieldManager = options.fieldManager ?? 'capstan';
    this.listPageSize = options.listPageSize ?? 500;
    this.maxWatchLineBytes = options.maxWatchLineBytes ?? DEFAULT_MAX_WATCH_LINE_BYTES;
    this.random = options.random ?? Math.random;
  }

  async get<T extends KubeObject = KubeObject>(
    ref: ObjectRef,
    options: GetOptions = {},
  ): Promise<T | undefined> {
    const mapping = await this.mapper.mapping(ref.group, ref.kind, options.version);
    const path = objectPath(mapping, ref.namespace, ref.name);
    const response = await this.send('GET', path, mapping, options);
    if (response.status === 404) return undefined;
    return this.decode<T>(response, 'GET', path, mapping);
  }

  async list<T extends KubeObject = KubeObject>(
    group: string,
    version: string,
    kind: string,
    options: ListOptions = {},
  ): Promise<ObjectList<T>> {
    const items: T[] = [];
    let page = await this.listPage<T>(group, version, kind, options);
    items.push(...page.items);
    while (page.continue) {
      try {
        page = await this.listPage<T>(group, version, kind, { ...options, continue: page.continue });
      } catch (error) {
        if (!isGone(error)) throw error;
        // The continue token outlived etcd's compaction: start over, in one consistent request.
        return this.listPage<T>(group, version, kind, { ...options, limit: 0 });
      }
      items.push(...page.items);
    }
    return { items, resourceVersion: page.resourceVersion };
  }

  async listPage<T extends KubeObject = KubeObject>(
    group: string,
    version: string,
    kind: string,
    options: ListPageOptions = {},
  ): Promise<ObjectListPage<T>> {
    const mapping = await this.mapper.mapping(group, kind, version);
    const path = withQuery(collectionPath(mapping, options.namespace), {
      limit: options.limit ?? this.listPageSize,
      continue: options.continue,
      labelSelector: options.labelSelector,
      fieldSelector: options.fieldSelector,
    });
    const response = await this.send('GET', path, mapping, options);
    const list = this.decode<{ items?: T[]; metadata?: { resourceVersion?: string; continue?: string } }>(
      response,
      'GET',
      path,
      mapping,
    );
    const apiVersion = mapping.group ? `${mapping.group}/${mapping.version}` : mapping.version;
    const items = list.items ?? [];
    for (const item of items) {
      item.apiVersion = apiVersion;
      item.kind = mapping.kind;
    }
    const next = list.metadata?.continue;
    return {
      items,
      resourceVersion: list.metadata?.resourceVersion ?? '',
      ...(next ? { continue: next } : {}),
    };
  }

  async apply<T extends KubeObject = KubeObject>(object: KubeObject, options: ApplyOptions = {}): Promise<T> {
    const { mapping, path } = await this.locate(object, options.subresource);
    const query = withQuery(path, {
      fieldManager: options.fieldManager ?? this.fieldManager,
      force: options.force === true,
      dryRun: options.dryRun ? 'All' : undefined,
    });
    // JSON is YAML: sending it saves the server a conversion and us a serializer.
    const response = await this.send('PATCH', query, mapping, options, JSON.stringify(object), APPLY_TYPE);
    return this.decode<T>(response, 'PATCH', path, mapping);
  }

  async create<T extends KubeObject = KubeObject>(
    object: KubeObject,
    options: WriteOptions = {},
  ): Promise<T> {
    const mapping = await this.mappingOf(object);
    const namespace = object.metadata?.namespace;
    if (mapping.namespaced && !namespace)
      throw new UserError(`${describeObject(object)} is namespaced but has no namespace`);
    assertScopeAgrees(object, mapping);
    const path = collectionPath(mapping, namespace);
    const query = withQuery(path, {
      fieldManager: options.fieldManager ?? this.fieldManager,
      dryRun: options.dryRun ? 'All' : undefined,
    });
    const response = await this.send('POST', query, mapping, options, JSON.stringify(object), JSON_TYPE);
    return this.decode<T>(response, 'POST', path, mapping);
  }

  async update<T extends KubeObject = KubeObject>(
    object: KubeObject,
    options: UpdateOptions = {},
  ): Promise<T> {
    const { mapping, path } = await this.locate(object, options.subresource);
    const query = withQuery(path, {
      fieldManager: options.fieldManager ?? this.fieldManager,
      dryRun: options.dryRun ? 'All' : undefined,
    });
    const response = await this.send('PUT', query, mapping, options, JSON.stringify(object), JSON_TYPE);
    return this.decode<T>(response, 'PUT', path, mapping);
  }

  async patch<T extends KubeObject = KubeObject>(
    ref: ObjectRef,
    patch: unknown,
    type: PatchType,
    options: PatchOptions = {},
  ): Promise<T> {
    const mapping = await this.mapper.mapping(ref.group, ref.kind, options.version);
    const path = objectPath(mapping, ref.namespace, ref.name, options.subresource);
    const query = withQuery(path, {
      fieldManager: options.fieldManager ?? this.fieldManager,
      dryRun: options.dryRun ? 'All' : undefined,
    });
    const body = typeof patch === 'string' ? patch : JSON.stringify(patch);
    const response = await this.send('PATCH', query, mapping, options, body, PATCH_CONTENT_TYPES[type]);
    return this.decode<T>(response, 'PATCH', path, mapping);
  }

  async delete(ref: ObjectRef, options: DeleteOptions = {}): Promise<boolean> {
    const mapping = await this.mapper.mapping(ref.group, ref.kind, options.version);
    const path = objectPath(mapping, ref.namespace, ref.name);
    const body = JSON.stringify({
      apiVersion: 'v1',
      kind: 'DeleteOptions',
      ...(options.propagationPolicy ? { propagationPolicy: options.propagationPolicy } : {}),
      ...(options.dryRun ? { dryRun: ['All'] } : {}),
      ...(options.preconditions ? { preconditions: options.preconditions } : {}),
      ...(options.gracePeriodSeconds === undefined ? {} : { gracePeriodSeconds: options.gracePeriodSeconds }),
    });
    const response = await this.send('DELETE', path, mapping, options, body, JSON_TYPE);
    if (response.status === 404) return false;
    if (response.status < 200 || response.status > 299) throw this.failure(response, 'DELETE', path, mapping);
    return true;
  }

  async *watch<T extends KubeObject = KubeObject>(
    group: string,
    version: string,
    kind: string,
    options: WatchOptions = {},
  ): AsyncGenerator<WatchEvent<T>> {
    const mapping = await this.mapper.mapping(group, kind, version);
    const timeoutSeconds = options.timeoutSeconds ?? Math.floor(300 * (1 + this.random()));
    const path = collectionPath(mapping, options.namespace);
    yield* openWatch<T>(this.transport, {
      path: withQuery(path, {
        watch: 1,
        allowWatchBookmarks: options.allowWatchBookmarks ?? true,
        resourceVersion: options.resourceVersion,
        labelSelector: options.labelSelector,
        fieldSelector: options.fieldSelector,
        timeoutSeconds,
      }),
      // The server ends the stream after timeoutSeconds; silence well beyond that means a dead connection.
      idleTimeoutMs: (timeoutSeconds + 60) * 1000,
      maxLineBytes: this.maxWatchLineBytes,
      target: { method: 'GET', path, group: mapping.group, kind: mapping.kind },
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  impersonate(identity: Identity): KubeClient {
    const headers: Record<string, string | readonly string[]> = { 'impersonate-user': identity.user };
    if (identity.groups && identity.groups.length > 0) headers['impersonate-group'] = [...identity.groups];
    if (identity.uid) headers['impersonate-uid'] = identity.uid;
    return new HttpKubeClient(
      { ...this.options, transport: this.baseTransport.withHeaders(headers) },
      this.baseTransport,
    );
  }

  close(): void {
    this.transport.close();
  }

  private async mappingOf(object: KubeObject): Promise<ResourceMapping> {
    if (
      !object ||
      typeof object.apiVersion !== 'string' ||
      typeof object.kind !== 'string' ||
      !object.apiVersion ||
      !object.kind
    ) {
      throw new UserError('the object has no apiVersion or kind');
    }
    const { group, version } = splitApiVersion(object.apiVersion);
    return this.mapper.mapping(group, object.kind, version);
  }

  private async locate(
    object: KubeObject,
    subresource: string | undefined,
  ): Promise<{ mapping: ResourceMapping; path: string }> {
    const mapping = await this.mappingOf(object);
    const name = object.metadata?.name;
    if (!name) throw new UserError(`${describeObject(object)} has no metadata.name`);
    assertScopeAgrees(object, mapping);
    return { mapping, path: objectPath(mapping, object.metadata.namespace, name, subresource) };
  }

  private send(
    method: HttpMethod,
    path: string,
    mapping: ResourceMapping,
    options: { readonly signal?: AbortSignal },
    body?: string,
    contentType?: string,
  ): Promise<TransportResponse> {
    return this.transport.request({
      method,
      path,
      ...(body === undefined ? {} : { body, headers: { 'content-type': contentType ?? JSON_TYPE } }),
      ...(options.signal ? { signal: options.signal } : {}),
      target: { group: mapping.group, kind: mapping.kind },
    });
  }

  private decode<T>(
    response: TransportResponse,
    method: HttpMethod,
    path: string,
    mapping: ResourceMapping,
  ): T {
    if (response.status < 200 || response.status > 299) throw this.failure(response, method, path, mapping);
    try {
      return JSON.parse(response.body.toString('utf8')) as T;
    } catch (error) {
      const target = targetOf(method, path, mapping);
      throw new KubeTransportError({
        code: 'BAD_RESPONSE',
        message: `${method} ${target.path}: the answer is not JSON`,
        target,
        cause: error,
      });
    }
  }

  /**
   * Every error status of every request goes through here (watches through `openWatch`, with the
   * same target): the target names the kind the request is about, and for a Secret
   * `errorFromResponse` keeps only the status, the reason and field paths, never the server's text or
   * the body, so no caller has to scrub.
   */
  private failure(
    response: TransportResponse,
    method: HttpMethod,
    path: string,
    mapping: ResourceMapping,
  ): Error {
    return errorFromResponse(
      response.status,
      response.body,
      targetOf(method, path, mapping),
      response.headers['retry-after'],
    );
  }
}

function targetOf(method: HttpMethod, path: string, mapping: ResourceMapping): RequestTarget {
  const query = path.indexOf('?');
  return { method, path: query < 0 ? path : path.slice(0, query), group: mapping.group, kind: mapping.kind };
}

function describeObject(object: KubeObject): string {
  return `${object.kind} "${object.metadata?.name ?? object.metadata?.generateName ?? ''}"`;
}

/**
 * A write of an object that names a namespace for a cluster-scoped kind is refused, never sent
 * cluster-wide with the namespace dropped: whatever decided where the object may go (an
 * AccessPolicy, a review of the manifests) judged it by that namespace.
 */
function assertScopeAgrees(object: KubeObject, mapping: ResourceMapping): void {
  const namespace = object.metadata?.namespace;
  if (!mapping.namespaced && namespace)
    throw new UserError(
      `${describeObject(object)} is cluster-scoped but names namespace ${JSON.stringify(namespace)}; remove metadata.namespace`,
    );
}
