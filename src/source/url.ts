/**
 * Repository URLs: checked before any git process sees them, and reduced to an identity that names
 * the one cache shared by every app using the same repository.
 */
import { createHash } from 'node:crypto';
import { UserError } from '../core/errors.js';
import { quote, redactUrl } from './redact.js';

export type RepoScheme = 'https' | 'http' | 'ssh' | 'file';

export interface RepoUrl {
  /** The URL exactly as git will receive it (checked, never rewritten). */
  readonly url: string;
  readonly scheme: RepoScheme;
  /** Lower-case host, with `[]` around IPv6 literals; empty for file URLs. */
  readonly host: string;
  /**
   * What makes two URLs the same repository: lower-case scheme and host, no user, no default port,
   * no trailing `/` or `.git`; scp-like `git@host:org/repo` equals `ssh://git@host/org/repo`.
   */
  readonly identity: string;
  /** Safe to print: credentials and query values redacted. */
  readonly display: string;
}

export interface RepoUrlPolicy {
  /**
   * file:// URLs read the controller's own disk, including other tenants' caches, so they are
   * refused unless explicitly allowed (tests, single-user CLI runs).
   */
  readonly allowFileUrls?: boolean;
}

const MAX_URL_LENGTH = 2048;
const USER = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
// A DNS name or IPv4 literal; IPv6 literals come bracketed and are checked separately.
const HOSTNAME = /^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/;
const IPV6_LITERAL = /^\[[0-9A-Fa-f:.]+\]$/;

export function parseRepoUrl(raw: unknown, policy: RepoUrlPolicy = {}): RepoUrl {
  if (typeof raw !== 'string' || raw.length === 0) throw new UserError('repository URL is empty');
  const display = redactUrl(raw);
  const refuse = (reason: string): never => {
    throw new UserError(`repository URL ${quote(display)} is not allowed: ${reason}`);
  };
  if (raw.length > MAX_URL_LENGTH) refuse(`longer than ${MAX_URL_LENGTH} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(raw)) refuse('it contains control characters');
  if (raw.startsWith('-')) refuse('it begins with "-" and would be read as an option');
  // `ext::<command>`, `fd::`, and any other remote helper addressed as `<transport>::<address>`.
  const helper = /^([A-Za-z][A-Za-z0-9+.-]*)::/.exec(raw);
  if (helper) refuse(`remote helpers ("${helper[1]}::") are not allowed`);

  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(raw)?.[1]?.toLowerCase();
  if (scheme === undefined) return parseScpLike(raw, display, refuse);
  if (/\s/.test(raw) && scheme !== 'file') refuse('it contains whitespace');
  switch (scheme) {
    case 'https':
    case 'http':
    case 'ssh':
      return parseNetworkUrl(raw, scheme, display, refuse);
    case 'file':
      if (!policy.allowFileUrls) refuse('file:// URLs are disabled in this installation');
      if (!raw.startsWith('file:///')) refuse('file URLs must be absolute (file:///path)');
      if (raw.split('/').includes('..')) refuse('it contains a ".." segment');
      return {
        url: raw,
        scheme: 'file',
        host: '',
        identity: `file://${trimRepoPath(raw.slice(7))}`,
        display,
      };
    default:
      return refuse(`scheme "${scheme}" is not supported; use https, http, ssh or scp-like user@host:path`);
  }
}

function parseNetworkUrl(
  raw: string,
  scheme: 'https' | 'http' | 'ssh',
  display: string,
  refuse: (reason: string) => never,
): RepoUrl {
  // Parsers disagree on these (WHATWG reads `\` as `/`, curl does not; which `@` ends the user):
  // `https://good\@evil/` is host `good` to one and `evil` to git. One reading or none.
  if (raw.includes('\\')) refuse('it contains a backslash, which URL parsers read differently');
  const authority = raw.slice(scheme.length + 3).split('/')[0] ?? '';
  if (authority.indexOf('@') !== authority.lastIndexOf('@'))
    refuse('it has more than one "@" before the path, which URL parsers read differently');
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    return refuse('it is not a valid URL');
  }
  if (parsed.password !== '') {
    refuse('it embeds a password or token; pass it as credentials instead');
  }
  if (scheme === 'ssh' && parsed.username !== '' && !USER.test(decodeURIComponent(parsed.username))) {
    refuse('the user name contains unsupported characters');
  }
  const host = checkHost(parsed.hostname, refuse);
  if (parsed.pathname === '' || parsed.pathname === '/') refuse('it names no repository path');
  const defaultPort = { https: '443', http: '80', ssh: '22' }[scheme];
  const port = parsed.port === '' || parsed.port === defaultPort ? '' : `:${parsed.port}`;
  const path = trimRepoPath(parsed.pathname).replace(/^\/+/, '');
  const identity = `${scheme}://${host}${port}/${path}${parsed.search}`;
  return { url: raw, scheme, host, identity, display };
}

/** `[user@]host:path`, which git treats as ssh when a colon comes before any slash. */
function parseScpLike(raw: string, display: string, refuse: (reason: string) => never): RepoUrl {
  const match = /^(?:([^@/:]+)@)?(\[[^\]]*\]|[^:/[\]]+):(.*)$/.exec(raw);
  if (!match) {
    return refuse('use an https, http, ssh or file URL, or scp-like user@host:path');
  }
  const [, user, rawHost = '', path = ''] = match;
  if (/\s/.test(raw)) refuse('it contains whitespace');
  if (user !== undefined && !USER.test(user)) refuse('the user name contains unsupported characters');
  const host = checkHost(rawHost, refuse);
  if (path === '' || path === '/') refuse('it names no repository path');
  if (path.startsWith('-')) refuse('its path begins with "-"');
  return {
    url: raw,
    scheme: 'ssh',
    host,
    identity: `ssh://${host}/${trimRepoPath(path).replace(/^\/+/, '')}`,
    display,
  };
}

function checkHost(host: string, refuse: (reason: string) => never): string {
  if (host === '') refuse('it names no host');
  // A host beginning with "-" becomes an ssh option (CVE-2017-1000117).
  if (host.startsWith('-')) refuse('its host begins with "-"');
  if (!HOSTNAME.test(host) && !IPV6_LITERAL.test(host)) refuse('its host name is not valid');
  return host.toLowerCase();
}

function trimRepoPath(path: string): string {
  return path
    .replace(/\/+$/, '')
    .replace(/\.git$/, '')
    .replace(/\/+$/, '');
}

/**
 * The cache folder name for a repository: readable (host and path) for people looking at the disk,
 * made unique by a hash of the identity.
 */
export function cacheKeyOf(url: RepoUrl): string {
  const hash = createHash('sha256').update(url.identity).digest('hex').slice(0, 20);
  // Host and path only: a query may hold a token, and the folder name shows up in error causes.
  const readable = url.identity
    .replace(/[?#].*$/s, '')
    .replace(/^[a-z]+:\/\//, '')
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[-.]+|[-.]+$/g, '')
    .slice(0, 60);
  return `${readable || 'repo'}-${hash}`;
}
