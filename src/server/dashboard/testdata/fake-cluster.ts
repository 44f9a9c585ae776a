/**
 * A tiny in-memory API server for the dashboard's unit tests: objects, users with bearer tokens,
 * and an RBAC rule per user. Each user's `KubeClient` answers get/list/patch/create as the real one
 * would (403 `KubeApiError` when RBAC says no, `undefined` on 404), plus SelfSubjectReview and
 * SelfSubjectAccessReview. Every call is logged, so tests can count requests.
 */
import type { KubeObject, ObjectRef } from '../../../core/objects.js';
import { splitApiVersion } from '../../../core/objects.js';
import { KubeApiError, type KubeClient, type RestMapper, type WatchEvent } from '../../../kube/index.js';
import type { ListOptions, ListPageOptions, ObjectList, ObjectListPage } from '../../../kube/index.js';

export interface FakeUser {
  readonly username: string;
  readonly groups?: readonly string[];
  /** RBAC: may this user `verb` `resource` (plural, lower case) of `group` in `namespace`? */
  readonly can: (verb: string, group: string, resource: string, namespace: string | undefined) => boolean;
}

export function resourceOf(kind: string): string {
  const lower = kind.toLowerCase();
  return lower.endsWith('y') ? `${lower.slice(0, -1)}ies` : `${lower}s`;
}

function keyOf(group: string, kind: string, namespace: string | undefined, name: string): string {
  return `${group}/${kind}/${namespace ?? ''}/${name}`;
}

export class FakeCluster {
  readonly objects = new Map<string, KubeObject>();
  readonly users = new Map<string, FakeUser>();
  readonly calls: string[] = [];
  /** Events and other objects created through clients. */
  readonly created: KubeObject[] = [];
  /** Kinds discovery does not know (a CRD not installed yet). */
  readonly unservedKinds = new Set<string>();
  #resourceVersion = 1;

  put(object: KubeObject): KubeObject {
    const { group } = splitApiVersion(object.apiVersion);
    const stored = {
      ...object,
      metadata: {
        uid: `uid-${object.metadata.namespace ?? ''}-${object.metadata.name ?? ''}`,
        ...object.metadata,
        resourceVersion: String(this.#resourceVersion++),
      },
    };
    this.objects.set(
      keyOf(group, object.kind, object.metadata.namespace, object.metadata.name ?? ''),
      stored,
    );
    return stored;
  }

  addUser(token: string, user: FakeUser): void {
    this.users.set(token, user);
  }

  /** The client a bearer token gets (a token nobody owns gets 401 on every request). */
  clientFor(token: string): KubeClient {
    return new FakeClient(this, token);
  }

  nextResourceVersion(): string {
    return String(this.#resourceVersion++);
  }
}

const forbidden = (verb: string, resource: string, namespace: string | undefined): KubeApiError =>
  new KubeApiError({
    status: 403,
    reason: 'Forbidden',
    message: `${resource} is forbidden: cannot ${verb} ${resource}${namespace ? ` in the namespace "${namespace}"` : ''}`,
    target: { method: 'GET', path: '/fake' },
  });

const unauthorized = (): KubeApiError =>
  new KubeApiError({
    status: 401,
    reason: 'Unauthorized',
    message: 'Unauthorized',
    target: { method: 'POST', path: '/fake' },
  });

class FakeClient implements KubeClient {
  /** Discovery: every kind is served (plural by resourceOf) but those in `unservedKinds`. */
  readonly mapper: RestMapper;

  constructor(
    private readonly cluster: FakeCluster,
    private readonly token: string,
  ) {
    this.mapper = {
      tryMapping: async (group: string, kind: string) =>
        cluster.unservedKinds.has(kind)
          ? undefined
          : { group, kind, version: 'v1', resource: resourceOf(kind), namespaced: true },
    } as unknown as RestMapper;
  }

  /** Looked up on every call: deleting a user revokes their token at once. */
  private get user(): FakeUser | undefined {
    return this.cluster.users.get(this.token);
  }

  #check(verb: string, group: string, kind: string, namespace: string | undefined): void {
    if (!this.user) throw unauthorized();
    const resource = resourceOf(kind);
    this.cluster.calls.push(`${this.user.username} ${verb} ${group}/${resource} ${namespace ?? '*'}`);
    if (!this.user.can(verb, group, resource, namespace)) throw forbidden(verb, resource, namespace);
  }

  async get<T extends KubeObject = KubeObject>(ref: ObjectRef): Promise<T | undefined> {
    this.#check('get', ref.group, ref.kind, ref.namespace);
    return structuredClone(this.cluster.objects.get(keyOf(ref.group, ref.kind, ref.namespace, ref.name))) as
      T | undefined;
  }

  async list<T extends KubeObject = KubeObject>(
    group: string,
    version: string,
    kind: string,
    options: ListOptions = {},
  ): Promise<ObjectList<T>> {
    return this.listPage<T>(group, version, kind, options);
  }

  async listPage<T extends KubeObject = KubeObject>(
    group: string,
    _version: string,
    kind: string,
    options: ListPageOptions = {},
  ): Promise<ObjectListPage<T>> {
    this.#check('list', group, kind, options.namespace);
    const items = [...this.cluster.objects.values()].filter((object) => {
      if (splitApiVersion(object.apiVersion).group !== group || object.kind !== kind) return false;
      if (options.namespace && object.metadata.namespace !== options.namespace) return false;
      return matchesLabels(object, options.labelSelector) && matchesFields(object, options.fieldSelector);
    });
    return { items: structuredClone(items) as T[], resourceVersion: this.cluster.nextResourceVersion() };
  }

  async create<T extends KubeObject = KubeObject>(object: KubeObject): Promise<T> {
    if (!this.user) throw unauthorized();
    if (object.kind === 'SelfSubjectReview') {
      return {
        ...object,
        status: { userInfo: { username: this.user.username, groups: this.user.groups ?? [] } },
      } as unknown as T;
    }
    if (object.kind === 'SelfSubjectAccessReview') {
      const a = (
        object.spec as {
          resourceAttributes: { verb: string; group: string; resource: string; namespace?: string };
        }
      ).resourceAttributes;
      this.cluster.calls.push(
        `${this.user.username} review ${a.verb} ${a.group}/${a.resource} ${a.namespace ?? '*'}`,
      );
      return {
        ...object,
        status: { allowed: this.user.can(a.verb, a.group, a.resource, a.namespace) },
      } as unknown as T;
    }
    const { group } = splitApiVersion(object.apiVersion);
    this.#check('create', group, object.kind, object.metadata.namespace);
    this.cluster.created.push(object);
    return this.cluster.put(object) as T;
  }

  async patch<T extends KubeObject = KubeObject>(ref: ObjectRef, patch: unknown): Promise<T> {
    this.#check('patch', ref.group, ref.kind, ref.namespace);
    const key = keyOf(ref.group, ref.kind, ref.namespace, ref.name);
    const current = this.cluster.objects.get(key);
    if (!current)
      throw new KubeApiError({
        status: 404,
        reason: 'NotFound',
        message: 'not found',
        target: { method: 'PATCH', path: '/fake' },
      });
    return this.cluster.put(mergePatch(current, patch) as KubeObject) as T;
  }

  async apply<T extends KubeObject = KubeObject>(): Promise<T> {
    throw new Error('not in the fake');
  }

  async update<T extends KubeObject = KubeObject>(): Promise<T> {
    throw new Error('not in the fake');
  }

  async delete(): Promise<boolean> {
    throw new Error('not in the fake');
  }

  watch<T extends KubeObject = KubeObject>(): AsyncIterable<WatchEvent<T>> {
    throw new Error('not in the fake');
  }

  impersonate(): KubeClient {
    return this;
  }

  close(): void {}
}

function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const result: Record<string, unknown> =
    target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as object) } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

/** `a=b,c=d` only: enough for the selectors the tree uses. */
function matchesLabels(object: KubeObject, selector: string | undefined): boolean {
  if (!selector) return true;
  return selector.split(',').every((term) => {
    const [key, value] = term.split('=');
    return object.metadata.labels?.[key!] === value;
  });
}

/** `involvedObject.name=x,involvedObject.kind=y` and the like. */
function matchesFields(object: KubeObject, selector: string | undefined): boolean {
  if (!selector) return true;
  return selector.split(',').every((term) => {
    const [path, value] = term.split('=');
    let node: unknown = object;
    for (const part of path!.split('.')) node = (node as Record<string, unknown> | undefined)?.[part];
    return node === value;
  });
}
