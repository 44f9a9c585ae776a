/**
 * A tiny HTTP server on 127.0.0.1 for unit tests of the kube layer: each test decides how it
 * answers, and every request it received is recorded.
 */
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface RecordedRequest {
  readonly method: string;
  /** Path and query exactly as sent. */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  /** Raw header lines, to see repeated headers. */
  readonly rawHeaders: readonly string[];
  readonly body: string;
  /** Which connection (1, 2, …) carried it: keep-alive reuse shows as repeats. */
  readonly connection: number;
}

export type Handler = (
  request: RecordedRequest,
  response: ServerResponse,
  raw: IncomingMessage,
) => void | Promise<void>;

export interface FakeApiServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** How many TCP connections were opened. */
  connections(): number;
  handle(handler: Handler): void;
  /** Drops every open connection (as a crashed or restarted server would). */
  dropConnections(): void;
  close(): Promise<void>;
}

export async function startFakeApiServer(handler?: Handler): Promise<FakeApiServer> {
  let current: Handler =
    handler ?? ((_request, response) => sendJson(response, 404, status(404, 'NotFound', 'no handler')));
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const ids = new WeakMap<Socket, number>();
  let opened = 0;
  const server = http.createServer((raw, response) => {
    const chunks: Buffer[] = [];
    raw.on('data', (chunk: Buffer) => chunks.push(chunk));
    raw.on('end', () => {
      const recorded: RecordedRequest = {
        method: raw.method ?? '',
        url: raw.url ?? '',
        headers: raw.headers,
        rawHeaders: raw.rawHeaders,
        body: Buffer.concat(chunks).toString('utf8'),
        connection: ids.get(raw.socket) ?? 0,
      };
      requests.push(recorded);
      Promise.resolve(current(recorded, response, raw)).catch((error: unknown) => {
        if (!response.headersSent) sendJson(response, 500, status(500, 'InternalError', String(error)));
        else response.destroy();
      });
    });
  });
  server.on('connection', (socket) => {
    ids.set(socket, ++opened);
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    connections: () => opened,
    handle: (next) => {
      current = next;
    },
    dropConnections: () => {
      for (const socket of sockets) socket.destroy();
    },
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

export function sendJson(
  response: ServerResponse,
  code: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  response.writeHead(code, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  response.end(text);
}

export function status(
  code: number,
  reason: string,
  message: string,
  details?: unknown,
): Record<string, unknown> {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    code,
    reason,
    message,
    ...(details ? { details } : {}),
  };
}

/** An aggregated discovery answer for the given group → version → resources. */
export function aggregatedDiscovery(
  groups: Record<
    string,
    Record<
      string,
      { resource: string; kind: string; namespaced?: boolean; verbs?: string[]; subresources?: string[] }[]
    >
  >,
): Record<string, unknown> {
  return {
    kind: 'APIGroupDiscoveryList',
    apiVersion: 'apidiscovery.k8s.io/v2',
    metadata: {},
    items: Object.entries(groups).map(([name, versions]) => ({
      metadata: { name },
      versions: Object.entries(versions).map(([version, resources]) => ({
        version,
        freshness: 'Current',
        resources: resources.map((r) => ({
          resource: r.resource,
          responseKind: { group: name, version, kind: r.kind },
          scope: r.namespaced === false ? 'Cluster' : 'Namespaced',
          verbs: r.verbs ?? ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
          subresources: (r.subresources ?? []).map((s) => ({
            subresource: s,
            verbs: ['get', 'patch', 'update'],
          })),
        })),
      })),
    })),
  };
}
