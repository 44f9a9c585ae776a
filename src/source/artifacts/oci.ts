/**
 * OCI artifacts as sources: `oci://host[:port]/path` URLs, refs (tag, semver range over tags, or
 * `sha256:` digest), and the one layer of a manifest that holds the content: a Helm chart
 * (`application/vnd.cncf.helm.chart.content.v1.tar+gzip`), a Flux artifact
 * (`application/vnd.cncf.flux.content.v1.tar+gzip`), or any other tar(+gzip) layer (`oras push` of a
 * folder). Registry access is H3's client (src/registry), which bounds and verifies every read.
 */
import semver from 'semver';
import { UserError } from '../../core/errors.js';
import type { ImageName, RegistryClient } from '../../registry/index.js';
import { formatBytes } from '../../render/limits.js';
import { quote, redactUrl } from '../redact.js';
import { isDigest, parseDigest } from './digest.js';

export const HELM_CHART_LAYER = 'application/vnd.cncf.helm.chart.content.v1.tar+gzip';
export const FLUX_CONTENT_LAYER = 'application/vnd.cncf.flux.content.v1.tar+gzip';

// host[:port] (DNS name, IPv4, or bracketed IPv6), then a path of OCI repository name components.
const OCI_URL =
  /^oci:\/\/([A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?\/(.+)$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** `oci://host/path` → the image name; UserError for anything else. */
export function parseOciUrl(url: string): ImageName {
  const display = quote(redactUrl(url));
  const match = url.length <= 2048 ? OCI_URL.exec(url) : null;
  if (!match) throw new UserError(`OCI URL ${display} must be oci://host[:port]/path`);
  const [, host = '', port = '', path = ''] = match;
  const segments = path.replace(/\/+$/, '').split('/');
  if (!segments.every((segment) => PATH_COMPONENT.test(segment)))
    throw new UserError(`OCI URL ${display}: the path must be lowercase repository names separated by /`);
  return { registry: `${host.toLowerCase()}${port}`, repository: segments.join('/') };
}

/** What a ref asks for: a digest, a tag, or a semver range over the tags. */
export type OciRef =
  | { readonly kind: 'digest'; readonly digest: string }
  | { readonly kind: 'tag'; readonly tag: string }
  | { readonly kind: 'range'; readonly range: string };

/**
 * A tag-shaped ref is a tag (`1.2.3`, `latest`); anything else that is a semver range is a range
 * (`>=1.0.0 <2`, `^1.2`, `1.x || 2.x`). `main`, the Application's default ref, means `latest`.
 */
export function parseOciRef(ref: string): OciRef {
  if (ref.startsWith('sha256:')) return { kind: 'digest', digest: parseDigest(ref, 'ref') };
  if (ref === 'main') return { kind: 'tag', tag: 'latest' };
  if (TAG.test(ref)) return { kind: 'tag', tag: ref };
  if (semver.validRange(ref) !== null) return { kind: 'range', range: ref };
  throw new UserError(`ref ${quote(ref)} is neither an OCI tag, a sha256: digest nor a semver range`);
}

/** The highest tag satisfying `range` (tags may carry a leading `v`). */
export function chooseTag(tags: readonly string[], range: string, where: string): string {
  let best: { tag: string; version: string } | undefined;
  for (const tag of tags) {
    const version = semver.valid(tag, { loose: true });
    if (version === null || !semver.satisfies(version, range)) continue;
    if (!best || semver.gt(version, best.version)) best = { tag, version };
  }
  if (!best) throw new UserError(`no tag of ${where} satisfies ${quote(range)} (${describeTags(tags)})`);
  return best.tag;
}

function describeTags(tags: readonly string[]): string {
  if (tags.length === 0) return 'it has no tags';
  const versions = tags.filter((t) => semver.valid(t, { loose: true }) !== null);
  const newest = versions.sort((a, b) => semver.rcompare(a, b, true)).slice(0, 5);
  return newest.length
    ? `its newest versions are ${newest.join(', ')}`
    : `it has ${tags.length} tag(s), none a version`;
}

/** The layer to unpack and how: a chart's top folder is dropped, so the chart sits at the root. */
export interface ContentLayer {
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
  readonly stripComponents: number;
}

/** The content layer of an OCI image manifest; UserError when there is none (or an index). */
export function contentLayer(manifest: unknown, where: string, maxBytes: number): ContentLayer {
  const json = (manifest ?? {}) as { manifests?: unknown; layers?: unknown };
  if (Array.isArray(json.manifests))
    throw new UserError(`${where} is an image index (several platforms), not an artifact with manifests`);
  const layers = (Array.isArray(json.layers) ? json.layers : []).flatMap((raw: unknown) => {
    const layer = (raw ?? {}) as { mediaType?: unknown; digest?: unknown; size?: unknown };
    if (
      typeof layer.mediaType !== 'string' ||
      typeof layer.digest !== 'string' ||
      typeof layer.size !== 'number'
    )
      return [];
    return [{ mediaType: layer.mediaType, digest: layer.digest, size: layer.size }];
  });
  const pick =
    layers.find((l) => l.mediaType === HELM_CHART_LAYER) ??
    layers.find((l) => l.mediaType === FLUX_CONTENT_LAYER) ??
    onlyTarLayer(layers, where);
  if (!pick)
    throw new UserError(`${where} has no layer Capstan can unpack (a Helm chart, a Flux artifact or a tar)`);
  if (!isDigest(pick.digest)) throw new UserError(`${where}: its layer digest is not sha256`);
  if (!Number.isSafeInteger(pick.size) || pick.size < 0 || pick.size > maxBytes)
    throw new UserError(
      `${where}: its layer declares ${Number.isSafeInteger(pick.size) ? formatBytes(pick.size) : 'an impossible size'}, more than the ${formatBytes(maxBytes)} allowed; refused`,
    );
  return { ...pick, stripComponents: pick.mediaType === HELM_CHART_LAYER ? 1 : 0 };
}

function onlyTarLayer<T extends { mediaType: string }>(layers: readonly T[], where: string): T | undefined {
  const tars = layers.filter((l) => /(^|[.+/])tar(\+gzip|\.gzip|\+gz)?$/.test(l.mediaType));
  if (tars.length > 1)
    throw new UserError(`${where} has ${tars.length} tar layers; Capstan unpacks artifacts of exactly one`);
  return tars[0];
}

/** Resolves an OCI ref to a tag (for the revision's label) and the manifest digest. */
export async function resolveOciRef(
  client: RegistryClient,
  image: ImageName,
  ref: OciRef,
  options: { signal?: AbortSignal },
): Promise<{ label?: string; digest: string }> {
  const where = `${image.registry}/${image.repository}`;
  if (ref.kind === 'digest') {
    const info = await client.resolve(image, ref.digest, options);
    return { digest: info.digest };
  }
  const tag =
    ref.kind === 'tag' ? ref.tag : chooseTag(await client.listTags(image, options), ref.range, where);
  const info = await client.resolve(image, tag, options);
  return { label: tag, digest: info.digest };
}
