/**
 * Dashboard sessions, in memory only: a random id (the HttpOnly cookie) → who the user is, the
 * client that acts as them, and the CSRF token bound to the session. The user's bearer token lives
 * inside that client and nowhere else: not in a cookie, not in a log, not on disk.
 *
 * Bounded: sessions end after `idleMs` without a request and after `maxAgeMs` in any case (the
 * user logs in again), and at most `maxSessions` exist — the one idle longest gives way. Ids are
 * stored by their SHA-256, so the map's lookups reveal nothing about the ids themselves.
 *
 * A restart forgets every session (users log in again); replicas do not share them, so a dashboard
 * behind a Service with several replicas needs session affinity (or one replica serving it).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from '../../core/time.js';
import type { KubeClient } from '../../kube/index.js';
import type { UserIdentity } from './identity.js';

export interface Session {
  /** SHA-256 of the cookie's id: the key of authorization decisions cached for this session. */
  readonly key: string;
  readonly identity: UserIdentity;
  readonly kube: KubeClient;
  readonly csrfToken: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  lastSeenAt: number;
}

export interface SessionLimits {
  /** Default 1000. */
  readonly maxSessions: number;
  /** Default 1 hour. */
  readonly idleMs: number;
  /** Default 12 hours. */
  readonly maxAgeMs: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = {
  maxSessions: 1000,
  idleMs: 60 * 60_000,
  maxAgeMs: 12 * 60 * 60_000,
};

export class SessionStore {
  readonly #limits: SessionLimits;
  readonly #clock: Pick<Clock, 'now'>;
  /** Insertion order is recency order: a session is re-inserted whenever it is used. */
  readonly #sessions = new Map<string, Session>();
  readonly #onEnd: ((session: Session) => void) | undefined;

  constructor(options: {
    limits?: Partial<SessionLimits>;
    clock: Pick<Clock, 'now'>;
    /** Told when a session ends (logout, expiry, eviction), to drop what is cached for it. */
    onEnd?: (session: Session) => void;
  }) {
    this.#limits = { ...DEFAULT_SESSION_LIMITS, ...options.limits };
    this.#clock = options.clock;
    this.#onEnd = options.onEnd;
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** A new session; returns the id to put in the cookie (shown once, stored only as a digest). */
  create(identity: UserIdentity, kube: KubeClient): { id: string; session: Session } {
    const now = this.#clock.now().getTime();
    this.#sweep(now);
    while (this.#sessions.size >= this.#limits.maxSessions) {
      const oldest = this.#sessions.values().next();
      if (oldest.done === true) break;
      this.#end(oldest.value);
    }
    const id = randomBytes(32).toString('base64url');
    const session: Session = {
      key: keyOf(id),
      identity,
      kube,
      csrfToken: randomBytes(32).toString('base64url'),
      createdAt: now,
      expiresAt: now + this.#limits.maxAgeMs,
      lastSeenAt: now,
    };
    this.#sessions.set(session.key, session);
    return { id, session };
  }

  /** The live session of a cookie's id, touched; `undefined` when unknown or expired. */
  get(id: string | undefined): Session | undefined {
    if (id === undefined || id === '' || id.length > 128) return undefined;
    const session = this.#sessions.get(keyOf(id));
    return session !== undefined && this.#live(session) ? session : undefined;
  }

  /** Marks a session used (an open event stream); false when it has ended. */
  touch(session: Session): boolean {
    return this.#sessions.get(session.key) === session && this.#live(session);
  }

  #live(session: Session): boolean {
    const now = this.#clock.now().getTime();
    if (this.#expired(session, now)) {
      this.#end(session);
      return false;
    }
    session.lastSeenAt = now;
    this.#sessions.delete(session.key);
    this.#sessions.set(session.key, session);
    return true;
  }

  /** Ends a session (logout, or its token was refused by the API server). */
  delete(session: Session): void {
    if (this.#sessions.get(session.key) === session) this.#end(session);
  }

  #expired(session: Session, now: number): boolean {
    return now >= session.expiresAt || now - session.lastSeenAt >= this.#limits.idleMs;
  }

  /** Idle ones are the oldest-used, at the front: the sweep stops at the first that is not idle. */
  #sweep(now: number): void {
    for (const session of this.#sessions.values()) {
      if (now - session.lastSeenAt < this.#limits.idleMs) break;
      this.#end(session);
    }
  }

  #end(session: Session): void {
    this.#sessions.delete(session.key);
    try {
      this.#onEnd?.(session);
    } catch {
      // A cache that cannot forget is no reason to keep a session alive.
    }
  }
}

function keyOf(id: string): string {
  return createHash('sha256').update(id).digest('base64url');
}
