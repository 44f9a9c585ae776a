import { describe, expect, it } from 'vitest';
import type { KubeObject, ObjectRef } from '../core/objects.js';
import { FakeClock, settle } from '../../test/support/fake-clock.js';
import { KubeApiError, KubeTransportError } from '../kube/errors.js';
import type { GetOptions, UpdateOptions, WriteOptions } from '../kube/types.js';
import {
  ActiveLeaderError,
  assertNoActiveLeader,
  LeaderElector,
  microTime,
  type Lease,
  type LeaseClient,
  type LeaderElectorOptions,
} from './leader.js';

/** One Lease, stored the way the API server would: every write bumps resourceVersion and checks it. */
class FakeLeases implements LeaseClient {
  stored: Lease | undefined;
  private version = 0;
  /** Every request fails as if the API server were unreachable. */
  unreachable = false;
  /** Every request hangs until its signal aborts. */
  hanging = false;
  writes = 0;

  async get<T extends KubeObject = KubeObject>(
    _ref: ObjectRef,
    options?: GetOptions,
  ): Promise<T | undefined> {
    await this.serve('GET', options?.signal);
    return this.stored === undefined ? undefined : (structuredClone(this.stored) as T);
  }

  async create<T extends KubeObject = KubeObject>(object: KubeObject, options?: WriteOptions): Promise<T> {
    await this.serve('POST', options?.signal);
    if (this.stored) throw apiError(409, 'AlreadyExists', 'POST');
    return this.store(object) as T;
  }

  async update<T extends KubeObject = KubeObject>(object: KubeObject, options?: UpdateOptions): Promise<T> {
    await this.serve('PUT', options?.signal);
    if (!this.stored) throw apiError(404, 'NotFound', 'PUT');
    const expected = object.metadata.resourceVersion;
    if (expected !== undefined && expected !== this.stored.metadata.resourceVersion)
      throw apiError(409, 'Conflict', 'PUT');
    return this.store(object) as T;
  }

  /** Another party writes the Lease directly (kubectl, a third replica). */
  overwrite(spec: Lease['spec']): void {
    this.store({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'capstan', namespace: 'ns', ...this.stored?.metadata },
      spec,
    });
  }

  get spec(): NonNullable<Lease['spec']> {
    return this.stored?.spec ?? {};
  }

  private store(object: KubeObject): Lease {
    this.writes++;
    this.version++;
    this.stored = structuredClone({
      ...object,
      metadata: { ...object.metadata, resourceVersion: String(this.version) },
    }) as Lease;
    return structuredClone(this.stored);
  }

  private async serve(method: string, signal: AbortSignal | undefined): Promise<void> {
    await Promise.resolve();
    if (this.hanging) {
      await new Promise<void>((_, reject) => {
        const abort = (): void => reject(transportError('ABORT_ERR', method));
        if (signal?.aborted) abort();
        signal?.addEventListener('abort', abort, { once: true });
      });
    }
    if (signal?.aborted) throw transportError('ABORT_ERR', method);
    if (this.unreachable) throw transportError('ECONNREFUSED', method);
  }
}

function apiError(status: number, reason: string, method: string): KubeApiError {
  return new KubeApiError({
    status,
    reason,
    message: reason,
    target: { method, path: '/apis/coordination.k8s.io/v1/namespaces/ns/leases/capstan' },
  });
}

function transportError(code: string, method: string): KubeTransportError {
  return new KubeTransportError({
    code,
    message: code,
    target: { method, path: '/apis/coordination.k8s.io/v1/namespaces/ns/leases/capstan' },
  });
}

/** An elector with its callbacks recorded. */
class Candidate {
  readonly elector: LeaderElector;
  readonly events: string[] = [];
  readonly errors: unknown[] = [];
  leadership: AbortSignal | undefined;
  private readonly stop = new AbortController();
  running: Promise<void> | undefined;
  outcome: 'running' | 'resolved' | 'rejected' = 'running';

  constructor(
    readonly identity: string,
    leases: FakeLeases,
    clock: FakeClock,
    options: Partial<LeaderElectorOptions> = {},
  ) {
    this.elector = new LeaderElector({
      kube: leases,
      namespace: 'ns',
      name: 'capstan',
      identity,
      clock,
      random: () => 0,
      onStartedLeading: (signal) => {
        this.leadership = signal;
        this.events.push('started');
      },
      onStoppedLeading: () => this.events.push('stopped'),
      onNewLeader: (leader) => this.events.push(`leader ${leader}`),
      onError: (error) => this.errors.push(error),
      ...options,
    });
  }

  start(): this {
    this.running = this.elector.run(this.stop.signal).then(
      () => void (this.outcome = 'resolved'),
      () => void (this.outcome = 'rejected'),
    );
    return this;
  }

  /** Stops campaigning or leading, without releasing the Lease (a crash, as far as others can tell). */
  async abort(): Promise<void> {
    this.stop.abort();
    await this.running;
  }

  get leading(): boolean {
    return this.elector.isLeader();
  }
}

function setup(): { clock: FakeClock; leases: FakeLeases } {
  return { clock: new FakeClock(), leases: new FakeLeases() };
}

describe('LeaderElector acquiring', () => {
  it('creates the Lease when there is none, and starts leading', async () => {
    const { clock, leases } = setup();
    const a = new Candidate('a', leases, clock).start();
    await clock.advanceAsync(0);
    expect(a.leading).toBe(true);
    expect(a.events).toEqual(['leader a', 'started']);
    expect(a.leadership?.aborted).toBe(false);
    expect(leases.stored?.metadata).toMatchObject({ name: 'capstan', namespace: 'ns' });
    expect(leases.spec).toEqual({
      holderIdentity: 'a',
      leaseDurationSeconds: 15,
      acquireTime: '2024-05-01T12:00:00.000000Z',
      renewTime: '2024-05-01T12:00:00.000000Z',
      leaseTransitions: 0,
    });
    await a.abort();
  });

  it('lets exactly one of two candidates starting together win', async () => {
    const { clock, leases } = setup();
    const a = new Candidate('a', leases, clock).start();
    const b = new Candidate('b', leases, clock).start();
    await clock.advanceAsync(30_000);
    expect([a.leading, b.leading].filter(Boolean)).toHaveLength(1);
    const [leader, follower] = a.leading ? [a, b] : [b, a];
    expect(leases.spec.holderIdentity).toBe(leader.identity);
    expect(follower.events).toEqual([`leader ${leader.identity}`]);
    // Losing a race (409) is not an error.
    expect([...a.errors, ...b.errors]).toEqual([]);
    await Promise.all([a.abort(), b.abort()]);
  });

  it('does not take a Lease another holder keeps renewing', async () => {
    const { clock, leases } = setup();
    const a = new Candidate('a', leases, clock).start();
    await clock.advanceAsync(0);
    const b = new Candidate('b', leases, clock).start();
    await clock.advanceAsync(120_000);
    expect(a.leading).toBe(true);
    expect(b.leading).toBe(false);
    expect(b.elector.leader()).toBe('a');
    await Promise.all([a.abort(), b.abort()]);
  });

  it('takes over a Lease that has not changed for its duration, counting the transition', async () => {
    const { clock, leases } = setup();
    leases.overwrite({
      holderIdentity: 'ghost',
      leaseDurationSeconds: 15,
      acquireTime: '2024-05-01T11:00:00.000000Z',
      renewTime: '2024-05-01T11:59:59.000000Z',
      leaseTransitions: 3,
    });
    const b = new Candidate('b', leases, clock).start();
    // Expiry counts from when b first saw this record, not from the renewTime another clock wrote.
    const tookOver = await clock.until(() => b.leading);
    expect(tookOver).toBeGreaterThanOrEqual(15_000);
    expect(tookOver).toBeLessThanOrEqual(15_000 + 2000);
    expect(b.events).toEqual(['leader ghost', 'leader b', 'started']);
    expect(leases.spec).toMatchObject({ holderIdentity: 'b', leaseTransitions: 4 });
    expect(leases.spec.acquireTime).toBe(microTime(clock.now()));
    await b.abort();
  });

  it('stops campaigning when its signal aborts, without calling any callback', async () => {
    const { clock, leases } = setup();
    leases.overwrite({ holderIdentity: 'ghost', leaseDurationSeconds: 15, leaseTransitions: 0 });
    const b = new Candidate('b', leases, clock).start();
    await clock.advanceAsync(5000);
    await b.abort();
    expect(b.outcome).toBe('resolved');
    expect(b.events).toEqual(['leader ghost']);
  });
});

describe('LeaderElector renewing', () => {
  it('renews every retry period, keeping acquireTime and the transition count', async () => {
    const { clock, leases } = setup();
    const a = new Candidate('a', leases, clock).start();
    await clock.advanceAsync(0);
    const writes = leases.writes;
    await clock.advanceAsync(2000);
    expect(leases.spec.renewTime).toBe('2024-05-01T12:00:02.000000Z');
    await clock.advanceAsync(8000);
    expect(leases.writes - writes).toBe(5);
    expect(leases.spec).toMatchObject({
      holderIdentity: 'a',
      acquireTime: '2024-05-01T12:00:00.000000Z',
      renewTime: '2024-05-01T12:00:10.000000Z',
      leaseTransitions: 0,
    });
    await a.abort();
    expect(a.events).toEqual(['leader a', 'started', 'stopped']);
    expect(a.leadership?.aborted).toBe(true);
  });

  it('stops leading when no renewal succeeds within the deadline, before the Lease could expire', async () => {
    const { clock, leases } = setup();
    const a = new Candidate('a', leases, clock).start();
    await clock.advanceAsync(4000);
    const lastRenewal = clock.elapsedMs;
    leases.unreachable = true;
    const steppedDown = await clock.until(() => !a.leading);
    expect(a.leadership?.aborted).toBe(true);
    expect(a.events).toEqual(['leader a', 'started', 'stopped']);
    // First renewal due 2 s after the last, then 10 s of trying: others may take over only after 15 s.
    expect((steppedDown - lastRenewal) / 1000).toBeCloseTo(12, 0);
    expect(steppedDown - lastRenewal).toBeLessThan(15_000);
    expect(a.errors.length).toBeGreaterThan(1);
    await settle();
    expect(a.outcome).toBe('resolved');
  });

  it('cuts off a renewal request that hangs past the deadline', async () => {
    const { clock, leases } = setup();
    const a = new Candidate('a', leases, clock).start();
    await clock.advanceAsync(0);
    leases.hanging = true;
    const steppedDown = await clock.until(() => !a.leading);
    expect(steppedDown / 1000).toBeCloseTo(12, 0);
    // Aborted by our own deadline: not reported as a failure.
    expect(a.errors).toEqual([]);
  });

  it('steps down at once when it finds another holder on the Lease', async () => {
    const { clock, leases } = setup();
    const a = new Candidate('a', leases, clock).start();
    await clock.advanceAsync(1000);
    leases.overwrite({ holderIdentity: 'intruder', leaseDurationSeconds: 15, leaseTransitions: 1 });
    await clock.advanceAsync(1000);
    expect(a.leading).toBe(false);
    expect(a.events).toEqual(['leader a', 'started', 'leader intruder', 'stopped']);
  });

  it('ends leadership when onStartedLeading rejects, and run rejects with its error', async () => {
    const { clock, leases } = setup();
    const failure = new Error('controller crashed');
    let stopped = false;
    const elector = new LeaderElector({
      kube: leases,
      namespace: 'ns',
      name: 'capstan',
      identity: 'a',
      clock,
      onStartedLeading: async () => {
        throw failure;
      },
      onStoppedLeading: () => (stopped = true),
    });
    await expect(elector.run()).rejects.toBe(failure);
    expect(stopped).toBe(true);
    expect(elector.isLeader()).toBe(false);
  });

  it('resolves run only after the leader’s work has settled', async () => {
    const { clock, leases } = setup();
    let finishWork: () => void = () => {};
    const order: string[] = [];
    const stop = new AbortController();
    const elector = new LeaderElector({
      kube: leases,
      namespace: 'ns',
      name: 'capstan',
      identity: 'a',
      clock,
      onStartedLeading: (signal) =>
        new Promise<void>((resolve) => {
          finishWork = () => {
            order.push('work done');
            resolve();
          };
          signal.addEventListener('abort', () => order.push('work told to stop'));
        }),
      onStoppedLeading: () => order.push('stopped leading'),
    });
    const running = elector.run(stop.signal).then(() => order.push('run resolved'));
    await clock.advanceAsync(1000);
    stop.abort();
    await clock.advanceAsync(1000);
    expect(order).toEqual(['work told to stop', 'stopped leading']);
    finishWork();
    await running;
    expect(order).toEqual(['work told to stop', 'stopped leading', 'work done', 'run resolved']);
  });

  it('refuses a second concurrent run', async () => {
    const { clock, leases } = setup();
    const a = new Candidate('a', leases, clock).start();
    await expect(a.elector.run()).rejects.toThrow(/already running/);
    await a.abort();
  });
});

describe('LeaderElector release', () => {
  it('frees the Lease so a waiting candidate takes over at its next retry', async () => {
    const { clock, leases } = setup();
    const a = new Candidate('a', leases, clock).start();
    await clock.advanceAsync(0);
    const b = new Candidate('b', leases, clock).start();
    await clock.advanceAsync(30_000);
    expect(b.leading).toBe(false);

    const releasedAt = clock.elapsedMs;
    await expect(a.elector.release()).resolves.toBe(true);
    expect(a.events).toEqual(['leader a', 'started', 'stopped']);
    expect(a.outcome).toBe('resolved');
    expect(leases.spec).toMatchObject({ holderIdentity: '', leaseDurationSeconds: 1, leaseTransitions: 0 });

    const tookOver = await clock.until(() => b.leading);
    expect(tookOver - releasedAt).toBeLessThanOrEqual(2000);
    expect(leases.spec).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
    await b.abort();
  });

  it('does nothing when this replica does not hold the Lease', async () => {
    const { clock, leases } = setup();
    leases.overwrite({ holderIdentity: 'other', leaseDurationSeconds: 15 });
    const b = new Candidate('b', leases, clock).start();
    await clock.advanceAsync(1000);
    await expect(b.elector.release()).resolves.toBe(false);
    expect(leases.spec.holderIdentity).toBe('other');
  });

  it('does not free a Lease someone else took meanwhile', async () => {
    const { clock, leases } = setup();
    const a = new Candidate('a', leases, clock).start();
    await clock.advanceAsync(0);
    await a.abort();
    leases.overwrite({ holderIdentity: 'b', leaseDurationSeconds: 15, leaseTransitions: 1 });
    await expect(a.elector.release()).resolves.toBe(false);
    expect(leases.spec.holderIdentity).toBe('b');
  });
});

describe('LeaderElector configuration', () => {
  const base = {
    kube: new FakeLeases(),
    namespace: 'ns',
    name: 'capstan',
    identity: 'a',
    onStartedLeading: () => {},
    onStoppedLeading: () => {},
  };

  it('rejects durations that would let two leaders overlap or leave no time to retry', () => {
    expect(() => new LeaderElector({ ...base, identity: '' })).toThrow(/identity/);
    expect(() => new LeaderElector({ ...base, leaseDurationSeconds: 10, renewDeadlineSeconds: 10 })).toThrow(
      /greater than renewDeadline/,
    );
    expect(() => new LeaderElector({ ...base, renewDeadlineSeconds: 2, retryPeriodSeconds: 2 })).toThrow(
      /retryPeriod/,
    );
    expect(() => new LeaderElector({ ...base, leaseDurationSeconds: 2.5, renewDeadlineSeconds: 2 })).toThrow(
      /whole number/,
    );
    expect(
      () =>
        new LeaderElector({
          ...base,
          leaseDurationSeconds: 3,
          renewDeadlineSeconds: 2,
          retryPeriodSeconds: 0.5,
        }),
    ).not.toThrow();
  });

  it('writes MicroTime with six fractional digits', () => {
    expect(microTime(new Date('2024-05-01T12:00:00.123Z'))).toBe('2024-05-01T12:00:00.123000Z');
  });
});

describe('assertNoActiveLeader (a replica started without leader election)', () => {
  const lease = { namespace: 'capstan-system', name: 'capstan-controller' };
  /** A Lease whose record is whatever `spec()` says at each read. */
  const leaseReading = (spec: () => Record<string, unknown> | undefined) => ({
    get: async <T extends KubeObject>(): Promise<T | undefined> => {
      const current = spec();
      if (!current) return undefined;
      return {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: lease,
        spec: current,
      } as unknown as T;
    },
  });

  it('goes on when there is no Lease, or nobody holds it', async () => {
    await expect(
      assertNoActiveLeader(
        leaseReading(() => undefined),
        lease,
      ),
    ).resolves.toBeUndefined();
    await expect(
      assertNoActiveLeader(
        leaseReading(() => ({ leaseDurationSeconds: 15 })),
        lease,
      ),
    ).resolves.toBeUndefined();
  });

  it('refuses while the holder renews, and goes on once a holder stopped renewing for a lease duration', async () => {
    const clock = new FakeClock();
    let renewals = 0;
    const renewing = leaseReading(() => ({
      holderIdentity: 'other-1',
      leaseDurationSeconds: 15,
      renewTime: `renewal ${renewals}`,
    }));
    const refused = assertNoActiveLeader(renewing, lease, { clock });
    const outcome = refused.then(
      () => 'resolved',
      (error: unknown) => error,
    );
    await clock.advanceAsync(1000);
    renewals++;
    await clock.advanceAsync(1000);
    expect(await outcome).toBeInstanceOf(ActiveLeaderError);
    expect(String(await outcome)).toContain('another controller (other-1) holds and renews the Lease');

    const stale = assertNoActiveLeader(
      leaseReading(() => ({ holderIdentity: 'dead-1', leaseDurationSeconds: 15, renewTime: 'long ago' })),
      lease,
      { clock },
    );
    let done = false;
    void stale.then(() => (done = true));
    await clock.advanceAsync(10_000);
    expect(done).toBe(false);
    await clock.advanceAsync(6000);
    expect(done).toBe(true);
  });
});
