/**
 * The kustomize renderer with the real kustomize, on the fixture repository
 * (test/fixtures/render/repo/apps/kustomize: a base, and a prod overlay with a configMapGenerator
 * and a patch).
 */
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { UserError } from '../../src/core/errors.js';
import { createKustomizeRenderer, createRenderer } from '../../src/render/index.js';
import type { Renderer } from '../../src/render/index.js';
import type { TempRepo } from './repo.js';
import { SECRET, caught, configMap, copyFixtureRepo, fullText } from './repo.js';
import type { RenderTools } from './tools.js';
import { TOOLS_TIMEOUT_MS, renderTools } from './tools.js';

const KUSTOMIZATION = 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n';

describe('kustomize renderer (real kustomize)', () => {
  let tools: RenderTools;
  let repo: TempRepo;
  let renderer: Renderer;

  beforeAll(async () => {
    tools = await renderTools();
  }, TOOLS_TIMEOUT_MS);
  beforeEach(async () => {
    repo = await copyFixtureRepo();
    renderer = createKustomizeRenderer({ kustomizeBinary: tools.kustomize });
  });
  afterEach(async () => repo.cleanup());

  const render = (appPath: string) => renderer.render({ checkoutDir: repo.dir, appPath });

  it('builds the prod overlay: base via ../.., generated ConfigMap, patch, prefix and namespace', async () => {
    const result = await render('apps/kustomize/overlays/prod');
    expect(result.kind).toBe('kustomize');
    expect(result.inputs).toEqual(['apps/kustomize/base', 'apps/kustomize/overlays/prod']);
    expect(result.objects).toEqual([
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'prod-web-config-k9f8bm5584', namespace: 'prod' },
        data: { LOG_LEVEL: 'info', 'app.properties': 'color=blue\nsize=large\n' },
      },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { labels: { 'app.kubernetes.io/name': 'web' }, name: 'prod-web', namespace: 'prod' },
        spec: { ports: [{ port: 80, targetPort: 8080 }], selector: { 'app.kubernetes.io/name': 'web' } },
      },
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { labels: { 'app.kubernetes.io/name': 'web' }, name: 'prod-web', namespace: 'prod' },
        spec: {
          replicas: 3,
          selector: { matchLabels: { 'app.kubernetes.io/name': 'web' } },
          template: {
            metadata: { labels: { 'app.kubernetes.io/name': 'web' } },
            spec: {
              containers: [
                {
                  name: 'web',
                  image: 'nginx:1.27',
                  envFrom: [{ configMapRef: { name: 'prod-web-config-k9f8bm5584' } }],
                },
              ],
            },
          },
        },
      },
    ]);
  });

  it('builds the base alone', async () => {
    const result = await render('apps/kustomize/base');
    expect(result.inputs).toEqual(['apps/kustomize/base']);
    expect(result.objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      'Service/web',
      'Deployment/web',
    ]);
  });

  it('is picked automatically for a folder with a kustomization', async () => {
    const result = await createRenderer({ tools }).render({
      checkoutDir: repo.dir,
      appPath: 'apps/kustomize/overlays/prod',
    });
    expect(result.kind).toBe('kustomize');
    expect(result.objects).toHaveLength(3);
  });

  it('follows a symlinked base inside the repository and records both ends', async () => {
    await repo.write({
      'shared/extra/kustomization.yaml': `${KUSTOMIZATION}resources:\n  - cm.yaml\n`,
      'shared/extra/cm.yaml': configMap('extra'),
      'apps/kustomize/overlays/prod/extra': { symlink: '../../../../shared/extra' },
    });
    await repo.write({
      'apps/kustomize/overlays/prod/kustomization.yaml': `${KUSTOMIZATION}resources:\n  - ../../base\n  - extra\n`,
    });
    const result = await render('apps/kustomize/overlays/prod');
    expect(result.objects.map((o) => o.metadata.name)).toEqual(['extra', 'web', 'web']);
    expect(result.inputs).toEqual(['apps/kustomize/base', 'apps/kustomize/overlays/prod', 'shared/extra']);
  });

  it('refuses a base symlinked out of the checkout before kustomize runs', async () => {
    await repo.write({
      'apps/kustomize/overlays/prod/kustomization.yaml': `${KUSTOMIZATION}resources:\n  - ../../base\n  - stolen\n`,
      'apps/kustomize/overlays/prod/stolen': { symlink: '../../../../../outside/secret-dir' },
    });
    const error = await caught(() => render('apps/kustomize/overlays/prod'));
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toBe(
      'kustomization apps/kustomize/overlays/prod/kustomization.yaml: resource: "apps/kustomize/overlays/prod/stolen" is a symlink that leads outside the repository',
    );
    expect(fullText(error)).not.toContain(SECRET);
  });

  it('refuses remote bases without touching the network', async () => {
    await repo.write({
      'apps/kustomize/overlays/prod/kustomization.yaml': `${KUSTOMIZATION}resources:\n  - https://github.com/kubernetes-sigs/kustomize//examples/helloWorld?ref=v5.0.0\n`,
    });
    const started = Date.now();
    const error = await caught(() => render('apps/kustomize/overlays/prod'));
    expect(error.message).toMatch(/is a remote reference; Capstan renders only what is in the repository/);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("surfaces kustomize's own errors trimmed, with repository-relative paths and no secret values", async () => {
    await repo.write({
      'apps/dup/kustomization.yaml': `${KUSTOMIZATION}resources:\n  - a.yaml\n  - b.yaml\n`,
      'apps/dup/a.yaml': `apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: ${SECRET}\n`,
      'apps/dup/b.yaml': `apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: ${SECRET}\n`,
    });
    const error = await caught(() => render('apps/dup'));
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toMatch(
      /^kustomize build of "apps\/dup" failed: Error: .*already registered id: Secret\.v1\.\[noGrp\]\/db/,
    );
    expect(error.message).not.toContain(repo.dir);
    expect(fullText(error)).not.toContain(SECRET);
  });

  it("keeps kustomize's load restrictor: a file outside the kustomization root is refused by kustomize itself", async () => {
    // Inside the checkout, so our scan allows it; kustomize refuses files above the kustomization root.
    await repo.write({
      'shared/cm.yaml': configMap('shared'),
      'apps/up/kustomization.yaml': `${KUSTOMIZATION}resources:\n  - ../../shared/cm.yaml\n`,
    });
    const error = await caught(() => render('apps/up'));
    expect(error.message).toMatch(/^kustomize build of "apps\/up" failed: .*(security|not in or below)/s);
    expect(error.message).not.toContain(repo.dir);
  });
});
