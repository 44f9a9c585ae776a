import { describe, expect, it } from 'vitest';
import { afterEach } from 'vitest';
import { startFakeApiServer, sendJson, status, type FakeApiServer } from '../../test/kube/fake-apiserver.js';
import { KubeApiError, KubeTransportError } from './errors.js';
import { createHttpTransport } from './transport.js';
import { LineSplitter, openWatch, parseWatchEvents, type WatchEvent } from './watch.js';
import { sleep } from '../core/time.js';

const target = { method: 'GET', path: '/api/v1/configmaps' };

async function* chunks(...parts: (string | Buffer)[]): AsyncGenerator<Buffer> {
  for (const part of parts) yield typeof part === 'string' ? Buffer.from(part) : part;
}

async function collect(source: AsyncIterable<WatchEvent>): Promise<WatchEvent[]> {
  const events: WatchEvent[] = [];
  for await (const event of source) events.push(event);
  return events;
}

const event = (type: string, name: string, rv: string): string =>
  JSON.stringify({
    type,
    object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, resourceVersion: rv } },
  });

describe('LineSplitter', () => {
  it('joins lines split across chunks and splits several lines in one chunk', () => {
    const splitter = new LineSplitter(1000);
    expect(splitter.push(Buffer.from('ab'))).toEqual([]);
    expect(splitter.push(Buffer.from('c\nde\nf')).map(String)).toEqual(['abc', 'de']);
    expect(splitter.push(Buffer.from('\n')).map(String)).toEqual(['f']);
    expect(splitter.finish()).toBeUndefined();
  });

  it('refuses a line longer than the cap, even before its newline arrives', () => {
    const splitter = new LineSplitter(8);
    splitter.push(Buffer.from('12345'));
    expect(() => splitter.push(Buffer.from('6789'))).toThrow('larger than 8 bytes');
  });
});

describe('parseWatchEvents', () => {
  it('parses events split at arbitrary points, several per chunk, and bookmarks', async () => {
    const text = `${event('ADDED', 'a', '1')}\n${event('MODIFIED', 'a', '2')}\n${event('BOOKMARK', '', '5')}\n${event('DELETED', 'a', '6')}\n`;
    // Split into 7-byte pieces: through the middle of JSON tokens and newlines.
    const pieces = text.match(/[\s\S]{1,7}/g)!;
    const events = await collect(parseWatchEvents(chunks(...pieces), { maxLineBytes: 10_000, target }));
    expect(events.map((e) => [e.type, e.object.metadata.resourceVersion])).toEqual([
      ['ADDED', '1'],
      ['MODIFIED', '2'],
      ['BOOKMARK', '5'],
      ['DELETED', '6'],
    ]);
    const together = await collect(parseWatchEvents(chunks(text), { maxLineBytes: 10_000, target }));
    expect(together).toHaveLength(4);
  });

  it('keeps multi-byte characters whole when a chunk splits them', async () => {
    const line = Buffer.from(
      `${JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'x', annotations: { note: 'héllo ✓' } } } })}\n`,
    );
    const cut = line.indexOf(Buffer.from('✓')) + 1;
    const events = await collect(
      parseWatchEvents(chunks(line.subarray(0, cut), line.subarray(cut)), { maxLineBytes: 1000, target }),
    );
    expect(events[0]!.object.metadata.annotations).toEqual({ note: 'héllo ✓' });
  });

  it('accepts a last event without a newline and skips blank lines and unknown types', async () => {
    const events = await collect(
      parseWatchEvents(
        chunks('\n', `${JSON.stringify({ type: 'FUTURE', object: {} })}\n`, event('ADDED', 'b', '3')),
        { maxLineBytes: 1000, target },
      ),
    );
    expect(events.map((e) => e.type)).toEqual(['ADDED']);
  });

  it('throws the Status of an ERROR event as a KubeApiError', async () => {
    const error = JSON.stringify({
      type: 'ERROR',
      object: status(410, 'Expired', 'too old resource version: 1 (40)'),
    });
    const result = collect(
      parseWatchEvents(chunks(`${event('ADDED', 'a', '1')}\n${error}\n`), { maxLineBytes: 1000, target }),
    );
    await expect(result).rejects.toBeInstanceOf(KubeApiError);
    await expect(result).rejects.toMatchObject({ status: 410, reason: 'Expired' });
  });

  it('fails on oversized lines and on lines that are not JSON', async () => {
    await expect(
      collect(parseWatchEvents(chunks('x'.repeat(50)), { maxLineBytes: 10, target })),
    ).rejects.toMatchObject({
      code: 'RESPONSE_TOO_LARGE',
    });
    await expect(
      collect(parseWatchEvents(chunks('{nope\n'), { maxLineBytes: 100, target })),
    ).rejects.toBeInstanceOf(KubeTransportError);
  });
});

describe('openWatch over HTTP', () => {
  let server: FakeApiServer;
  afterEach(async () => {
    await server?.close();
  });

  it('streams events written in pieces, and ends when the server closes', async () => {
    server = await startFakeApiServer(async (_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      const text = `${event('ADDED', 'a', '1')}\n${event('BOOKMARK', '', '9')}\n`;
      for (let i = 0; i < text.length; i += 13) {
        response.write(text.slice(i, i + 13));
        await sleep(1);
      }
      response.end();
    });
    const transport = createHttpTransport({ server: server.url });
    const events = await collect(
      openWatch(transport, {
        path: '/api/v1/configmaps?watch=1',
        idleTimeoutMs: 5000,
        maxLineBytes: 1000,
        target,
      }),
    );
    expect(events.map((e) => e.type)).toEqual(['ADDED', 'BOOKMARK']);
    transport.close();
  });

  it('turns an error status into a KubeApiError', async () => {
    server = await startFakeApiServer((_request, response) =>
      sendJson(response, 403, status(403, 'Forbidden', 'configmaps is forbidden')),
    );
    const transport = createHttpTransport({ server: server.url });
    await expect(
      collect(openWatch(transport, { path: '/w', idleTimeoutMs: 5000, maxLineBytes: 1000, target })),
    ).rejects.toMatchObject({
      status: 403,
      kind: 'user',
    });
    transport.close();
  });

  it('ends quietly when its signal aborts, and closes the connection', async () => {
    server = await startFakeApiServer((_request, response) => {
      response.writeHead(200);
      response.write(`${event('ADDED', 'a', '1')}\n`);
    });
    const transport = createHttpTransport({ server: server.url });
    const controller = new AbortController();
    const seen: string[] = [];
    for await (const e of openWatch(transport, {
      path: '/w',
      idleTimeoutMs: 5000,
      maxLineBytes: 1000,
      target,
      signal: controller.signal,
    })) {
      seen.push(e.type);
      controller.abort();
    }
    expect(seen).toEqual(['ADDED']);
    transport.close();
  });
});
