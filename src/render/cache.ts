/**
 * A render is a pure function of its key and is cached by it.
 *
 * What a render depends on: the bytes of the repository paths it read (`RenderResult.inputs`), the
 * app path, the render options and the versions of helm and kustomize. `cachedRenderer` folds the
 * app path and options into the key itself; the caller supplies `RenderRequest.cacheKey` for the
 * rest, derived from Git so no checkout is needed to know a render is unchanged:
 *
 * 1. After rendering an app, remember `result.inputs` for it.
 * 2. For a new commit, ask Git for the tree id of each remembered input path at that commit
 *    (`GitSource.treeId`); for an app never rendered, use its app path alone.
 * 3. `cacheKey = renderCacheKey({ repository, trees: { [path]: treeId }, tools: { helm, kustomize } })`.
 *    If a remembered path no longer exists, render without a key.
 *
 * Why that is enough: the inputs cover everything the render read, so equal tree ids mean equal
 * bytes and so an equal result. A change that makes a render read something new (a new `../base`
 * in a kustomization, a new values file) is itself a change to an input (the kustomization, the
 * chart folder), so the key changes and the render runs again, recording the new inputs.
 *
 * Results are copied in and out: callers may mutate what they get without touching the cache.
 * Failed renders are not cached (a timeout is not a property of the content). Concurrent renders
 * of one key share a single run.
 */
import { createHash } from 'node:crypto';
import { normaliseAppPath } from './paths.js';
import type { RenderKind, RenderResult, Renderer, RenderRequest } from './types.js';

export interface RenderCacheOptions {
  /** Most results kept; least recently used go first. Default 256. */
  readonly maxEntries?: number;
  /** Approximate bytes of objects kept (their JSON size). Default 256 MiB. */
  readonly maxBytes?: number;
}

export interface RenderCacheStats {
  readonly entries: number;
  readonly bytes: number;
  readonly hits: number;
  readonly misses: number;
  readonly evictions: number;
}

interface Entry {
  readonly result: RenderResult;
  readonly bytes: number;
}

/** An in-memory LRU of render results, keyed by strings the caller computes. */
export class RenderCache {
  private readonly entries = new Map<string, Entry>();
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private bytes = 0;
  private hits = 0;
  private misses = 0;
  private evictions = 0;

  constructor(options: RenderCacheOptions = {}) {
    this.maxEntries = options.maxEntries ?? 256;
    this.maxBytes = options.maxBytes ?? 256 * 1024 * 1024;
  }

  /** A copy of the result stored under `key`, which becomes the most recently used. */
  get(key: string): RenderResult | undefined {
    const entry = this.entries.get(key);
    if (!entry) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.entries.delete(key);
    this.entries.set(key, entry);
    return structuredClone(entry.result);
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** Stores a copy of `result`; one larger than the whole cache is not kept. */
  set(key: string, result: RenderResult): void {
    this.delete(key);
    const bytes = JSON.stringify(result.objects).length + JSON.stringify(result.inputs).length;
    if (bytes > this.maxBytes || this.maxEntries === 0) return;
    this.entries.set(key, { result: structuredClone(result), bytes });
    this.bytes += bytes;
    for (const [oldest, entry] of this.entries) {
      if (this.entries.size <= this.maxEntries && this.bytes <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.bytes -= entry.bytes;
      this.evictions++;
    }
  }

  delete(key: string): boolean {
    const entry = this.entries.get(key);
    if (!entry) return false;
    this.entries.delete(key);
    this.bytes -= entry.bytes;
    return true;
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }

  get size(): number {
    return this.entries.size;
  }

  stats(): RenderCacheStats {
    return {
      entries: this.entries.size,
      bytes: this.bytes,
      hits: this.hits,
      misses: this.misses,
      evictions: this.evictions,
    };
  }
}

export interface CachedRendererStats {
  /** Renders actually run (cache misses and uncached requests): what engine tests count. */
  readonly renders: number;
  /** Requests answered from the cache. */
  readonly hits: number;
  /** Requests that joined a render of the same key already running. */
  readonly coalesced: number;
  /** Renders that failed. */
  readonly failures: number;
}

export interface RenderEvent {
  readonly kind: RenderKind | undefined;
  readonly outcome: 'rendered' | 'hit' | 'coalesced' | 'failed';
  readonly durationMs: number;
}

export interface CachedRenderer extends Renderer {
  stats(): CachedRendererStats;
}

export interface CachedRendererOptions {
  /** Called once per request, for metrics (a Prometheus histogram, a counter per outcome). */
  readonly onRender?: (event: RenderEvent) => void;
  readonly now?: () => number;
}

/** Wraps `renderer` so requests with a `cacheKey` are answered from `cache` when possible. */
export function cachedRenderer(
  renderer: Renderer,
  cache: RenderCache,
  options: CachedRendererOptions = {},
): CachedRenderer {
  const now = options.now ?? Date.now;
  const running = new Map<string, Promise<RenderResult>>();
  const counts = { renders: 0, hits: 0, coalesced: 0, failures: 0 };
  const emit = (event: RenderEvent): void => options.onRender?.(event);

  const renderNow = async (request: RenderRequest): Promise<RenderResult> => {
    const started = now();
    counts.renders++;
    try {
      const result = await renderer.render(request);
      emit({ kind: result.kind, outcome: 'rendered', durationMs: now() - started });
      return result;
    } catch (error) {
      counts.failures++;
      emit({ kind: undefined, outcome: 'failed', durationMs: now() - started });
      throw error;
    }
  };

  return {
    async render(request: RenderRequest): Promise<RenderResult> {
      if (request.cacheKey === undefined) return renderNow(request);
      const key = fullKey(request);
      const started = now();
      const cached = cache.get(key);
      if (cached) {
        counts.hits++;
        emit({ kind: cached.kind, outcome: 'hit', durationMs: now() - started });
        return cached;
      }
      const inFlight = running.get(key);
      if (inFlight) {
        counts.coalesced++;
        const result = structuredClone(await inFlight);
        emit({ kind: result.kind, outcome: 'coalesced', durationMs: now() - started });
        return result;
      }
      const run = renderNow(request).then((result) => {
        cache.set(key, result);
        return result;
      });
      running.set(key, run);
      try {
        return structuredClone(await run);
      } finally {
        running.delete(key);
      }
    },
    stats: () => ({ ...counts }),
  };
}

/** The caller's key with the app path and options folded in, so one key cannot serve two apps. */
function fullKey(request: RenderRequest): string {
  return renderCacheKey({
    key: request.cacheKey,
    appPath: normaliseAppPath(request.appPath),
    options: request.options ?? {},
  });
}

/** A sha256 of `parts` serialised with sorted keys: equal data, equal key, whatever the key order. */
export function renderCacheKey(parts: unknown): string {
  return createHash('sha256').update(stableStringify(parts)).digest('hex');
}

export function stableStringify(value: unknown): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value))
    return `[${value.map((item) => (item === undefined ? 'null' : stableStringify(item))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, item]) => item !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${stableStringify(item)}`).join(',')}}`;
}
