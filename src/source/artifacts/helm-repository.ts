/**
 * Helm repositories over HTTP(S): the `index.yaml` (bounded, parsed with the guarded YAML parser),
 * the chart version an Application asks for (an exact version or a semver range), and the chart
 * archive, checked against the digest the index gives for it.
 *
 * Chart URLs may be relative (to the repository) or absolute. An absolute URL on another origin is
 * fetched without the repository's credentials (Helm's own default, `--pass-credentials` off), under
 * the same address checks; the index's digest, when given, still pins what it must contain.
 * Provenance (`<chart url>.prov`) is fetched here under the same rules and checked in provenance.ts.
 */
import semver from 'semver';
import { UserError } from '../../core/errors.js';
import { parseYamlStream } from '../../render/yaml.js';
import { quote, redactUrl } from '../redact.js';
import { parseDigest } from './digest.js';
import { httpGet, HttpStatusError, type HttpGetOptions } from './http.js';
import type { ArtifactRepository } from './types.js';

export interface HelmLimits {
  readonly maxIndexBytes: number;
  readonly maxChartBytes: number;
}

export interface ChartVersion {
  readonly chart: string;
  readonly version: string;
  /** `sha256:…` from the index, when it gives one. */
  readonly digest?: string;
  /** Absolute URL of the archive. */
  readonly url: string;
  readonly created?: string;
  readonly description?: string;
}

interface IndexEntry {
  readonly version: string;
  readonly digest?: string;
  readonly urls: readonly string[];
  readonly created?: string;
  readonly description?: string;
}

/** The versions of `chart` in the repository's index. */
export async function readChartVersions(
  repository: ArtifactRepository,
  chart: string,
  options: { limits: HelmLimits; timeoutMs: number; allowPrivateAddresses: boolean; signal?: AbortSignal },
): Promise<ChartVersion[]> {
  const base = repositoryBase(repository.url);
  const text = (
    await httpGet(new URL('index.yaml', base).toString(), {
      ...requestOptions(repository, options),
      maxBytes: options.limits.maxIndexBytes,
    })
  ).toString('utf8');
  const entries = chartEntries(text, chart, repository);
  return entries.map((entry) => ({
    chart,
    version: entry.version,
    url: chartUrl(base, entry.urls),
    ...(entry.digest
      ? { digest: parseDigest(entry.digest, `the index's digest of ${chart} ${entry.version}`) }
      : {}),
    ...(entry.created ? { created: entry.created } : {}),
    ...(entry.description ? { description: entry.description } : {}),
  }));
}

/** The chart archive's bytes (digest checked by the caller, who stores it). */
export async function downloadChart(
  repository: ArtifactRepository,
  version: ChartVersion,
  options: { limits: HelmLimits; timeoutMs: number; allowPrivateAddresses: boolean; signal?: AbortSignal },
): Promise<Buffer> {
  return downloadBeside(repository, version.url, options.limits.maxChartBytes, options);
}

/**
 * The chart's provenance file (`<chart url>.prov`), under the chart's own rules (origin,
 * credentials, time) and at most `maxBytes`; undefined when the repository has none (HTTP 404).
 */
export async function downloadProvenance(
  repository: ArtifactRepository,
  version: ChartVersion,
  options: { timeoutMs: number; allowPrivateAddresses: boolean; signal?: AbortSignal; maxBytes: number },
): Promise<Buffer | undefined> {
  const url = new URL(version.url);
  url.pathname += '.prov';
  try {
    return await downloadBeside(repository, url.toString(), options.maxBytes, options);
  } catch (error) {
    if (error instanceof HttpStatusError && error.status === 404) return undefined;
    throw error;
  }
}

/** The file name a chart archive is signed under: its URL's last path segment (as `helm verify`). */
export function chartFileName(version: ChartVersion): string {
  const segment = new URL(version.url).pathname.split('/').pop() ?? '';
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

async function downloadBeside(
  repository: ArtifactRepository,
  url: string,
  maxBytes: number,
  options: { timeoutMs: number; allowPrivateAddresses: boolean; signal?: AbortSignal },
): Promise<Buffer> {
  const base = new URL(repositoryBase(repository.url));
  const target = new URL(url);
  const underRepository = target.origin === base.origin && target.pathname.startsWith(base.pathname);
  const request = requestOptions(repository, options);
  return httpGet(url, {
    ...request,
    // Credentials go to the repository's own URLs only (what its Secret agreed to).
    auth: underRepository ? request.auth : undefined,
    maxBytes,
  });
}

/**
 * The version `range` picks: an exact version, else the highest satisfying the range (prereleases
 * only when the range names one, as semver does).
 */
export function chooseChartVersion(
  versions: readonly ChartVersion[],
  range: string,
  where: { chart: string; repository: string },
): ChartVersion {
  const exact = versions.find((v) => v.version === range || v.version === `v${range}`);
  if (exact) return exact;
  const valid = semver.validRange(range, { loose: false });
  if (valid === null)
    throw new UserError(
      `version ${quote(range)} of chart ${quote(where.chart)} is neither a version in ${where.repository} nor a semver range`,
    );
  const usable = versions.filter((v) => semver.valid(v.version, { loose: true }) !== null);
  const best = semver.maxSatisfying(
    usable.map((v) => v.version),
    valid,
    { loose: true },
  );
  const chosen = best === null ? undefined : usable.find((v) => v.version === best);
  if (!chosen) {
    const newest = [...usable]
      .sort((a, b) => semver.rcompare(a.version, b.version, true))
      .slice(0, 5)
      .map((v) => v.version);
    throw new UserError(
      `no version of chart ${quote(where.chart)} in ${where.repository} satisfies ${quote(range)} (${
        newest.length ? `it has ${newest.join(', ')}` : 'it has no versions'
      })`,
    );
  }
  return chosen;
}

function requestOptions(
  repository: ArtifactRepository,
  options: { timeoutMs: number; allowPrivateAddresses: boolean; signal?: AbortSignal },
): Omit<HttpGetOptions, 'maxBytes'> {
  return {
    timeoutMs: repository.timeoutMs ?? options.timeoutMs,
    auth: repository.artifact.auth,
    allowInsecureHttp: repository.artifact.allowInsecureHttp ?? false,
    caPem: repository.artifact.caPem,
    allowPrivateAddresses: options.allowPrivateAddresses,
    ...(options.signal ? { signal: options.signal } : {}),
  };
}

/** The repository URL as a base for relative URLs: always ending in `/`. */
function repositoryBase(url: string): string {
  const parsed = new URL(url);
  parsed.search = '';
  parsed.hash = '';
  if (!parsed.pathname.endsWith('/')) parsed.pathname += '/';
  return parsed.toString();
}

function chartUrl(base: string, urls: readonly string[]): string {
  const first = urls[0];
  if (first === undefined) throw new UserError('the index gives no URL for this chart version');
  const resolved = new URL(first, base);
  if (resolved.protocol !== 'https:' && resolved.protocol !== 'http:')
    throw new UserError(`the index points at ${quote(redactUrl(first))}, which is not an http(s) URL`);
  return resolved.toString();
}

/** The index's entries for `chart`, each checked for the fields used. */
function chartEntries(text: string, chart: string, repository: ArtifactRepository): IndexEntry[] {
  const where = quote(redactUrl(repository.url));
  const [document] = parseYamlStream(text, 'index.yaml', {
    maxAliasCount: 100,
    maxDepth: 64,
    maxDocuments: 1,
  });
  const entries = (document?.value as { entries?: unknown } | undefined)?.entries;
  if (entries === null || typeof entries !== 'object' || Array.isArray(entries))
    throw new UserError(`the index.yaml of ${where} has no entries`);
  const list = (entries as Record<string, unknown>)[chart];
  if (!Object.hasOwn(entries, chart) || !Array.isArray(list))
    throw new UserError(`chart ${quote(chart)} is not in the Helm repository ${where}`);
  return list.flatMap((raw: unknown): IndexEntry[] => {
    if (raw === null || typeof raw !== 'object') return [];
    const entry = raw as Record<string, unknown>;
    const version = entry.version;
    const urls = Array.isArray(entry.urls)
      ? entry.urls.filter((u): u is string => typeof u === 'string')
      : [];
    if (typeof version !== 'string' || version.length > 128 || urls.length === 0) return [];
    return [
      {
        version,
        urls,
        ...(typeof entry.digest === 'string' && entry.digest !== '' ? { digest: entry.digest } : {}),
        ...(typeof entry.created === 'string' ? { created: entry.created.slice(0, 64) } : {}),
        ...(typeof entry.description === 'string' ? { description: entry.description.slice(0, 256) } : {}),
      },
    ];
  });
}
