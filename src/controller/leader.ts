/**
 * Leader election on a coordination.k8s.io/v1 Lease, with the semantics of client-go's
 * leaderelection package:
 *
 * - A candidate acquires the Lease by creating it, or by taking it over once it is free (no holder)
 *   or expired. Every write is an `update` guarded by the resourceVersion it read, so when two
 *   candidates race, the API server lets exactly one win (the other gets 409 Conflict).
 * - "Expired" is judged on this process's clock: a Lease whose record has not changed for
 *   `leaseDurationSeconds` since this process first saw it that way. The renewTime written by another
 *   machine is never compared with our clock, so clock skew between replicas does not matter (only
 *   their clocks' rates do).
 * - The leader renews every retry period. If no renewal succeeds within the renew deadline (shorter
 *   than the lease duration, so it steps down before anyone may take over), or it sees another
 *   holder, it stops leading: the signal given to `onStartedLeading` aborts and `onStoppedLeading`
 *   runs.
 * - `release()` marks the Lease free (no holder, 1 s duration) so another replica takes over at its
 *   next retry instead of waiting for expiry.
 *
 * Like client-go, this is not fencing: a leader that is paused for longer than the lease duration may
 * briefly overlap with its successor. Keep work idempotent.
 */
import { UserError } from '../core/errors.js';
import type { KubeObject, ObjectRef } from '../core/objects.js';
import { sleep, systemClock, type Clock } from '../core/time.js';
import { isConflict } from '../kube/errors.js';
import type { KubeClient } from '../kube/types.js';

/** What the elector needs from a cluster; a `KubeClient` is one. */
export type LeaseClient = Pick<KubeClient, 'get' | 'create' | 'update'>;

export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  /** MicroTime: RFC 3339 with microseconds. */
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

export interface Lease extends KubeObject {
  spec?: LeaseSpec;
}

export interface LeaderElectorOptions {
  readonly kube: LeaseClient;
  readonly namespace: string;
  /** The Lease's name. */
  readonly name: string;
  /** Unique per replica (the pod name, say). */
  readonly identity: string;
  /** How long a holder's claim lasts without renewal; a whole number. Default 15. */
  readonly leaseDurationSeconds?: number;
  /** How long the leader keeps trying to renew before it steps down. Default 10. */
  readonly renewDeadlineSeconds?: number;
  /** Between attempts to acquire or renew. Default 2. */
  readonly retryPeriodSeconds?: number;
  readonly clock?: Clock;
  /** In [0, 1); spreads candidates' acquire attempts. Default Math.random. */
  readonly random?: () => number;
  /** Start the leader's work; stop it when `signal` aborts. A rejection ends the leadership. */
  readonly onStartedLeading: (signal: AbortSignal) => void | Promise<void>;
  /** Leadership ended (lost, given up, or shut down). Called once per `onStartedLeading`. */
  readonly onStoppedLeading: () => void;
  /** Another holder (or this one) was seen holding the Lease for the first time. */
  readonly onNewLeader?: (identity: string) => void;
  /** Failed attempts and throwing callbacks, for logs; lost races (409) are not failures. */
  readonly onError?: (error: unknown) => void;
}

/** client-go's JitterFactor: candidates wait between 1 and 2.2 retry periods between attempts. */
const ACQUIRE_JITTER = 1.2;

type Attempt = 'holding' | 'heldByOther' | 'failed';

interface Observation {
  readonly lease: Lease;
  /** The spec's content, to tell a renewal from a mere metadata change. */
  readonly record: string;
  /** When this process first saw this record: the start of the holder's lease, by our clock. */
  readonly sinceMs: number;
}

export class LeaderElector {
  private readonly kube: LeaseClient;
  private readonly ref: ObjectRef;
  private readonly namespace: string;
  private readonly name: string;
  private readonly identity: string;
  private readonly leaseDurationSeconds: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly callbacks: Pick<
    LeaderElectorOptions,
    'onStartedLeading' | 'onStoppedLeading' | 'onNewLeader' | 'onError'
  >;

  private observed: Observation | undefined;
  private reportedLeader = '';
  private leading = false;
  private current: { readonly stop: AbortController; readonly done: Promise<void> } | undefined;

  constructor(options: LeaderElectorOptions) {
    const leaseDuration = options.leaseDurationSeconds ?? 15;
    const renewDeadline = options.renewDeadlineSeconds ?? 10;
    const retryPeriod = options.retryPeriodSeconds ?? 2;
    if (options.identity === '') throw new UserError('leader election needs a non-empty identity');
    if (!Number.isInteger(leaseDuration) || leaseDuration < 1)
      throw new UserError(`leaseDurationSeconds must be a whole number ≥ 1, got ${leaseDuration}`);
    if (!(retryPeriod > 0)) throw new UserError(`retryPeriodSeconds must be positive, got ${retryPeriod}`);
    // The leader must give up before anyone else may take over, and must get several tries first.
    if (!(leaseDuration > renewDeadline))
      throw new UserError('leaseDurationSeconds must be greater than renewDeadlineSeconds');
    if (!(renewDeadline > ACQUIRE_JITTER * retryPeriod))
      throw new UserError(`renewDeadlineSeconds must be greater than ${ACQUIRE_JITTER} × retryPeriodSeconds`);
    this.kube = options.kube;
    this.namespace = options.namespace;
    this.name = options.name;
    this.ref = {
      group: 'coordination.k8s.io',
      kind: 'Lease',
      namespace: options.namespace,
      name: options.name,
    };
    this.identity = options.identity;
    this.leaseDurationSeconds = leaseDuration;
    this.renewDeadlineMs = renewDeadline * 1000;
    this.retryPeriodMs = retryPeriod * 1000;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.callbacks = options;
  }

  /** Between `onStartedLeading` and `onStoppedLeading`. */
  isLeader(): boolean {
    return this.leading;
  }

  /** The holder last seen on the Lease ('' when free or not seen yet). */
  leader(): string {
    return this.observed?.lease.spec?.holderIdentity ?? '';
  }

  /**
   * Campaigns until it acquires the Lease, then leads until `signal` aborts, a renewal misses the
   * deadline, or `onStartedLeading` rejects (then this rejects with its error). Resolves once the
   * leader's work has settled, so a `release()` afterwards cannot overlap with it. Call again to
   * campaign again.
   */
  run(signal?: AbortSignal): Promise<void> {
    if (this.current)
      return Promise.reject(
        new Error(`leader election for Lease ${this.namespace}/${this.name} is already running`),
      );
    const stop = new AbortController();
    const onAbort = (): void => stop.abort();
    if (signal?.aborted) stop.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const done = this.campaignAndLead(stop.signal).finally(() => {
      signal?.removeEventListener('abort', onAbort);
      this.current = undefined;
    });
    this.current = { stop, done };
    return done;
  }

  /**
   * Graceful shutdown: ends `run` (waiting for the leader's work to settle), then, if this replica
   * still holds the Lease, marks it free so another takes over at once. Resolves `true` when it freed
   * the Lease, `false` when it did not hold it (or lost it meanwhile).
   */
  async release(signal?: AbortSignal): Promise<boolean> {
    if (this.current) {
      this.current.stop.abort();
      await this.current.done.catch(() => {});
    }
    const observed = this.observed;
    if (!observed || observed.lease.spec?.holderIdentity !== this.identity) return false;
    const now = microTime(this.clock.now());
    const freed: LeaseSpec = {
      holderIdentity: '',
      leaseDurationSeconds: 1,
      acquireTime: now,
      renewTime: now,
      leaseTransitions: observed.lease.spec?.leaseTransitions ?? 0,
    };
    try {
      this.observe(await this.kube.update<Lease>({ ...observed.lease, spec: freed }, { signal }));
      return true;
    } catch (error) {
      if (isConflict(error)) return false;
      throw error;
    }
  }

  private async campaignAndLead(stop: AbortSignal): Promise<void> {
    while (!stop.aborted) {
      if ((await this.tryAcquireOrRenew(stop)) === 'holding') break;
      await sleep(this.retryPeriodMs * (1 + ACQUIRE_JITTER * this.random()), {
        signal: stop,
        clock: this.clock,
      });
    }
    if (stop.aborted) return;

    const leadership = new AbortController();
    const session = new AbortController();
    const endSession = (): void => session.abort();
    stop.addEventListener('abort', endSession, { once: true });
    let workFailure: { error: unknown } | undefined;
    this.leading = true;
    const work = Promise.resolve()
      .then(() => this.callbacks.onStartedLeading(leadership.signal))
      .catch((error: unknown) => {
        workFailure = { error };
        session.abort();
      });
    try {
      // Just acquired, so the first renewal is due one retry period from now.
      do await sleep(this.retryPeriodMs, { signal: session.signal, clock: this.clock });
      while (!session.signal.aborted && (await this.renewWithinDeadline(session.signal)));
    } finally {
      stop.removeEventListener('abort', endSession);
      this.leading = false;
      leadership.abort();
      this.safely(() => this.callbacks.onStoppedLeading());
      await work;
    }
    if (workFailure) throw workFailure.error;
  }

  /** Tries every retry period until a renewal succeeds (true) or the deadline passes or another holds it (false). */
  private async renewWithinDeadline(session: AbortSignal): Promise<boolean> {
    const window = new AbortController();
    const endWindow = (): void => window.abort();
    session.addEventListener('abort', endWindow, { once: true });
    const deadline = this.clock.setTimeout(endWindow, this.renewDeadlineMs);
    try {
      while (!window.signal.aborted) {
        const attempt = await this.tryAcquireOrRenew(window.signal);
        if (attempt === 'holding') return true;
        // Someone else holds a valid Lease: waiting out the deadline would only prolong the overlap.
        if (attempt === 'heldByOther') return false;
        await sleep(this.retryPeriodMs, { signal: window.signal, clock: this.clock });
      }
      return false;
    } finally {
      this.clock.clearTimeout(deadline);
      session.removeEventListener('abort', endWindow);
    }
  }

  private async tryAcquireOrRenew(signal: AbortSignal): Promise<Attempt> {
    const nowDate = this.clock.now();
    const now = microTime(nowDate);
    const ours = (previous: LeaseSpec | undefined, keepTerm: boolean): LeaseSpec => ({
      holderIdentity: this.identity,
      leaseDurationSeconds: this.leaseDurationSeconds,
      acquireTime: keepTerm ? (previous?.acquireTime ?? now) : now,
      renewTime: now,
      leaseTransitions: (previous?.leaseTransitions ?? 0) + (keepTerm || !previous ? 0 : 1),
    });

    // Fast path for a leader: write over the version we last saw, without reading first.
    const observed = this.observed;
    if (observed && this.holdsObserved() && this.observedIsValidAt(nowDate.getTime())) {
      try {
        this.observe(
          await this.kube.update<Lease>(
            { ...observed.lease, spec: ours(observed.lease.spec, true) },
            { signal },
          ),
        );
        return 'holding';
      } catch (error) {
        // A conflict means the Lease changed under us: read it and decide below. Anything else
        // (the server unreachable, say) would fail the read too; wait for the next attempt.
        if (!isConflict(error)) {
          this.failed(error, signal);
          return 'failed';
        }
      }
    }

    let lease: Lease | undefined;
    try {
      lease = await this.kube.get<Lease>(this.ref, { signal });
    } catch (error) {
      this.failed(error, signal);
      return 'failed';
    }
    if (!lease) {
      try {
        this.observe(
          await this.kube.create<Lease>(
            {
              apiVersion: 'coordination.k8s.io/v1',
              kind: 'Lease',
              metadata: { name: this.name, namespace: this.namespace },
              spec: ours(undefined, false),
            },
            { signal },
          ),
        );
        return 'holding';
      } catch (error) {
        // 409 AlreadyExists: another candidate created it first.
        if (!isConflict(error)) this.failed(error, signal);
        return 'failed';
      }
    }

    this.observe(lease);
    const holder = lease.spec?.holderIdentity ?? '';
    const heldByUs = holder === this.identity;
    if (holder !== '' && !heldByUs && this.observedIsValidAt(nowDate.getTime())) return 'heldByOther';
    try {
      this.observe(await this.kube.update<Lease>({ ...lease, spec: ours(lease.spec, heldByUs) }, { signal }));
      return 'holding';
    } catch (error) {
      if (!isConflict(error)) this.failed(error, signal);
      return 'failed';
    }
  }

  private observe(lease: Lease): void {
    const spec = lease.spec ?? {};
    const record = JSON.stringify([
      spec.holderIdentity ?? '',
      spec.leaseDurationSeconds ?? 0,
      spec.acquireTime ?? '',
      spec.renewTime ?? '',
      spec.leaseTransitions ?? 0,
    ]);
    const sinceMs = this.observed?.record === record ? this.observed.sinceMs : this.clock.now().getTime();
    this.observed = { lease, record, sinceMs };
    const holder = spec.holderIdentity ?? '';
    if (holder !== this.reportedLeader) {
      this.reportedLeader = holder;
      const report = this.callbacks.onNewLeader;
      if (holder !== '' && report) this.safely(() => report(holder));
    }
  }

  private holdsObserved(): boolean {
    return this.observed?.lease.spec?.holderIdentity === this.identity;
  }

  /** Valid until `leaseDurationSeconds` after we first saw its current record; a missing duration means expired. */
  private observedIsValidAt(nowMs: number): boolean {
    const observed = this.observed;
    if (!observed) return false;
    return observed.sinceMs + (observed.lease.spec?.leaseDurationSeconds ?? 0) * 1000 > nowMs;
  }

  private failed(error: unknown, signal: AbortSignal): void {
    // A request cut short by our own deadline or shutdown is not news.
    if (!signal.aborted) this.safely(() => this.callbacks.onError?.(error));
  }

  private safely(callback: () => void): void {
    try {
      callback();
    } catch (error) {
      try {
        this.callbacks.onError?.(error);
      } catch {
        // Nowhere left to report it.
      }
    }
  }
}

/** Another replica renews the Lease: a process without leader election must not run beside it. */
export class ActiveLeaderError extends UserError {
  constructor(ref: ObjectRef, holder: string) {
    super(
      `another controller (${holder}) holds and renews the Lease ${ref.namespace}/${ref.name}: two active controllers would fight over the cluster; run with leader election (the default) instead of --no-leader-elect`,
    );
  }
}

/**
 * Resolves when nobody holds the Lease, or its holder stopped renewing it; throws ActiveLeaderError
 * when the record changes (a renewal) within one lease duration. Judged on this process's clock from
 * what it observes, as the elector does, so clock skew between replicas does not matter.
 */
export async function assertNoActiveLeader(
  kube: Pick<KubeClient, 'get'>,
  lease: { namespace: string; name: string },
  options: { clock?: Clock; pollMs?: number; signal?: AbortSignal } = {},
): Promise<void> {
  const clock = options.clock ?? systemClock;
  const signal = options.signal ?? new AbortController().signal;
  const ref: ObjectRef = { group: 'coordination.k8s.io', kind: 'Lease', ...lease };
  const recordOf = (found: Lease | undefined): string => JSON.stringify(found?.spec ?? {});
  const first = (await kube.get(ref)) as Lease | undefined;
  const holder = first?.spec?.holderIdentity ?? '';
  if (holder === '') return;
  const deadline = clock.now().getTime() + (first?.spec?.leaseDurationSeconds ?? 0) * 1000;
  while (clock.now().getTime() < deadline && !signal.aborted) {
    await sleep(options.pollMs ?? 1000, { signal, clock });
    const current = (await kube.get(ref)) as Lease | undefined;
    if (recordOf(current) !== recordOf(first)) {
      const now = current?.spec?.holderIdentity ?? '';
      if (now !== '') throw new ActiveLeaderError(ref, now);
      return;
    }
  }
}

/** metav1.MicroTime: RFC 3339 in UTC with six fractional digits. */
export function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
