import { describe, expect, it } from 'vitest';
import { HEALTH_STATES as HEALTH_STATES_OF_HEALTH } from '../../health/index.js';
import { AppIndex, type IndexChange } from './app-index.js';
import { fakeApp } from './testdata/apps.js';
import { appListQuerySchema, HEALTH_STATES, type AppListQuery } from './schema.js';

const query = (input: Record<string, unknown> = {}): AppListQuery => appListQuerySchema.parse(input);

function indexOf(count: number): AppIndex {
  const index = new AppIndex();
  for (let i = 0; i < count; i++) index.upsert(fakeApp(i));
  return index;
}

describe('AppIndex', () => {
  it('keeps the health states of src/health', () => {
    expect(HEALTH_STATES).toEqual(HEALTH_STATES_OF_HEALTH);
  });

  it('filters by health, sync, namespace, repository, ref, label and text, and counts the filtered set', () => {
    const index = indexOf(200);
    const all = index.query(query({ limit: 500 }), 'all');
    expect(all.total).toBe(200);
    expect(Object.values(all.counts.health).reduce((a, b) => a + b)).toBe(200);

    const degraded = index.query(query({ health: 'Degraded,Missing', limit: 500 }), 'all');
    expect(degraded.items.every((a) => a.health === 'Degraded' || a.health === 'Missing')).toBe(true);
    expect(degraded.total).toBe(degraded.counts.health.Degraded + degraded.counts.health.Missing);
    // Faceted: the health counts ignore the health choice (each tells what adding it would show);
    // the sync counts are of the chosen health states.
    expect(degraded.counts.health).toEqual(all.counts.health);
    expect(Object.values(degraded.counts.sync).reduce((a, b) => a + b)).toBe(degraded.total);

    const filtered = index.query(
      query({
        sync: 'OutOfSync',
        repository: 'repo-3',
        ref: 'main',
        label: ['tier=backend', 'env!=prod'],
        limit: 500,
      }),
      'all',
    );
    for (const app of filtered.items) {
      expect(app.sync).toBe('OutOfSync');
      expect(app.repository).toBe('repo-3');
      expect(app.ref).toBe('main');
      expect(app.labels.tier).toBe('backend');
      expect(app.labels.env).toBe('staging');
    }
    expect(filtered.total).toBeGreaterThan(0);
    expect(filtered.counts.sync.OutOfSync).toBe(filtered.total);

    expect(index.query(query({ q: 'APP-00042' }), 'all').items.map((a) => a.name)).toEqual(['app-00042']);
    expect(index.query(query({ q: 'change number 199' }), 'all').items.map((a) => a.name)).toEqual([
      'app-00199',
    ]);
    expect(index.query(query({ label: '!tier' }), 'all').total).toBe(0);
    expect(index.query(query({ namespace: 'team-1,team-2' }), 'all').total).toBe(8);
  });

  it('shows only the namespaces in scope', () => {
    const index = indexOf(100);
    const result = index.query(query({ limit: 500 }), new Set(['team-3']));
    expect(result.items.map((a) => a.namespace)).toEqual(['team-3', 'team-3']);
    expect(result.total).toBe(2);
    expect(index.query(query(), new Set()).total).toBe(0);
  });

  it('sorts by name, health (worst first), sync and last sync, either way', () => {
    const index = indexOf(60);
    const names = index.query(query({ limit: 500 }), 'all').items.map((a) => a.name);
    expect(names).toEqual([...names].sort());
    const health = index.query(query({ sort: 'health', limit: 500 }), 'all').items.map((a) => a.health);
    expect(health[0]).toBe('Degraded');
    expect(health.at(-1)).toBe('Healthy');
    const sync = index.query(query({ sort: 'sync', limit: 500 }), 'all').items.map((a) => a.sync);
    expect(sync[0]).toBe('OutOfSync');
    const last = index.query(query({ sort: 'lastSync', limit: 500 }), 'all').items.map((a) => a.lastSyncAt!);
    expect(last).toEqual([...last].sort().reverse());
    const reversed = index
      .query(query({ sort: 'lastSync', order: 'desc', limit: 500 }), 'all')
      .items.map((a) => a.lastSyncAt!);
    expect(reversed).toEqual([...last].reverse());
  });

  it('pages by continue token without skipping or repeating rows while apps come and go', () => {
    const index = indexOf(100);
    const seen: string[] = [];
    let token: string | undefined;
    let round = 0;
    do {
      const page = index.query(
        query({ sort: 'health', limit: 7, ...(token ? { continue: token } : {}) }),
        'all',
      );
      seen.push(...page.items.map((a) => a.name));
      token = page.continue;
      // Between pages: an app sorting before the cursor arrives, and one is deleted further on.
      index.upsert(fakeApp(1000 + round, { health: 'Degraded' }));
      round++;
    } while (token);
    expect(new Set(seen).size).toBe(seen.length);
    for (let i = 0; i < 100; i++) expect(seen).toContain(`app-${String(i).padStart(5, '0')}`);
  });

  it('pages by number, and refuses a token of another sort', () => {
    const index = indexOf(25);
    const third = index.query(query({ limit: 10, page: 3 }), 'all');
    expect(third.items.map((a) => a.name)).toEqual([
      'app-00020',
      'app-00021',
      'app-00022',
      'app-00023',
      'app-00024',
    ]);
    expect(third.page).toBe(3);
    expect(third.pages).toBe(3);
    expect(third.continue).toBeUndefined();
    const first = index.query(query({ limit: 10 }), 'all');
    expect(() => index.query(query({ limit: 10, sort: 'health', continue: first.continue }), 'all')).toThrow(
      /another sort/,
    );
  });

  it('tells listeners of changes that show, not of status churn that does not', () => {
    const index = new AppIndex();
    const changes: IndexChange[] = [];
    index.subscribe((change) => changes.push(change));
    const app = fakeApp(1);
    index.upsert(app);
    index.upsert({ ...app, metadata: { ...app.metadata, resourceVersion: '999', managedFields: [] } });
    index.upsert({ ...app, status: { ...app.status, health: { status: 'Degraded' } } });
    index.remove(app);
    expect(changes.map((c) => c.type)).toEqual(['added', 'updated', 'deleted']);
    expect(index.namespaces()).toEqual([]);
  });

  it('answers at 10,000 apps (cost printed, not asserted)', () => {
    const started = performance.now();
    const index = indexOf(10_000);
    const built = performance.now() - started;
    const scopeOf50 = new Set(Array.from({ length: 25 }, (_, i) => `team-${i}`));
    const cases: [string, Record<string, unknown>, 'all' | Set<string>][] = [
      ['first page, by name', {}, 'all'],
      ['by health', { sort: 'health' }, 'all'],
      ['filter health=Degraded', { health: 'Degraded' }, 'all'],
      ['text search', { q: 'app-012' }, 'all'],
      ['label + sort by last sync', { label: 'tier=frontend', sort: 'lastSync' }, 'all'],
      ['half the namespaces', {}, scopeOf50],
    ];
    const lines = [`built in ${built.toFixed(1)} ms`];
    for (const [name, input, scope] of cases) {
      const q = query({ limit: 50, ...input });
      index.query(q, scope); // warm-up
      const runs = 20;
      const t = performance.now();
      let total = 0;
      for (let r = 0; r < runs; r++) total = index.query(q, scope).total;
      lines.push(`${name}: ${((performance.now() - t) / runs).toFixed(2)} ms per query (${total} match)`);
    }
    console.log(`AppIndex at 10,000 apps:\n  ${lines.join('\n  ')}`);
    expect(index.size).toBe(10_000);
  });
});
