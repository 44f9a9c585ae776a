/**
 * The body limit over a real socket: `inject` cannot show that an oversized upload is cut off rather
 * than drained, so this test streams 10 MiB through node's fetch and counts what the client managed
 * to send before the server answered and closed the connection.
 */
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { CapstanMetrics } from './metrics.js';
import { createServer } from './server.js';

const MiB = 1024 * 1024;
const TOTAL = 10 * MiB;
const CHUNK = 64 * 1024;

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

/** Bytes the server took off each accepted socket, known once that socket has closed. */
let socketBytesRead: Promise<number>[] = [];

async function listening(onPush: () => void): Promise<string> {
  socketBytesRead = [];
  app = createServer({
    metrics: new CapstanMetrics({ defaultMetrics: false }),
    isReady: () => true,
    webhookSecrets: { github: 'a-real-secret' },
    onPush,
    limits: { debounceMs: 0 },
  });
  app.server.on('connection', (socket: Socket) => {
    socketBytesRead.push(new Promise((resolve) => socket.once('close', () => resolve(socket.bytesRead))));
  });
  return app.listen({ port: 0, host: '127.0.0.1' });
}

async function serverBytesRead(): Promise<number> {
  const counts = await Promise.all(socketBytesRead);
  return counts.reduce((total, count) => total + count, 0);
}

/** A 10 MiB body produced on demand, counting how much of it fetch pulled. */
function countingBody(): { body: ReadableStream<Uint8Array>; sent: () => number } {
  let sent = 0;
  const chunk = new Uint8Array(CHUNK).fill(0x61);
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= TOTAL) {
        controller.close();
        return;
      }
      sent += CHUNK;
      controller.enqueue(chunk);
    },
  });
  return { body, sent: () => sent };
}

async function post(
  base: string,
  body: NonNullable<RequestInit['body']>,
  headers: Record<string, string>,
): Promise<{ status: number } | { error: unknown }> {
  try {
    const response = await fetch(`${base}/hooks/github`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', ...headers },
      duplex: 'half',
    });
    await response.arrayBuffer();
    return { status: response.status };
  } catch (error) {
    return { error };
  }
}

describe('webhook body limit over a real socket', () => {
  it('answers 413 to a streamed 10 MiB body and stops reading it', async () => {
    let pushes = 0;
    const base = await listening(() => pushes++);
    const { body, sent } = countingBody();
    // A syntactically valid but wrong signature: the request passes the header check, so the body
    // is read, and the limit is what stops it.
    const result = await post(base, body, { 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` });
    expect(result).toEqual({ status: 413 });
    expect(pushes).toBe(0);
    // The server stopped at the 1 MiB limit (plus what one read can bring in) and closed the
    // connection; the client never got to send it all.
    expect(await serverBytesRead()).toBeLessThan(2 * MiB);
    expect(sent()).toBeLessThan(TOTAL);
  });

  it('answers 413 at once to a declared 10 MiB body', async () => {
    let pushes = 0;
    const base = await listening(() => pushes++);
    const result = await post(base, new Uint8Array(TOTAL), {
      'x-hub-signature-256': `sha256=${'0'.repeat(64)}`,
    });
    expect(result).toEqual({ status: 413 });
    expect(pushes).toBe(0);
    expect(await serverBytesRead()).toBeLessThan(2 * MiB);
  });

  it('answers 401 to an unsigned 10 MiB upload without reading it', async () => {
    const base = await listening(() => undefined);
    const { body, sent } = countingBody();
    const result = await post(base, body, {});
    expect(result).toEqual({ status: 401 });
    expect(await serverBytesRead()).toBeLessThan(MiB);
    expect(sent()).toBeLessThan(TOTAL);
  });
});
