import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../test/support/fake-clock.js';
import type { KubeClient } from '../../kube/index.js';
import { AccessReviewer, listableNamespaces } from './access.js';
import { SessionStore, type Session } from './sessions.js';
import { FakeCluster } from './testdata/fake-cluster.js';

const identity = { username: 'alice', groups: [] };
const kube = {} as KubeClient;

describe('SessionStore', () => {
  it('gives random ids, finds sessions by them, and never stores the id itself', () => {
    const store = new SessionStore({ clock: new FakeClock() });
    const one = store.create(identity, kube);
    const two = store.create(identity, kube);
    expect(one.id).not.toBe(two.id);
    expect(one.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(store.get(one.id)).toBe(one.session);
    expect(one.session.key).not.toContain(one.id);
    expect(one.session.csrfToken).not.toBe(two.session.csrfToken);
    expect(store.get('made-up')).toBeUndefined();
    expect(store.get(undefined)).toBeUndefined();
  });

  it('ends idle sessions, and every session at its maximum age however busy', () => {
    const clock = new FakeClock();
    const ended: Session[] = [];
    const store = new SessionStore({
      clock,
      limits: { idleMs: 1000, maxAgeMs: 5000 },
      onEnd: (session) => ended.push(session),
    });
    const idle = store.create(identity, kube);
    const busy = store.create(identity, kube);
    for (let t = 0; t < 4; t++) {
      clock.advance(900);
      expect(store.get(busy.id)).toBeDefined();
    }
    expect(store.get(idle.id)).toBeUndefined();
    clock.advance(900);
    clock.advance(900);
    expect(store.touch(busy.session)).toBe(false);
    expect(ended).toEqual([idle.session, busy.session]);
    expect(store.size).toBe(0);
  });

  it('keeps at most maxSessions, the one idle longest giving way', () => {
    const clock = new FakeClock();
    const store = new SessionStore({ clock, limits: { maxSessions: 2 } });
    const a = store.create(identity, kube);
    clock.advance(10);
    const b = store.create(identity, kube);
    clock.advance(10);
    store.get(a.id);
    store.create(identity, kube);
    expect(store.size).toBe(2);
    expect(store.get(a.id)).toBeDefined();
    expect(store.get(b.id)).toBeUndefined();
  });
});

describe('AccessReviewer', () => {
  function setup(can: (verb: string, namespace: string | undefined) => boolean) {
    const fake = new FakeCluster();
    fake.addUser('t', { username: 'alice', can: (verb, _g, _r, ns) => can(verb, ns) });
    const clock = new FakeClock();
    const reviewer = new AccessReviewer({ clock, limits: { ttlMs: 10_000, maxEntries: 3 } });
    const asker = { key: 'session-1', kube: fake.clientFor('t') };
    const reviews = () => fake.calls.filter((c) => c.includes('review')).length;
    return { fake, clock, reviewer, asker, reviews };
  }
  const attrs = (namespace?: string) => ({
    verb: 'list',
    group: 'capstan.dev',
    resource: 'applications',
    ...(namespace ? { namespace } : {}),
  });

  it('asks once, shares a question in flight, and asks again after the TTL', async () => {
    const { clock, reviewer, asker, reviews } = setup((_v, ns) => ns === 'a');
    const [x, y] = await Promise.all([
      reviewer.allowed(asker, attrs('a')),
      reviewer.allowed(asker, attrs('a')),
    ]);
    expect([x, y]).toEqual([true, true]);
    expect(reviews()).toBe(1);
    expect(await reviewer.allowed(asker, attrs('b'))).toBe(false);
    expect(reviewer.cached(asker, attrs('b'))).toBe(false);
    expect(reviews()).toBe(2);
    clock.advance(10_000);
    expect(reviewer.cached(asker, attrs('a'))).toBeUndefined();
    await reviewer.allowed(asker, attrs('a'));
    expect(reviews()).toBe(3);
  });

  it('keeps decisions per session, bounded, and forgets a session', async () => {
    const { reviewer, asker } = setup(() => true);
    for (const ns of ['a', 'b', 'c', 'd']) await reviewer.allowed(asker, attrs(ns));
    expect(reviewer.size).toBe(3);
    expect(reviewer.cached(asker, attrs('a'))).toBeUndefined();
    expect(reviewer.cached({ ...asker, key: 'session-2' }, attrs('d'))).toBeUndefined();
    reviewer.forget('session-1');
    expect(reviewer.size).toBe(0);
  });

  it('lists every namespace on a cluster-wide grant with one review, else reviews each', async () => {
    const everywhere = setup(() => true);
    expect(await listableNamespaces(everywhere.reviewer, everywhere.asker, ['a', 'b', 'c'])).toBe('all');
    expect(everywhere.reviews()).toBe(1);
    const some = setup((_v, ns) => ns === 'b');
    expect(await listableNamespaces(some.reviewer, some.asker, ['a', 'b', 'c'])).toEqual(new Set(['b']));
    expect(some.reviews()).toBe(4);
  });
});
