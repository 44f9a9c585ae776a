/**
 * The OCI distribution client (https://github.com/opencontainers/distribution-spec): list tags,
 * resolve a tag to a digest, read a manifest, fetch a blob, and when an image was created.
 *
 * Each call is a short pipeline — ping the registry once to learn its challenge, authorize, send
 * (following redirects by hand), retry once on a fresh challenge, then check and bound the answer —
 * with the rules for a hostile registry in the helpers it calls: auth.ts (where credentials go),
 * http.ts (bounds, deadlines, addresses), headers.ts (challenge and Link parsing).
 */
import { UserError } from '../core/errors.js';
import { retryAfterMs, systemClock, type Clock } from '../core/time.js';
import { quote } from '../source/redact.js';
import {
  BUILT_IN_REALM_HOSTS,
  MAX_TOKEN_RESPONSE_BYTES,
  TokenCache,
  authorizationFrom,
  basicHeader,
  mayAuthenticateAt,
  readTokenAnswer,
  tokenKey,
  tokenUrl,
  type Authorization,
} from './auth.js';
import { hostKey, type RegistryAuth } from './docker-config.js';
import { RegistryError } from './errors.js';
import { nextLink, parseChallenges } from './headers.js';
import { headerText, requestSignal, send, type ConnectionPolicy, type Exchange } from './http.js';
import {
  MANIFEST_MEDIA_TYPES,
  checkReference,
  dateOf,
  digestMismatch,
  headerDigest,
  isDigest,
  manifestInfoFromHeaders,
  manifestMediaType,
  parseManifest,
  preferredChild,
  readTagPage,
  type ManifestInfo,
  type ManifestJson,
} from './content.js';
import { apiHostOf, checkImageName, type ImageName } from './names.js';

export interface RequestOptions {
  readonly signal?: AbortSignal | undefined;
}

export interface RegistryClient {
  /** Every tag of the repository, following pagination, bounded (RegistryLimits). */
  listTags(image: ImageName, options?: RequestOptions): Promise<readonly string[]>;
  /** The digest, media type and size of a tag's (or digest's) manifest, preferably by HEAD. */
  resolve(image: ImageName, reference: string, options?: RequestOptions): Promise<ManifestInfo>;
  /** The manifest (or index), at most 4 MiB, its digest computed (and checked when `reference` is one). */
  getManifest(
    image: ImageName,
    reference: string,
    options?: RequestOptions,
  ): Promise<{ readonly info: ManifestInfo; readonly json: unknown }>;
  /** A blob, at most `maxBytes` (counted while reading), its sha256 checked. */
  fetchBlob(
    image: ImageName,
    digest: string,
    options: { readonly maxBytes: number; readonly signal?: AbortSignal | undefined },
  ): Promise<Buffer>;
  /**
   * When the image was built: the `org.opencontainers.image.created` annotation, else the config's
   * `created` (config at most 1 MiB); for an index, its annotation or its first image's (linux/amd64
   * preferred). Undefined when the registry does not tell.
   */
  createdAt(image: ImageName, reference: string, options?: RequestOptions): Promise<Date | undefined>;
}

export interface RegistryLimits {
  /** Most tags a listing may hold. Default 50,000. */
  readonly maxTags: number;
  /** Most bytes of tag-list JSON over all pages. Default 16 MiB. */
  readonly maxTagListBytes: number;
  /** Most pages of a tag listing. Default 1,000. */
  readonly maxTagPages: number;
  /** Largest manifest. Default 4 MiB. */
  readonly maxManifestBytes: number;
  /** Largest image config read by `createdAt`. Default 1 MiB. */
  readonly maxConfigBytes: number;
}

export const DEFAULT_LIMITS: RegistryLimits = {
  maxTags: 50_000,
  maxTagListBytes: 16 * 1024 * 1024,
  maxTagPages: 1_000,
  maxManifestBytes: 4 * 1024 * 1024,
  maxConfigBytes: 1024 * 1024,
};

export interface RegistryClientOptions {
  /**
   * Credentials for exactly one registry host: `registry` when given, else the host of the first
   * image the client is used with; a call for another host with these credentials is refused.
   */
  readonly auth?: RegistryAuth | undefined;
  /** The host (as in ImageName.registry) the credentials are for. */
  readonly registry?: string | undefined;
  /** Talk plain http:// to the registry (and let credentials travel in the clear). Default https://. */
  readonly plainHttp?: boolean | undefined;
  /** Per request (redirects and the body included). Default 30 s. */
  readonly timeoutMs?: number | undefined;
  /** The operator's switch: allow link-local and cloud metadata addresses. */
  readonly allowPrivateAddresses?: boolean | undefined;
  /** Extra CA certificate(s), PEM, for https. */
  readonly caPem?: string | undefined;
  /** Hosts (host[:port]) of https token services on other hosts that may receive the credentials. */
  readonly tokenRealmHosts?: readonly string[] | undefined;
  /** Asks for tag pages of this many (`?n=`); default: the registry's own page size. */
  readonly tagPageSize?: number | undefined;
  readonly limits?: Partial<RegistryLimits> | undefined;
  /** For token lifetimes. Default the system clock. */
  readonly clock?: Clock | undefined;
}

export const DEFAULT_TIMEOUT_MS = 30_000;
const MAX_REDIRECTS = 5;
/** The bound on error bodies, read only for the spec's error codes. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;

export function createRegistryClient(options: RegistryClientOptions = {}): RegistryClient {
  return new DistributionClient(options);
}

/** What one request needs besides its URL. */
interface CallSpec {
  readonly method: 'GET' | 'HEAD';
  readonly accept?: string;
  /** Names the thing asked for in errors: `tag list`, `manifest '1.2.0'`, `blob sha256:…`. */
  readonly what: string;
  readonly signal?: AbortSignal | undefined;
}

/** Per registry host: its origin, what its ping said, and its tokens. */
interface RegistryState {
  readonly host: string;
  readonly origin: URL;
  challenge?: Promise<Authorization>;
  readonly tokens: TokenCache;
}

class DistributionClient implements RegistryClient {
  readonly #options: RegistryClientOptions;
  readonly #limits: RegistryLimits;
  readonly #policy: ConnectionPolicy;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  readonly #registries = new Map<string, RegistryState>();
  #authHost: string | undefined;

  constructor(options: RegistryClientOptions) {
    this.#options = options;
    this.#limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.#policy = { allowPrivateAddresses: options.allowPrivateAddresses ?? false, caPem: options.caPem };
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#clock = options.clock ?? systemClock;
    this.#authHost = options.registry === undefined ? undefined : hostKey(options.registry);
  }

  // ── The calls ──────────────────────────────────────────────────────────────────────────────────

  async listTags(image: ImageName, options: RequestOptions = {}): Promise<readonly string[]> {
    const registry = this.#registryOf(image);
    const first = this.#url(registry, image, 'tags/list');
    if (this.#options.tagPageSize !== undefined)
      first.searchParams.set('n', String(this.#options.tagPageSize));
    const tags = new Set<string>();
    const visited = new Set<string>();
    let bytes = 0;
    let url: URL | undefined = first;
    for (let page = 1; url !== undefined; page++) {
      if (page > this.#limits.maxTagPages)
        throw this.#tooLarge(registry, `the tag list runs to more than ${this.#limits.maxTagPages} pages`);
      visited.add(url.href);
      const exchange = await this.#call(registry, image, url, {
        method: 'GET',
        what: 'the tag list',
        ...options,
      });
      const left = this.#limits.maxTagListBytes - bytes;
      const body = await exchange.read(left, 'the tag list').catch((error: unknown) => {
        throw error instanceof RegistryError && error.reason === 'tooLarge'
          ? this.#tooLarge(registry, `the tag list is larger than ${this.#limits.maxTagListBytes} bytes`)
          : error;
      });
      bytes += body.length;
      for (const tag of readTagPage(body, registry.host)) tags.add(tag);
      if (tags.size > this.#limits.maxTags)
        throw this.#tooLarge(registry, `the repository has more than ${this.#limits.maxTags} tags`);
      url = this.#nextPage(registry, exchange, first, visited);
    }
    return [...tags];
  }

  async resolve(image: ImageName, reference: string, options: RequestOptions = {}): Promise<ManifestInfo> {
    const registry = this.#registryOf(image);
    checkReference(reference);
    const url = this.#url(registry, image, `manifests/${reference}`);
    const exchange = await this.#call(registry, image, url, {
      method: 'HEAD',
      accept: MANIFEST_MEDIA_TYPES.join(', '),
      what: `manifest ${quote(reference)}`,
      ...options,
    }).catch((error: unknown) => {
      // Some registries do not answer HEAD (405) or answer it badly: GET tells the same.
      if (error instanceof RegistryError && error.reason === 'protocol') return undefined;
      throw error;
    });
    exchange?.discard();
    const fromHead = exchange && manifestInfoFromHeaders(exchange);
    if (fromHead) {
      if (isDigest(reference) && fromHead.digest !== reference)
        throw digestMismatch(registry.host, `manifest ${reference}`, fromHead.digest);
      return fromHead;
    }
    return (await this.getManifest(image, reference, options)).info;
  }

  async getManifest(
    image: ImageName,
    reference: string,
    options: RequestOptions = {},
  ): Promise<{ readonly info: ManifestInfo; readonly json: unknown }> {
    const registry = this.#registryOf(image);
    checkReference(reference);
    const what = `manifest ${quote(reference)}`;
    const url = this.#url(registry, image, `manifests/${reference}`);
    const exchange = await this.#call(registry, image, url, {
      method: 'GET',
      accept: MANIFEST_MEDIA_TYPES.join(', '),
      what,
      ...options,
    });
    const { body, digest } = await exchange.readHashed(this.#limits.maxManifestBytes, `the ${what}`);
    const expected = isDigest(reference) ? reference : headerDigest(exchange);
    if (expected !== undefined && expected !== digest) throw digestMismatch(registry.host, what, digest);
    const json = parseManifest(body, registry.host, what);
    const mediaType = manifestMediaType(json, exchange.headers['content-type'], registry.host, what);
    return { info: { digest, mediaType, size: body.length }, json };
  }

  async fetchBlob(
    image: ImageName,
    digest: string,
    options: { readonly maxBytes: number; readonly signal?: AbortSignal | undefined },
  ): Promise<Buffer> {
    const registry = this.#registryOf(image);
    if (!isDigest(digest)) throw new UserError(`blob digest ${quote(digest, 80)} is not a sha256 digest`);
    const what = `blob ${digest}`;
    const url = this.#url(registry, image, `blobs/${digest}`);
    const exchange = await this.#call(registry, image, url, { method: 'GET', what, signal: options.signal });
    const read = await exchange.readHashed(options.maxBytes, `the ${what}`);
    if (read.digest !== digest) throw digestMismatch(registry.host, what, read.digest);
    return read.body;
  }

  async createdAt(
    image: ImageName,
    reference: string,
    options: RequestOptions = {},
  ): Promise<Date | undefined> {
    let manifest = (await this.getManifest(image, reference, options)).json as ManifestJson;
    const fromIndex = dateOf(manifest.annotations?.['org.opencontainers.image.created']);
    if (fromIndex) return fromIndex;
    if (Array.isArray(manifest.manifests)) {
      const child = preferredChild(manifest.manifests);
      if (!child) return undefined;
      manifest = (await this.getManifest(image, child, options)).json as ManifestJson;
      const annotated = dateOf(manifest.annotations?.['org.opencontainers.image.created']);
      if (annotated) return annotated;
    }
    const config = manifest.config?.digest;
    if (typeof config !== 'string' || !isDigest(config)) return undefined;
    const blob = await this.fetchBlob(image, config, { maxBytes: this.#limits.maxConfigBytes, ...options });
    try {
      return dateOf((JSON.parse(blob.toString('utf8')) as { created?: unknown }).created);
    } catch {
      return undefined;
    }
  }

  // ── One request: authorize, send, retry once on a challenge, check the status ──────────────────

  async #call(registry: RegistryState, image: ImageName, url: URL, spec: CallSpec): Promise<Exchange> {
    const scope = `repository:${image.repository}:pull`;
    let authorization = await this.#authorization(registry, scope, spec.signal, undefined);
    for (let attempt = 0; ; attempt++) {
      const exchange = await this.#sendFollowing(registry, url, spec, authorization);
      if (exchange.status !== 401 || attempt > 0) return this.#checkStatus(registry, exchange, spec);
      // A fresh challenge (a token expired early, or the repository wants another scope): once.
      const challenge = authorizationFrom(parseChallenges(exchange.headers['www-authenticate']));
      if (!challenge || (challenge.kind === 'basic' && !this.#options.auth))
        return this.#checkStatus(registry, exchange, spec);
      exchange.discard();
      registry.challenge = Promise.resolve(challenge);
      const wanted = challenge.kind === 'bearer' ? challenge.scope : undefined;
      authorization = await this.#authorization(registry, wanted ?? scope, spec.signal, authorization);
    }
  }

  /** The Authorization header for `scope`, from the ping's challenge; `stale` is not used again. */
  async #authorization(
    registry: RegistryState,
    scope: string,
    signal: AbortSignal | undefined,
    stale: string | undefined,
  ): Promise<string | undefined> {
    const challenge = await this.#challenge(registry, signal);
    const auth = this.#authFor(registry);
    if (challenge.kind === 'none') return undefined;
    if (challenge.kind === 'basic') return auth ? basicHeader(auth) : undefined;
    const key = tokenKey(challenge.realm, challenge.service, scope);
    const cached = registry.tokens.get(key);
    if (cached !== undefined && `Bearer ${cached}` !== stale) return `Bearer ${cached}`;
    registry.tokens.forget(key);
    const token = await this.#fetchToken(registry, challenge, scope, auth, signal);
    registry.tokens.set(key, token.token, token.lifetimeMs);
    return `Bearer ${token.token}`;
  }

  /** What `GET /v2/` says about authentication, asked once per registry (again after a failure). */
  #challenge(registry: RegistryState, signal: AbortSignal | undefined): Promise<Authorization> {
    registry.challenge ??= this.#ping(registry, signal).catch((error: unknown) => {
      registry.challenge = undefined;
      throw error;
    });
    return registry.challenge;
  }

  async #ping(registry: RegistryState, signal: AbortSignal | undefined): Promise<Authorization> {
    const url = new URL('/v2/', registry.origin);
    const exchange = await this.#sendFollowing(
      registry,
      url,
      { method: 'GET', what: 'the API root', signal },
      undefined,
    );
    exchange.discard();
    if (exchange.status === 200) return { kind: 'none' };
    if (exchange.status === 401) {
      const challenge = authorizationFrom(parseChallenges(exchange.headers['www-authenticate']));
      if (challenge) return challenge;
      throw new RegistryError(
        'protocol',
        `registry ${registry.host}: it asks for authentication it does not name`,
        {
          status: 401,
        },
      );
    }
    return this.#checkStatus(registry, exchange, { method: 'GET', what: 'the API root (/v2/)', signal }).then(
      () => ({
        kind: 'none' as const,
      }),
    );
  }

  async #fetchToken(
    registry: RegistryState,
    challenge: Extract<Authorization, { kind: 'bearer' }>,
    scope: string,
    auth: RegistryAuth | undefined,
    signal: AbortSignal | undefined,
  ): Promise<{ token: string; lifetimeMs: number }> {
    const withCredentials = mayAuthenticateAt(
      challenge.realm,
      {
        registry: registry.origin,
        plainHttp: this.#options.plainHttp ?? false,
        allowedRealmHosts: [
          ...(BUILT_IN_REALM_HOSTS.get(registry.origin.host) ?? []),
          ...(this.#options.tokenRealmHosts ?? []).map((h) => h.toLowerCase()),
        ],
      },
      auth !== undefined,
    );
    const peer = `registry ${registry.host}: its token service`;
    const exchange = await send(
      tokenUrl(challenge.realm, challenge.service, scope),
      {
        method: 'GET',
        headers: {
          accept: 'application/json',
          ...(withCredentials && auth ? { authorization: basicHeader(auth) } : {}),
        },
        signal: requestSignal(signal, this.#timeoutMs),
        peer,
      },
      this.#policy,
    );
    if (exchange.status === 401 || exchange.status === 403) {
      exchange.discard();
      throw new RegistryError(
        'auth',
        `${peer} refused ${auth ? 'the credentials' : 'an anonymous token'} (HTTP ${exchange.status})`,
        { status: exchange.status },
      );
    }
    await this.#checkStatus(registry, exchange, { method: 'GET', what: 'its token service', signal });
    return readTokenAnswer(await exchange.read(MAX_TOKEN_RESPONSE_BYTES, 'the token answer'), peer);
  }

  /**
   * Sends the request, following up to MAX_REDIRECTS redirects by hand: the Authorization header
   * goes only to the registry's origin (a blob redirected to a CDN is fetched without it), and a
   * redirect from https to plain http is refused.
   */
  async #sendFollowing(
    registry: RegistryState,
    start: URL,
    spec: CallSpec,
    authorization: string | undefined,
  ): Promise<Exchange> {
    const deadline = requestSignal(spec.signal, this.#timeoutMs);
    let url = start;
    for (let hop = 0; ; hop++) {
      const sameOrigin = url.origin === registry.origin.origin;
      const exchange = await send(
        url,
        {
          method: spec.method,
          headers: {
            ...(spec.accept ? { accept: spec.accept } : {}),
            ...(authorization !== undefined && sameOrigin ? { authorization } : {}),
          },
          signal: deadline,
          peer: sameOrigin
            ? `registry ${registry.host}`
            : `registry ${registry.host}: a redirect to ${quote(url.host)}`,
        },
        this.#policy,
      );
      if (![301, 302, 303, 307, 308].includes(exchange.status)) return exchange;
      exchange.discard();
      if (hop >= MAX_REDIRECTS)
        throw new RegistryError(
          'protocol',
          `registry ${registry.host}: more than ${MAX_REDIRECTS} redirects for ${spec.what}`,
        );
      url = redirectTarget(registry, url, exchange.headers.location);
    }
  }

  /** 2xx passes; anything else becomes a RegistryError naming the spec error codes, if any. */
  async #checkStatus(registry: RegistryState, exchange: Exchange, spec: CallSpec): Promise<Exchange> {
    const status = exchange.status;
    if (status >= 200 && status < 300) return exchange;
    const codes = spec.method === 'HEAD' ? '' : await errorCodes(exchange);
    exchange.discard();
    const about = `registry ${registry.host}: ${spec.what}`;
    const detail = `HTTP ${status}${codes ? `, ${codes}` : ''}`;
    if (status === 401 || status === 403)
      throw new RegistryError(
        'auth',
        `${about}: access refused (${detail})${this.#authFor(registry) ? '' : '; credentials may be needed'}`,
        { status },
      );
    if (status === 404) throw new RegistryError('notFound', `${about} was not found (${detail})`, { status });
    if (status === 429 || status >= 500) {
      const wait = retryAfterMs(headerText(exchange.headers['retry-after']), this.#clock.now());
      throw new RegistryError(
        'unreachable',
        `${about}: ${status === 429 ? 'rate limited' : 'the registry failed'} (${detail})`,
        {
          status,
          ...(wait !== undefined ? { retryAfterMs: wait } : status === 429 ? { retryAfterMs: 60_000 } : {}),
        },
      );
    }
    throw new RegistryError('protocol', `${about}: unexpected answer (${detail})`, { status });
  }

  // ── Helpers that know the client's state ───────────────────────────────────────────────────────

  #registryOf(image: ImageName): RegistryState {
    checkImageName(image);
    const host = image.registry.toLowerCase();
    let registry = this.#registries.get(host);
    if (!registry) {
      const scheme = this.#options.plainHttp ? 'http' : 'https';
      registry = {
        host,
        origin: new URL(`${scheme}://${apiHostOf(image)}`),
        tokens: new TokenCache(this.#clock),
      };
      this.#registries.set(host, registry);
    }
    if (this.#options.auth && this.#authHost === undefined) this.#authHost = host;
    return registry;
  }

  /** The credentials, for the one host they belong to; another host's call is refused. */
  #authFor(registry: RegistryState): RegistryAuth | undefined {
    if (!this.#options.auth) return undefined;
    if (registry.host !== this.#authHost)
      throw new RegistryError(
        'auth',
        `registry ${registry.host}: this client's credentials are for ${quote(this.#authHost ?? '')}, not for it`,
      );
    return this.#options.auth;
  }

  #url(registry: RegistryState, image: ImageName, rest: string): URL {
    return new URL(`/v2/${image.repository}/${rest}`, registry.origin);
  }

  /** The next page from the Link header: same origin and path only, never a page seen before. */
  #nextPage(registry: RegistryState, exchange: Exchange, first: URL, visited: Set<string>): URL | undefined {
    const link = nextLink(exchange.headers.link);
    if (link === undefined) return undefined;
    let next: URL;
    try {
      next = new URL(link, exchange.url);
    } catch {
      throw new RegistryError('protocol', `registry ${registry.host}: its next-page link is not a URL`);
    }
    if (next.origin !== registry.origin.origin || next.pathname !== first.pathname)
      throw new RegistryError(
        'protocol',
        `registry ${registry.host}: its next-page link points elsewhere (${quote(next.host)}${next.origin === registry.origin.origin ? ', another path' : ''}); refused`,
      );
    if (visited.has(next.href))
      throw new RegistryError('protocol', `registry ${registry.host}: its tag list pages go round in a loop`);
    return next;
  }

  #tooLarge(registry: RegistryState, reason: string): RegistryError {
    return new RegistryError('tooLarge', `registry ${registry.host}: ${reason}; refused`);
  }
}

// ── Helpers ──────────────────────────────────────────────────────────────────────────────────────

function redirectTarget(registry: RegistryState, from: URL, location: string | undefined): URL {
  let next: URL;
  try {
    next = new URL(location ?? '', from);
  } catch {
    throw new RegistryError('protocol', `registry ${registry.host}: a redirect without a valid Location`);
  }
  if (location === undefined || (next.protocol !== 'https:' && next.protocol !== 'http:'))
    throw new RegistryError('protocol', `registry ${registry.host}: a redirect without a valid Location`);
  if (from.protocol === 'https:' && next.protocol === 'http:')
    throw new RegistryError(
      'protocol',
      `registry ${registry.host}: a redirect from https:// to plain http://; refused`,
    );
  if (next.username !== '' || next.password !== '')
    throw new RegistryError(
      'protocol',
      `registry ${registry.host}: a redirect to a URL with credentials; refused`,
    );
  return next;
}

/** The spec's error codes (`MANIFEST_UNKNOWN`, `DENIED`, …) of an error body; never its messages. */
async function errorCodes(exchange: Exchange): Promise<string> {
  try {
    const body = await exchange.read(MAX_ERROR_BODY_BYTES, 'the error');
    const errors = (JSON.parse(body.toString('utf8')) as { errors?: unknown }).errors;
    if (!Array.isArray(errors)) return '';
    const codes = errors
      .map((e) => (e as { code?: unknown }).code)
      .filter((c): c is string => typeof c === 'string' && /^[A-Z_]{1,40}$/.test(c));
    return [...new Set(codes)].slice(0, 3).join(', ');
  } catch {
    return '';
  }
}
