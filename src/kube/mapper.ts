/**
 * The REST mapper: (group, kind[, version]) → the resource to put in URLs, its scope and verbs.
 *
 * Built from one discovery snapshot and refreshed on demand. A lookup that misses refreshes once
 * (so kinds of a CRD applied earlier in the same sync become mappable), and concurrent misses share
 * that refresh. Optionally, a kind still missing after a refresh is remembered for a short while, so
 * a thousand sequential lookups of a mistyped kind cost one refresh, not a thousand.
 */
import { CapstanError } from '../core/errors.js';
import { backoffDelay, sleep } from '../core/time.js';
import type { DiscoveredResource, Discover, DiscoverySnapshot } from './discovery.js';

/** How `waitForMapping` polls discovery: from 25 ms, doubling to 800 ms. */
const DISCOVERY_POLL = { initialMs: 25, maxMs: 800 } as const;

export interface ResourceMapping {
  readonly group: string;
  /** The version to use: the one asked for, or the preferred one. */
  readonly version: string;
  readonly kind: string;
  /** The plural used in URLs, case preserved. */
  readonly resource: string;
  readonly namespaced: boolean;
  readonly verbs: readonly string[];
  readonly subresources: readonly string[];
  /** The server's preferred version of this kind. */
  readonly preferredVersion: string;
  /** Every served version of this kind, the preferred one first. */
  readonly versions: readonly string[];
}

/** The server does not serve this kind (or not in this version), even after refreshing discovery. */
export class UnknownKindError extends CapstanError {
  constructor(
    readonly group: string,
    /** The object kind (`kind` is the error's kind). */
    readonly objectKind: string,
    readonly version: string | undefined,
    served: readonly string[],
  ) {
    const name = group ? `${objectKind}.${group}` : objectKind;
    super(
      'notFound',
      version && served.length > 0
        ? `the server does not serve ${name} in version ${version} (it serves ${served.join(', ')})`
        : `the server has no kind ${name}${version ? ` in version ${version}` : ''} (is its CRD installed and Established?)`,
    );
  }
}

export interface RestMapperOptions {
  readonly discover: Discover;
  /** For the negative cache. Default `Date.now`. */
  readonly now?: () => number;
  /**
   * After a refresh that still misses a kind, further misses of that kind within this window do not
   * refresh again. Default 0: every miss refreshes (concurrent misses share one refresh, and an
   * unchanged aggregated discovery costs two 304s). Raise it to bound discovery traffic when many
   * objects of an unknown kind are looked up one after another; `refresh()` clears the window.
   */
  readonly missRefreshIntervalMs?: number;
}

interface KindEntry {
  /** Served versions, preferred first. */
  readonly versions: readonly string[];
  readonly byVersion: ReadonlyMap<string, ResourceMapping>;
}

interface Index {
  /** Which refresh produced it (1, 2, …). */
  readonly generation: number;
  readonly kinds: Map<string, KindEntry>;
  readonly snapshot: DiscoverySnapshot;
}

interface Refresh {
  readonly generation: number;
  readonly done: Promise<Index>;
}

export class RestMapper {
  private readonly discover: Discover;
  private readonly now: () => number;
  private readonly missRefreshIntervalMs: number;
  private index: Index | undefined;
  private started = 0;
  private inFlight: Refresh | undefined;
  private queued: Refresh | undefined;
  /** Kinds that were still missing after a refresh, with when. */
  private readonly misses = new Map<string, number>();

  constructor(options: RestMapperOptions) {
    this.discover = options.discover;
    this.now = options.now ?? Date.now;
    this.missRefreshIntervalMs = options.missRefreshIntervalMs ?? 0;
  }

  /**
   * The mapping for a kind; `version` defaults to the preferred one. Refreshes discovery once on a
   * miss; throws `UnknownKindError` when the kind is still not served.
   */
  async mapping(group: string, kind: string, version?: string): Promise<ResourceMapping> {
    const found = await this.tryMapping(group, kind, version);
    if (found) return found;
    throw new UnknownKindError(group, kind, version, this.servedVersions(group, kind));
  }

  private servedVersions(group: string, kind: string): readonly string[] {
    return this.index?.kinds.get(kindKey(group, kind))?.versions ?? [];
  }

  /** Like `mapping`, but `undefined` instead of an error when the kind is not served. */
  async tryMapping(group: string, kind: string, version?: string): Promise<ResourceMapping | undefined> {
    const startedBefore = this.started;
    let index = this.index ?? (await this.latest());
    let hit = lookup(index, group, kind, version);
    if (hit) return hit;
    if (this.inFlight) {
      // Share a refresh already under way (concurrent misses of one new kind cost one discovery).
      index = await this.inFlight.done;
      hit = lookup(index, group, kind, version);
      if (hit) return hit;
    }
    // Only a discovery that began after this lookup did can prove the kind absent: one that began
    // earlier may predate the caller's CRD.
    const key = missKey(group, kind, version);
    if (index.generation <= startedBefore) {
      const missedAt = this.misses.get(key);
      if (missedAt !== undefined && this.now() - missedAt < this.missRefreshIntervalMs) return undefined;
      index = await this.refreshNewerThan(startedBefore);
      hit = lookup(index, group, kind, version);
    }
    if (!hit && this.missRefreshIntervalMs > 0) this.misses.set(key, this.now());
    return hit;
  }

  /**
   * Waits until the server serves a kind, refreshing discovery with a short backoff.
   *
   * Needed after a CRD turns Established: the apiserver publishes the CRD to discovery
   * asynchronously, and a refresh right after Established misses it about a third of the time
   * (observed on k8s 1.37). With ETags, each poll costs two small requests. Throws
   * `UnknownKindError` after `timeoutMs` (default 10 s), or the signal's reason when it aborts.
   */
  async waitForMapping(
    group: string,
    kind: string,
    options: { readonly version?: string; readonly timeoutMs?: number; readonly signal?: AbortSignal } = {},
  ): Promise<ResourceMapping> {
    const deadline = this.now() + (options.timeoutMs ?? 10_000);
    for (let attempt = 0; ; attempt++) {
      options.signal?.throwIfAborted();
      // Each miss refreshes discovery (the negative cache, if any, must not stop a waiter).
      this.misses.delete(missKey(group, kind, options.version));
      const found = await this.tryMapping(group, kind, options.version);
      if (found) return found;
      const remaining = deadline - this.now();
      if (remaining <= 0)
        throw new UnknownKindError(group, kind, options.version, this.servedVersions(group, kind));
      await sleep(Math.min(remaining, backoffDelay(attempt, DISCOVERY_POLL)), { signal: options.signal });
    }
  }

  /** Discovers again; resolves once a discovery that started after this call has finished. */
  async refresh(): Promise<void> {
    this.misses.clear();
    await this.refreshNewerThan(this.started);
  }

  /** Every kind the server serves, each in its preferred version (loads discovery if needed). */
  async resources(): Promise<ResourceMapping[]> {
    const index = this.index ?? (await this.latest());
    return [...index.kinds.values()].map((entry) => entry.byVersion.get(entry.versions[0]!)!);
  }

  /** Group versions the last discovery could not reach (their kinds may be missing). */
  get unavailable(): readonly string[] {
    return this.index?.snapshot.unavailable ?? [];
  }

  /** The index of the discovery under way, or of a new one. */
  private latest(): Promise<Index> {
    this.inFlight ??= this.start();
    return this.inFlight.done;
  }

  /**
   * Resolves with an index whose discovery started after refresh number `after` was started.
   * At most one discovery runs at a time, and at most one more waits behind it for all callers.
   */
  private refreshNewerThan(after: number): Promise<Index> {
    if (this.index && this.index.generation > after) return Promise.resolve(this.index);
    if (this.inFlight && this.inFlight.generation > after) return this.inFlight.done;
    if (this.inFlight) {
      // The running discovery began before the caller's miss: it may predate the caller's CRD.
      this.queued ??= this.startAfter(this.inFlight.done);
      return this.queued.done;
    }
    this.inFlight = this.start();
    return this.inFlight.done;
  }

  private startAfter(previous: Promise<unknown>): Refresh {
    // The generation is assigned when it really starts; until then it is "the next one".
    const generation = this.started + 1;
    const done = previous
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        this.inFlight = this.start();
        return this.inFlight.done;
      });
    return { generation, done };
  }

  private start(): Refresh {
    const generation = ++this.started;
    const done = this.discover()
      .then((snapshot) => {
        // Discovery hands back the very same snapshot when the server said nothing changed.
        const index =
          this.index?.snapshot === snapshot
            ? { ...this.index, generation }
            : buildIndex(snapshot, generation);
        if (!this.index || this.index.generation < generation) this.index = index;
        return index;
      })
      .finally(() => {
        if (this.inFlight?.generation === generation) this.inFlight = undefined;
      });
    return { generation, done };
  }
}

function buildIndex(snapshot: DiscoverySnapshot, generation: number): Index {
  const groupVersions = new Map(snapshot.groups.map((g) => [g.name, g.versions]));
  const byKind = new Map<string, Map<string, DiscoveredResource>>();
  for (const resource of snapshot.resources) {
    const key = kindKey(resource.group, resource.kind);
    let versions = byKind.get(key);
    if (!versions) byKind.set(key, (versions = new Map()));
    // Several resources can share a kind within one version; the first listed is the primary one.
    if (!versions.has(resource.version)) versions.set(resource.version, resource);
  }
  const kinds = new Map<string, KindEntry>();
  for (const [key, resources] of byKind) {
    const order = groupVersions.get(key.slice(0, key.indexOf('/'))) ?? [];
    const rank = (v: string): number => {
      const i = order.indexOf(v);
      return i < 0 ? order.length : i;
    };
    const versions = [...resources.keys()].sort((a, b) => rank(a) - rank(b));
    const byVersion = new Map<string, ResourceMapping>();
    for (const [version, r] of resources) {
      byVersion.set(version, {
        group: r.group,
        version,
        kind: r.kind,
        resource: r.resource,
        namespaced: r.namespaced,
        verbs: r.verbs,
        subresources: r.subresources,
        preferredVersion: versions[0]!,
        versions,
      });
    }
    kinds.set(key, { versions, byVersion });
  }
  return { generation, kinds, snapshot };
}

function lookup(
  index: Index,
  group: string,
  kind: string,
  version: string | undefined,
): ResourceMapping | undefined {
  const entry = index.kinds.get(kindKey(group, kind));
  return entry?.byVersion.get(version ?? entry.versions[0]!);
}

function kindKey(group: string, kind: string): string {
  return `${group}/${kind}`;
}

function missKey(group: string, kind: string, version: string | undefined): string {
  return `${group}/${kind}/${version ?? ''}`;
}
