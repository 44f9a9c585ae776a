/**
 * A hostile Git server for tests and benches: it speaks just enough of Git's smart HTTP protocol
 * for `git ls-remote` and `git fetch` to believe it, then misbehaves. Loopback only.
 * `startHostileGitProcess` runs it in a process of its own, so that what it costs (generating 90 MB
 * of refs) is not measured as the client's event-loop delay or memory.
 *
 * Modes, one per URL path (`url(mode)`):
 * - `error-line`: the ref advertisement is a single `ERR` packet of about 64 KB (`b.b.b.…`), of
 *   which git prints the first 4 KiB on stderr (`fatal: remote error: b.b.b.…`);
 * - `sideband-error`: an honest advertisement of one branch, then a fetch answered with megabytes of
 *   progress lines and a 64 KB error line on the side band, all of which git copies to stderr;
 * - `many-refs`: an advertisement of `refs` tags (1.5 million by default, about 90 MB), streamed as
 *   the client reads it, never held in memory;
 * - `slow-drip`: an advertisement that arrives one byte every `dripMs`, and never ends;
 * - `switch-on-fetch`: an honest one-branch advertisement to the first request, then `refs` tags
 *   to every later one, `git fetch`'s included (it asks for the advertisement again).
 */
import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { sleep } from '../../src/core/time.js';

export type HostileMode = 'error-line' | 'sideband-error' | 'many-refs' | 'slow-drip' | 'switch-on-fetch';

export const HOSTILE_MODES: readonly HostileMode[] = [
  'error-line',
  'sideband-error',
  'many-refs',
  'slow-drip',
  'switch-on-fetch',
];

export interface HostileGitOptions {
  /** Tags advertised by `many-refs` (default 1,500,000). */
  readonly refs?: number;
  /** Milliseconds between the bytes of `slow-drip` (default 300). */
  readonly dripMs?: number;
  /** Progress written by `sideband-error` before its error line (default 4 MiB). */
  readonly progressBytes?: number;
}

export interface HostileGitServer {
  /** The repository URL that gets `mode`; `refs` overrides the server's count of tags. */
  url(mode: HostileMode, refs?: number): string;
  close(): Promise<void>;
}

/** The commit every advertised ref points at; it exists nowhere. */
const FAKE_SHA = '1234567890abcdef1234567890abcdef12345678';
/** The largest payload a pkt-line carries (65520 bytes with its 4-byte length). */
const MAX_PKT_PAYLOAD = 65516;
const ADVERTISEMENT = 'application/x-git-upload-pack-advertisement';
const RESULT = 'application/x-git-upload-pack-result';

export async function startHostileGitServer(options: HostileGitOptions = {}): Promise<HostileGitServer> {
  const settings = {
    refs: options.refs ?? 1_500_000,
    dripMs: options.dripMs ?? 300,
    progressBytes: options.progressBytes ?? 4 * 1024 * 1024,
  };
  const open = new Set<ServerResponse>();
  /** Advertisements served, by URL: `switch-on-fetch` is honest only the first time. */
  const advertised = new Map<string, number>();
  const server = createServer((req, res) => {
    const repository = repositoryOf(req);
    if (repository === undefined) {
      res.writeHead(404).end();
      return;
    }
    open.add(res);
    res.on('close', () => open.delete(res));
    const refs = repository.refs ?? settings.refs;
    const key = (req.url ?? '').split('?')[0]!;
    const served = advertised.get(key) ?? 0;
    if (req.method === 'GET') advertised.set(key, served + 1);
    handle(repository.mode, req, res, { ...settings, refs }, served).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (mode, refs) => `http://127.0.0.1:${port}/${mode}${refs === undefined ? '' : `-${refs}`}.git`,
    async close() {
      for (const res of open) res.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** `/<mode>.git/…`, or `/many-refs-<count>.git/…`. */
function repositoryOf(req: IncomingMessage): { mode: HostileMode; refs?: number } | undefined {
  const [, name, refs] = /^\/([a-z-]+?)(?:-(\d+))?\.git\//.exec(req.url ?? '') ?? [];
  const mode = HOSTILE_MODES.find((candidate) => candidate === name);
  if (mode === undefined) return undefined;
  return refs === undefined ? { mode } : { mode, refs: Number(refs) };
}

async function handle(
  mode: HostileMode,
  req: IncomingMessage,
  res: ServerResponse,
  settings: Required<HostileGitOptions>,
  /** Advertisements this repository served before this request. */
  served: number,
): Promise<void> {
  const advertising = req.method === 'GET' && (req.url ?? '').includes('/info/refs?service=git-upload-pack');
  const uploadPack = req.method === 'POST' && (req.url ?? '').endsWith('/git-upload-pack');
  if (!advertising && !uploadPack) {
    res.writeHead(404).end();
    return;
  }
  switch (mode) {
    case 'error-line':
      res.writeHead(200, { 'content-type': ADVERTISEMENT });
      res.end(serviceHeader() + pkt(`ERR ${filler(MAX_PKT_PAYLOAD - 4)}`));
      return;
    case 'sideband-error':
      return advertising ? advertiseVersion2(res) : sidebandError(req, res, settings.progressBytes);
    case 'many-refs':
      return manyRefs(res, settings.refs);
    case 'slow-drip':
      return slowDrip(res, settings.dripMs);
    case 'switch-on-fetch':
      return manyRefs(res, advertising && served === 0 ? 0 : settings.refs);
  }
}

// ---------------------------------------------------------------------------------------------
// pkt-lines: a 4-digit hex length (itself included), then the payload; `0000` flushes, `0001`
// delimits sections (protocol v2).

function pkt(payload: string): string {
  return (payload.length + 4).toString(16).padStart(4, '0') + payload;
}

function serviceHeader(): string {
  return `${pkt('# service=git-upload-pack\n')}0000`;
}

/** `b.b.b.…`: the run that made word-boundary patterns backtrack. */
function filler(length: number): string {
  return 'b.'.repeat(Math.ceil(length / 2)).slice(0, length);
}

/** Protocol v2 capabilities: git then asks for refs and the pack with POSTs. */
function advertiseVersion2(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': ADVERTISEMENT });
  res.end(`${serviceHeader()}${pkt('version 2\n')}${pkt('ls-refs\n')}${pkt('fetch=shallow\n')}0000`);
}

async function sidebandError(
  req: IncomingMessage,
  res: ServerResponse,
  progressBytes: number,
): Promise<void> {
  const body = await readBody(req);
  res.writeHead(200, { 'content-type': RESULT });
  if (body.includes('command=ls-refs')) {
    res.end(
      `${pkt(`${FAKE_SHA} HEAD symref-target:refs/heads/main\n`)}${pkt(`${FAKE_SHA} refs/heads/main\n`)}0000`,
    );
    return;
  }
  // The fetch: a shallow-info section (git asked for depth 1), then the pack section, whose
  // packets carry a band number: 2 is progress, which git copies to stderr line by line, 3 an error.
  await write(res, `${pkt('shallow-info\n')}${pkt(`shallow ${FAKE_SHA}\n`)}0001${pkt('packfile\n')}`);
  // Lines as long as a packet allows: each one a 64 KB line on git's stderr.
  const line = `${filler(MAX_PKT_PAYLOAD - 2)}\n`;
  for (let sent = 0; sent < progressBytes && !res.destroyed; sent += line.length) {
    await write(res, pkt(`\u0002${line}`));
  }
  res.end(pkt(`\u0003${filler(MAX_PKT_PAYLOAD - 1)}`));
}

/** A v0 advertisement (the server's choice, whatever the client asked for), streamed. */
async function manyRefs(res: ServerResponse, refs: number): Promise<void> {
  res.writeHead(200, { 'content-type': ADVERTISEMENT });
  const capabilities = 'multi_ack side-band-64k shallow no-progress symref=HEAD:refs/heads/main';
  let batch = `${serviceHeader()}${pkt(`${FAKE_SHA} HEAD\0${capabilities}\n`)}${pkt(`${FAKE_SHA} refs/heads/main\n`)}`;
  for (let i = 0; i < refs && !res.destroyed; i++) {
    batch += pkt(`${FAKE_SHA} refs/tags/v1.${Math.floor(i / 1000)}.${i % 1000}\n`);
    if (batch.length >= 64 * 1024) {
      await write(res, batch);
      batch = '';
    }
  }
  res.end(`${batch}0000`);
}

/** One byte at a time, for ever: a 64 KB packet of which a byte arrives every `dripMs`. */
async function slowDrip(res: ServerResponse, dripMs: number): Promise<void> {
  res.writeHead(200, { 'content-type': ADVERTISEMENT });
  const stream = `${serviceHeader()}${pkt(`${FAKE_SHA} HEAD\0${filler(MAX_PKT_PAYLOAD - 46)}`)}`;
  for (let i = 0; !res.destroyed; i = (i + 1) % stream.length) {
    await write(res, stream[i]!);
    await sleep(dripMs);
  }
}

/** Writes, waiting while the client is slower than the server (memory stays flat). */
function write(res: ServerResponse, data: string): Promise<void> {
  if (res.destroyed) return Promise.resolve();
  if (res.write(data)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes > 1024 * 1024) throw new Error('request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

// ---------------------------------------------------------------------------------------------
// The server in a process of its own.

const SELF = fileURLToPath(import.meta.url);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Starts the server as a child process (with tsx); `close()` stops it. */
export async function startHostileGitProcess(options: HostileGitOptions = {}): Promise<HostileGitServer> {
  const child = spawn(process.execPath, ['--import', 'tsx', SELF, JSON.stringify(options)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const base = await new Promise<string>((resolve, reject) => {
    child.stdout.once('data', (line: Buffer) => resolve(line.toString().trim()));
    child.once('exit', (code) =>
      reject(new Error(`the hostile Git server exited (${code}) before listening`)),
    );
  });
  return {
    url: (mode, refs) => `${base}/${mode}${refs === undefined ? '' : `-${refs}`}.git`,
    async close() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

if (process.argv[1] === SELF) {
  const server = await startHostileGitServer(JSON.parse(process.argv[2] ?? '{}') as HostileGitOptions);
  // The base URL, for startHostileGitProcess: `<base>/<mode>.git`.
  process.stdout.write(`${server.url('error-line').replace(/\/error-line\.git$/, '')}\n`);
  process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
}
