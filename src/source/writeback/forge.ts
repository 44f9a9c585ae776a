/**
 * Opening a pull (merge) request on a Git host: GitHub, GitLab and Gitea (Forgejo speaks Gitea's
 * API). One small interface, one implementation per host, each a couple of REST calls.
 *
 * The token is a credential like the Repository's own: it goes to the repository's host only (its
 * API on the same scheme, host and port, or api.github.com for github.com), never over plain http
 * unless its owner allowed that, never after a redirect, and never into an error, a log or a
 * result. Responses are read up to a bound, with a timeout on the whole request.
 */
import { CapstanError, type ErrorKind } from '../../core/errors.js';
import { quote, redactText } from '../redact.js';
import { parseRepoUrl } from '../url.js';

export type ForgeKind = 'github' | 'gitlab' | 'gitea';

export interface PullRequestInput {
  /** `owner/name` (GitHub, Gitea) or the project's full path `group/sub/name` (GitLab). */
  readonly repo: string;
  /** The branch carrying the change. */
  readonly head: string;
  /** The branch it is to be merged into. */
  readonly base: string;
  readonly title: string;
  readonly body: string;
}

export interface PullRequest {
  /** The number people know it by (GitLab's `iid`, `!12`). */
  readonly number: number;
  /** Its web page. */
  readonly url: string;
  /** An open one for the same head and base already existed, and is returned instead of a new one. */
  readonly reused: boolean;
}

export interface Forge {
  readonly kind: ForgeKind;
  /** Opens a pull request, or returns the open one for the same head and base (idempotent). */
  openPullRequest(input: PullRequestInput): Promise<PullRequest>;
}

export type ForgeAuth =
  /** An API token (GitHub PAT or app token, GitLab personal/project token, Gitea access token). */
  | { readonly kind: 'token'; readonly token: string }
  /** User name and password (or token as password): Basic auth on GitHub and Gitea; GitLab takes the password as its token. */
  | { readonly kind: 'basic'; readonly username: string; readonly password: string };

export interface ForgeOptions {
  readonly kind: ForgeKind;
  /**
   * The API root: `https://api.github.com` (or `https://ghe.example.com/api/v3`),
   * `https://gitlab.example.com/api/v4`, `https://gitea.example.com/api/v1`.
   */
  readonly apiUrl: string;
  readonly auth: ForgeAuth;
  /** The token's owner accepts that it goes over plain http:// (as `capstan.dev/allow-insecure-http`). */
  readonly allowInsecureHttp?: boolean;
  /** Per request; default 30 s. */
  readonly timeoutMs?: number;
  /** Bytes of a response body read at most; default 1 MiB. */
  readonly maxResponseBytes?: number;
}

/** A forge API call that failed. `status` is the HTTP status when there was an answer. */
export class ForgeError extends CapstanError {
  readonly status: number | undefined;

  constructor(kind: ErrorKind, message: string, options: { status?: number; cause?: unknown } = {}) {
    super(kind, message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = options.status;
  }
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;
/** Pages of open pull requests searched for an existing one (Gitea cannot filter by branch). */
const MAX_LIST_PAGES = 10;

export function createForge(options: ForgeOptions): Forge {
  const api = checkApiUrl(options.apiUrl, options.allowInsecureHttp ?? false);
  const secrets = secretsOf(options.auth);
  if (secrets.some((secret) => secret === '' || /[\r\n\0]/.test(secret))) {
    throw new ForgeError('user', `the credentials for ${api.display} are empty or contain a line break`);
  }
  const http = new ForgeHttp(api, options, secrets);
  switch (options.kind) {
    case 'github':
      return github(http);
    case 'gitea':
      return gitea(http);
    case 'gitlab':
      return gitlab(http);
    default:
      throw new ForgeError('user', `unknown forge kind ${quote(String(options.kind))}`);
  }
}

/** Where the pull request goes, and the client that opens it: what `revertCommits` takes. */
export interface ForgeTarget {
  readonly forge: Forge;
  /** The repository as the forge's API names it (see PullRequestInput.repo). */
  readonly repo: string;
}

export interface ForgeTargetOptions {
  readonly kind: ForgeKind;
  readonly auth: ForgeAuth;
  /** An API root of the repository's own host (for installations under a sub-path); derived otherwise. */
  readonly apiUrl?: string;
  /**
   * The token's owner allows `apiUrl` although it is on another host than the repository's (the
   * caller checked it against the credential's scope, as for a Repository's Secret).
   */
  readonly apiUrlOnOtherHost?: boolean;
  readonly allowInsecureHttp?: boolean;
  readonly timeoutMs?: number;
}

/** A repository's API root on its own host, and its name there (see forgeTargetFor). */
export interface ForgeApi {
  readonly apiUrl: string;
  readonly repo: string;
}

/**
 * The API root of `repositoryUrl`'s forge on the same host (`api.github.com` for github.com;
 * `/api/v3` for GitHub Enterprise, `/api/v4` for GitLab, `/api/v1` for Gitea) and the repository's
 * name there.
 */
export function forgeApiFor(repositoryUrl: string, kind: ForgeKind): ForgeApi {
  const repo = parseRepoUrl(repositoryUrl);
  const path = repositoryPath(repositoryUrl);
  const segments = path.split('/').filter((s) => s !== '');
  if (segments.length < 2) {
    throw new ForgeError('user', `cannot tell the owner and name of ${repo.display} for a pull request`);
  }
  // An ssh remote's web and API live on https at the same host (the ssh port says nothing of it).
  const origin = repo.scheme === 'ssh' ? `https://${repo.host}` : new URL(repositoryUrl).origin.toLowerCase();
  switch (kind) {
    case 'github':
      return {
        apiUrl: repo.host === 'github.com' ? 'https://api.github.com' : `${origin}/api/v3`,
        repo: segments.slice(0, 2).join('/'),
      };
    case 'gitea': {
      const prefix = segments.slice(0, -2).join('/');
      return {
        apiUrl: `${origin}${prefix === '' ? '' : `/${prefix}`}/api/v1`,
        repo: segments.slice(-2).join('/'),
      };
    }
    case 'gitlab':
      return { apiUrl: `${origin}/api/v4`, repo: segments.join('/') };
    default:
      throw new ForgeError('user', `unknown forge kind ${quote(String(kind))}`);
  }
}

/**
 * The forge of `repositoryUrl` (forgeApiFor) and its client. An explicit `apiUrl` must be on the
 * repository's own host, where the token goes anyway, unless `apiUrlOnOtherHost` says the token's
 * owner allowed it elsewhere.
 */
export function forgeTargetFor(repositoryUrl: string, options: ForgeTargetOptions): ForgeTarget {
  const repo = parseRepoUrl(repositoryUrl);
  const derived = forgeApiFor(repositoryUrl, options.kind);
  const apiUrl = options.apiUrl ?? derived.apiUrl;
  const allowedOrigins = new Set([new URL(derived.apiUrl).origin]);
  let explicit: URL;
  try {
    explicit = new URL(apiUrl);
  } catch {
    throw new ForgeError('user', `the forge API URL ${quote(redactText(apiUrl))} is not a URL`);
  }
  if (!allowedOrigins.has(explicit.origin) && options.apiUrlOnOtherHost !== true) {
    throw new ForgeError(
      'user',
      `the forge API ${quote(explicit.origin)} is not on the host of ${repo.display}: the token is sent to that host only`,
    );
  }
  const forge = createForge({
    kind: options.kind,
    apiUrl,
    auth: options.auth,
    ...(options.allowInsecureHttp === undefined ? {} : { allowInsecureHttp: options.allowInsecureHttp }),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
  });
  return { forge, repo: derived.repo };
}

/** The repository's path without `.git`: from a URL, or the part after `:` of `user@host:path`. */
function repositoryPath(url: string): string {
  const path = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(url)
    ? new URL(url).pathname
    : url.slice(url.indexOf(':') + 1);
  return decodeURIComponent(path)
    .replace(/\/+$/, '')
    .replace(/\.git$/, '');
}

function secretsOf(auth: ForgeAuth): string[] {
  if (auth === null || typeof auth !== 'object')
    throw new ForgeError('user', 'forge credentials are missing');
  switch (auth.kind) {
    case 'token':
      return [auth.token];
    case 'basic':
      return [auth.password, Buffer.from(`${auth.username}:${auth.password}`).toString('base64')];
    default:
      throw new ForgeError('user', 'forge credentials are of an unknown kind');
  }
}

interface ApiRoot {
  readonly url: URL;
  /** Safe to print: no user info, no query. */
  readonly display: string;
}

function checkApiUrl(raw: string, allowInsecureHttp: boolean): ApiRoot {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ForgeError('user', `the forge API URL ${quote(redactText(raw))} is not a URL`);
  }
  const display = `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw new ForgeError(
      'user',
      `the forge API URL ${quote(display)} must hold no credentials, query or fragment`,
    );
  }
  if (url.protocol === 'http:' && !allowInsecureHttp) {
    throw new ForgeError(
      'user',
      `refusing to send a token to ${display} over plain http://, where anyone on the way can read it; use https://`,
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ForgeError('user', `the forge API URL ${quote(display)} must be https://`);
  }
  return { url, display };
}

interface ApiResponse {
  readonly status: number;
  readonly body: unknown;
}

/** One host's API: JSON over fetch, authenticated, bounded, with redacted errors. */
class ForgeHttp {
  private readonly timeoutMs: number;
  private readonly maxBytes: number;

  constructor(
    readonly api: ApiRoot,
    private readonly options: ForgeOptions,
    private readonly secrets: readonly string[],
  ) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  }

  private headers(): Record<string, string> {
    const headers: Record<string, string> = {
      Accept: 'application/json',
      'User-Agent': 'capstan',
    };
    const { auth, kind } = this.options;
    if (kind === 'github') {
      headers.Accept = 'application/vnd.github+json';
      headers['X-GitHub-Api-Version'] = '2022-11-28';
    }
    if (auth.kind === 'basic' && kind !== 'gitlab') {
      headers.Authorization = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
    } else {
      const token = auth.kind === 'token' ? auth.token : auth.password;
      if (kind === 'gitlab') headers['PRIVATE-TOKEN'] = token;
      else if (kind === 'gitea') headers.Authorization = `token ${token}`;
      else headers.Authorization = `Bearer ${token}`;
    }
    return headers;
  }

  /** `path` is relative to the API root and already encoded. */
  async request(method: 'GET' | 'POST', path: string, body?: unknown): Promise<ApiResponse> {
    const url = new URL(`${this.api.url.pathname.replace(/\/+$/, '')}${path}`, this.api.url.origin);
    const what = `${method} ${this.api.display}${path.replace(/\?.*$/, '')}`;
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: {
          ...this.headers(),
          ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        // A redirect would take the token wherever it points.
        redirect: 'manual',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      const timedOut =
        error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
      throw new ForgeError(
        'transient',
        timedOut
          ? `${what} timed out after ${Math.round(this.timeoutMs / 1000)}s`
          : `${what} failed: cannot reach ${this.api.url.host}`,
        { cause: this.redactedCause(error) },
      );
    }
    const text = await this.readBounded(response, what);
    let parsed: unknown = undefined;
    if (text !== '') {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
    }
    return { status: response.status, body: parsed };
  }

  /** An error for an answer that was not what `what` expected. */
  failure(what: string, response: ApiResponse): ForgeError {
    const { status } = response;
    const said = this.apiMessage(response.body);
    const suffix = said === '' ? '' : `: ${said}`;
    if (status >= 300 && status < 400) {
      return new ForgeError(
        'user',
        `${what}: ${this.api.display} answered with a redirect (${status}), not followed with a token; give the API URL it redirects to`,
        { status },
      );
    }
    if (status === 401) {
      return new ForgeError('user', `${what}: ${this.api.display} did not accept the token (401)${suffix}`, {
        status,
      });
    }
    if (status === 403) {
      return new ForgeError(
        'user',
        `${what}: the token may not do this on ${this.api.display} (403: it needs write access to pull requests)${suffix}`,
        { status },
      );
    }
    if (status === 404) {
      return new ForgeError(
        'user',
        `${what}: not found on ${this.api.display} (404: no such repository, or the token cannot see it)${suffix}`,
        { status },
      );
    }
    if (status === 429 || status >= 500) {
      return new ForgeError('transient', `${what}: ${this.api.display} answered ${status}${suffix}`, {
        status,
      });
    }
    return new ForgeError('internal', `${what}: ${this.api.display} answered ${status}${suffix}`, { status });
  }

  /** The host's own explanation (`message`, GitHub's `errors[].message`), redacted and short. */
  apiMessage(body: unknown): string {
    if (body === null || typeof body !== 'object') return '';
    const record = body as Record<string, unknown>;
    const parts: string[] = [];
    const add = (value: unknown) => {
      if (typeof value === 'string') parts.push(value);
      else if (Array.isArray(value)) value.slice(0, 5).forEach(add);
      else if (value !== null && typeof value === 'object') add((value as Record<string, unknown>).message);
    };
    add(record.message);
    add(record.errors);
    add(record.error);
    const text = redactText(parts.join('; '), this.secrets)
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
    return text.length > 300 ? `${text.slice(0, 300)}…` : text;
  }

  private async readBounded(response: Response, what: string): Promise<string> {
    if (!response.body) return '';
    const reader = response.body.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.length;
        if (size > this.maxBytes) {
          await reader.cancel().catch(() => {});
          throw new ForgeError(
            'internal',
            `${what}: ${this.api.display} sent more than ${Math.round(this.maxBytes / 1024)} KiB in answer`,
            { status: response.status },
          );
        }
        chunks.push(value);
      }
    } catch (error) {
      if (error instanceof ForgeError) throw error;
      throw new ForgeError('transient', `${what}: the answer from ${this.api.display} broke off`, {
        status: response.status,
        cause: this.redactedCause(error),
      });
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  /** A cause safe to keep: fetch's errors can quote the request, headers included. */
  private redactedCause(error: unknown): Error {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    const cause = error instanceof Error && error.cause instanceof Error ? ` (${error.cause.message})` : '';
    return new Error(redactText(`${message}${cause}`, this.secrets));
  }
}

/** A positive integer number and an http(s) URL from a forge's answer, or an internal error. */
function pullRequestFrom(
  http: ForgeHttp,
  what: string,
  body: unknown,
  fields: { number: string; url: string },
  reused: boolean,
): PullRequest {
  const record = (body ?? {}) as Record<string, unknown>;
  const number = record[fields.number];
  const url = record[fields.url];
  if (
    typeof number !== 'number' ||
    !Number.isSafeInteger(number) ||
    number <= 0 ||
    typeof url !== 'string' ||
    url.length > 2048 ||
    !/^https?:\/\/[^\s]+$/.test(url)
  ) {
    throw new ForgeError(
      'internal',
      `${what}: ${http.api.display} answered without a pull request number and URL`,
    );
  }
  return { number, url, reused };
}

function segmentsOf(repo: string, exact: number | undefined): string[] {
  const segments = typeof repo === 'string' ? repo.split('/') : [];
  if (
    segments.length < 2 ||
    (exact !== undefined && segments.length !== exact) ||
    segments.some((s) => s === '' || s === '.' || s === '..' || /[\s\\?#%]/.test(s))
  ) {
    throw new ForgeError('user', `${quote(String(repo))} is not a repository name the forge API accepts`);
  }
  return segments;
}

function checkInput(input: PullRequestInput): void {
  for (const field of ['head', 'base', 'title'] as const) {
    if (typeof input[field] !== 'string' || input[field] === '') {
      throw new ForgeError('user', `pull request ${field} is missing`);
    }
  }
}

function github(http: ForgeHttp): Forge {
  const find = async (owner: string, name: string, input: PullRequestInput, what: string) => {
    const query = new URLSearchParams({
      state: 'open',
      head: `${owner}:${input.head}`,
      base: input.base,
      per_page: '10',
    });
    const response = await http.request('GET', `/repos/${owner}/${name}/pulls?${query}`);
    if (response.status !== 200) throw http.failure(what, response);
    const list = Array.isArray(response.body) ? response.body : [];
    const match = list.find((pr: { head?: { ref?: unknown } }) => pr?.head?.ref === input.head);
    return match === undefined
      ? undefined
      : pullRequestFrom(http, what, match, { number: 'number', url: 'html_url' }, true);
  };
  // 422 "A pull request already exists for owner:branch": opened meanwhile.
  const raced = (response: ApiResponse) =>
    response.status === 422 && /already exists/i.test(http.apiMessage(response.body));
  return { kind: 'github', openPullRequest: (input) => openOnOwnerRepo(http, input, find, raced) };
}

function gitea(http: ForgeHttp): Forge {
  const find = async (owner: string, name: string, input: PullRequestInput, what: string) => {
    for (let page = 1; page <= MAX_LIST_PAGES; page++) {
      const query = new URLSearchParams({ state: 'open', limit: '50', page: String(page) });
      const response = await http.request('GET', `/repos/${owner}/${name}/pulls?${query}`);
      if (response.status !== 200) throw http.failure(what, response);
      const list = Array.isArray(response.body) ? response.body : [];
      const match = list.find(
        (pr: { head?: { ref?: unknown }; base?: { ref?: unknown } }) =>
          pr?.head?.ref === input.head && pr?.base?.ref === input.base,
      );
      if (match !== undefined)
        return pullRequestFrom(http, what, match, { number: 'number', url: 'html_url' }, true);
      if (list.length < 50) return undefined;
    }
    return undefined;
  };
  // 409 "pull request already exists for these targets": opened meanwhile.
  const raced = (response: ApiResponse) => response.status === 409;
  return { kind: 'gitea', openPullRequest: (input) => openOnOwnerRepo(http, input, find, raced) };
}

/**
 * GitHub's and Gitea's shared flow (`POST /repos/{owner}/{repo}/pulls`): reuse an open pull
 * request for the same head, else open one; one opened meanwhile (`raced`) is found and reused.
 */
async function openOnOwnerRepo(
  http: ForgeHttp,
  input: PullRequestInput,
  find: (
    owner: string,
    name: string,
    input: PullRequestInput,
    what: string,
  ) => Promise<PullRequest | undefined>,
  raced: (response: ApiResponse) => boolean,
): Promise<PullRequest> {
  checkInput(input);
  const [owner = '', name = ''] = segmentsOf(input.repo, 2).map(encodeURIComponent);
  const what = `opening a pull request in ${input.repo}`;
  const existing = await find(owner, name, input, what);
  if (existing) return existing;
  const response = await http.request('POST', `/repos/${owner}/${name}/pulls`, {
    title: input.title,
    head: input.head,
    base: input.base,
    body: input.body,
  });
  if (response.status === 201)
    return pullRequestFrom(http, what, response.body, { number: 'number', url: 'html_url' }, false);
  if (raced(response)) {
    const again = await find(owner, name, input, what);
    if (again) return again;
  }
  throw http.failure(what, response);
}

function gitlab(http: ForgeHttp): Forge {
  const find = async (project: string, input: PullRequestInput, what: string) => {
    const query = new URLSearchParams({
      state: 'opened',
      source_branch: input.head,
      target_branch: input.base,
      per_page: '10',
    });
    const response = await http.request('GET', `/projects/${project}/merge_requests?${query}`);
    if (response.status !== 200) throw http.failure(what, response);
    const list = Array.isArray(response.body) ? response.body : [];
    const match = list.find(
      (mr: { source_branch?: unknown; target_branch?: unknown }) =>
        mr?.source_branch === input.head && mr?.target_branch === input.base,
    );
    return match === undefined
      ? undefined
      : pullRequestFrom(http, what, match, { number: 'iid', url: 'web_url' }, true);
  };
  return {
    kind: 'gitlab',
    async openPullRequest(input) {
      checkInput(input);
      // The project's full path, URL-encoded, is its id (`group%2Fsub%2Fname`).
      const project = encodeURIComponent(segmentsOf(input.repo, undefined).join('/'));
      const what = `opening a merge request in ${input.repo}`;
      const existing = await find(project, input, what);
      if (existing) return existing;
      const response = await http.request('POST', `/projects/${project}/merge_requests`, {
        source_branch: input.head,
        target_branch: input.base,
        title: input.title,
        description: input.body,
        remove_source_branch: true,
      });
      if (response.status === 201) {
        return pullRequestFrom(http, what, response.body, { number: 'iid', url: 'web_url' }, false);
      }
      // 409 "Another open merge request already exists for this source branch".
      if (response.status === 409) {
        const raced = await find(project, input, what);
        if (raced) return raced;
      }
      throw http.failure(what, response);
    },
  };
}
