/**
 * Plain manifests from the fixture repository (test/fixtures/render/repo/apps/plain), and the
 * render cache in front of the real renderer, keyed the way the engine keys it.
 */
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RenderCache, cachedRenderer, createRenderer, renderCacheKey } from '../../src/render/index.js';
import type { RenderRequest, RenderResult } from '../../src/render/index.js';
import type { TempRepo } from './repo.js';
import { configMap, copyFixtureRepo } from './repo.js';
import type { RenderTools } from './tools.js';
import { TOOLS_TIMEOUT_MS, renderTools } from './tools.js';

describe('plain manifests (fixture repository)', () => {
  let repo: TempRepo;
  beforeEach(async () => {
    repo = await copyFixtureRepo();
  });
  afterEach(async () => repo.cleanup());

  it('renders every manifest in order, expanding the List and skipping .github and README', async () => {
    const result = await createRenderer({ tools: {} }).render({
      checkoutDir: repo.dir,
      appPath: 'apps/plain',
    });
    expect(result.kind).toBe('plain');
    expect(result.inputs).toEqual(['apps/plain']);
    expect(result.objects).toEqual([
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'settings', namespace: 'demo' },
        // `off` is a boolean in YAML 1.1, as kubectl reads it.
        data: { enabled: 'true', debug: false },
      },
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'demo' } },
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'web', namespace: 'demo' } },
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'worker', namespace: 'demo' } },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'web', namespace: 'demo' },
        spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
      },
    ]);
  });
});

describe('render cache in front of the real renderer', () => {
  let tools: RenderTools;
  let repo: TempRepo;
  beforeAll(async () => {
    tools = await renderTools();
  }, TOOLS_TIMEOUT_MS);
  beforeEach(async () => {
    repo = await copyFixtureRepo();
  });
  afterEach(async () => repo.cleanup());

  it('renders each app once per key, and again when an input changes', async () => {
    const renderer = cachedRenderer(createRenderer({ tools }), new RenderCache());
    // Stand-in for Git tree ids: the engine asks Git for the tree id of each remembered input.
    const key = (inputs: readonly string[], version: string) =>
      renderCacheKey({
        trees: Object.fromEntries(inputs.map((path) => [path, `${path}@${version}`])),
        tools,
      });
    const request = (appPath: string, cacheKey: string): RenderRequest => ({
      checkoutDir: repo.dir,
      appPath,
      cacheKey,
    });

    const apps = ['apps/plain', 'apps/kustomize/overlays/prod', 'charts/demo'];
    const first: RenderResult[] = [];
    for (const app of apps) first.push(await renderer.render(request(app, key([app], 'v1'))));
    expect(renderer.stats().renders).toBe(3);

    // Same trees: all answered from the cache, even from another checkout folder.
    for (const [i, app] of apps.entries()) {
      const again = await renderer.render(request(app, key([app], 'v1')));
      expect(again).toEqual(first[i]);
    }
    expect(renderer.stats()).toMatchObject({ renders: 3, hits: 3 });

    // The overlay's base changes: its inputs (recorded by the first render) have new tree ids.
    await repo.write({ 'apps/kustomize/base/extra.yaml': configMap('extra') });
    await repo.write({
      'apps/kustomize/base/kustomization.yaml':
        'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [deployment.yaml, service.yaml, extra.yaml]\n',
    });
    const overlay = await renderer.render(request(apps[1]!, key(first[1]!.inputs, 'v2')));
    expect(overlay.objects.map((o) => o.metadata.name)).toContain('prod-extra');
    expect(renderer.stats()).toMatchObject({ renders: 4, hits: 3 });
  });
});
