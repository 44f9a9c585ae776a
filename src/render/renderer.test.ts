import { afterEach, describe, expect, it } from 'vitest';
import { EnvironmentError, UserError } from '../core/errors.js';
import type { TempRepo } from '../../test/render/repo.js';
import { caught, configMap, makeRepo } from '../../test/render/repo.js';
import { Checkout } from './paths.js';
import { createRenderer, detectRenderKind } from './renderer.js';

const KUSTOMIZATION =
  'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [cm.yaml]\n';

describe('createRenderer', () => {
  let repo: TempRepo;
  afterEach(async () => repo?.cleanup());

  it('detects helm, kustomize and plain apps', async () => {
    repo = await makeRepo({
      'charts/web/Chart.yaml': 'apiVersion: v2\nname: web\nversion: 0.1.0\n',
      'apps/k/kustomization.yml': KUSTOMIZATION,
      'apps/k2/Kustomization': KUSTOMIZATION,
      'apps/plain/cm.yaml': configMap('a'),
      'apps/link': { symlink: 'k' },
      'apps/both/Chart.yaml': 'name: x\n',
      'apps/both/kustomization.yaml': KUSTOMIZATION,
    });
    const checkout = await Checkout.open(repo.dir);
    expect(await detectRenderKind(checkout, 'charts/web')).toBe('helm');
    expect(await detectRenderKind(checkout, 'apps/k')).toBe('kustomize');
    expect(await detectRenderKind(checkout, 'apps/k2')).toBe('kustomize');
    expect(await detectRenderKind(checkout, 'apps/link')).toBe('kustomize');
    expect(await detectRenderKind(checkout, 'apps/plain')).toBe('plain');
    expect(await detectRenderKind(checkout, 'apps/plain/cm.yaml')).toBe('plain');
    expect((await caught(() => detectRenderKind(checkout, 'apps/both'))).message).toBe(
      'app path "apps/both" has both a Chart.yaml and a kustomization file; set the render kind explicitly',
    );
  });

  it('renders plain apps without any tool, and honours an explicit kind', async () => {
    repo = await makeRepo({ 'apps/k/kustomization.yaml': KUSTOMIZATION, 'apps/k/cm.yaml': configMap('a') });
    const renderer = createRenderer({ tools: {} });
    const error = await caught(() => renderer.render({ checkoutDir: repo.dir, appPath: 'apps/k' }));
    expect(error).toBeInstanceOf(EnvironmentError);
    expect(error.message).toBe('rendering this app needs kustomize, and no kustomize binary is configured');

    // Forced plain: the kustomization is read as a manifest, and explained.
    const plain = await caught(() =>
      renderer.render({ checkoutDir: repo.dir, appPath: 'apps/k', options: { kind: 'plain' } }),
    );
    expect(plain).toBeInstanceOf(UserError);
    expect(plain.message).toMatch(/this is a kustomization file: render the folder with kustomize/);
  });

  it('refuses an unknown kind and a request already aborted', async () => {
    repo = await makeRepo({ 'a.yaml': configMap('a') });
    const renderer = createRenderer({ tools: {} });
    const unknown = await caught(() =>
      renderer.render({ checkoutDir: repo.dir, appPath: '', options: { kind: 'jsonnet' as never } }),
    );
    expect(unknown.message).toBe('unknown render kind "jsonnet" (plain, kustomize, helm or auto)');
    const controller = new AbortController();
    controller.abort(new Error('cancelled'));
    expect(
      (await caught(() => renderer.render({ checkoutDir: repo.dir, appPath: '', signal: controller.signal })))
        .message,
    ).toBe('cancelled');
    expect((await renderer.render({ checkoutDir: repo.dir, appPath: '' })).objects).toHaveLength(1);
  });
});
