import { describe, expect, it } from 'vitest';
import { UserError } from '../core/errors.js';
import { caught } from '../../test/render/repo.js';
import { RenderCache, cachedRenderer, renderCacheKey, stableStringify } from './cache.js';
import type { RenderEvent } from './cache.js';
import type { RenderRequest, RenderResult, Renderer } from './types.js';
import { sleep } from '../core/time.js';

/** A renderer that counts its calls and can be held open or made to fail. */
function fakeRenderer() {
  const calls: RenderRequest[] = [];
  let gate: Promise<void> | undefined;
  let open: (() => void) | undefined;
  let failNext = false;
  return {
    calls,
    hold(): void {
      gate = new Promise<void>((resolve) => (open = resolve));
    },
    release(): void {
      open?.();
    },
    failOnce(): void {
      failNext = true;
    },
    async render(request: RenderRequest): Promise<RenderResult> {
      calls.push(request);
      await gate;
      if (failNext) {
        failNext = false;
        throw new UserError('broken manifest');
      }
      return {
        kind: 'plain',
        objects: [
          {
            apiVersion: 'v1',
            kind: 'ConfigMap',
            metadata: { name: `cm-${calls.length}` },
            data: { app: request.appPath },
          },
        ],
        inputs: [request.appPath],
      };
    },
  } satisfies Renderer & Record<string, unknown>;
}

const request = (appPath: string, cacheKey?: string, extra: Partial<RenderRequest> = {}): RenderRequest => ({
  checkoutDir: '/checkouts/x',
  appPath,
  ...(cacheKey === undefined ? {} : { cacheKey }),
  ...extra,
});

describe('cachedRenderer', () => {
  it('renders once per key and answers repeats from the cache', async () => {
    const inner = fakeRenderer();
    const events: RenderEvent[] = [];
    const renderer = cachedRenderer(inner, new RenderCache(), { onRender: (e) => events.push(e) });
    const first = await renderer.render(request('apps/web', 'trees-1'));
    const again = await renderer.render(
      request('apps/web', 'trees-1', { checkoutDir: '/checkouts/elsewhere' }),
    );
    expect(again).toEqual(first);
    expect(renderer.stats()).toEqual({ renders: 1, hits: 1, coalesced: 0, failures: 0 });
    expect(events.map((e) => e.outcome)).toEqual(['rendered', 'hit']);

    await renderer.render(request('apps/web', 'trees-2'));
    expect(renderer.stats().renders).toBe(2);
  });

  it('folds the app path and options into the key', async () => {
    const renderer = cachedRenderer(fakeRenderer(), new RenderCache());
    await renderer.render(request('apps/web', 'same'));
    await renderer.render(request('apps/api', 'same'));
    await renderer.render(request('apps/web', 'same', { options: { helm: { namespace: 'a' } } }));
    await renderer.render(request('apps/web', 'same', { options: { helm: { namespace: 'b' } } }));
    await renderer.render(request('./apps/web/', 'same'));
    expect(renderer.stats()).toEqual({ renders: 4, hits: 1, coalesced: 0, failures: 0 });
  });

  it('always renders requests without a key', async () => {
    const renderer = cachedRenderer(fakeRenderer(), new RenderCache());
    await renderer.render(request('apps/web'));
    await renderer.render(request('apps/web'));
    expect(renderer.stats().renders).toBe(2);
  });

  it('hands out copies, so callers cannot change what is cached', async () => {
    const renderer = cachedRenderer(fakeRenderer(), new RenderCache());
    const first = await renderer.render(request('apps/web', 'k'));
    first.objects[0]!.metadata.name = 'mutated';
    first.objects.push({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'added' } });
    const second = await renderer.render(request('apps/web', 'k'));
    expect(second.objects.map((o) => o.metadata.name)).toEqual(['cm-1']);
  });

  it('shares one run between concurrent requests for a key', async () => {
    const inner = fakeRenderer();
    inner.hold();
    const renderer = cachedRenderer(inner, new RenderCache());
    const all = Promise.all([1, 2, 3].map(() => renderer.render(request('apps/web', 'k'))));
    await sleep(10);
    inner.release();
    const results = await all;
    expect(new Set(results.map((r) => r.objects[0]!.metadata.name))).toEqual(new Set(['cm-1']));
    expect(results[0]).not.toBe(results[1]);
    expect(renderer.stats()).toEqual({ renders: 1, hits: 0, coalesced: 2, failures: 0 });
  });

  it('does not cache failures', async () => {
    const inner = fakeRenderer();
    const renderer = cachedRenderer(inner, new RenderCache());
    inner.failOnce();
    expect(await caught(() => renderer.render(request('apps/web', 'k')))).toBeInstanceOf(UserError);
    await renderer.render(request('apps/web', 'k'));
    expect(renderer.stats()).toEqual({ renders: 2, hits: 0, coalesced: 0, failures: 1 });
  });
});

describe('RenderCache', () => {
  const result = (name: string, size = 10): RenderResult => ({
    kind: 'plain',
    objects: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { blob: 'x'.repeat(size) } }],
    inputs: [],
  });

  it('evicts the least recently used entry past maxEntries', () => {
    const cache = new RenderCache({ maxEntries: 2 });
    cache.set('a', result('a'));
    cache.set('b', result('b'));
    expect(cache.get('a')).toBeDefined(); // a is now the most recent
    cache.set('c', result('c'));
    expect(cache.has('b')).toBe(false);
    expect(cache.has('a')).toBe(true);
    expect(cache.has('c')).toBe(true);
    expect(cache.stats()).toMatchObject({ entries: 2, evictions: 1, hits: 1 });
  });

  it('evicts by size, and does not keep a result larger than the whole cache', () => {
    const cache = new RenderCache({ maxBytes: 1000 });
    cache.set('a', result('a', 400));
    cache.set('b', result('b', 400));
    cache.set('c', result('c', 400));
    expect([cache.has('a'), cache.has('b'), cache.has('c')]).toEqual([false, true, true]);
    cache.set('huge', result('huge', 5000));
    expect(cache.has('huge')).toBe(false);
    expect(cache.stats().bytes).toBeLessThanOrEqual(1000);
    cache.clear();
    expect(cache.stats()).toMatchObject({ entries: 0, bytes: 0 });
  });
});

describe('renderCacheKey', () => {
  it('ignores key order and undefined fields, and tells different data apart', () => {
    const a = renderCacheKey({
      trees: { 'apps/web': 'abc', 'apps/base': 'def' },
      tools: { helm: 'v3.22.0' },
      extra: undefined,
    });
    const b = renderCacheKey({
      tools: { helm: 'v3.22.0' },
      trees: { 'apps/base': 'def', 'apps/web': 'abc' },
    });
    expect(a).toBe(b);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(renderCacheKey({ trees: { 'apps/web': 'abd' } })).not.toBe(
      renderCacheKey({ trees: { 'apps/web': 'abc' } }),
    );
    expect(stableStringify({ b: [1, undefined, { d: 1, c: 2 }], a: 'x' })).toBe(
      '{"a":"x","b":[1,null,{"c":2,"d":1}]}',
    );
  });
});
