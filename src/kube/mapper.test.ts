import { describe, expect, it } from 'vitest';
import type { DiscoveredResource, DiscoverySnapshot } from './discovery.js';
import { RestMapper, UnknownKindError } from './mapper.js';
import { sleep } from '../core/time.js';

function resource(
  group: string,
  version: string,
  kind: string,
  plural: string,
  namespaced = true,
): DiscoveredResource {
  return { group, version, kind, resource: plural, namespaced, verbs: ['get', 'list'], subresources: [] };
}

function snapshot(
  resources: DiscoveredResource[],
  groups?: { name: string; versions: string[] }[],
): DiscoverySnapshot {
  const derived = new Map<string, string[]>();
  for (const r of resources) derived.set(r.group, [...new Set([...(derived.get(r.group) ?? []), r.version])]);
  return {
    groups: groups ?? [...derived].map(([name, versions]) => ({ name, versions })),
    resources,
    unavailable: [],
    aggregated: true,
  };
}

/** A discovery whose answers the test controls, counting calls and releasing them on demand. */
function controllableDiscovery(initial: DiscoveredResource[]) {
  let current = initial;
  const pending: (() => void)[] = [];
  let calls = 0;
  let manual = false;
  return {
    discover: () => {
      calls++;
      const answer = snapshot(current);
      if (!manual) return Promise.resolve(answer);
      return new Promise<DiscoverySnapshot>((resolve) => pending.push(() => resolve(answer)));
    },
    set: (next: DiscoveredResource[]) => {
      current = next;
    },
    hold: () => {
      manual = true;
    },
    releaseAll: () => {
      for (const release of pending.splice(0)) release();
    },
    calls: () => calls,
    waiting: () => pending.length,
  };
}

const configMaps = resource('', 'v1', 'ConfigMap', 'configmaps');
const widgetsV1 = resource('example.com', 'v1', 'Widget', 'widgets');

describe('RestMapper', () => {
  it('maps kinds, loading discovery once for concurrent first lookups', async () => {
    const discovery = controllableDiscovery([
      configMaps,
      resource('', 'v1', 'Namespace', 'namespaces', false),
    ]);
    const mapper = new RestMapper({ discover: discovery.discover });
    const [a, b] = await Promise.all([mapper.mapping('', 'ConfigMap'), mapper.mapping('', 'Namespace')]);
    expect(a).toMatchObject({
      resource: 'configmaps',
      version: 'v1',
      namespaced: true,
      preferredVersion: 'v1',
    });
    expect(b.namespaced).toBe(false);
    expect(discovery.calls()).toBe(1);
  });

  it('keeps the resource spelling the server uses', async () => {
    const mapper = new RestMapper({
      discover: controllableDiscovery([resource('example.com', 'v1', 'MixedCase', 'MixedCases')]).discover,
    });
    expect((await mapper.mapping('example.com', 'MixedCase')).resource).toBe('MixedCases');
  });

  it('refreshes once on a miss, so a CRD created meanwhile becomes mappable', async () => {
    const discovery = controllableDiscovery([configMaps]);
    const mapper = new RestMapper({ discover: discovery.discover });
    await mapper.mapping('', 'ConfigMap');
    discovery.set([configMaps, widgetsV1]);
    expect(await mapper.mapping('example.com', 'Widget')).toMatchObject({ resource: 'widgets' });
    expect(discovery.calls()).toBe(2);
    // Hits need no discovery.
    await mapper.mapping('example.com', 'Widget');
    expect(discovery.calls()).toBe(2);
  });

  it('coalesces concurrent misses into one refresh', async () => {
    const discovery = controllableDiscovery([configMaps]);
    const mapper = new RestMapper({ discover: discovery.discover });
    await mapper.mapping('', 'ConfigMap');
    discovery.set([configMaps, widgetsV1]);
    discovery.hold();
    const lookups = Array.from({ length: 20 }, () => mapper.mapping('example.com', 'Widget'));
    await sleep(5);
    expect(discovery.waiting()).toBe(1);
    discovery.releaseAll();
    const results = await Promise.all(lookups);
    expect(results.every((m) => m.resource === 'widgets')).toBe(true);
    expect(discovery.calls()).toBe(2);
  });

  it('does not trust a refresh that began before the miss: it waits for one more', async () => {
    const discovery = controllableDiscovery([configMaps]);
    const mapper = new RestMapper({ discover: discovery.discover });
    await mapper.mapping('', 'ConfigMap');
    discovery.hold();
    const early = mapper.refresh(); // starts now, sees no Widget
    await sleep(1);
    discovery.set([configMaps, widgetsV1]); // the CRD lands while that refresh runs
    const lookups = [mapper.mapping('example.com', 'Widget'), mapper.mapping('example.com', 'Widget')];
    discovery.releaseAll(); // the early refresh answers without Widget
    await early;
    await sleep(1);
    expect(discovery.waiting()).toBe(1); // exactly one follow-up refresh for both lookups
    discovery.releaseAll();
    expect((await Promise.all(lookups)).map((m) => m.resource)).toEqual(['widgets', 'widgets']);
    expect(discovery.calls()).toBe(3);
  });

  it('throws UnknownKindError (kind notFound) when a refresh does not help', async () => {
    const discovery = controllableDiscovery([configMaps, widgetsV1]);
    const mapper = new RestMapper({ discover: discovery.discover });
    const error = await mapper.mapping('example.com', 'Gadget').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnknownKindError);
    expect(error).toMatchObject({ kind: 'notFound', objectKind: 'Gadget', group: 'example.com' });
    // The first lookup's own load was fresh: no second discovery for it.
    expect(discovery.calls()).toBe(1);
    await expect(mapper.mapping('example.com', 'Widget', 'v9')).rejects.toThrow(
      'does not serve Widget.example.com in version v9 (it serves v1)',
    );
    expect(await mapper.tryMapping('example.com', 'Gadget')).toBeUndefined();
  });

  it('can bound refreshes for a kind that stays missing', async () => {
    let now = 0;
    const discovery = controllableDiscovery([configMaps]);
    const mapper = new RestMapper({
      discover: discovery.discover,
      now: () => now,
      missRefreshIntervalMs: 1000,
    });
    await mapper.mapping('', 'ConfigMap');
    for (let i = 0; i < 10; i++) expect(await mapper.tryMapping('example.com', 'Typo')).toBeUndefined();
    expect(discovery.calls()).toBe(2);
    now += 1001;
    await mapper.tryMapping('example.com', 'Typo');
    expect(discovery.calls()).toBe(3);
    // An explicit refresh forgets the misses.
    await mapper.refresh();
    discovery.set([configMaps, resource('example.com', 'v1', 'Typo', 'typos')]);
    expect(await mapper.tryMapping('example.com', 'Typo')).toBeDefined();
  });

  it('orders versions by the group preference and maps a requested version', async () => {
    const resources = [
      resource('example.com', 'v1beta1', 'Widget', 'widgets'),
      resource('example.com', 'v1', 'Widget', 'widgets'),
      resource('example.com', 'v1beta1', 'OldThing', 'oldthings'),
    ];
    const mapper = new RestMapper({
      discover: () =>
        Promise.resolve(snapshot(resources, [{ name: 'example.com', versions: ['v1', 'v1beta1'] }])),
    });
    expect(await mapper.mapping('example.com', 'Widget')).toMatchObject({
      version: 'v1',
      versions: ['v1', 'v1beta1'],
    });
    expect(await mapper.mapping('example.com', 'Widget', 'v1beta1')).toMatchObject({
      version: 'v1beta1',
      preferredVersion: 'v1',
    });
    // A kind absent from the group's preferred version still maps, to the version that has it.
    expect(await mapper.mapping('example.com', 'OldThing')).toMatchObject({ version: 'v1beta1' });
    expect((await mapper.resources()).map((m) => `${m.kind}@${m.version}`).sort()).toEqual([
      'OldThing@v1beta1',
      'Widget@v1',
    ]);
  });

  it('waits for a kind that discovery publishes late (a CRD just Established)', async () => {
    const discovery = controllableDiscovery([configMaps]);
    const mapper = new RestMapper({ discover: discovery.discover, missRefreshIntervalMs: 60_000 });
    await mapper.mapping('', 'ConfigMap');
    setTimeout(() => discovery.set([configMaps, widgetsV1]), 60);
    expect(await mapper.waitForMapping('example.com', 'Widget', { timeoutMs: 5000 })).toMatchObject({
      resource: 'widgets',
    });
    expect(discovery.calls()).toBeGreaterThan(2);
    await expect(mapper.waitForMapping('example.com', 'Never', { timeoutMs: 50 })).rejects.toBeInstanceOf(
      UnknownKindError,
    );
    await expect(
      mapper.waitForMapping('example.com', 'Never', { signal: AbortSignal.abort(new Error('stop')) }),
    ).rejects.toThrow('stop');
  });

  it('passes discovery failures on, and recovers on the next lookup', async () => {
    let fail = true;
    const mapper = new RestMapper({
      discover: () =>
        fail ? Promise.reject(new Error('apiserver down')) : Promise.resolve(snapshot([configMaps])),
    });
    await expect(mapper.mapping('', 'ConfigMap')).rejects.toThrow('apiserver down');
    fail = false;
    expect(await mapper.mapping('', 'ConfigMap')).toMatchObject({ resource: 'configmaps' });
  });
});
