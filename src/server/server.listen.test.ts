/**
 * Early refusals over a real socket, which `inject` cannot show: that the 401/413 reaches a client
 * still sending its body (rather than a connection reset overtaking it), and that the server reads
 * and discards no more of an oversized upload than its linger bounds allow before cutting it off.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { CapstanMetrics } from './metrics.js';
import { createServer } from './server.js';
import type { ServerLimits } from './server.js';

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

async function listening(onPush: () => void, limits: Partial<ServerLimits> = {}): Promise<string> {
  socketBytesRead = [];
  app = createServer({
    metrics: new CapstanMetrics({ defaultMetrics: false }),
    isReady: () => true,
    webhookSecrets: { github: 'a-real-secret' },
    onPush,
    limits: { debounceMs: 0, ratePerMinute: 1000, ...limits },
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

async function serveInChildProcess(): Promise<{ base: string; child: ChildProcess }> {
  const script = fileURLToPath(new URL('./testdata/serve-webhooks.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const base = await new Promise<string>((resolve, reject) => {
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('\n')) resolve(output.trim());
    });
    child.once('exit', (code) => reject(new Error(`webhook server exited (code ${code}) before listening`)));
  });
  return { base, child };
}

/** A syntactically valid but wrong signature: the headers pass, so the body is read. */
const WRONG_SIGNATURE = { 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` };
/** Small linger bounds, so that "stops reading" is visible against a 10 MiB upload. */
const SHORT_LINGER = { lingerBytes: MiB, lingerMs: 60_000 };

describe('webhook refusals over a real socket', () => {
  it('answers 413 to a streamed 10 MiB body and stops reading it past the linger bound', async () => {
    let pushes = 0;
    const base = await listening(() => pushes++, SHORT_LINGER);
    const { body, sent } = countingBody();
    const result = await post(base, body, WRONG_SIGNATURE);
    expect(result).toEqual({ status: 413 });
    expect(pushes).toBe(0);
    // 1 MiB kept up to the limit, at most 1 MiB more discarded, plus what one read brings in; then
    // the connection was cut and the client never got to send it all.
    expect(await serverBytesRead()).toBeLessThan(2 * MiB + 2 * CHUNK);
    expect(sent()).toBeLessThan(TOTAL);
  });

  it('answers 413 to a declared 10 MiB body and stops reading it past the linger bound', async () => {
    let pushes = 0;
    const base = await listening(() => pushes++, SHORT_LINGER);
    const result = await post(base, new Uint8Array(TOTAL), WRONG_SIGNATURE);
    expect(result).toEqual({ status: 413 });
    expect(pushes).toBe(0);
    expect(await serverBytesRead()).toBeLessThan(2 * MiB + 2 * CHUNK);
  });

  it('answers 401 to an unsigned 10 MiB upload and discards no more than the linger bound', async () => {
    const base = await listening(() => undefined, SHORT_LINGER);
    const { body, sent } = countingBody();
    const result = await post(base, body, {});
    expect(result).toEqual({ status: 401 });
    expect(await serverBytesRead()).toBeLessThan(MiB + 2 * CHUNK);
    expect(sent()).toBeLessThan(TOTAL);
  });

  it('delivers every 413 to a client in another process still sending a 4 MiB body', async () => {
    // Closing with the client's bytes unread made the kernel send a reset that often reached the
    // client before our answer: fetch failed with "write EPIPE" on about 3 requests in 4 here.
    const server = await serveInChildProcess();
    try {
      const payload = new Uint8Array(4 * MiB).fill(0x61);
      const results = [];
      for (let attempt = 0; attempt < 40; attempt++) {
        results.push(await post(server.base, payload, WRONG_SIGNATURE));
      }
      expect(results).toEqual(results.map(() => ({ status: 413 })));
    } finally {
      server.child.kill();
    }
  });
});
