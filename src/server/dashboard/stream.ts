/**
 * GET /api/v1/events: Server-Sent Events of Application changes, so the list and the app page update
 * live without polling.
 *
 * One change of the shared cache is serialized once and offered to every open stream; each stream
 * sends it only if its user may list Applications in that namespace (a cached access review; an
 * unknown namespace is reviewed first, in order, so events never overtake each other).
 *
 * Bounded everywhere, because a browser tab left open on a slow link must not grow the server:
 * - at most `maxConnections` streams, and `maxPerSession` per session (429 past either);
 * - each stream queues at most `maxQueued` events while it waits for a review, and at most
 *   `maxBufferedBytes` may sit unsent in its socket: a client that falls behind either is cut off
 *   (EventSource reconnects, and the page reloads its data), never buffered without limit;
 * - a comment line every `heartbeatMs` keeps proxies from timing the stream out and finds dead peers.
 */
import type { ServerResponse } from 'node:http';
import type { Clock, TimerHandle } from '../../core/time.js';
import type { IndexChange } from './app-index.js';

export interface StreamLimits {
  /** Default 200. */
  readonly maxConnections: number;
  /** Default 6 (a browser allows 6 connections per host over HTTP/1.1). */
  readonly maxPerSession: number;
  /** Events waiting for an access review, per stream. Default 1000. */
  readonly maxQueued: number;
  /** Bytes written but not yet taken by the client's socket, per stream. Default 1 MiB. */
  readonly maxBufferedBytes: number;
  /** Default 15 s. */
  readonly heartbeatMs: number;
}

export const DEFAULT_STREAM_LIMITS: StreamLimits = {
  maxConnections: 200,
  maxPerSession: 6,
  maxQueued: 1000,
  maxBufferedBytes: 1024 * 1024,
  heartbeatMs: 15_000,
};

/** May this stream's user see apps of `namespace`? A boolean when known, else a review to await. */
export type VisibilityCheck = (namespace: string) => boolean | undefined | Promise<boolean>;

interface Pending {
  readonly namespace: string;
  readonly frame: string;
}

export type DropReason = 'overflow' | 'slow' | 'closed' | 'ended' | 'error' | 'shutdown';

class Stream {
  readonly #queue: Pending[] = [];
  #pumping = false;
  #closed = false;
  #nextBeat: TimerHandle;

  constructor(
    readonly sessionKey: string,
    private readonly response: ServerResponse,
    private readonly visible: VisibilityCheck,
    private readonly alive: () => boolean,
    private readonly limits: StreamLimits,
    private readonly clock: Clock,
    private readonly onClose: (stream: Stream, reason: DropReason) => void,
  ) {
    response.on('close', () => this.close('closed'));
    response.on('error', () => this.close('error'));
    const beat = (): void => {
      if (this.#closed) return;
      if (!this.alive()) return this.close('ended');
      this.#write(': heartbeat\n\n');
      this.#nextBeat = this.clock.setTimeout(beat, this.limits.heartbeatMs);
    };
    this.#nextBeat = this.clock.setTimeout(beat, this.limits.heartbeatMs);
  }

  get closed(): boolean {
    return this.#closed;
  }

  offer(item: Pending): void {
    if (this.#closed) return;
    if (this.#queue.length >= this.limits.maxQueued) return this.close('overflow');
    this.#queue.push(item);
    if (!this.#pumping) void this.#pump();
  }

  /** Sends what is queued, in order, reviewing namespaces it does not know yet. */
  async #pump(): Promise<void> {
    this.#pumping = true;
    try {
      while (!this.#closed && this.#queue.length > 0) {
        const item = this.#queue[0]!;
        let allowed = this.visible(item.namespace);
        if (allowed === undefined) allowed = false;
        if (typeof allowed !== 'boolean') {
          try {
            allowed = await allowed;
          } catch {
            // A review that failed (the API server unreachable, the token expired): not shown.
            allowed = false;
          }
        }
        this.#queue.shift();
        if (allowed) this.#write(item.frame);
      }
    } finally {
      this.#pumping = false;
    }
  }

  #write(frame: string): void {
    if (this.#closed) return;
    if (this.response.writableLength > this.limits.maxBufferedBytes) return this.close('slow');
    this.response.write(frame);
  }

  close(reason: DropReason): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.length = 0;
    this.clock.clearTimeout(this.#nextBeat);
    if (!this.response.writableEnded) {
      if (reason === 'overflow' || reason === 'slow') this.response.destroy();
      else this.response.end();
    }
    this.onClose(this, reason);
  }
}

export interface OpenedStream {
  close(): void;
}

export class AppEventStreams {
  readonly #limits: StreamLimits;
  readonly #clock: Clock;
  readonly #streams = new Set<Stream>();
  readonly #perSession = new Map<string, number>();
  readonly #onDrop: ((reason: DropReason) => void) | undefined;

  constructor(options: {
    clock: Clock;
    limits?: Partial<StreamLimits>;
    /** Told when a stream is cut for falling behind, for logs and tests. */
    onDrop?: (reason: DropReason) => void;
  }) {
    this.#limits = { ...DEFAULT_STREAM_LIMITS, ...options.limits };
    this.#clock = options.clock;
    this.#onDrop = options.onDrop;
  }

  get size(): number {
    return this.#streams.size;
  }

  /** Whether one more stream of this session is allowed now. */
  canOpen(sessionKey: string): boolean {
    return (
      this.#streams.size < this.#limits.maxConnections &&
      (this.#perSession.get(sessionKey) ?? 0) < this.#limits.maxPerSession
    );
  }

  /**
   * Takes over `response` (its headers already written): sends `first`, then every change the
   * user may see, until either side closes it.
   */
  open(
    sessionKey: string,
    response: ServerResponse,
    options: {
      readonly visible: VisibilityCheck;
      /** Asked at each heartbeat: false ends the stream (its session ended). */
      readonly alive?: () => boolean;
      /** Written first (the `ready` event). */
      readonly first: string;
    },
  ): OpenedStream {
    const { visible, alive = () => true, first } = options;
    const stream = new Stream(
      sessionKey,
      response,
      visible,
      alive,
      this.#limits,
      this.#clock,
      (closed, reason) => {
        this.#streams.delete(closed);
        const left = (this.#perSession.get(closed.sessionKey) ?? 1) - 1;
        if (left <= 0) this.#perSession.delete(closed.sessionKey);
        else this.#perSession.set(closed.sessionKey, left);
        if (reason === 'overflow' || reason === 'slow') this.#onDrop?.(reason);
      },
    );
    this.#streams.add(stream);
    this.#perSession.set(sessionKey, (this.#perSession.get(sessionKey) ?? 0) + 1);
    response.write(first);
    return { close: () => stream.close('closed') };
  }

  /** One change for every stream: serialized once. */
  publish(change: IndexChange): void {
    if (this.#streams.size === 0) return;
    const namespace = change.type === 'deleted' ? change.namespace : change.app.namespace;
    const frame = `event: app\ndata: ${JSON.stringify(change)}\n\n`;
    for (const stream of this.#streams) stream.offer({ namespace, frame });
  }

  /** Ends the streams of one session (logout). */
  closeSession(sessionKey: string): void {
    for (const stream of [...this.#streams]) if (stream.sessionKey === sessionKey) stream.close('closed');
  }

  /** Ends every stream (the server is closing). */
  closeAll(): void {
    for (const stream of [...this.#streams]) stream.close('shutdown');
  }
}
