/**
 * One Git host's API over HTTP: JSON over fetch, authenticated, bounded, with redacted errors, and
 * aware of the host's rate limit.
 *
 * The token is a credential like the Repository's own: it goes to the API root given (the caller
 * checked the host), never over plain http unless its owner allowed that, never after a redirect,
 * and never into an error, a log or a result. Responses are read up to a bound, with a timeout on
 * the whole request.
 *
 * Rate limits: GitHub sends `x-ratelimit-remaining`/`x-ratelimit-reset` (epoch seconds) and, for
 * its secondary limits, `retry-after` (seconds), on a 403 or 429
 * (https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api); GitLab sends
 * `ratelimit-remaining`/`ratelimit-reset` and `retry-after` on a 429
 * (https://docs.gitlab.com/ee/user/admin_area/settings/user_and_ip_rate_limits.html); Gitea answers
 * 429. Any of them blocks this client until the time said (bounded by an hour): later calls fail at
 * once with the same transient error, without a request, so a caller that retries does not earn a
 * ban.
 */
import { abandonOnAbort } from '../core/abort.js';
import { retryAfterMs as parseRetryAfter, systemClock, type Clock } from '../core/time.js';
import { quote, redactText } from '../source/redact.js';
import { ForgeError, type ForgeAuth, type ForgeOptions } from './types.js';

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;
/** Comment pages carry up to 50 bodies of up to 64 KiB each (in UTF-8, up to four bytes a character). */
const LARGE_RESPONSE_FACTOR = 16;

/** The longest wait a host's headers can impose; a longer one is cut to this. */
export const MAX_RETRY_AFTER_MS = 60 * 60_000;
/** A limited answer that says nothing of when to come back: GitHub's advice is a minute. */
const DEFAULT_RETRY_AFTER_MS = 60_000;
const MIN_RETRY_AFTER_MS = 1_000;

export interface ApiRoot {
  readonly url: URL;
  /** Safe to print: no user info, no query. */
  readonly display: string;
}

export interface ApiResponse {
  readonly status: number;
  readonly body: unknown;
}

export type Method = 'GET' | 'POST' | 'PATCH' | 'PUT';

export interface RequestOptions {
  readonly body?: unknown;
  /** The answer may be large (a page of comments): read up to 16 times the usual bound. */
  readonly large?: boolean;
  /** The caller's: abandons the request (with the timeout, whichever comes first). */
  readonly signal?: AbortSignal | undefined;
}

/** The API root, refused when the token would leak through it. */
export function checkApiUrl(raw: string, allowInsecureHttp: boolean): ApiRoot {
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

/** Every form in which the credentials could be echoed back: redacted from whatever is kept. */
export function secretsOf(auth: ForgeAuth): string[] {
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

/** Why the client is blocked, and until when (epoch ms). */
interface Block {
  readonly until: number;
  readonly status: number;
}

/** One host's API: JSON over fetch, authenticated, bounded, with redacted errors and a rate limit. */
export class ForgeHttp {
  private readonly timeoutMs: number;
  private readonly maxBytes: number;
  private readonly clock: Clock;
  private block: Block | undefined;

  constructor(
    readonly api: ApiRoot,
    private readonly options: ForgeOptions,
    private readonly secrets: readonly string[],
  ) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.clock = options.clock ?? systemClock;
  }

  /** Until when the rate limit blocks calls, or undefined. */
  blockedUntil(): Date | undefined {
    const block = this.block;
    if (block === undefined || block.until <= this.clock.now().getTime()) return undefined;
    return new Date(block.until);
  }

  /** `path` is relative to the API root and already encoded. */
  async request(method: Method, path: string, options: RequestOptions = {}): Promise<ApiResponse> {
    const what = `${method} ${this.api.display}${path.replace(/\?.*$/, '')}`;
    this.failIfBlocked(what);
    const url = new URL(`${this.api.url.pathname.replace(/\/+$/, '')}${path}`, this.api.url.origin);
    const response = await this.send(method, url, what, options.body, options.signal);
    const text = await this.readBounded(response, what, options.large === true);
    const body = parseJson(text);
    this.checkRateLimit(response, body, what);
    return { status: response.status, body };
  }

  private async send(
    method: Method,
    url: URL,
    what: string,
    body: unknown,
    signal: AbortSignal | undefined,
  ): Promise<Response> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    try {
      return await fetch(url, {
        method,
        headers: {
          ...this.headers(),
          ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        // A redirect would take the token wherever it points.
        redirect: 'manual',
        // The signal bounds the whole request, the reading of its answer included.
        signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout]),
      });
    } catch (error) {
      const message =
        signal?.aborted === true
          ? `${what} was abandoned (the caller gave up waiting)`
          : timeout.aborted
            ? `${what} timed out after ${Math.round(this.timeoutMs / 1000)}s`
            : `${what} failed: cannot reach ${this.api.url.host}`;
      throw new ForgeError('transient', message, { cause: this.redactedCause(error) });
    }
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

  // ── Rate limit ──────────────────────────────────────────────────────────────────────────────

  private failIfBlocked(what: string): void {
    const until = this.blockedUntil();
    if (until === undefined || this.block === undefined) return;
    throw this.rateLimited(what, this.block.status, until.getTime() - this.clock.now().getTime());
  }

  /**
   * Blocks the client when the answer says the limit is reached: a 429, a 403 that is a rate limit
   * (remaining 0, a `retry-after`, or GitHub's "secondary rate limit" message), and also a success
   * that used the last request of the window (the next one would fail).
   */
  private checkRateLimit(response: Response, body: unknown, what: string): void {
    const { status, headers } = response;
    const remaining = headerInteger(headers, 'x-ratelimit-remaining', 'ratelimit-remaining');
    const retryAfter = headers.get('retry-after');
    const limited =
      status === 429 ||
      (status === 403 &&
        (remaining === 0 || retryAfter !== null || /rate limit/i.test(this.apiMessage(body))));
    const now = this.clock.now().getTime();
    if (limited) {
      const waitMs = retryAfterMs(headers, now) ?? DEFAULT_RETRY_AFTER_MS;
      this.block = { until: now + waitMs, status };
      throw this.rateLimited(what, status, waitMs);
    }
    if (status < 400 && remaining === 0) {
      const waitMs = retryAfterMs(headers, now);
      if (waitMs !== undefined) this.block = { until: now + waitMs, status: 429 };
    }
  }

  private rateLimited(what: string, status: number, waitMs: number): ForgeError {
    const seconds = Math.ceil(waitMs / 1000);
    return new ForgeError(
      'transient',
      `${what}: ${this.api.display} rate limit reached (${status}); calls wait ${seconds}s, until ${new Date(
        this.clock.now().getTime() + waitMs,
      ).toISOString()}`,
      { status, retryAfterMs: waitMs },
    );
  }

  // ── Errors ──────────────────────────────────────────────────────────────────────────────────

  /** An error for an answer that was not what `what` expected. */
  failure(what: string, response: ApiResponse): ForgeError {
    const { status } = response;
    const said = this.apiMessage(response.body);
    const suffix = said === '' ? '' : `: ${said}`;
    const where = this.api.display;
    if (status >= 300 && status < 400) {
      return new ForgeError(
        'user',
        `${what}: ${where} answered with a redirect (${status}), not followed with a token; give the API URL it redirects to`,
        { status },
      );
    }
    if (status === 401) {
      return new ForgeError('user', `${what}: ${where} did not accept the token (401)${suffix}`, { status });
    }
    if (status === 403) {
      return new ForgeError(
        'user',
        `${what}: the token may not do this on ${where} (403: it needs write access to pull requests, issues and commit statuses)${suffix}`,
        { status },
      );
    }
    if (status === 404) {
      return new ForgeError(
        'user',
        `${what}: not found on ${where} (404: no such repository, or the token cannot see it)${suffix}`,
        { status },
      );
    }
    if (status === 429 || status >= 500) {
      return new ForgeError('transient', `${what}: ${where} answered ${status}${suffix}`, { status });
    }
    return new ForgeError('internal', `${what}: ${where} answered ${status}${suffix}`, { status });
  }

  /** An error for an answer of the right status whose content is not what the API documents. */
  malformed(what: string, detail: string): ForgeError {
    return new ForgeError('internal', `${what}: ${this.api.display} sent a malformed answer: ${detail}`);
  }

  /** The host's own explanation (`message`, GitHub's `errors[].message`), redacted and short. */
  apiMessage(body: unknown): string {
    if (body === null || typeof body !== 'object') return '';
    const record = body as Record<string, unknown>;
    const parts: string[] = [];
    const add = (value: unknown, depth: number) => {
      if (depth > 3 || parts.length >= 5) return;
      if (typeof value === 'string') parts.push(value.slice(0, 1000));
      else if (Array.isArray(value)) value.slice(0, 5).forEach((item) => add(item, depth + 1));
      else if (value !== null && typeof value === 'object')
        add(
          (value as Record<string, unknown>).message ?? (value as Record<string, unknown>).error,
          depth + 1,
        );
    };
    add(record.message, 0);
    add(record.errors, 0);
    add(record.error, 0);
    const text = redactText(parts.join('; '), this.secrets)
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
    return text.length > 300 ? `${text.slice(0, 300)}…` : text;
  }

  private async readBounded(response: Response, what: string, large: boolean): Promise<string> {
    if (!response.body) return '';
    const maxBytes = large ? this.maxBytes * LARGE_RESPONSE_FACTOR : this.maxBytes;
    const reader = response.body.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.length;
        if (size > maxBytes) {
          await reader.cancel().catch(() => {});
          throw new ForgeError(
            'internal',
            `${what}: ${this.api.display} sent more than ${Math.round(maxBytes / 1024)} KiB in answer`,
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

/**
 * `start()`, or a transient ForgeError as soon as `signal` aborts: for a call made without the
 * signal (the token's own user, asked once per client and shared), which still ends by its own
 * timeout. Not started when the signal has aborted already.
 */
export function abandonedOnAbort<T>(
  start: () => Promise<T>,
  signal: AbortSignal | undefined,
  what: string,
): Promise<T> {
  const abandoned = () => new ForgeError('transient', `${what} was abandoned (the caller gave up waiting)`);
  if (signal?.aborted) return Promise.reject(abandoned());
  return abandonOnAbort(start(), signal, abandoned);
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** The first of `names` that holds a plain non-negative integer (anything else is ignored). */
function headerInteger(headers: Headers, ...names: string[]): number | undefined {
  for (const name of names) {
    const value = headers.get(name)?.trim();
    if (value !== undefined && /^\d{1,15}$/.test(value)) return Number(value);
  }
  return undefined;
}

/**
 * How long the host asks to wait, bounded to [1 s, 1 h]: `retry-after` (seconds, or an HTTP date),
 * else the window's reset (epoch seconds); undefined when neither says.
 */
function retryAfterMs(headers: Headers, now: number): number | undefined {
  const bound = (ms: number) => Math.min(Math.max(ms, MIN_RETRY_AFTER_MS), MAX_RETRY_AFTER_MS);
  const retryAfter = parseRetryAfter(headers.get('retry-after') ?? undefined, now);
  if (retryAfter !== undefined) return bound(retryAfter);
  const reset = headerInteger(headers, 'x-ratelimit-reset', 'ratelimit-reset');
  return reset === undefined ? undefined : bound(reset * 1000 - now);
}
