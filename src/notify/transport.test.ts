import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LookupAddress, LookupOptions } from 'node:dns';
import { afterEach, describe, expect, it } from 'vitest';
import { TransientError } from '../core/errors.js';
import { BlockedAddressError, guardedLookup, httpTransport } from './transport.js';
import type { HttpRequest } from './types.js';

const servers: Server[] = [];

afterEach(async () => {
  await Promise.all(
    servers.splice(0).map(
      (server) =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    ),
  );
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const post = (url: string): HttpRequest => ({
  method: 'POST',
  url,
  headers: { 'Content-Type': 'application/json' },
  body: '{"hello":"world"}',
});

describe('httpTransport', () => {
  it('posts the body as given and returns status, headers and the reply', async () => {
    let received = '';
    const url = await serve((req, res) => {
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (received += chunk));
      req.on('end', () => res.writeHead(201, { 'retry-after': '5' }).end('ok'));
    });
    const response = await httpTransport().send(post(`${url}/hook`), { timeoutMs: 5000 });
    expect(received).toBe('{"hello":"world"}');
    expect(response).toMatchObject({ status: 201, body: 'ok' });
    expect(response.headers['retry-after']).toBe('5');
  });

  it('reads at most a few KiB of a huge reply, and does not wait for the rest', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(500);
      // Never ends: 64 KiB now, the rest never comes.
      res.write('x'.repeat(64 * 1024));
    });
    const response = await httpTransport({ maxResponseBytes: 4096 }).send(post(url), { timeoutMs: 5000 });
    expect(response.status).toBe(500);
    expect(response.body.length).toBe(4096);
  });

  it('does not follow redirects', async () => {
    let followed = false;
    const target = await serve((_req, res) => {
      followed = true;
      res.end();
    });
    const url = await serve((_req, res) => res.writeHead(302, { location: `${target}/elsewhere` }).end());
    const response = await httpTransport().send(post(url), { timeoutMs: 5000 });
    expect(response.status).toBe(302);
    expect(followed).toBe(false);
  });

  it('gives up on a receiver that never answers, at the deadline or on abort', async () => {
    const url = await serve(() => undefined);
    const started = Date.now();
    await expect(httpTransport().send(post(url), { timeoutMs: 300 })).rejects.toThrow(
      /no answer within 0.3 s/,
    );
    expect(Date.now() - started).toBeLessThan(3000);
    const abort = new AbortController();
    const sent = httpTransport().send(post(url), { timeoutMs: 60_000, signal: abort.signal });
    setTimeout(() => abort.abort(), 50);
    await expect(sent).rejects.toThrow(TransientError);
  });

  it('names failures by code, never by URL', async () => {
    const url = await serve(() => undefined);
    const closed = url.replace(/:\d+$/, ':1');
    const error = await httpTransport()
      .send(post(`${closed}/secret-path?token=abc`), { timeoutMs: 5000 })
      .catch((caught: Error) => caught);
    expect(error).toBeInstanceOf(TransientError);
    expect((error as Error).message).toMatch(/the connection failed \(ECONNREFUSED\)/);
    expect((error as Error).message).not.toContain('secret-path');
  });

  it('refuses link-local address literals before connecting', async () => {
    await expect(
      httpTransport().send(post('http://169.254.169.254/latest/meta-data'), { timeoutMs: 5000 }),
    ).rejects.toThrow(BlockedAddressError);
  });
});

describe('guardedLookup', () => {
  type Resolved = string | LookupAddress[];
  const fakeDns = (answer: Resolved) =>
    ((_host: string, options: LookupOptions, callback: (e: null, a: Resolved, f?: number) => void) => {
      if (options.all) callback(null, typeof answer === 'string' ? [{ address: answer, family: 4 }] : answer);
      else callback(null, typeof answer === 'string' ? answer : (answer[0]?.address ?? ''), 4);
    }) as never;

  const resolve = (answer: Resolved, all: boolean, allow = false) =>
    new Promise<{ error: Error | null; address: Resolved }>((done) =>
      guardedLookup(allow, fakeDns(answer))('hooks.example.com', { all }, (error, address) =>
        done({ error, address }),
      ),
    );

  it('refuses a name that resolves to a metadata address, one or all of them', async () => {
    expect((await resolve('169.254.169.254', false)).error).toBeInstanceOf(BlockedAddressError);
    const mixed = [
      { address: '203.0.113.7', family: 4 },
      { address: 'fe80::1', family: 6 },
    ];
    expect((await resolve(mixed, true)).error).toBeInstanceOf(BlockedAddressError);
    expect((await resolve('169.254.169.254', false, true)).error).toBeNull();
  });

  it('passes other addresses through in the form asked for', async () => {
    expect(await resolve('203.0.113.7', false)).toEqual({ error: null, address: '203.0.113.7' });
    expect(await resolve('203.0.113.7', true)).toEqual({
      error: null,
      address: [{ address: '203.0.113.7', family: 4 }],
    });
  });
});
