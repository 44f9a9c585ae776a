import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { sendJson, startFakeApiServer, type FakeApiServer } from '../../test/kube/fake-apiserver.js';
import { KubeTransportError } from './errors.js';
import { createHttpTransport, type CredentialSource } from './transport.js';

let server: FakeApiServer;
afterEach(async () => {
  await server?.close();
});

describe('createHttpTransport', () => {
  it('sends JSON with auth and user agent, and reuses one keep-alive connection', async () => {
    server = await startFakeApiServer((request, response) => sendJson(response, 200, { echo: request.body }));
    const transport = createHttpTransport({
      server: server.url,
      credentials: { current: () => ({ headers: { authorization: 'Bearer t0ken' } }) },
    });
    for (let i = 0; i < 5; i++) {
      const response = await transport.request({
        method: 'POST',
        path: '/api/v1/x',
        body: '{"a":1}',
        headers: { 'content-type': 'application/json' },
      });
      expect(response.status).toBe(200);
      expect(JSON.parse(response.body.toString())).toEqual({ echo: '{"a":1}' });
    }
    expect(server.connections()).toBe(1);
    const first = server.requests[0]!;
    expect(first.headers.authorization).toBe('Bearer t0ken');
    expect(first.headers['user-agent']).toBe('capstan');
    expect(first.headers.accept).toBe('application/json');
    expect(first.headers['content-length']).toBe('7');
    transport.close();
  });

  it('bounds connections for ordinary requests', async () => {
    server = await startFakeApiServer((_request, response) => {
      setTimeout(() => sendJson(response, 200, {}), 20);
    });
    const transport = createHttpTransport({ server: server.url, maxSockets: 3 });
    await Promise.all(Array.from({ length: 12 }, () => transport.request({ method: 'GET', path: '/x' })));
    expect(server.connections()).toBe(3);
    transport.close();
  });

  it('adds impersonation headers in a view that shares the pool, repeating Impersonate-Group', async () => {
    server = await startFakeApiServer((_request, response) => sendJson(response, 200, {}));
    const transport = createHttpTransport({
      server: server.url,
      credentials: { current: () => ({ headers: { 'impersonate-user': 'from-kubeconfig' } }) },
    });
    const impersonating = transport.withHeaders({
      'Impersonate-User': 'alice',
      'Impersonate-Group': ['devs', 'system:authenticated'],
    });
    await transport.request({ method: 'GET', path: '/a' });
    await impersonating.request({ method: 'GET', path: '/b' });
    impersonating.close(); // a no-op: the pool belongs to `transport`
    await transport.request({ method: 'GET', path: '/c' });
    const [plain, asAlice, again] = server.requests;
    expect(plain!.headers['impersonate-user']).toBe('from-kubeconfig');
    expect(asAlice!.headers['impersonate-user']).toBe('alice');
    const groups = asAlice!.rawHeaders.filter(
      (_, i, all) => i % 2 === 1 && all[i - 1]!.toLowerCase() === 'impersonate-group',
    );
    expect(groups).toEqual(['devs', 'system:authenticated']);
    expect(again!.headers['impersonate-user']).toBe('from-kubeconfig');
    expect(server.connections()).toBe(1);
    transport.close();
  });

  it('keeps the server URL path prefix', async () => {
    server = await startFakeApiServer((_request, response) => sendJson(response, 200, {}));
    const transport = createHttpTransport({ server: `${server.url}/k8s/clusters/c-1/` });
    await transport.request({ method: 'GET', path: '/api/v1/namespaces?limit=1' });
    expect(server.requests[0]!.url).toBe('/k8s/clusters/c-1/api/v1/namespaces?limit=1');
    transport.close();
  });

  it('caps the response size', async () => {
    server = await startFakeApiServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write('['.padEnd(600, ' '));
      response.end(']');
    });
    const transport = createHttpTransport({ server: server.url, maxResponseBytes: 500 });
    const error = await transport.request({ method: 'GET', path: '/big' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KubeTransportError);
    expect(error).toMatchObject({ code: 'RESPONSE_TOO_LARGE', kind: 'internal' });
    expect(await transport.request({ method: 'GET', path: '/big', maxResponseBytes: 1000 })).toMatchObject({
      status: 200,
    });
    transport.close();
  });

  it('times out as a transient error', async () => {
    server = await startFakeApiServer(() => {
      // Never answers.
    });
    const transport = createHttpTransport({ server: server.url, requestTimeoutMs: 50 });
    const error = await transport.request({ method: 'GET', path: '/slow' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ETIMEDOUT', kind: 'transient' });
    transport.close();
  });

  it('honours an AbortSignal', async () => {
    server = await startFakeApiServer(() => {});
    const transport = createHttpTransport({ server: server.url });
    const controller = new AbortController();
    const pending = transport.request({ method: 'GET', path: '/slow', signal: controller.signal });
    setTimeout(() => controller.abort(new Error('stop')), 20);
    await expect(pending).rejects.toThrow('stop');
    await expect(
      transport.request({ method: 'GET', path: '/x', signal: AbortSignal.abort(new Error('already')) }),
    ).rejects.toThrow('already');
    transport.close();
  });

  it('maps a refused connection to a transient KubeTransportError', async () => {
    const port = await closedPort();
    const transport = createHttpTransport({ server: `http://127.0.0.1:${port}` });
    const error = await transport.request({ method: 'GET', path: '/api' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KubeTransportError);
    expect(error).toMatchObject({ code: 'ECONNREFUSED', kind: 'transient', path: '/api' });
    transport.close();
  });

  it('retries once when a reused keep-alive connection turns out to be closed', async () => {
    server = await startFakeApiServer((_request, response) => sendJson(response, 200, {}));
    const transport = createHttpTransport({ server: server.url });
    await transport.request({ method: 'GET', path: '/one' });
    // The server forgets the idle connection without the client noticing yet.
    server.handle((request, response, raw) => {
      if (request.connection === 1) raw.socket.destroy();
      else sendJson(response, 200, {});
    });
    const response = await transport.request({ method: 'PATCH', path: '/two', body: '{}' });
    expect(response.status).toBe(200);
    expect(server.requests.map((r) => [r.url, r.connection])).toEqual([
      ['/one', 1],
      ['/two', 1],
      ['/two', 2],
    ]);
    transport.close();
  });

  it('asks rotating credentials again after a 401, once', async () => {
    let issued = 0;
    const credentials: CredentialSource = {
      rotates: true,
      current: () => ({ headers: { authorization: `Bearer token-${issued}` } }),
      invalidate: () => {
        issued++;
      },
    };
    server = await startFakeApiServer((request, response) =>
      sendJson(response, request.headers.authorization === 'Bearer token-1' ? 200 : 401, {}),
    );
    const transport = createHttpTransport({ server: server.url, credentials });
    expect((await transport.request({ method: 'GET', path: '/x' })).status).toBe(200);
    expect(server.requests.map((r) => r.headers.authorization)).toEqual(['Bearer token-0', 'Bearer token-1']);
    transport.close();
  });

  it('streams bodies on a separate pool, with an idle timeout', async () => {
    server = await startFakeApiServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write('a');
      // Then silence.
    });
    const transport = createHttpTransport({ server: server.url, maxSockets: 1 });
    const stream = await transport.stream({ method: 'GET', path: '/watch', idleTimeoutMs: 100 });
    // The request pool (1 socket) stays free while the stream is open.
    server.handle((request, response) =>
      request.url === '/plain' ? sendJson(response, 200, {}) : undefined,
    );
    expect((await transport.request({ method: 'GET', path: '/plain' })).status).toBe(200);
    const received: string[] = [];
    const error = await (async () => {
      for await (const chunk of stream.body) received.push(chunk.toString());
    })().catch((e: unknown) => e);
    expect(received).toEqual(['a']);
    expect(error).toMatchObject({ code: 'ETIMEDOUT', kind: 'transient' });
    transport.close();
  });
});

describe('many watches', () => {
  it('hold their own connections without starving ordinary requests', async () => {
    server = await startFakeApiServer((request, response) => {
      if (request.url.startsWith('/watch')) {
        response.writeHead(200);
        response.write('\n');
        return; // held open
      }
      sendJson(response, 200, {});
    });
    const transport = createHttpTransport({ server: server.url, maxSockets: 2 });
    const streams = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        transport.stream({ method: 'GET', path: `/watch/${i}`, idleTimeoutMs: 10_000 }),
      ),
    );
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => transport.request({ method: 'GET', path: '/api' })),
    );
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(server.connections()).toBe(42);
    for (const stream of streams) stream.close();
    transport.close();
  });
});

function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}
