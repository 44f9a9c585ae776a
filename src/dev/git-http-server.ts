/**
 * A Git server over HTTP for the demo and the tests: git's own `git http-backend` (the smart HTTP
 * protocol, as real Git hosts speak it) behind a node:http server on loopback, optionally with basic
 * auth. Pushes are accepted too (`http.receivepack`), so a person can `git push` to the demo.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface GitHttpServer {
  readonly port: number;
  /** `http://127.0.0.1:<port>/<name>.git` */
  url(name: string): string;
  /** Requests served, by path, for tests that assert what the client asked for. */
  readonly requests: string[];
  close(): Promise<void>;
}

export interface GitHttpServerOptions {
  /** Folder holding `<name>.git` bare repositories. */
  readonly root: string;
  /** When set, every request needs these credentials (HTTP basic). */
  readonly auth?: { readonly username: string; readonly password: string };
  /**
   * Users who may fetch but not push (HTTP basic): a push by one is refused with 403, as a host
   * refuses read-only credentials. With `auth` or alone (then every request needs some user).
   */
  readonly readOnlyUsers?: readonly { readonly username: string; readonly password: string }[];
  /** A fixed port (to restart a server where clients expect it); default a free one. */
  readonly port?: number;
  /** Accept pushes (the demo); default false. */
  readonly allowPush?: boolean;
  /** Called after a push to `<name>.git` was received (the demo turns it into a webhook). */
  readonly onPush?: (name: string) => void;
}

const HTTP_BACKEND = '/usr/lib/git-core/git-http-backend';

/** Serves `root` with git's smart HTTP protocol on 127.0.0.1, on a free port. */
export async function startGitHttpServer(options: GitHttpServerOptions): Promise<GitHttpServer> {
  if (!existsSync(HTTP_BACKEND)) throw new Error(`${HTTP_BACKEND} is missing (Debian package "git")`);
  const requests: string[] = [];
  const server = createServer((request, response) => {
    requests.push(request.url ?? '');
    const readers = options.readOnlyUsers ?? [];
    const reader = readers.some((user) => authorised(request, user));
    if (
      (options.auth || readers.length > 0) &&
      !reader &&
      !(options.auth && authorised(request, options.auth))
    ) {
      response.writeHead(401, { 'WWW-Authenticate': 'Basic realm="capstan-test"' }).end('unauthorised\n');
      return;
    }
    if (reader && isReceivePack(request)) {
      response
        .writeHead(403, { 'Content-Type': 'text/plain' })
        .end('read-only user: pushing is not allowed\n');
      return;
    }
    serveWithBackend(request, response, options.root, options.allowPush ?? false, () => {
      const name = /^\/(.+)\.git\/git-receive-pack$/.exec(
        new URL(request.url ?? '/', 'http://localhost').pathname,
      )?.[1];
      if (name && request.method === 'POST') options.onPush?.(name);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    port,
    requests,
    url: (name) => `http://127.0.0.1:${port}/${name}.git`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The two requests of a push: the receive-pack advertisement, and the pack itself. */
function isReceivePack(request: IncomingMessage): boolean {
  const url = new URL(request.url ?? '/', 'http://localhost');
  return url.pathname.endsWith('/git-receive-pack') || url.searchParams.get('service') === 'git-receive-pack';
}

function authorised(request: IncomingMessage, auth: { username: string; password: string }): boolean {
  const header = request.headers.authorization ?? '';
  if (!header.startsWith('Basic ')) return false;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  return decoded === `${auth.username}:${auth.password}`;
}

/** Runs git-http-backend as a CGI program for one request. */
function serveWithBackend(
  request: IncomingMessage,
  response: ServerResponse,
  root: string,
  allowPush: boolean,
  done: () => void,
): void {
  const url = new URL(request.url ?? '/', 'http://localhost');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    GIT_PROJECT_ROOT: root,
    GIT_HTTP_EXPORT_ALL: '1',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    REQUEST_METHOD: request.method ?? 'GET',
    PATH_INFO: decodeURIComponent(url.pathname),
    QUERY_STRING: url.search.replace(/^\?/, ''),
    REMOTE_ADDR: request.socket.remoteAddress ?? '127.0.0.1',
    REMOTE_USER: 'capstan',
  };
  // git http-backend refuses pushes unless the repository (or this variable) enables receive-pack.
  if (allowPush)
    Object.assign(env, {
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: 'http.receivepack',
      GIT_CONFIG_VALUE_0: 'true',
    });
  const header = (name: string) => request.headers[name.toLowerCase()];
  if (typeof header('content-type') === 'string') env.CONTENT_TYPE = header('content-type') as string;
  if (typeof header('content-length') === 'string') env.CONTENT_LENGTH = header('content-length') as string;
  if (typeof header('content-encoding') === 'string')
    env.HTTP_CONTENT_ENCODING = header('content-encoding') as string;
  if (typeof header('git-protocol') === 'string') env.GIT_PROTOCOL = header('git-protocol') as string;

  const cgi = spawn(HTTP_BACKEND, [], { env, stdio: ['pipe', 'pipe', 'ignore'] });
  request.pipe(cgi.stdin);
  cgi.stdin.on('error', () => {});
  let head = Buffer.alloc(0);
  let headersSent = false;
  cgi.stdout.on('data', (chunk: Buffer) => {
    if (headersSent) {
      response.write(chunk);
      return;
    }
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf('\r\n\r\n') >= 0 ? head.indexOf('\r\n\r\n') : head.indexOf('\n\n');
    if (end < 0) return;
    const separatorLength = head[end] === 0x0d ? 4 : 2;
    let status = 200;
    for (const line of head.subarray(0, end).toString('utf8').split(/\r?\n/)) {
      const colon = line.indexOf(':');
      if (colon < 0) continue;
      const name = line.slice(0, colon).trim();
      const value = line.slice(colon + 1).trim();
      if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10);
      else response.setHeader(name, value);
    }
    response.writeHead(status);
    headersSent = true;
    response.write(head.subarray(end + separatorLength));
  });
  cgi.on('close', () => {
    if (!headersSent) response.writeHead(502);
    response.end();
    done();
  });
}
