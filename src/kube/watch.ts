/**
 * Watch streams: newline-delimited JSON events, parsed as the bytes arrive, with a cap on the size
 * of one line so a broken or hostile server cannot make us buffer without bound.
 */
import type { KubeObject } from '../core/objects.js';
import {
  errorFromResponse,
  errorFromStatus,
  KubeTransportError,
  type RequestTarget,
  type StatusObject,
} from './errors.js';
import type { StreamRequest, Transport } from './transport.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';

export interface WatchEvent<T extends KubeObject = KubeObject> {
  readonly type: WatchEventType;
  /** For BOOKMARK, only `apiVersion`, `kind` and `metadata.resourceVersion` are meaningful. */
  readonly object: T;
}

/** Default cap on one event: well above the largest object etcd stores (1.5 MiB by default). */
export const DEFAULT_MAX_WATCH_LINE_BYTES = 16 * 1024 * 1024;

/** Splits a byte stream into lines at '\n' without decoding (a UTF-8 character may straddle chunks). */
export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(private readonly maxLineBytes: number) {}

  /** The complete lines this chunk finishes (without their '\n'). Throws when a line exceeds the cap. */
  push(chunk: Buffer): Buffer[] {
    const lines: Buffer[] = [];
    let start = 0;
    for (let newline = chunk.indexOf(0x0a, start); newline >= 0; newline = chunk.indexOf(0x0a, start)) {
      const tail = chunk.subarray(start, newline);
      this.check(this.pendingBytes + tail.length);
      lines.push(
        this.pending.length === 0
          ? tail
          : Buffer.concat([...this.pending, tail], this.pendingBytes + tail.length),
      );
      this.pending = [];
      this.pendingBytes = 0;
      start = newline + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.check(this.pendingBytes + rest.length);
      this.pending.push(rest);
      this.pendingBytes += rest.length;
    }
    return lines;
  }

  /** What is left after the stream ended (a last line without '\n'), if anything. */
  finish(): Buffer | undefined {
    if (this.pendingBytes === 0) return undefined;
    const rest = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    return rest;
  }

  private check(size: number): void {
    if (size > this.maxLineBytes) throw new LineTooLongError(this.maxLineBytes);
  }
}

export class LineTooLongError extends Error {
  constructor(readonly maxLineBytes: number) {
    super(`a watch event is larger than ${maxLineBytes} bytes`);
  }
}

/**
 * Parses watch events from a byte stream. An `ERROR` event (410 Expired, say) ends the stream with
 * the `KubeApiError` it carries.
 */
export async function* parseWatchEvents<T extends KubeObject>(
  chunks: AsyncIterable<Buffer>,
  options: { readonly maxLineBytes: number; readonly target: RequestTarget },
): AsyncGenerator<WatchEvent<T>> {
  const splitter = new LineSplitter(options.maxLineBytes);
  const decode = (line: Buffer): WatchEvent<T> | undefined => decodeEvent<T>(line, options.target);
  try {
    for await (const chunk of chunks) {
      for (const line of splitter.push(chunk)) {
        const event = decode(line);
        if (event) yield event;
      }
    }
  } catch (error) {
    if (error instanceof LineTooLongError) {
      throw new KubeTransportError({
        code: 'RESPONSE_TOO_LARGE',
        message: `${options.target.method} ${options.target.path}: ${error.message}`,
        target: options.target,
      });
    }
    throw error;
  }
  const last = splitter.finish();
  const event = last ? decode(last) : undefined;
  if (event) yield event;
}

function decodeEvent<T extends KubeObject>(line: Buffer, target: RequestTarget): WatchEvent<T> | undefined {
  // Blank lines (keep-alives from some proxies) carry nothing.
  if (line.length === 0 || (line.length === 1 && line[0] === 0x0d)) return undefined;
  let parsed: { type?: unknown; object?: unknown };
  try {
    parsed = JSON.parse(line.toString('utf8')) as { type?: unknown; object?: unknown };
  } catch (error) {
    throw new KubeTransportError({
      code: 'BAD_RESPONSE',
      message: `${target.method} ${target.path}: a watch event is not JSON`,
      target,
      cause: error,
    });
  }
  const { type, object } = parsed;
  if (type === 'ERROR') throw errorFromStatus((object ?? {}) as StatusObject, target);
  if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED' || type === 'BOOKMARK') {
    if (!object || typeof object !== 'object') {
      throw new KubeTransportError({
        code: 'BAD_RESPONSE',
        message: `${target.method} ${target.path}: a ${type} event has no object`,
        target,
      });
    }
    return { type, object: object as T };
  }
  // Event types newer than this code: skip rather than stop watching.
  return undefined;
}

export interface OpenWatchOptions {
  /** Path with query (`watch=1` etc.). */
  readonly path: string;
  readonly idleTimeoutMs: number;
  readonly maxLineBytes: number;
  readonly target: RequestTarget;
  readonly signal?: AbortSignal;
}

/**
 * Opens a watch and yields its events. Ends quietly when the server closes the stream (its
 * `timeoutSeconds` elapsed) or the signal aborts; throws `KubeApiError` / `KubeTransportError` otherwise.
 */
export async function* openWatch<T extends KubeObject>(
  transport: Transport,
  options: OpenWatchOptions,
): AsyncGenerator<WatchEvent<T>> {
  const { signal, target } = options;
  const request: StreamRequest = {
    method: 'GET',
    path: options.path,
    idleTimeoutMs: options.idleTimeoutMs,
    ...(signal ? { signal } : {}),
    ...(target.group !== undefined || target.kind !== undefined
      ? {
          target: {
            ...(target.group === undefined ? {} : { group: target.group }),
            ...(target.kind === undefined ? {} : { kind: target.kind }),
          },
        }
      : {}),
  };
  let response;
  try {
    response = await transport.stream(request);
  } catch (error) {
    if (signal?.aborted) return;
    throw error;
  }
  try {
    if (response.status !== 200) {
      const body = await readCapped(response.body, 1024 * 1024);
      throw errorFromResponse(response.status, body, target, response.headers['retry-after']);
    }
    yield* parseWatchEvents<T>(response.body, { maxLineBytes: options.maxLineBytes, target });
  } catch (error) {
    if (signal?.aborted) return;
    throw error;
  } finally {
    response.close();
  }
}

async function readCapped(chunks: AsyncIterable<Buffer>, maxBytes: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of chunks) {
    parts.push(chunk);
    size += chunk.length;
    if (size > maxBytes) break;
  }
  return Buffer.concat(parts).subarray(0, maxBytes);
}
