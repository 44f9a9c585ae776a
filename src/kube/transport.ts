/**
 * HTTP to the API server on node:http(s), with two keep-alive pools: one for ordinary requests
 * (bounded, so a burst of applies cannot open hundreds of connections) and one for watches (each
 * watch holds a connection for minutes; sharing the request pool would starve requests).
 *
 * The transport knows nothing of Kubernetes objects: it sends bytes, returns status + bytes, maps
 * network failures to `KubeTransportError`, enforces a response size cap and a timeout, and honours
 * an AbortSignal. Credentials come from a `CredentialSource`, asked per request (a cheap, usually
 * synchronous call) so that exec-plugin and token-file credentials can rotate.
 */
import http, { type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import { KubeTransportError, type RequestTarget } from './errors.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface TransportRequest {
  readonly method: HttpMethod;
  /** Path and query string, already encoded; relative to the server URL's own path prefix. */
  readonly path: string;
  readonly headers?: OutgoingHttpHeaders;
  readonly body?: string | Buffer;
  readonly signal?: AbortSignal;
  /** Whole-request deadline, body included. Default: the transport's. */
  readonly timeoutMs?: number;
  readonly maxResponseBytes?: number;
  /** What the request is about, for error messages and Secret scrubbing. */
  readonly target?: { readonly group?: string; readonly kind?: string };
}

export interface TransportResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface StreamRequest extends Omit<TransportRequest, 'timeoutMs' | 'maxResponseBytes'> {
  /** Fail the stream when no byte arrives for this long (watches send bookmarks; silence means a dead peer). */
  readonly idleTimeoutMs: number;
}

export interface StreamResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The body as it arrives. Ends when the server closes; throws on network errors and timeouts. */
  readonly body: AsyncIterable<Buffer>;
  /** Closes the connection (idempotent). */
  close(): void;
}

export interface Transport {
  request(request: TransportRequest): Promise<TransportResponse>;
  stream(request: StreamRequest): Promise<StreamResponse>;
  /** A transport that adds (or replaces) headers on every request and shares this one's pools. */
  withHeaders(headers: Readonly<Record<string, string | readonly string[]>>): Transport;
  /** Closes the pools' connections. Only the transport that created the pools closes them. */
  close(): void;
}

export interface TlsOptions {
  readonly ca?: string | Buffer;
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  readonly servername?: string;
  readonly rejectUnauthorized?: boolean;
}

export interface Credentials {
  /** Authorization and similar headers, lower-case names. */
  readonly headers: Readonly<Record<string, string | readonly string[]>>;
  /** Client TLS identity when it comes with the credentials (exec plugins may hand out certificates). */
  readonly tls?: TlsOptions;
}

export interface CredentialSource {
  current(): Credentials | Promise<Credentials>;
  /** Called after a 401: forget cached credentials so the next `current()` gets fresh ones. */
  invalidate?(): void;
  /** Whether `invalidate()` can yield different credentials (a 401 is then worth one retry). */
  readonly rotates?: boolean;
}

export interface HttpTransportOptions {
  /** `https://host:port` with an optional path prefix (some proxies serve the API below a path). */
  readonly server: string;
  readonly tls?: TlsOptions;
  readonly credentials?: CredentialSource;
  /** Connections for ordinary requests. Default 32. */
  readonly maxSockets?: number;
  /** Connections for watches (each holds one). Default 256. */
  readonly maxWatchSockets?: number;
  /** Default 60 s. */
  readonly requestTimeoutMs?: number;
  /** Default 64 MiB. */
  readonly maxResponseBytes?: number;
  readonly userAgent?: string;
}

const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024;
const NO_CREDENTIALS: CredentialSource = { current: () => ({ headers: {} }) };

/** The connection pools, shared by a transport and every `withHeaders()` view of it. */
class Pools {
  private readonly secure: boolean;
  private identity: TlsOptions | undefined;
  private lastSeen: TlsOptions | undefined;
  requests: http.Agent;
  watches: http.Agent;

  constructor(
    secure: boolean,
    private readonly baseTls: TlsOptions,
    private readonly sizes: { maxSockets: number; maxWatchSockets: number },
  ) {
    this.secure = secure;
    this.requests = this.agent(sizes.maxSockets, undefined);
    this.watches = this.agent(sizes.maxWatchSockets, undefined);
  }

  /** Rebuilds the agents when credentials bring a different client certificate. */
  useIdentity(tls: TlsOptions | undefined): void {
    // Credentials hand out the same object until they rotate: most calls stop here.
    if (tls === this.lastSeen) return;
    this.lastSeen = tls;
    if (sameMaterial(tls?.cert, this.identity?.cert) && sameMaterial(tls?.key, this.identity?.key)) return;
    this.identity = tls;
    // The old agents keep serving their in-flight requests (and watches); their idle sockets are
    // unref'd and close when the server drops them. New requests use the new identity.
    this.requests = this.agent(this.sizes.maxSockets, tls);
    this.watches = this.agent(this.sizes.maxWatchSockets, tls);
  }

  close(): void {
    this.requests.destroy();
    this.watches.destroy();
  }

  private agent(maxSockets: number, identity: TlsOptions | undefined): http.Agent {
    const common = { keepAlive: true, maxSockets, maxFreeSockets: maxSockets, scheduling: 'lifo' as const };
    if (!this.secure) return new http.Agent(common);
    const tls = { ...this.baseTls, ...stripUndefined(identity ?? {}) };
    return new https.Agent({ ...common, ...stripUndefined(tls) });
  }
}

export function createHttpTransport(options: HttpTransportOptions): Transport {
  const url = new URL(options.server);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new TypeError(`unsupported API server URL scheme ${url.protocol} (want https:)`);
  }
  const pools = new Pools(url.protocol === 'https:', options.tls ?? {}, {
    maxSockets: options.maxSockets ?? 32,
    maxWatchSockets: options.maxWatchSockets ?? 256,
  });
  return new HttpTransport(
    {
      url,
      pools,
      credentials: options.credentials ?? NO_CREDENTIALS,
      timeoutMs: options.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS,
      maxResponseBytes: options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
      userAgent: options.userAgent ?? 'capstan',
    },
    {},
    true,
  );
}

interface Shared {
  readonly url: URL;
  readonly pools: Pools;
  readonly credentials: CredentialSource;
  readonly timeoutMs: number;
  readonly maxResponseBytes: number;
  readonly userAgent: string;
}

class HttpTransport implements Transport {
  private readonly pathPrefix: string;

  constructor(
    private readonly shared: Shared,
    private readonly extraHeaders: Readonly<Record<string, string | readonly string[]>>,
    private readonly ownsPools: boolean,
  ) {
    this.pathPrefix = shared.url.pathname.replace(/\/+$/, '');
  }

  withHeaders(headers: Readonly<Record<string, string | readonly string[]>>): Transport {
    return new HttpTransport(this.shared, { ...this.extraHeaders, ...lowerCaseKeys(headers) }, false);
  }

  close(): void {
    if (this.ownsPools) this.shared.pools.close();
  }

  async request(request: TransportRequest): Promise<TransportResponse> {
    let credentials = await this.shared.credentials.current();
    for (let attempt = 0; ; attempt++) {
      try {
        const response = await this.send(request, credentials);
        if (response.status === 401 && attempt === 0 && this.shared.credentials.rotates) {
          // Exec-plugin and token-file credentials expire; fetch fresh ones once before giving up.
          this.shared.credentials.invalidate?.();
          credentials = await this.shared.credentials.current();
          continue;
        }
        return response;
      } catch (error) {
        // The server closed an idle keep-alive connection just as we reused it; nothing was
        // processed, so sending again is safe (except a create, which could be duplicated with generateName).
        if (attempt === 0 && error instanceof StaleSocketError && request.method !== 'POST') continue;
        throw error instanceof StaleSocketError ? error.original : error;
      }
    }
  }

  async stream(request: StreamRequest): Promise<StreamResponse> {
    const credentials = await this.shared.credentials.current();
    try {
      return await this.openStream(request, credentials);
    } catch (error) {
      // As for requests: a watch connection the server closed while it sat in the pool.
      if (error instanceof StaleSocketError) return this.openStream(request, credentials).catch(unwrapStale);
      throw error;
    }
  }

  private openStream(request: StreamRequest, credentials: Credentials): Promise<StreamResponse> {
    this.shared.pools.useIdentity(credentials.tls);
    const target = this.target(request);
    const signal = request.signal;
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    return new Promise<StreamResponse>((resolve, reject) => {
      let response: IncomingMessage | undefined;
      let settled = false;
      const clientRequest = this.open(request, credentials, this.shared.pools.watches);
      const fail = (error: unknown): void => {
        if (response) response.destroy(error as Error);
        else clientRequest.destroy();
        if (!settled) {
          settled = true;
          cleanup();
          reject(error);
        }
      };
      const onAbort = (): void => fail(signal?.reason);
      const cleanup = (): void => signal?.removeEventListener('abort', onAbort);
      signal?.addEventListener('abort', onAbort, { once: true });
      clientRequest.setTimeout(request.idleTimeoutMs, () =>
        fail(
          new KubeTransportError({
            code: 'ETIMEDOUT',
            message: `${target.method} ${target.path}: no data for ${request.idleTimeoutMs} ms`,
            target,
          }),
        ),
      );
      clientRequest.on('error', (error) => {
        if (settled) return;
        const mapped = networkError(error, target);
        fail(clientRequest.reusedSocket && isResetCode(mapped.code) ? new StaleSocketError(mapped) : mapped);
      });
      clientRequest.on('response', (incoming) => {
        response = incoming;
        settled = true;
        incoming.on('close', cleanup);
        resolve({
          status: incoming.statusCode ?? 0,
          headers: incoming.headers,
          body: mapStreamErrors(incoming, target, signal),
          close: () => {
            cleanup();
            incoming.destroy();
            clientRequest.destroy();
          },
        });
      });
      clientRequest.end(request.body);
    });
  }

  private async send(request: TransportRequest, credentials: Credentials): Promise<TransportResponse> {
    this.shared.pools.useIdentity(credentials.tls);
    const target = this.target(request);
    const signal = request.signal;
    if (signal?.aborted) throw signal.reason;
    const maxBytes = request.maxResponseBytes ?? this.shared.maxResponseBytes;
    const timeoutMs = request.timeoutMs ?? this.shared.timeoutMs;
    return new Promise<TransportResponse>((resolve, reject) => {
      let settled = false;
      const clientRequest = this.open(request, credentials, this.shared.pools.requests);
      const finish = (error: unknown, value?: TransportResponse): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (error === undefined) resolve(value!);
        else {
          clientRequest.destroy();
          reject(error);
        }
      };
      const onAbort = (): void => finish(signal?.reason);
      const timer = setTimeout(
        () =>
          finish(
            new KubeTransportError({
              code: 'ETIMEDOUT',
              message: `${target.method} ${target.path}: no complete answer within ${timeoutMs} ms`,
              target,
            }),
          ),
        timeoutMs,
      );
      signal?.addEventListener('abort', onAbort, { once: true });
      clientRequest.on('error', (error) => {
        const mapped = networkError(error, target);
        finish(
          clientRequest.reusedSocket && isResetCode(mapped.code) ? new StaleSocketError(mapped) : mapped,
        );
      });
      clientRequest.on('response', (incoming) => {
        const declared = Number(incoming.headers['content-length']);
        if (Number.isFinite(declared) && declared > maxBytes) return finish(tooLarge(target, maxBytes));
        const chunks: Buffer[] = [];
        let size = 0;
        incoming.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) return finish(tooLarge(target, maxBytes));
          chunks.push(chunk);
        });
        incoming.on('end', () =>
          finish(undefined, {
            status: incoming.statusCode ?? 0,
            headers: incoming.headers,
            body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size),
          }),
        );
        incoming.on('error', (error) => finish(networkError(error, target)));
      });
      clientRequest.end(request.body);
    });
  }

  private open(
    request: TransportRequest | StreamRequest,
    credentials: Credentials,
    agent: http.Agent,
  ): http.ClientRequest {
    const { url } = this.shared;
    const headers: OutgoingHttpHeaders = {
      accept: 'application/json',
      'user-agent': this.shared.userAgent,
      ...credentials.headers,
      ...this.extraHeaders,
      ...request.headers,
    };
    if (request.body !== undefined) headers['content-length'] = Buffer.byteLength(request.body);
    const send = url.protocol === 'https:' ? https.request : http.request;
    return send({
      protocol: url.protocol,
      // URL keeps IPv6 brackets; node:http wants the bare address.
      hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port || (url.protocol === 'https:' ? 443 : 80),
      method: request.method,
      path: this.pathPrefix + request.path,
      headers,
      agent,
    });
  }

  private target(request: TransportRequest | StreamRequest): RequestTarget {
    const query = request.path.indexOf('?');
    return {
      method: request.method,
      path: query < 0 ? request.path : request.path.slice(0, query),
      ...(request.target?.group === undefined ? {} : { group: request.target.group }),
      ...(request.target?.kind === undefined ? {} : { kind: request.target.kind }),
    };
  }
}

/** A reset on a reused keep-alive socket: safe to retry once. */
class StaleSocketError extends Error {
  constructor(readonly original: KubeTransportError) {
    super(original.message);
  }
}

async function* mapStreamErrors(
  incoming: IncomingMessage,
  target: RequestTarget,
  signal: AbortSignal | undefined,
): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of incoming) yield chunk as Buffer;
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    throw error instanceof KubeTransportError ? error : networkError(error, target);
  } finally {
    incoming.destroy();
  }
}

function unwrapStale(error: unknown): never {
  throw error instanceof StaleSocketError ? error.original : error;
}

function networkError(error: unknown, target: RequestTarget): KubeTransportError {
  if (error instanceof KubeTransportError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? 'ECONNRESET';
  const reason = error instanceof Error ? error.message : String(error);
  return new KubeTransportError({
    code,
    message: `${target.method} ${target.path}: ${reason}`,
    target,
    cause: error,
  });
}

function isResetCode(code: string): boolean {
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNABORTED';
}

function tooLarge(target: RequestTarget, maxBytes: number): KubeTransportError {
  return new KubeTransportError({
    code: 'RESPONSE_TOO_LARGE',
    message: `${target.method} ${target.path}: response larger than ${maxBytes} bytes`,
    target,
  });
}

function sameMaterial(a: string | Buffer | undefined, b: string | Buffer | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  return Buffer.from(a).equals(Buffer.from(b));
}

function lowerCaseKeys<V>(record: Readonly<Record<string, V>>): Record<string, V> {
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key.toLowerCase(), value]));
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
