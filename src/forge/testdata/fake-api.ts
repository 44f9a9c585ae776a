/**
 * A fake forge API on loopback for the client's unit tests: a real node:http server that records
 * each request and answers with the test's handler (bodies from recorded.ts, shaped as the hosts'
 * published API documents). Closed after each test.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, expect } from 'vitest';
import { describeError } from '../../core/errors.js';
import { ForgeError } from '../types.js';

export interface Seen {
  readonly method: string;
  /** The path with its query, as sent. */
  readonly path: string;
  /** The path alone. */
  readonly pathname: string;
  readonly query: Readonly<Record<string, string>>;
  readonly headers: IncomingMessage['headers'];
  readonly body: unknown;
}

export type Handler = (seen: Seen, response: ServerResponse) => void;

export interface FakeApi {
  readonly seen: Seen[];
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  readonly port: number;
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

export async function fakeApi(handler: Handler): Promise<FakeApi> {
  const seen: Seen[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const url = new URL(request.url ?? '/', 'http://fake');
      const entry: Seen = {
        method: request.method ?? '',
        path: request.url ?? '',
        pathname: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: request.headers,
        body: text === '' ? undefined : (JSON.parse(text) as unknown),
      };
      seen.push(entry);
      handler(entry, response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { seen, origin: `http://127.0.0.1:${port}`, port };
}

export function json(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  response.writeHead(status, { 'Content-Type': 'application/json', ...headers }).end(JSON.stringify(body));
}

/** The error a call threw, checked to carry none of `secrets` anywhere in its chain. */
export async function failure(promise: Promise<unknown>, secrets: readonly string[]): Promise<ForgeError> {
  const error = await promise.then(
    () => new Error('succeeded, but should have failed'),
    (thrown: unknown) => thrown as Error,
  );
  expect(error).toBeInstanceOf(ForgeError);
  for (const secret of secrets) {
    expect(describeError(error)).not.toContain(secret);
    expect(String(error.stack)).not.toContain(secret);
    expect(JSON.stringify(error)).not.toContain(secret);
  }
  return error as ForgeError;
}
