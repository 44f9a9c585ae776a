/**
 * What a registry serves, checked: tags and references, tag-list pages, manifests (OCI and Docker
 * v2, images and indexes), their digests and media types, and creation times. Pure functions; the
 * client (client.ts) fetches, these decide whether what came is acceptable.
 */
import { UserError } from '../core/errors.js';
import { quote } from '../source/redact.js';
import { RegistryError } from './errors.js';
import { headerText, type Exchange } from './http.js';

export interface ManifestInfo {
  /** `sha256:<hex>` */
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
}

/** What the client asks for and accepts: OCI and Docker v2 images and indexes (no schema 1). */
export const MANIFEST_MEDIA_TYPES = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
] as const;

const DIGEST = /^sha256:[a-f0-9]{64}$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

/** Whether a reference is a digest (sha256, the only algorithm accepted) rather than a tag. */
export function isDigest(reference: string): boolean {
  return DIGEST.test(reference);
}

/** The fields of a manifest or index the client reads; everything else passes through untouched. */
export interface ManifestJson {
  readonly schemaVersion?: unknown;
  readonly mediaType?: unknown;
  readonly annotations?: Record<string, unknown>;
  readonly manifests?: readonly { digest?: unknown; platform?: { os?: unknown; architecture?: unknown } }[];
  readonly config?: { digest?: unknown };
}

/** A tag (`[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`, as the spec says) or a digest; throws a UserError. */
export function checkReference(reference: string): void {
  if (!TAG.test(reference) && !isDigest(reference))
    throw new UserError(`${quote(reference, 80)} is neither a tag nor a sha256 digest`);
}

/** The valid tags of one tag-list page. */
export function readTagPage(body: Buffer, host: string): string[] {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    throw new RegistryError('protocol', `registry ${host}: its tag list is not JSON`);
  }
  const tags = (json as { tags?: unknown } | null)?.tags;
  if (tags === null || tags === undefined) return [];
  if (!Array.isArray(tags))
    throw new RegistryError('protocol', `registry ${host}: its tag list has no "tags" array`);
  // A name that is not a valid tag cannot be pulled, nor safely written into a manifest: dropped.
  return tags.filter((tag): tag is string => typeof tag === 'string' && TAG.test(tag));
}

/** What a HEAD answer tells of a manifest, when it tells all of it (digest, media type, size). */
export function manifestInfoFromHeaders(exchange: Exchange): ManifestInfo | undefined {
  const digest = headerDigest(exchange);
  const mediaType = mediaTypeOf(exchange.headers['content-type']);
  const size = Number(exchange.headers['content-length']);
  if (digest === undefined || !(MANIFEST_MEDIA_TYPES as readonly string[]).includes(mediaType))
    return undefined;
  if (!Number.isSafeInteger(size) || size < 0) return undefined;
  return { digest, mediaType, size };
}

/** `Docker-Content-Digest`, when it is a sha256 digest. */
export function headerDigest(exchange: Exchange): string | undefined {
  const value = headerText(exchange.headers['docker-content-digest'])?.trim();
  return value !== undefined && isDigest(value) ? value : undefined;
}

/** A manifest's JSON, refused unless it is a schema 2 object. */
export function parseManifest(body: Buffer, host: string, what: string): ManifestJson {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    throw new RegistryError('protocol', `registry ${host}: ${what} is not JSON`);
  }
  if (
    typeof json !== 'object' ||
    json === null ||
    Array.isArray(json) ||
    (json as ManifestJson).schemaVersion !== 2
  )
    throw new RegistryError('protocol', `registry ${host}: ${what} is not a schema 2 manifest`);
  return json as ManifestJson;
}

/** The manifest's own `mediaType`, else Content-Type; refused unless OCI or Docker v2. */
export function manifestMediaType(
  json: ManifestJson,
  contentType: string | undefined,
  host: string,
  what: string,
): string {
  const mediaType = typeof json.mediaType === 'string' ? json.mediaType : mediaTypeOf(contentType);
  if (!(MANIFEST_MEDIA_TYPES as readonly string[]).includes(mediaType))
    throw new RegistryError(
      'protocol',
      `registry ${host}: ${what} has media type ${quote(mediaType, 100)}, not an OCI or Docker v2 manifest or index`,
    );
  return mediaType;
}

function mediaTypeOf(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/** The child manifest an index's creation time is read from: linux/amd64 if listed, else the first. */
export function preferredChild(manifests: NonNullable<ManifestJson['manifests']>): string | undefined {
  const digests = manifests.filter((m) => typeof m.digest === 'string' && isDigest(m.digest));
  const amd64 = digests.find((m) => m.platform?.os === 'linux' && m.platform.architecture === 'amd64');
  return (amd64 ?? digests[0])?.digest as string | undefined;
}

/** An RFC 3339 time, or undefined when absent, unreadable or a placeholder. */
export function dateOf(value: unknown): Date | undefined {
  if (typeof value !== 'string' || value.length > 64) return undefined;
  const time = Date.parse(value);
  // Go's zero time (`0001-01-01T00:00:00Z`, what crane and reproducible builds write) and the Unix
  // epoch mean "not recorded".
  return Number.isNaN(time) || time <= 0 ? undefined : new Date(time);
}

/** Content that is not what its digest says. */
export function digestMismatch(host: string, what: string, actual: string): RegistryError {
  return new RegistryError(
    'digest',
    `registry ${host}: ${what} does not match its digest (got ${actual}); refused`,
  );
}
