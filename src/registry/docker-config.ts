/**
 * Registry credentials from a docker config (`.dockerconfigjson` of a `kubernetes.io/dockerconfigjson`
 * Secret, or the older `.dockercfg`): `{"auths": {"<host>": {"auth": base64("user:password")}}}` or
 * `{"username", "password"}`. Keys come as people and tools write them: `ghcr.io`,
 * `https://ghcr.io`, `https://index.docker.io/v1/`, `127.0.0.1:5000`.
 *
 * The content is a secret: errors say what is wrong in general words and never quote it (JSON.parse's
 * own messages do quote the input, so they are not passed on, not even as a cause).
 */
import { UserError } from '../core/errors.js';
import { DOCKER_HUB } from './names.js';

export interface RegistryAuth {
  readonly username: string;
  /** A password or a token. */
  readonly password: string;
}

/** A Secret holds at most 1 MiB; a docker config larger than that is not one. */
export const MAX_DOCKER_CONFIG_BYTES = 1024 * 1024;
/** The longest user name or password accepted (registry tokens run to a few KiB). */
const MAX_CREDENTIAL_LENGTH = 64 * 1024;

const DOCKER_HUB_KEYS = new Set([DOCKER_HUB, 'index.docker.io', 'registry-1.docker.io']);

/**
 * The credentials for `registry` (host[:port], as in an ImageName), or undefined when the config
 * has none for it. Throws a UserError, without quoting the content, when the config is malformed.
 */
export function authFromDockerConfig(json: string, registry: string): RegistryAuth | undefined {
  const refuse = (reason: string): never => {
    throw new UserError(`the docker config is not valid: ${reason}`);
  };
  if (typeof json !== 'string') return refuse('it is not text');
  if (Buffer.byteLength(json, 'utf8') > MAX_DOCKER_CONFIG_BYTES)
    refuse(`it is larger than ${MAX_DOCKER_CONFIG_BYTES / 1024} KiB`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return refuse('it is not JSON');
  }
  if (!isObject(parsed)) return refuse('it is not a JSON object');
  // `.dockerconfigjson` nests the hosts under "auths"; the older `.dockercfg` has them at the top.
  const auths = 'auths' in parsed ? parsed.auths : parsed;
  if (!isObject(auths)) return refuse('"auths" is not an object');

  const wanted = hostKey(registry);
  for (const [key, entry] of Object.entries(auths)) {
    if (hostKey(key) !== wanted) continue;
    if (!isObject(entry)) return refuse('an entry of "auths" is not an object');
    return credentialsOf(entry, refuse);
  }
  return undefined;
}

function credentialsOf(entry: Record<string, unknown>, refuse: (reason: string) => never): RegistryAuth {
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    if (entry.auth.length > MAX_CREDENTIAL_LENGTH * 2) refuse('an "auth" value is too long');
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) refuse('an "auth" value is not base64 of "username:password"');
    return checked(decoded.slice(0, colon), decoded.slice(colon + 1), refuse);
  }
  if (typeof entry.username === 'string' && typeof entry.password === 'string')
    return checked(entry.username, entry.password, refuse);
  if (typeof entry.identitytoken === 'string')
    return refuse('an entry holds an "identitytoken" (OAuth refresh token), which is not supported');
  return refuse('an entry has neither "auth" nor "username" and "password"');
}

function checked(username: string, password: string, refuse: (reason: string) => never): RegistryAuth {
  if (username === '' || password === '') refuse('an entry has an empty user name or password');
  if (username.length > MAX_CREDENTIAL_LENGTH || password.length > MAX_CREDENTIAL_LENGTH)
    refuse('an entry has a user name or password that is too long');
  // A line break would let the value forge an HTTP header or a log line.
  if (/[\r\n\0]/.test(username) || /[\r\n\0]/.test(password))
    refuse('an entry has a user name or password with a line break');
  return { username, password };
}

/**
 * The host a config key or a registry names, compared case-insensitively: no scheme, no path
 * (`https://index.docker.io/v1/` → `docker.io`), Docker Hub's aliases as one.
 */
export function hostKey(key: string): string {
  let host = key.trim().toLowerCase();
  const scheme = host.indexOf('://');
  if (scheme >= 0) host = host.slice(scheme + 3);
  const slash = host.indexOf('/');
  if (slash >= 0) host = host.slice(0, slash);
  return DOCKER_HUB_KEYS.has(host) ? DOCKER_HUB : host;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
