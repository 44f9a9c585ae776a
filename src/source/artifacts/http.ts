/**
 * Bounded HTTP GETs for Helm repositories (index.yaml, chart archives): a hostile server decides
 * what it sends, so every read is bounded in bytes (past `maxBytes` the connection is dropped) and
 * in time (one deadline for the whole exchange, redirects included).
 *
 * Where credentials go: only to the origin (scheme, host, port) of the first URL, and over plain
 * http:// only when the Secret's owner allowed it; a redirect to another origin is followed without
 * them, and a redirect from https:// to http:// is refused. Link-local and metadata addresses are
 * refused, on the URL and on every address a name resolves to (notify/transport.ts's lookup).
 * Errors name the URL redacted, never a credential.
 */
import http from 'node:http';
import https from 'node:https';
import { CapstanError, TransientError, UserError } from '../../core/errors.js';
import { formatBytes } from '../../render/limits.js';
import { guardedLookup } from '../../notify/transport.js';
import { isBlockedHost } from '../../notify/url.js';
import { quote, redactUrl } from '../redact.js';

export interface HttpGetOptions {
  readonly maxBytes: number;
  readonly timeoutMs: number;
  readonly auth?: { readonly username: string; readonly password: string } | undefined;
  /** The Secret's owner accepts that its credentials travel over plain http://. */
  readonly allowInsecureHttp?: boolean;
  /** Extra CA (PEM) for https. */
  readonly caPem?: string | undefined;
  /** The operator's switch: allow link-local and metadata addresses. */
  readonly allowPrivateAddresses?: boolean;
  readonly signal?: AbortSignal | undefined;
  readonly maxRedirects?: number;
}

/** The server answered, but not with the content (404, 401, …). */
export class HttpStatusError extends CapstanError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(status === 404 ? 'notFound' : status >= 500 || status === 429 ? 'transient' : 'user', message);
  }
}

/** GETs `url`, following redirects; the body as a Buffer, at most `maxBytes`. */
export async function httpGet(url: string, options: HttpGetOptions): Promise<Buffer> {
  const first = parseHttpUrl(url);
  if (options.auth && first.protocol === 'http:' && !options.allowInsecureHttp)
    throw new UserError(
      `credentials for ${display(url)} would go over plain http://; use https://, or let the Secret's owner allow it (capstan.dev/allow-insecure-http: "true")`,
    );
  const deadline = Date.now() + options.timeoutMs;
  let current = first;
  for (let hop = 0; hop <= (options.maxRedirects ?? 5); hop++) {
    const withAuth = options.auth !== undefined && current.origin === first.origin;
    const answer = await getOnce(
      current,
      { ...options, auth: withAuth ? options.auth : undefined },
      deadline,
    );
    if ('body' in answer) return answer.body;
    const next = parseHttpUrl(new URL(answer.location, current).toString());
    if (current.protocol === 'https:' && next.protocol === 'http:')
      throw new UserError(`${display(url)} redirects from https:// to plain http://; refused`);
    current = next;
  }
  throw new UserError(`${display(url)} redirects more than ${options.maxRedirects ?? 5} times`);
}

function parseHttpUrl(text: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(text);
  } catch {
    throw new UserError(`${display(text)} is not a valid URL`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')
    throw new UserError(`${display(text)} is not an http(s) URL`);
  if (parsed.username !== '' || parsed.password !== '')
    throw new UserError(`${display(text)} embeds credentials; put them in the Repository's Secret`);
  return parsed;
}

const display = (url: string): string => quote(redactUrl(url));

function getOnce(
  url: URL,
  options: HttpGetOptions,
  deadline: number,
): Promise<{ body: Buffer } | { location: string }> {
  const allowPrivate = options.allowPrivateAddresses ?? false;
  const where = display(url.toString());
  return new Promise((resolve, reject) => {
    if (!allowPrivate && isBlockedHost(url.hostname))
      return reject(new UserError(`${where} is a link-local or cloud metadata address; refused`));
    let settled = false;
    const finish = (outcome: { value: { body: Buffer } | { location: string } } | { error: Error }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if ('value' in outcome) resolve(outcome.value);
      else reject(outcome.error);
      req.destroy();
    };
    const headers: Record<string, string> = { 'User-Agent': 'capstan', Accept: '*/*' };
    if (options.auth)
      headers.Authorization = `Basic ${Buffer.from(`${options.auth.username}:${options.auth.password}`).toString('base64')}`;
    const module = url.protocol === 'https:' ? https : http;
    const req = module.get(url, {
      headers,
      lookup: guardedLookup(allowPrivate) as never,
      ...(options.caPem ? { ca: options.caPem } : {}),
      agent: false,
    });
    const timer = setTimeout(
      () =>
        finish({ error: new TransientError(`${where} did not answer within ${options.timeoutMs / 1000} s`) }),
      Math.max(0, deadline - Date.now()),
    );
    const onAbort = (): void => finish({ error: new TransientError(`fetching ${where} was aborted`) });
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    req.on('error', (error: NodeJS.ErrnoException) => finish({ error: networkError(error, where) }));
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && typeof res.headers.location === 'string')
        return finish({ value: { location: res.headers.location } });
      if (status !== 200) return finish({ error: statusError(status, where) });
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > options.maxBytes)
        return finish({ error: tooLarge(where, options.maxBytes) });
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > options.maxBytes) return finish({ error: tooLarge(where, options.maxBytes) });
        chunks.push(chunk);
      });
      res.on('end', () => finish({ value: { body: Buffer.concat(chunks) } }));
      res.on('error', (error: NodeJS.ErrnoException) => finish({ error: networkError(error, where) }));
    });
  });
}

function tooLarge(where: string, max: number): UserError {
  return new UserError(`${where} is larger than ${formatBytes(max)}; refused`);
}

function statusError(status: number, where: string): HttpStatusError {
  if (status === 401 || status === 403)
    return new HttpStatusError(
      status,
      `${where} refused access (HTTP ${status}); check the Repository's Secret`,
    );
  if (status === 404) return new HttpStatusError(status, `${where} does not exist (HTTP 404)`);
  return new HttpStatusError(status, `${where} answered HTTP ${status}`);
}

/** Node's code in a sentence of ours: Node's own messages may quote the URL. */
function networkError(error: NodeJS.ErrnoException, where: string): Error {
  if (error instanceof CapstanError) return error;
  const code =
    typeof error.code === 'string' && /^[A-Z0-9_]{2,40}$/.test(error.code) ? error.code : 'unknown';
  if (code === 'ECAPSTANBLOCKED')
    return new UserError(`${where} resolves to a link-local or cloud metadata address; refused`);
  if (/^(ERR_TLS|CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|ERR_SSL)/.test(code))
    return new UserError(`TLS to ${where} failed (${code}); a custom CA goes in the Secret's ca.crt`);
  return new TransientError(`cannot reach ${where} (${code})`);
}
