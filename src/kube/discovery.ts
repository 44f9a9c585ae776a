/**
 * Cluster-wide API discovery: what resources the server serves, in which versions, with which verbs.
 *
 * Aggregated discovery (apidiscovery.k8s.io/v2) answers with two requests (/api and /apis); servers
 * that do not support it answer those same requests with the legacy documents, and we then ask each
 * group version in turn (bounded concurrency), tolerating groups whose aggregated server is down.
 */
import pLimit from 'p-limit';
import { errorFromResponse } from './errors.js';
import type { Transport } from './transport.js';

export interface DiscoveredResource {
  /** '' for the core group. */
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  /** The plural, as used in URLs: `deployments`. Case preserved. */
  readonly resource: string;
  readonly namespaced: boolean;
  readonly verbs: readonly string[];
  /** `status`, `scale`, … */
  readonly subresources: readonly string[];
}

export interface DiscoveredGroup {
  readonly name: string;
  /** Served versions, the preferred one first. */
  readonly versions: readonly string[];
}

export interface DiscoverySnapshot {
  readonly groups: readonly DiscoveredGroup[];
  readonly resources: readonly DiscoveredResource[];
  /** Group versions that could not be discovered (an aggregated API server down, say). */
  readonly unavailable: readonly string[];
  /** Whether the server answered with aggregated discovery. */
  readonly aggregated: boolean;
}

/** Discovers everything the server serves. */
export type Discover = (signal?: AbortSignal) => Promise<DiscoverySnapshot>;

const AGGREGATED_ACCEPT =
  'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json';
const LEGACY_CONCURRENCY = 8;

/**
 * A `Discover` for this transport. It remembers the aggregated documents and their ETags, so a
 * refresh when nothing changed costs two `304 Not Modified` answers and returns the same snapshot.
 */
export function discoveryFor(transport: Transport): Discover {
  const cache = new Map<string, { etag: string; document: unknown }>();
  let last: { core: unknown; groups: unknown; snapshot: DiscoverySnapshot } | undefined;
  return async (signal) => {
    const [core, groups] = await Promise.all([
      getJson(transport, '/api', AGGREGATED_ACCEPT, signal, cache),
      getJson(transport, '/apis', AGGREGATED_ACCEPT, signal, cache),
    ]);
    if (last && last.core === core && last.groups === groups) return last.snapshot;
    const snapshot =
      isAggregated(core) && isAggregated(groups)
        ? fromAggregated([core, groups])
        : await legacyDiscovery(transport, core as LegacyVersions, groups as LegacyGroupList, signal);
    // Legacy snapshots are rebuilt each time: their per-group documents have no validators.
    last = snapshot.aggregated ? { core, groups, snapshot } : undefined;
    return snapshot;
  };
}

/** Discovers everything the server serves, without remembering anything. */
export function discover(transport: Transport, signal?: AbortSignal): Promise<DiscoverySnapshot> {
  return discoveryFor(transport)(signal);
}

// ---- aggregated (apidiscovery.k8s.io/v2) -----------------------------------------------------

interface AggregatedList {
  kind: 'APIGroupDiscoveryList';
  items?: {
    metadata?: { name?: string };
    versions?: {
      version: string;
      freshness?: string;
      resources?: {
        resource: string;
        responseKind?: { group?: string; version?: string; kind?: string };
        scope?: string;
        verbs?: string[];
        subresources?: { subresource: string }[];
      }[];
    }[];
  }[];
}

function isAggregated(document: unknown): document is AggregatedList {
  return (
    !!document &&
    typeof document === 'object' &&
    (document as { kind?: unknown }).kind === 'APIGroupDiscoveryList'
  );
}

function fromAggregated(lists: AggregatedList[]): DiscoverySnapshot {
  const groups: DiscoveredGroup[] = [];
  const resources: DiscoveredResource[] = [];
  const unavailable: string[] = [];
  for (const list of lists) {
    for (const item of list.items ?? []) {
      const group = item.metadata?.name ?? '';
      const versions = item.versions ?? [];
      groups.push({ name: group, versions: versions.map((v) => v.version) });
      for (const version of versions) {
        // Stale: the aggregated server behind this version did not answer; what we have may be old.
        if (version.freshness === 'Stale') unavailable.push(groupVersion(group, version.version));
        for (const r of version.resources ?? []) {
          const kind = r.responseKind?.kind;
          if (!kind) continue;
          resources.push({
            group,
            version: version.version,
            kind,
            resource: r.resource,
            namespaced: r.scope === 'Namespaced',
            verbs: r.verbs ?? [],
            subresources: (r.subresources ?? []).map((s) => s.subresource),
          });
        }
      }
    }
  }
  return { groups, resources, unavailable, aggregated: true };
}

// ---- legacy (/api/v1, /apis/<group>/<version>) -----------------------------------------------

interface LegacyVersions {
  versions?: string[];
}

interface LegacyGroupList {
  groups?: { name: string; versions?: { version: string }[]; preferredVersion?: { version: string } }[];
}

interface LegacyResourceList {
  resources?: { name: string; kind: string; namespaced: boolean; verbs?: string[] }[];
}

async function legacyDiscovery(
  transport: Transport,
  core: LegacyVersions,
  groupList: LegacyGroupList,
  signal: AbortSignal | undefined,
): Promise<DiscoverySnapshot> {
  const groups: DiscoveredGroup[] = [{ name: '', versions: core.versions ?? ['v1'] }];
  for (const g of groupList.groups ?? []) {
    const served = (g.versions ?? []).map((v) => v.version);
    const preferred = g.preferredVersion?.version;
    groups.push({
      name: g.name,
      versions: preferred ? [preferred, ...served.filter((v) => v !== preferred)] : served,
    });
  }
  const limit = pLimit(LEGACY_CONCURRENCY);
  const unavailable: string[] = [];
  const perVersion = await Promise.all(
    groups.flatMap((g) =>
      g.versions.map((version) =>
        limit(async () => {
          const path = g.name === '' ? `/api/${version}` : `/apis/${g.name}/${version}`;
          try {
            const list = (await getJson(transport, path, 'application/json', signal)) as LegacyResourceList;
            return fromLegacyList(g.name, version, list);
          } catch (error) {
            if (signal?.aborted) throw error;
            // One broken aggregated API must not make every other kind unmappable.
            unavailable.push(groupVersion(g.name, version));
            return [];
          }
        }),
      ),
    ),
  );
  return { groups, resources: perVersion.flat(), unavailable, aggregated: false };
}

function fromLegacyList(group: string, version: string, list: LegacyResourceList): DiscoveredResource[] {
  const entries = list.resources ?? [];
  const subresources = new Map<string, string[]>();
  for (const entry of entries) {
    const slash = entry.name.indexOf('/');
    if (slash < 0) continue;
    const parent = entry.name.slice(0, slash);
    subresources.set(parent, [...(subresources.get(parent) ?? []), entry.name.slice(slash + 1)]);
  }
  return entries
    .filter((entry) => !entry.name.includes('/'))
    .map((entry) => ({
      group,
      version,
      kind: entry.kind,
      resource: entry.name,
      namespaced: entry.namespaced,
      verbs: entry.verbs ?? [],
      subresources: subresources.get(entry.name) ?? [],
    }));
}

// ---- helpers -----------------------------------------------------------------------------------

async function getJson(
  transport: Transport,
  path: string,
  accept: string,
  signal: AbortSignal | undefined,
  cache?: Map<string, { etag: string; document: unknown }>,
): Promise<unknown> {
  const cached = cache?.get(path);
  const headers = cached ? { accept, 'if-none-match': cached.etag } : { accept };
  const response = await transport.request({ method: 'GET', path, headers, ...(signal ? { signal } : {}) });
  if (response.status === 304 && cached) return cached.document;
  if (response.status !== 200)
    throw errorFromResponse(response.status, response.body, { method: 'GET', path });
  const document = JSON.parse(response.body.toString('utf8')) as unknown;
  const etag = response.headers.etag;
  if (cache && typeof etag === 'string' && etag !== '') cache.set(path, { etag, document });
  return document;
}

function groupVersion(group: string, version: string): string {
  return group === '' ? version : `${group}/${version}`;
}
