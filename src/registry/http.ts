/**
 * One HTTP exchange with a registry (or its token service, or the CDN a blob redirects to), on
 * node:http(s), bounded for a hostile server:
 * - the caller's signal ends it; the client combines it with the per-request deadline, so a server
 *   that drips its answer a byte at a time is cut off when the deadline passes;
 * - a body is read only up to the bound the caller gives (a larger Content-Length fails before any
 *   byte is read), then the connection is dropped;
 * - redirects are not followed here: the client decides where credentials may go;
 * - link-local and cloud metadata addresses are refused unless allowed, on the URL and on every
 *   address a name resolves to (the notification transport's lookup, so DNS cannot point a
 *   request at the instance metadata service).
 * Errors are RegistryErrors in Capstan's words (a Node error code at most), never a header value.
 */
import { createHash } from 'node:crypto';
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { UserError } from '../core/errors.js';
import { BlockedAddressError, guardedLookup } from '../notify/transport.js';
import { formatBytes } from '../render/limits.js';
import { isBlockedHost } from '../notify/url.js';
import { RegistryError } from './errors.js';

export interface ConnectionPolicy {
  /** The operator's switch: allow link-local and cloud metadata addresses. */
  readonly allowPrivateAddresses: boolean;
  /** An extra CA certificate (PEM) for https, trusted besides Node's bundle. */
  readonly caPem?: string | undefined;
}

export interface Exchange {
  readonly url: URL;
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** Reads the whole body, failing with `tooLarge` past `maxBytes` (`what` names it in the error). */
  read(maxBytes: number, what: string): Promise<Buffer>;
  /** Reads the body like `read`, and also returns its sha256 (`sha256:<hex>`). */
  readHashed(maxBytes: number, what: string): Promise<{ body: Buffer; digest: string }>;
  /** Drops the connection without reading the body. */
  discard(): void;
}

export interface SendRequest {
  readonly method: 'GET' | 'HEAD';
  readonly headers: Readonly<Record<string, string>>;
  /** Aborts on the caller's signal or the deadline, whichever is first (see `requestSignal`). */
  readonly signal: AbortSignal;
  /** Names the peer in errors: the registry host, `the token service`, `the blob's redirect`. */
  readonly peer: string;
}

/** A signal that aborts with the caller's `signal` or after `timeoutMs`, whichever comes first. */
export function requestSignal(signal: AbortSignal | undefined, timeoutMs: number): AbortSignal {
  const deadline = AbortSignal.timeout(timeoutMs);
  return signal ? AbortSignal.any([signal, deadline]) : deadline;
}

/** Sends one request; resolves when the status line and headers have arrived. */
export function send(url: URL, request: SendRequest, policy: ConnectionPolicy): Promise<Exchange> {
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    return Promise.reject(new UserError(`${request.peer}: only https:// and http:// URLs can be fetched`));
  if (!policy.allowPrivateAddresses && isBlockedHost(url.hostname))
    return Promise.reject(blockedError(request.peer));
  return new Promise<Exchange>((resolve, reject) => {
    if (request.signal.aborted) return reject(abortedError(request));
    const module = url.protocol === 'https:' ? https : http;
    const req = module.request(url, {
      method: request.method,
      headers: { 'user-agent': 'capstan', ...request.headers },
      lookup: guardedLookup(policy.allowPrivateAddresses) as never,
      // The custom CA joins Node's bundle: a registry's CDN keeps its public certificate.
      ...(policy.caPem !== undefined && url.protocol === 'https:'
        ? { ca: [...tls.rootCertificates, policy.caPem] }
        : {}),
      // No pooled sockets: a hostile server cannot hold one for the next request.
      agent: false,
      signal: request.signal,
    });
    req.on('error', (error: NodeJS.ErrnoException) => reject(networkError(error, request)));
    req.on('response', (res) => resolve(exchange(url, res, req, request)));
    req.end();
  });
}

function exchange(url: URL, res: IncomingMessage, req: http.ClientRequest, request: SendRequest): Exchange {
  const readHashed = async (maxBytes: number, what: string): Promise<{ body: Buffer; digest: string }> => {
    const declared = Number(res.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) {
      req.destroy();
      throw tooLarge(request.peer, what, maxBytes);
    }
    const hash = createHash('sha256');
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of res as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > maxBytes) throw tooLarge(request.peer, what, maxBytes);
        hash.update(chunk);
        chunks.push(chunk);
      }
    } catch (error) {
      req.destroy();
      if (error instanceof RegistryError) throw error;
      throw request.signal.aborted
        ? abortedError(request)
        : networkError(error as NodeJS.ErrnoException, request);
    }
    // A server that closes early without an error still broke its promise of Content-Length.
    if (!res.complete) throw networkError({ code: 'ECONNRESET' } as NodeJS.ErrnoException, request);
    return { body: Buffer.concat(chunks), digest: `sha256:${hash.digest('hex')}` };
  };
  return {
    url,
    status: res.statusCode ?? 0,
    headers: res.headers,
    readHashed,
    read: async (maxBytes, what) => (await readHashed(maxBytes, what)).body,
    discard: () => req.destroy(),
  };
}

function tooLarge(peer: string, what: string, maxBytes: number): RegistryError {
  return new RegistryError(
    'tooLarge',
    `${peer}: ${what} is larger than the limit of ${formatBytes(maxBytes)}`,
  );
}

function blockedError(peer: string): UserError {
  return new UserError(
    `${peer}: refusing to connect to a link-local or cloud metadata address (the controller's operator can allow private addresses)`,
  );
}

/** What the abort meant: the caller's cancellation or the deadline (AbortSignal.any keeps the reason). */
function abortedError(request: SendRequest): RegistryError {
  const reason: unknown = request.signal.reason;
  const timedOut = reason instanceof DOMException && reason.name === 'TimeoutError';
  return new RegistryError(
    'unreachable',
    `${request.peer}: ${timedOut ? 'no complete answer in time' : 'the request was cancelled'}`,
  );
}

/** Node's code in a sentence of ours: Node's own messages may name the host, the URL or a header. */
function networkError(error: NodeJS.ErrnoException, request: SendRequest): Error {
  if (error instanceof BlockedAddressError || error.code === 'ECAPSTANBLOCKED')
    return blockedError(request.peer);
  if (request.signal.aborted || error.name === 'AbortError') return abortedError(request);
  const code =
    typeof error.code === 'string' && /^[A-Z0-9_]{2,40}$/.test(error.code) ? error.code : 'unknown';
  if (/^(ERR_TLS|CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|ERR_SSL)/.test(code))
    return new RegistryError('unreachable', `${request.peer}: TLS failed (${code})`);
  if (code === 'ENOTFOUND')
    return new RegistryError('unreachable', `${request.peer}: the host name does not resolve (ENOTFOUND)`);
  return new RegistryError('unreachable', `${request.peer}: the connection failed (${code})`);
}

/** A header's (first) value. */
export function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
