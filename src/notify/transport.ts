/**
 * The HTTP transport on node:http(s). What a receiver can make Capstan do is bounded:
 * - one deadline for the whole exchange (connect, send, headers, body), `timeoutMs`;
 * - at most `maxResponseBytes` of a reply are read, then the connection is dropped;
 * - redirects are never followed (node:http does not; a 3xx is an answer like any other);
 * - every address a host name resolves to is checked: link-local and metadata addresses are refused
 *   (unless allowed), so DNS cannot point a notification at the instance metadata service.
 * Errors say what failed in Capstan's words (a Node error code at most), never the URL.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { TransientError, UserError } from '../core/errors.js';
import type { HttpRequest, HttpResponse, HttpTransport, SendOptions } from './types.js';
import { isBlockedAddress, isBlockedHost } from './url.js';

export interface TransportOptions {
  /** Replies are cut after this many bytes (default 4 KiB). */
  readonly maxResponseBytes?: number;
  /** The operator's switch: allow link-local and metadata addresses. */
  readonly allowLinkLocal?: boolean;
  /** Extra CA certificates (PEM) for https receivers; default Node's bundle. */
  readonly ca?: string | readonly string[];
}

/** A host name resolved to an address that may not be contacted: not worth retrying. */
export class BlockedAddressError extends UserError {}

export const DEFAULT_MAX_RESPONSE_BYTES = 4 * 1024;

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/** dns.lookup, refusing blocked addresses (whether asked for one address or all of them). */
export function guardedLookup(allowLinkLocal: boolean, resolve: typeof dnsLookup = dnsLookup) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    resolve(hostname, { ...options }, (error, address, family) => {
      if (error) return callback(error, '', undefined);
      const addresses: LookupAddress[] = Array.isArray(address)
        ? address
        : [{ address: address as string, family: family ?? 4 }];
      const blocked = addresses.some(
        (entry) => !allowLinkLocal && isBlockedAddress(entry.address, entry.family === 6 ? 'ipv6' : 'ipv4'),
      );
      if (blocked) {
        const refusal = new BlockedAddressError(
          'the receiver’s host name resolves to a link-local or cloud metadata address',
        ) as BlockedAddressError & NodeJS.ErrnoException;
        refusal.code = 'ECAPSTANBLOCKED';
        return callback(refusal, '', undefined);
      }
      if (Array.isArray(address)) return callback(null, address);
      return callback(null, address as string, family);
    });
  };
}

export function httpTransport(options: TransportOptions = {}): HttpTransport {
  const maxBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const lookup = guardedLookup(options.allowLinkLocal ?? false);
  const ca = options.ca === undefined ? undefined : [options.ca].flat();
  const allowLinkLocal = options.allowLinkLocal ?? false;
  return {
    send: (request, sendOptions) => send(request, sendOptions, { maxBytes, lookup, ca, allowLinkLocal }),
  };
}

function send(
  request: HttpRequest,
  { timeoutMs, signal }: SendOptions,
  config: {
    maxBytes: number;
    lookup: ReturnType<typeof guardedLookup>;
    ca: string[] | undefined;
    allowLinkLocal: boolean;
  },
): Promise<HttpResponse> {
  return new Promise<HttpResponse>((resolve, reject) => {
    const url = new URL(request.url);
    // Address literals are connected to without a lookup: checked here instead.
    if (!config.allowLinkLocal && isBlockedHost(url.hostname)) {
      return reject(new BlockedAddressError('the receiver is a link-local or cloud metadata address'));
    }
    const body = Buffer.from(request.body, 'utf8');
    const module = url.protocol === 'https:' ? https : http;
    let settled = false;
    const finish = (outcome: { response: HttpResponse } | { error: Error }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      signal?.removeEventListener('abort', onAbort);
      if ('response' in outcome) resolve(outcome.response);
      else reject(outcome.error);
      // Whatever is left (a reply past the limit, a socket still open) is not ours to wait for.
      req.destroy();
    };
    const req = module.request(url, {
      method: request.method,
      headers: { ...request.headers, 'Content-Length': String(body.length) },
      lookup: config.lookup as never,
      ...(config.ca ? { ca: config.ca } : {}),
      // One connection per delivery: a receiver cannot hold a pooled socket for the next one.
      agent: false,
    });
    const deadline = setTimeout(
      () => finish({ error: new TransientError(`no answer within ${Math.round(timeoutMs / 100) / 10} s`) }),
      timeoutMs,
    );
    const onAbort = (): void => finish({ error: new TransientError('the request was aborted') });
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });

    req.on('error', (error: NodeJS.ErrnoException) => finish({ error: describeNetworkError(error) }));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const done = (): void => {
        const headers: Record<string, string | undefined> = {};
        for (const [name, value] of Object.entries(res.headers)) {
          if (typeof value === 'string') headers[name] = value;
        }
        const text = Buffer.concat(chunks).subarray(0, config.maxBytes).toString('utf8');
        finish({ response: { status: res.statusCode ?? 0, headers, body: text } });
      };
      res.on('data', (chunk: Buffer) => {
        if (settled) return;
        chunks.push(chunk);
        size += chunk.length;
        if (size >= config.maxBytes) done();
      });
      res.on('end', done);
      res.on('error', (error: NodeJS.ErrnoException) => finish({ error: describeNetworkError(error) }));
    });
    req.end(body);
  });
}

/** Node's code, in a sentence of ours: Node's messages may name the host or the URL. */
function describeNetworkError(error: NodeJS.ErrnoException): Error {
  if (error instanceof BlockedAddressError) return error;
  const code =
    typeof error.code === 'string' && /^[A-Z0-9_]{2,40}$/.test(error.code) ? error.code : 'unknown';
  // A certificate that does not fit will not fit in a minute either: not retried.
  if (/^(ERR_TLS|CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|ERR_SSL)/.test(code)) {
    return new UserError(`TLS failed (${code})`);
  }
  if (code === 'ENOTFOUND') return new TransientError('the host name does not resolve (ENOTFOUND)');
  return new TransientError(`the connection failed (${code})`);
}
