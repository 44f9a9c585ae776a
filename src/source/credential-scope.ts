/**
 * Where a credentials Secret may be sent. Whoever writes a Repository chooses its URL, and that
 * person need not be able to read the Secret it names: were the Secret sent wherever the URL
 * points, a tenant could name a Secret it cannot read, point the URL at a server of its own and
 * receive the password. So the Secret itself lists the URL prefixes it serves (as Argo CD's
 * repository credentials do), in the annotation `capstan.dev/git-urls`, and its owner alone decides
 * whether it may travel over plain http://.
 *
 * Matching is on parsed, normalised URLs, never on strings: scheme, host (lower case) and port (the
 * scheme's default made explicit) must be equal, and the prefix's path must be whole leading
 * segments of the URL's. Anything two URL parsers could read differently (a backslash, two `@`, a
 * numeric host spelled oddly, a `..` segment, an encoded `/`) is refused rather than guessed at.
 */
import { UserError } from '../core/errors.js';
import { quote, redactUrl } from './redact.js';
import { parseRepoUrl } from './url.js';

/** On a credentials Secret: the URL prefixes it may be sent to, comma- or newline-separated. */
export const GIT_URLS_ANNOTATION = 'capstan.dev/git-urls';
/** On a credentials Secret: `"true"` lets it be sent over plain http://. */
export const ALLOW_INSECURE_HTTP_ANNOTATION = 'capstan.dev/allow-insecure-http';

/** A Secret as far as its scope goes: who it is and its annotations, never its data. */
export interface CredentialSecret {
  readonly namespace: string;
  readonly name: string;
  readonly annotations?: Readonly<Record<string, string>> | undefined;
}

/** What the Secret's owner allows for this use of it. */
export interface CredentialGrant {
  /** The owner accepts that the Secret goes over plain http:// (`capstan.dev/allow-insecure-http`). */
  readonly allowInsecureHttp: boolean;
}

/** A Secret refused for a URL: a user error, fixed by the Secret's owner or the Repository's. */
export class CredentialScopeError extends UserError {}

/**
 * Allows `secret` to be used for `url`, or throws a CredentialScopeError saying why not. Call it
 * before any Git command runs: a refused Secret must not reach git at all.
 */
export function checkCredentialScope(url: string, secret: CredentialSecret): CredentialGrant {
  // The same checks the source stage makes, so the URL matched here is the one git will be given.
  const repo = parseRepoUrl(url, { allowFileUrls: true });
  const who = `the Secret ${secret.namespace}/${secret.name}`;
  const refuse = (reason: string, cause?: unknown): never => {
    throw new CredentialScopeError(
      `${who} may not be used for ${repo.display}: ${reason}`,
      cause === undefined ? undefined : { cause },
    );
  };

  const entries = splitPrefixes(secret.annotations?.[GIT_URLS_ANNOTATION] ?? '');
  if (entries.length === 0) {
    return refuse(
      `it has no annotation ${GIT_URLS_ANNOTATION} listing the URL prefixes it may be sent to; ` +
        `the Secret's owner must add one (for example ${GIT_URLS_ANNOTATION}: "https://git.example.com/team-a/")`,
    );
  }
  const prefixes = entries.map((entry) => parsePrefix(entry, who));

  let target: Location;
  try {
    target = parseLocation(url, 'url');
  } catch (error) {
    return refuse(reasonOf(error), error);
  }
  // Both parsers must see the same server; a difference means the URL is read two ways.
  if (target.host !== repo.host) {
    return refuse(`its host is ambiguous, so it cannot be matched against ${GIT_URLS_ANNOTATION}`);
  }
  if (!prefixes.some((prefix) => covers(prefix, target))) {
    return refuse(
      `no prefix in its annotation ${GIT_URLS_ANNOTATION} covers this URL (scheme, host, port and ` +
        `leading path segments must match); if the Secret may be sent there, add a prefix for it to the annotation`,
    );
  }

  const allowInsecureHttp = secret.annotations?.[ALLOW_INSECURE_HTTP_ANNOTATION]?.trim() === 'true';
  if (target.scheme === 'http' && !allowInsecureHttp) {
    return refuse(
      `it would be sent over plain http://, readable by anyone on the way; use https://, or, if the ` +
        `Secret's owner accepts that risk, annotate the Secret ${ALLOW_INSECURE_HTTP_ANNOTATION}: "true"`,
    );
  }
  return { allowInsecureHttp };
}

/**
 * One entry of the annotation. A bad one is the owner's mistake and fails the whole Secret, loudly,
 * rather than being skipped: a typo must show, not quietly leave a URL the owner meant uncovered.
 */
function parsePrefix(entry: string, who: string): Location {
  try {
    return parseLocation(entry, 'prefix');
  } catch (error) {
    throw new CredentialScopeError(
      `${who} has an invalid entry ${quote(redactUrl(entry))} in its annotation ${GIT_URLS_ANNOTATION}: ${reasonOf(error)}`,
      { cause: error },
    );
  }
}

export function splitPrefixes(annotation: string): string[] {
  return annotation
    .split(/[,\n]/)
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
}

/** A URL or a prefix, reduced to what decides where a credential goes. */
export interface Location {
  readonly scheme: 'https' | 'http' | 'ssh';
  /** The user named before `@`, if any (an ssh login, or an https user name). */
  readonly user?: string;
  /** Lower case; IPv6 literals bracketed and in their canonical form. */
  readonly host: string;
  /** The port, always explicit: `443` for https without one. */
  readonly port: number;
  /**
   * Whether the path starts at the server's root. ssh:// and http(s) paths do; an scp-like
   * `host:team-a/app` is relative to the login's home, a different folder on a plain sshd.
   */
  readonly rooted: boolean;
  /** Path segments, percent-encoding normalised, without a trailing `/` or a final `.git`. */
  readonly segments: readonly string[];
  /** A prefix whose path ended in `.git` names one repository, not a folder of them. */
  readonly repository: boolean;
}

const DEFAULT_PORTS = { https: 443, http: 80, ssh: 22 } as const;
const MAX_LENGTH = 2048;
// A DNS name or IPv4 address (no trailing dot, no `_`, no `%`), or a bracketed IPv6 literal.
const HOST_AND_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::([0-9]{1,5}))?$/;
// A user name, percent-escapes allowed (an e-mail address as `me%40example.com`); never `@` or `:`.
const USER = /^[A-Za-z0-9_%][A-Za-z0-9._~+%-]*$/;

/**
 * Parses a repository URL (`what: 'url'`) or a prefix from the annotation. Throws a UserError whose
 * message is the reason alone; callers say what was being parsed.
 */
export function parseLocation(raw: string, what: 'url' | 'prefix'): Location {
  if (raw.length > MAX_LENGTH) throw new UserError(`it is longer than ${MAX_LENGTH} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f]/.test(raw))
    throw new UserError('it contains whitespace or control characters');
  // WHATWG URL parsers read `\` as `/`, curl reads it as a character: `https://good\@evil/` is
  // good's to one and evil's to the other.
  if (raw.includes('\\')) throw new UserError('it contains a backslash');
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(raw)?.[1]?.toLowerCase();
  return scheme === undefined ? parseScpLike(raw, what) : parseNetwork(raw, scheme, what);
}

function parseNetwork(raw: string, scheme: string, what: 'url' | 'prefix'): Location {
  if (scheme !== 'https' && scheme !== 'http' && scheme !== 'ssh') {
    throw new UserError(
      `scheme "${scheme}" cannot carry credentials; use https, http, ssh or user@host:path`,
    );
  }
  const rest = raw.slice(raw.indexOf('://') + 3);
  // The authority ends at the first `/`, `?` or `#`, as RFC 3986 (and git, and curl) have it.
  const authorityEnd = rest.search(/[/?#]/);
  const authority = authorityEnd < 0 ? rest : rest.slice(0, authorityEnd);
  const afterAuthority = authorityEnd < 0 ? '' : rest.slice(authorityEnd);
  const queryAt = afterAuthority.search(/[?#]/);
  if (what === 'prefix' && queryAt >= 0) throw new UserError('a prefix has no query or fragment');
  const path = queryAt < 0 ? afterAuthority : afterAuthority.slice(0, queryAt);

  // git splits user from host at the first `@`, URL parsers at the last: with two, they disagree.
  const at = authority.split('@');
  if (at.length > 2) throw new UserError('it has more than one "@" before the path');
  const userPart = at.length === 2 ? at[0]! : undefined;
  if (userPart !== undefined && userPart.includes(':')) {
    throw new UserError('it embeds a password; credentials belong in the Secret');
  }
  if (userPart !== undefined && !USER.test(userPart)) {
    throw new UserError('its user name is empty or has unsupported characters');
  }
  const { host, port } = hostAndPort(at[at.length - 1]!, scheme);
  crossCheck(raw, scheme, host, port);
  return {
    scheme,
    ...(userPart === undefined ? {} : { user: userPart }),
    host,
    port,
    rooted: true,
    ...pathSegments(path, what),
  };
}

/** `[user@]host:path`, git's scp-like ssh syntax. */
function parseScpLike(raw: string, what: 'url' | 'prefix'): Location {
  const match = /^(?:([^@/:]+)@)?(\[[^\]]*\]|[^@:/[\]]+):(.*)$/.exec(raw);
  if (!match) throw new UserError('use an https, http or ssh URL, or scp-like user@host:path');
  const [, user, rawHost = '', path = ''] = match;
  if (user !== undefined && !USER.test(user)) throw new UserError('its user name has unsupported characters');
  // scp-like syntax has no port: the `:` is the path's.
  const { host, port } = hostAndPort(rawHost, 'ssh');
  if (what === 'prefix' && /[?#]/.test(path)) throw new UserError('a prefix has no query or fragment');
  return {
    scheme: 'ssh',
    ...(user === undefined ? {} : { user }),
    host,
    port,
    rooted: path.startsWith('/'),
    ...pathSegments(path, what),
  };
}

function hostAndPort(text: string, scheme: 'https' | 'http' | 'ssh'): { host: string; port: number } {
  const match = HOST_AND_PORT.exec(text);
  if (!match) throw new UserError('its host is not a valid host name, IPv4 or [IPv6] address');
  const [, rawHost = '', rawPort] = match;
  const port = rawPort === undefined ? DEFAULT_PORTS[scheme] : Number(rawPort);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UserError('its port is out of range');
  // IPv6 has many spellings of one address; the URL parser knows the canonical one.
  const host = rawHost.startsWith('[') ? canonicalIpv6(rawHost) : rawHost.toLowerCase();
  return { host, port };
}

function canonicalIpv6(bracketed: string): string {
  try {
    return new URL(`http://${bracketed}/`).hostname;
  } catch (error) {
    throw new UserError('its IPv6 address is not valid', { cause: error });
  }
}

/**
 * For http(s), a WHATWG URL parser must read the same host and port as we did. It rewrites numeric
 * hosts (`0x7f.1` → 127.0.0.1) and decodes what we would not; any disagreement is refused.
 */
function crossCheck(raw: string, scheme: string, host: string, port: number): void {
  if (scheme === 'ssh') return; // ssh:// is opaque to WHATWG parsers: nothing is rewritten.
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch (error) {
    throw new UserError('it is not a valid URL', { cause: error });
  }
  const parsedPort = parsed.port === '' ? DEFAULT_PORTS[scheme as 'https' | 'http'] : Number(parsed.port);
  if (parsed.hostname.toLowerCase() !== host || parsedPort !== port) {
    throw new UserError('its host or port reads differently to different URL parsers');
  }
}

/** Path segments in a form where two spellings of one path compare equal, and tricks are refused. */
function pathSegments(path: string, what: 'url' | 'prefix'): { segments: string[]; repository: boolean } {
  const segments = path.split('/').map(normaliseSegment);
  // Leading slashes carry no segment (the root is `rooted`); trailing ones say nothing either.
  while (segments[0] === '') segments.shift();
  while (segments.at(-1) === '') segments.pop();
  const last = segments.at(-1);
  const repository = last !== undefined && /\.git$/.test(last) && last !== '.git';
  if (repository) segments[segments.length - 1] = last.slice(0, -'.git'.length);
  return { segments, repository: what === 'prefix' && repository };
}

/**
 * Percent-encoding normalised as RFC 3986 has it (unreserved characters decoded, other escapes
 * upper-cased), then refused where a server could read a different path than we compare: `.` and
 * `..` segments (literal or encoded, which servers and proxies resolve), encoded `/` and `\`, NUL
 * and control bytes, and malformed escapes.
 */
function normaliseSegment(segment: string): string {
  if (/%(?![0-9A-Fa-f]{2})/.test(segment)) throw new UserError('its path has a malformed %-escape');
  const normalised = segment.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => {
    const character = String.fromCharCode(Number.parseInt(hex, 16));
    return /[A-Za-z0-9._~-]/.test(character) ? character : `%${hex.toUpperCase()}`;
  });
  if (normalised === '.' || normalised === '..') throw new UserError('its path has a "." or ".." segment');
  if (/%(2F|5C|[01][0-9A-F]|7F)/.test(normalised)) {
    throw new UserError('its path has an encoded "/", "\\" or control character');
  }
  return normalised;
}

/**
 * Whether `prefix` covers `target`: same scheme, host and port, the prefix's user (when it names
 * one) is the URL's, and the prefix's path segments lead the URL's. A prefix naming a repository
 * (ending in `.git`) covers that repository alone.
 */
export function covers(prefix: Location, target: Location): boolean {
  if (prefix.scheme !== target.scheme || prefix.host !== target.host || prefix.port !== target.port) {
    return false;
  }
  if (prefix.user !== undefined && prefix.user !== target.user) return false;
  // A prefix without a path is the whole server; one with a path is rooted or home-relative.
  if (prefix.segments.length === 0) return true;
  if (prefix.rooted !== target.rooted) return false;
  if (prefix.repository && prefix.segments.length !== target.segments.length) return false;
  if (prefix.segments.length > target.segments.length) return false;
  return prefix.segments.every((segment, i) => segment === target.segments[i]);
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
