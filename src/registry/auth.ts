/**
 * Registry authentication: what the `/v2/` ping's challenge asks for, Basic credentials, and Bearer
 * tokens from the registry's token service (the Docker token protocol the distribution spec uses:
 * `GET <realm>?service=<service>&scope=repository:<name>:pull`, answered with `token` or
 * `access_token` and `expires_in`), cached per realm, service and scope until they expire.
 *
 * Where credentials may go is the point (a registry is hostile, and its challenge names the realm):
 * - Basic credentials: to the registry's own origin only;
 * - to a token realm: when it is on the registry's host (as Gitea, GHCR, Quay and Harbor put it),
 *   over https (or over http when the caller allowed plain http for the registry), or when it is an
 *   https realm on a host the caller allows (`auth.docker.io` for Docker Hub is built in);
 * - a realm on any other host gets no credentials: an anonymous token is asked for when the client
 *   has none, and the request is refused (kind `auth`) when it has some.
 */
import type { Clock } from '../core/time.js';
import { quote } from '../source/redact.js';
import type { RegistryAuth } from './docker-config.js';
import { RegistryError } from './errors.js';
import type { Challenge } from './headers.js';

/** Tokens are kept at least this long (the Docker token spec's default lifetime). */
export const MIN_TOKEN_LIFETIME_MS = 60_000;
/** Tokens are kept at most this long, whatever the service says. */
const MAX_TOKEN_LIFETIME_MS = 24 * 60 * 60_000;
/** A token answer larger than this is refused (real ones are a few KiB). */
export const MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024;
/** Cached tokens per registry; the oldest goes first. */
const MAX_CACHED_TOKENS = 256;
/** A token longer than this is not used (it goes into a header). */
const MAX_TOKEN_LENGTH = 256 * 1024;

/** Token realms on other hosts that may receive credentials, by registry host. */
export const BUILT_IN_REALM_HOSTS: ReadonlyMap<string, readonly string[]> = new Map([
  ['registry-1.docker.io', ['auth.docker.io']],
]);

export type Authorization =
  | { readonly kind: 'none' }
  | { readonly kind: 'basic' }
  | {
      readonly kind: 'bearer';
      readonly realm: URL;
      readonly service: string | undefined;
      /** The scope the challenge names, if any (a 401 on a repository names the one it wants). */
      readonly scope: string | undefined;
    };

/** A scope longer than this in a challenge is ignored (real ones are under a hundred characters). */
const MAX_SCOPE_LENGTH = 1024;

/** What a challenge asks for, given what the client may do. */
export function authorizationFrom(challenges: readonly Challenge[]): Authorization | undefined {
  const bearer = challenges.find((c) => c.scheme === 'bearer');
  if (bearer) {
    const realm = bearer.params.get('realm');
    let url: URL;
    try {
      url = new URL(realm ?? '');
    } catch {
      return undefined;
    }
    const scope = bearer.params.get('scope');
    return {
      kind: 'bearer',
      realm: url,
      service: bearer.params.get('service'),
      scope: scope !== undefined && scope.length <= MAX_SCOPE_LENGTH ? scope : undefined,
    };
  }
  if (challenges.some((c) => c.scheme === 'basic')) return { kind: 'basic' };
  return undefined;
}

export function basicHeader(auth: RegistryAuth): string {
  return `Basic ${Buffer.from(`${auth.username}:${auth.password}`, 'utf8').toString('base64')}`;
}

export interface RealmPolicy {
  /** The registry's origin (`https://ghcr.io`), which its own realm shares the host of. */
  readonly registry: URL;
  readonly plainHttp: boolean;
  /** Hosts (host[:port]) besides the registry's whose https realms may receive credentials. */
  readonly allowedRealmHosts: readonly string[];
}

/** Whether the credentials may go to `realm`; throws when the realm may not be contacted at all. */
export function mayAuthenticateAt(realm: URL, policy: RealmPolicy, hasCredentials: boolean): boolean {
  const refuse = (reason: string): never => {
    throw new RegistryError('auth', `registry ${policy.registry.host}: ${reason}`);
  };
  if (realm.protocol !== 'https:' && realm.protocol !== 'http:')
    refuse('its token service is not an http(s) URL');
  if (realm.username !== '' || realm.password !== '') refuse('its token service URL holds credentials');
  const sameHost = realm.host === policy.registry.host;
  if (realm.protocol === 'http:' && !policy.plainHttp)
    refuse(`its token service ${quote(realm.host)} is plain http://, and plain http was not allowed`);
  if (sameHost) return true;
  const allowed = policy.allowedRealmHosts.includes(realm.host) && realm.protocol === 'https:';
  if (allowed) return true;
  if (hasCredentials)
    refuse(
      `its token service is on another host, ${quote(realm.host)}, which may not receive the credentials ` +
        '(allow that host as a token realm if it is the registry’s own)',
    );
  return false;
}

interface CachedToken {
  readonly token: string;
  readonly expiresAt: number;
}

/** Bearer tokens of one registry, by realm, service and scope. */
export class TokenCache {
  readonly #tokens = new Map<string, CachedToken>();

  constructor(private readonly clock: Clock) {}

  get(key: string): string | undefined {
    const cached = this.#tokens.get(key);
    if (!cached) return undefined;
    if (this.clock.now().getTime() >= cached.expiresAt) {
      this.#tokens.delete(key);
      return undefined;
    }
    return cached.token;
  }

  set(key: string, token: string, lifetimeMs: number): void {
    this.#tokens.delete(key);
    if (this.#tokens.size >= MAX_CACHED_TOKENS) {
      const oldest = this.#tokens.keys().next().value;
      if (oldest !== undefined) this.#tokens.delete(oldest);
    }
    this.#tokens.set(key, { token, expiresAt: this.clock.now().getTime() + lifetimeMs });
  }

  forget(key: string): void {
    this.#tokens.delete(key);
  }
}

export function tokenKey(realm: URL, service: string | undefined, scope: string): string {
  return `${realm.href}\n${service ?? ''}\n${scope}`;
}

/** The token request: the realm with `service` and `scope` added to whatever query it has. */
export function tokenUrl(realm: URL, service: string | undefined, scope: string): URL {
  const url = new URL(realm.href);
  if (service !== undefined) url.searchParams.set('service', service);
  if (scope !== '') url.searchParams.set('scope', scope);
  return url;
}

/** The token and how long to keep it, from a token service's JSON answer. */
export function readTokenAnswer(body: Buffer, peer: string): { token: string; lifetimeMs: number } {
  const fail = (reason: string): never => {
    throw new RegistryError('protocol', `${peer}: ${reason}`);
  };
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    return fail('its token answer is not JSON');
  }
  if (typeof json !== 'object' || json === null) return fail('its token answer is not a JSON object');
  const answer = json as { token?: unknown; access_token?: unknown; expires_in?: unknown };
  const token =
    typeof answer.token === 'string' && answer.token !== ''
      ? answer.token
      : typeof answer.access_token === 'string'
        ? answer.access_token
        : '';
  if (token === '') fail('its token answer holds no token');
  if (token.length > MAX_TOKEN_LENGTH || /[\s\0]/.test(token)) fail('its token is not usable in a header');
  const seconds =
    typeof answer.expires_in === 'number' && Number.isFinite(answer.expires_in) ? answer.expires_in : 0;
  const lifetimeMs = Math.min(MAX_TOKEN_LIFETIME_MS, Math.max(MIN_TOKEN_LIFETIME_MS, seconds * 1000));
  return { token, lifetimeMs };
}
