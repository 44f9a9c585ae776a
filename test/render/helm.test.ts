/**
 * The helm renderer with the real helm, on the fixture chart (test/fixtures/render/repo/charts/demo:
 * a CRD in crds/, values.yaml, a vendored subchart) and a values file elsewhere in the repository.
 */
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { UserError } from '../../src/core/errors.js';
import { createHelmRenderer, createRenderer } from '../../src/render/index.js';
import type { HelmRenderOptions, Renderer } from '../../src/render/index.js';
import type { TempRepo } from './repo.js';
import { SECRET, caught, copyFixtureRepo, fullText } from './repo.js';
import type { RenderTools } from './tools.js';
import { TOOLS_TIMEOUT_MS, renderTools } from './tools.js';

const WIDGET_CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'widgets.demo.capstan.dev' },
  spec: {
    group: 'demo.capstan.dev',
    names: { kind: 'Widget', listKind: 'WidgetList', plural: 'widgets', singular: 'widget' },
    scope: 'Namespaced',
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
      },
    ],
  },
};

describe('helm renderer (real helm)', () => {
  let tools: RenderTools;
  let repo: TempRepo;
  let renderer: Renderer;

  beforeAll(async () => {
    tools = await renderTools();
  }, TOOLS_TIMEOUT_MS);
  beforeEach(async () => {
    repo = await copyFixtureRepo();
    renderer = createHelmRenderer({ helmBinary: tools.helm });
  });
  afterEach(async () => repo.cleanup());

  const render = (helm: HelmRenderOptions = {}, appPath = 'charts/demo') =>
    renderer.render({ checkoutDir: repo.dir, appPath, options: { helm } });

  it('renders the chart with its CRD, a vendored subchart, a values file from the repository and inline values', async () => {
    const result = await render({
      releaseName: 'shop',
      namespace: 'prod',
      valueFiles: ['../../values/demo-prod.yaml'],
      values: { widgetSize: 'large' },
    });
    expect(result.kind).toBe('helm');
    expect(result.inputs).toEqual(['charts/demo', 'values/demo-prod.yaml']);
    expect(result.objects).toEqual([
      WIDGET_CRD,
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'shop-common' } },
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'shop-demo', namespace: 'prod' },
        data: { greeting: 'bonjour', release: 'shop' },
      },
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'shop-demo', labels: { 'app.kubernetes.io/instance': 'shop' } },
        spec: {
          replicas: 2,
          selector: { matchLabels: { 'app.kubernetes.io/instance': 'shop' } },
          template: {
            metadata: { labels: { 'app.kubernetes.io/instance': 'shop' } },
            spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] },
          },
        },
      },
      {
        apiVersion: 'demo.capstan.dev/v1',
        kind: 'Widget',
        metadata: { name: 'shop-demo' },
        spec: { size: 'large' },
      },
    ]);
  });

  it('uses chart defaults, the folder name as release, and can leave CRDs out', async () => {
    const result = await render({ includeCrds: false });
    expect(result.inputs).toEqual(['charts/demo']);
    expect(result.objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      'ServiceAccount/demo-common',
      'ConfigMap/demo-demo',
      'Deployment/demo-demo',
      'Widget/demo-demo',
    ]);
    const configMap = result.objects.find((o) => o.kind === 'ConfigMap');
    expect(configMap).toMatchObject({ metadata: { namespace: 'default' }, data: { greeting: 'hello' } });
  });

  it('is picked automatically for a folder with a Chart.yaml', async () => {
    const result = await createRenderer({ tools }).render({ checkoutDir: repo.dir, appPath: 'charts/demo' });
    expect(result.kind).toBe('helm');
    expect(result.objects).toHaveLength(5);
  });

  it('lets templates read files through symlinks that stay inside the repository', async () => {
    await repo.write({
      'shared/banner.txt': 'welcome',
      'charts/demo/files/banner.txt': { symlink: '../../../shared/banner.txt' },
      'charts/demo/templates/banner.yaml':
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: banner\ndata:\n  banner: {{ .Files.Get "files/banner.txt" | quote }}\n',
    });
    const result = await render();
    expect(result.objects.find((o) => o.metadata.name === 'banner')).toEqual({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'banner' },
      data: { banner: 'welcome' },
    });
    expect(result.inputs).toEqual(['charts/demo', 'shared/banner.txt']);
  });

  it('refuses a chart file symlinked out of the checkout before helm could read it with .Files.Get', async () => {
    await repo.write({
      'charts/demo/files/creds.txt': { symlink: '../../../../outside/secret.txt' },
      'charts/demo/templates/leak.yaml':
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: leak\ndata:\n  stolen: {{ .Files.Get "files/creds.txt" | quote }}\n',
    });
    const error = await caught(() => render());
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toBe(
      'helm chart: "charts/demo/files/creds.txt" is a symlink that leads outside the repository',
    );
    expect(fullText(error)).not.toContain(SECRET);
  });

  it('refuses values files outside the repository', async () => {
    const error = await caught(() => render({ valueFiles: ['../../../outside/secret.txt'] }));
    expect(error.message).toBe(
      'helm valueFiles of charts/demo: "../../../outside/secret.txt" leads outside the repository',
    );
  });

  it('refuses a chart whose dependency is not vendored, without fetching', async () => {
    await repo.write({
      'charts/demo/Chart.yaml':
        'apiVersion: v2\nname: demo\nversion: 0.1.0\ndependencies:\n  - name: common\n    version: 0.1.0\n  - name: postgresql\n    version: 12.0.0\n    repository: https://charts.bitnami.com/bitnami\n',
    });
    const error = await caught(() => render());
    expect(error.message).toMatch(
      /^helm chart "charts\/demo" depends on "postgresql", which is not vendored under charts\//,
    );
  });

  it("surfaces helm's template errors trimmed, with repository-relative paths and no secret values", async () => {
    await repo.write({
      'charts/demo/templates/broken.yaml': `apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\nstringData:\n  password: {{ .Values.missing.deeper }}\n`,
      'charts/demo/values.yaml': `replicaCount: 1\nimage: {repository: nginx, tag: "1.27"}\ndbPassword: ${SECRET}\n`,
    });
    const error = await caught(() => render());
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toMatch(
      /^helm template of "charts\/demo" failed: Error: template: demo\/templates\/broken\.yaml:6:/,
    );
    expect(error.message).not.toContain(repo.dir);
    expect(fullText(error)).not.toContain(SECRET);
  });

  it('names the template of an object that is not valid', async () => {
    await repo.write({
      'charts/demo/templates/nameless.yaml': 'apiVersion: v1\nkind: ConfigMap\ndata: {}\n',
    });
    const error = await caught(() => render());
    expect(error.message).toMatch(
      /^helm output for charts\/demo: document \d+ \(line \d+\) from "demo\/templates\/nameless\.yaml" is not a Kubernetes object: metadata missing or not a string$/,
    );
  });
});
