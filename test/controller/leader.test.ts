/**
 * Leader election against the real API server: two replicas (each with its own client) compete for
 * one Lease, with short durations so takeovers happen within seconds.
 */
import { afterAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import { LeaderElector, type Lease } from '../../src/controller/leader.js';
import { createKubeClient, type HttpKubeClient } from '../../src/kube/index.js';
import { freshNamespace } from '../support/cluster.js';
import { sleep } from '../../src/core/time.js';

const LEASE = 'capstan-leader';
const TIMING = { leaseDurationSeconds: 3, renewDeadlineSeconds: 2, retryPeriodSeconds: 0.5 };

const clients: HttpKubeClient[] = [];
afterAll(() => clients.forEach((client) => client.close()));

async function client(): Promise<HttpKubeClient> {
  const created = await createKubeClient({ kubeconfig: inject('kubeconfig') });
  clients.push(created);
  return created;
}

interface Replica {
  readonly identity: string;
  readonly elector: LeaderElector;
  readonly events: string[];
  readonly errors: unknown[];
  /** Ends its run without releasing: to the other replica it looks like a crash. */
  stop(): Promise<void>;
}

async function replica(namespace: string, identity: string): Promise<Replica> {
  const kube = await client();
  const events: string[] = [];
  const errors: unknown[] = [];
  const elector = new LeaderElector({
    kube,
    namespace,
    name: LEASE,
    identity,
    ...TIMING,
    onStartedLeading: () => void events.push('started'),
    onStoppedLeading: () => void events.push('stopped'),
    onNewLeader: (leader) => void events.push(`leader ${leader}`),
    onError: (error) => void errors.push(error),
  });
  const stopper = new AbortController();
  const running = elector.run(stopper.signal);
  const stop = async (): Promise<void> => {
    stopper.abort();
    await running;
  };
  onTestFinished(stop);
  return { identity, elector, events, errors, stop };
}

async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<number> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
  return Date.now() - started;
}

const leaders = (replicas: Replica[]): Replica[] => replicas.filter((r) => r.elector.isLeader());

async function readLease(namespace: string): Promise<Lease | undefined> {
  const kube = await client();
  return kube.get<Lease>({ group: 'coordination.k8s.io', kind: 'Lease', namespace, name: LEASE });
}

describe('leader election on a real Lease', () => {
  it('lets exactly one of two replicas lead, and keeps it leading', async () => {
    const namespace = await freshNamespace('leader');
    const replicas = await Promise.all([replica(namespace, 'replica-a'), replica(namespace, 'replica-b')]);
    await waitFor(() => leaders(replicas).length > 0, 10_000, 'a leader');
    const [leader] = leaders(replicas);

    // Several lease durations later, the same single leader, renewing.
    const renewBefore = (await readLease(namespace))?.spec?.renewTime;
    await sleep(4000);
    expect(leaders(replicas)).toEqual([leader]);
    const lease = await readLease(namespace);
    expect(lease?.spec).toMatchObject({
      holderIdentity: leader!.identity,
      leaseDurationSeconds: 3,
      leaseTransitions: 0,
    });
    expect(lease?.spec?.renewTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(lease?.spec?.renewTime).not.toBe(renewBefore);
    const follower = replicas.find((r) => r !== leader)!;
    expect(follower.events).toEqual([`leader ${leader!.identity}`]);
    expect([...replicas[0]!.errors, ...replicas[1]!.errors]).toEqual([]);
  });

  it('hands over after the lease expires when the leader stops without releasing', async () => {
    const namespace = await freshNamespace('leader');
    const replicas = await Promise.all([replica(namespace, 'replica-a'), replica(namespace, 'replica-b')]);
    await waitFor(() => leaders(replicas).length > 0, 10_000, 'a leader');
    const [leader] = leaders(replicas);
    const follower = replicas.find((r) => r !== leader)!;

    await leader!.stop();
    expect(leader!.events.slice(-2)).toEqual(['started', 'stopped']);
    const waited = await waitFor(() => follower.elector.isLeader(), 15_000, 'the takeover');
    // The follower must wait out the lease (3 s from its last sight of a renewal, ≤ 0.5 s before the stop).
    expect(waited).toBeGreaterThanOrEqual(2000);
    expect(waited).toBeLessThan(8000);
    expect((await readLease(namespace))?.spec).toMatchObject({
      holderIdentity: follower.identity,
      leaseTransitions: 1,
    });
  });

  it('hands over at once when the leader releases the Lease', async () => {
    const namespace = await freshNamespace('leader');
    const replicas = await Promise.all([replica(namespace, 'replica-a'), replica(namespace, 'replica-b')]);
    await waitFor(() => leaders(replicas).length > 0, 10_000, 'a leader');
    const [leader] = leaders(replicas);
    const follower = replicas.find((r) => r !== leader)!;

    await expect(leader!.elector.release()).resolves.toBe(true);
    expect(leader!.elector.isLeader()).toBe(false);
    const waited = await waitFor(() => follower.elector.isLeader(), 15_000, 'the takeover');
    // Well under the 3 s lease: at most one jittered retry period (≤ 1.1 s) plus the requests.
    expect(waited).toBeLessThan(2500);
    expect((await readLease(namespace))?.spec).toMatchObject({
      holderIdentity: follower.identity,
      leaseDurationSeconds: 3,
      leaseTransitions: 1,
    });
  });
});
