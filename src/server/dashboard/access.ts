/**
 * "May this user do that?", asked of the API server as the user (a SelfSubjectAccessReview, which
 * every authenticated user may create, so the controller needs no grant to ask for someone else).
 *
 * Used where the dashboard answers from its shared cache instead of reading as the user: the list
 * and the event stream show an app only if the user may `list applications.capstan.dev` in its
 * namespace, exactly what `kubectl get applications -n NS` needs. Reads of one object and every
 * action go to the API server with the user's own token instead, so RBAC decides them there.
 *
 * Decisions are cached briefly (`ttlMs`, default 10 s: a revoked right stops showing within that),
 * at most `maxEntries` of them (least recently used go first), and concurrent questions share one
 * review.
 */
import type { Clock } from '../../core/time.js';
import type { KubeClient } from '../../kube/index.js';
import type { KubeObject } from '../../core/objects.js';

export interface ResourceAttributes {
  readonly verb: string;
  readonly group: string;
  readonly resource: string;
  /** Absent or '': every namespace (a cluster-wide grant). */
  readonly namespace?: string;
  readonly name?: string;
}

/** What a decision is cached under: one per session (its key) and question. */
export interface Asker {
  readonly key: string;
  readonly kube: Pick<KubeClient, 'create'>;
}

export interface AccessLimits {
  readonly ttlMs: number;
  readonly maxEntries: number;
}

interface Decision {
  readonly allowed: boolean;
  readonly at: number;
}

interface SelfSubjectAccessReview extends KubeObject {
  status?: { allowed?: boolean; denied?: boolean; reason?: string };
}

export const APPLICATIONS = { group: 'capstan.dev', resource: 'applications' } as const;

export class AccessReviewer {
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #clock: Pick<Clock, 'now'>;
  readonly #decisions = new Map<string, Decision>();
  readonly #pending = new Map<string, Promise<boolean>>();

  constructor(options: { clock: Pick<Clock, 'now'>; limits?: Partial<AccessLimits> }) {
    this.#ttlMs = options.limits?.ttlMs ?? 10_000;
    this.#maxEntries = options.limits?.maxEntries ?? 20_000;
    this.#clock = options.clock;
  }

  get size(): number {
    return this.#decisions.size;
  }

  /** The cached decision, if there is a fresh one (no request). */
  cached(asker: Asker, attributes: ResourceAttributes): boolean | undefined {
    const key = cacheKey(asker, attributes);
    const decision = this.#decisions.get(key);
    if (decision === undefined) return undefined;
    if (this.#clock.now().getTime() - decision.at >= this.#ttlMs) {
      this.#decisions.delete(key);
      return undefined;
    }
    return decision.allowed;
  }

  /** Asks the API server (or the cache). Throws what the review request threw (a 401 among them). */
  async allowed(asker: Asker, attributes: ResourceAttributes): Promise<boolean> {
    const known = this.cached(asker, attributes);
    if (known !== undefined) return known;
    const key = cacheKey(asker, attributes);
    const pending = this.#pending.get(key);
    if (pending) return pending;
    const asking = this.#review(asker, attributes)
      .then((allowed) => {
        this.#remember(key, allowed);
        return allowed;
      })
      .finally(() => this.#pending.delete(key));
    this.#pending.set(key, asking);
    return asking;
  }

  /** Forgets every decision about a session (it ended). */
  forget(askerKey: string): void {
    const prefix = `${askerKey}\u0000`;
    for (const key of this.#decisions.keys()) if (key.startsWith(prefix)) this.#decisions.delete(key);
  }

  async #review(asker: Asker, attributes: ResourceAttributes): Promise<boolean> {
    const review = await asker.kube.create<SelfSubjectAccessReview>({
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      metadata: {},
      spec: {
        resourceAttributes: {
          verb: attributes.verb,
          group: attributes.group,
          resource: attributes.resource,
          ...(attributes.namespace ? { namespace: attributes.namespace } : {}),
          ...(attributes.name ? { name: attributes.name } : {}),
        },
      },
    });
    return review.status?.allowed === true && review.status.denied !== true;
  }

  #remember(key: string, allowed: boolean): void {
    this.#decisions.delete(key);
    while (this.#decisions.size >= this.#maxEntries) {
      const oldest = this.#decisions.keys().next();
      if (oldest.done === true) break;
      this.#decisions.delete(oldest.value);
    }
    this.#decisions.set(key, { allowed, at: this.#clock.now().getTime() });
  }
}

function cacheKey(asker: Asker, a: ResourceAttributes): string {
  return [asker.key, a.verb, a.group, a.resource, a.namespace ?? '', a.name ?? ''].join('\u0000');
}

/**
 * The namespaces among `namespaces` in which the asker may list Applications: every one when a
 * cluster-wide grant allows it (one review), else one review per namespace (cached), at most
 * `concurrency` at a time.
 */
export async function listableNamespaces(
  reviewer: AccessReviewer,
  asker: Asker,
  namespaces: readonly string[],
  concurrency = 16,
): Promise<'all' | Set<string>> {
  if (await reviewer.allowed(asker, { verb: 'list', ...APPLICATIONS })) return 'all';
  const allowed = new Set<string>();
  const unknown: string[] = [];
  for (const namespace of namespaces) {
    const known = reviewer.cached(asker, { verb: 'list', ...APPLICATIONS, namespace });
    if (known === true) allowed.add(namespace);
    else if (known === undefined) unknown.push(namespace);
  }
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < unknown.length) {
      const namespace = unknown[next++]!;
      if (await reviewer.allowed(asker, { verb: 'list', ...APPLICATIONS, namespace })) allowed.add(namespace);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, unknown.length) }, worker));
  return allowed;
}
