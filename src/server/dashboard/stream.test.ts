import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../test/support/fake-clock.js';
import type { IndexChange } from './app-index.js';
import { appEventSchema } from './schema.js';
import { AppEventStreams, type DropReason } from './stream.js';
import { summarize } from './summary.js';
import { fakeApp } from './testdata/apps.js';

/** A response that keeps what is written; `stuck` makes its socket stop taking bytes. */
class FakeResponse extends EventEmitter {
  written = '';
  writableLength = 0;
  writableEnded = false;
  destroyed = false;
  stuck = false;
  write(chunk: string): boolean {
    if (this.stuck) this.writableLength += chunk.length;
    else this.written += chunk;
    return !this.stuck;
  }
  end(): void {
    this.writableEnded = true;
    this.emit('close');
  }
  destroy(): void {
    this.destroyed = true;
    this.writableEnded = true;
    this.emit('close');
  }
  events(): unknown[] {
    return this.written
      .split('\n\n')
      .filter((frame) => frame.startsWith('event: app'))
      .map((frame) => appEventSchema.parse(JSON.parse(frame.split('\ndata: ')[1]!)));
  }
}

const change = (i: number, namespace = 'team-a'): IndexChange => ({
  type: 'updated',
  app: summarize(fakeApp(i, { namespace })),
});

function setup(limits: ConstructorParameters<typeof AppEventStreams>[0]['limits'] = {}) {
  const clock = new FakeClock();
  const drops: DropReason[] = [];
  const streams = new AppEventStreams({ clock, limits, onDrop: (reason) => drops.push(reason) });
  const open = (
    session: string,
    visible: (ns: string) => boolean | undefined | Promise<boolean> = () => true,
    alive = () => true,
  ) => {
    const response = new FakeResponse();
    streams.open(session, response as unknown as ServerResponse, {
      visible,
      alive,
      first: 'event: ready\ndata: {}\n\n',
    });
    return response;
  };
  return { clock, streams, open, drops };
}

describe('AppEventStreams', () => {
  it('sends each change to the streams whose user may see its namespace', async () => {
    const { streams, open } = setup();
    const a = open('s1', (ns) => ns === 'team-a');
    const b = open('s2', (ns) => ns === 'team-b');
    streams.publish(change(1, 'team-a'));
    streams.publish(change(2, 'team-b'));
    streams.publish({ type: 'deleted', namespace: 'team-a', name: 'gone' });
    await Promise.resolve();
    expect(a.written.startsWith('event: ready')).toBe(true);
    expect(a.events()).toMatchObject([
      { type: 'updated', app: { namespace: 'team-a' } },
      { type: 'deleted', name: 'gone' },
    ]);
    expect(b.events()).toMatchObject([{ type: 'updated', app: { namespace: 'team-b' } }]);
  });

  it('keeps the order while a namespace is being reviewed', async () => {
    const { streams, open } = setup();
    let release!: (allowed: boolean) => void;
    const review = new Promise<boolean>((resolve) => (release = resolve));
    const response = open('s1', (ns) => (ns === 'slow' ? review : true));
    streams.publish(change(1, 'slow'));
    streams.publish(change(2, 'fast'));
    await Promise.resolve();
    expect(response.events()).toEqual([]);
    release(true);
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(response.events().map((e) => (e as { app: { namespace: string } }).app.namespace)).toEqual([
      'slow',
      'fast',
    ]);
  });

  it('cuts off a stream whose queue overflows while a review hangs, and one whose socket is full', async () => {
    const { streams, open, drops } = setup({ maxQueued: 5, maxBufferedBytes: 2000 });
    const waiting = open('s1', () => new Promise<boolean>(() => {}));
    const slow = open('s2');
    const fine = open('s3');
    slow.stuck = true;
    for (let i = 0; i < 20; i++) streams.publish(change(i));
    await Promise.resolve();
    expect(waiting.destroyed).toBe(true);
    expect(slow.destroyed).toBe(true);
    expect(fine.destroyed).toBe(false);
    expect(fine.events()).toHaveLength(20);
    expect(drops.sort()).toEqual(['overflow', 'slow']);
    expect(streams.size).toBe(1);
  });

  it('limits streams in all and per session', () => {
    const { streams, open } = setup({ maxConnections: 3, maxPerSession: 2 });
    open('s1');
    open('s1');
    expect(streams.canOpen('s1')).toBe(false);
    expect(streams.canOpen('s2')).toBe(true);
    const third = open('s2');
    expect(streams.canOpen('s3')).toBe(false);
    third.emit('close');
    expect(streams.canOpen('s3')).toBe(true);
  });

  it('sends heartbeats, and ends a stream whose session ended', () => {
    const { clock, open } = setup({ heartbeatMs: 1000 });
    let alive = true;
    const response = open(
      's1',
      () => true,
      () => alive,
    );
    clock.advance(1000);
    clock.advance(1000);
    expect(response.written.match(/: heartbeat/g)).toHaveLength(2);
    alive = false;
    clock.advance(1000);
    expect(response.writableEnded).toBe(true);
  });

  it('ends the streams of a session on logout, and every stream on shutdown', () => {
    const { streams, open } = setup();
    const mine = open('s1');
    const other = open('s2');
    streams.closeSession('s1');
    expect(mine.writableEnded).toBe(true);
    expect(other.writableEnded).toBe(false);
    streams.closeAll();
    expect(other.writableEnded).toBe(true);
    expect(streams.size).toBe(0);
  });
});
