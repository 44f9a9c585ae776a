import { chmod, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EnvironmentError, UserError } from '../core/errors.js';
import type { TempRepo } from '../../test/render/repo.js';
import { SECRET, caught, fullText, makeRepo } from '../../test/render/repo.js';
import { createHelmRenderer } from './helm.js';
import type { HelmRenderOptions } from './types.js';

const CHART = {
  'charts/web/Chart.yaml': 'apiVersion: v2\nname: web\nversion: 0.1.0\n',
  'charts/web/values.yaml': 'greeting: hello\n',
  'charts/web/templates/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n',
};

describe('helm renderer, checks and invocation', () => {
  let repo: TempRepo;
  let fakeHelm: string;
  let argsFile: string;
  let envFile: string;

  beforeEach(async () => {
    repo = await makeRepo(CHART);
    // A stand-in helm: records its arguments and environment, prints one object.
    argsFile = join(repo.outside, 'helm-args');
    envFile = join(repo.outside, 'helm-env');
    fakeHelm = join(repo.outside, 'fake-helm');
    await writeFile(
      fakeHelm,
      `#!/bin/sh\nprintf '%s\\n' "$@" > '${argsFile}'\n/usr/bin/env > '${envFile}'\n` +
        `printf -- '---\\n# Source: web/templates/cm.yaml\\napiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n  name: rendered\\n'\n`,
    );
    await chmod(fakeHelm, 0o755);
  });
  afterEach(async () => repo.cleanup());

  const render = (helm: HelmRenderOptions = {}, appPath = 'charts/web', binary = fakeHelm) =>
    createHelmRenderer({ helmBinary: binary }).render({ checkoutDir: repo.dir, appPath, options: { helm } });

  async function refused(
    message: string | RegExp,
    helm: HelmRenderOptions = {},
    appPath = 'charts/web',
  ): Promise<Error> {
    const error = await caught(() => render(helm, appPath));
    expect(error).toBeInstanceOf(UserError);
    if (typeof message === 'string') expect(error.message).toBe(message);
    else expect(error.message).toMatch(message);
    expect(existsSync(argsFile)).toBe(false);
    expect(fullText(error)).not.toContain(SECRET);
    return error;
  }

  it('runs helm template with validated flags, values in order, and an isolated environment', async () => {
    await repo.write({ 'env/prod/values.yaml': 'greeting: bonjour\n', 'charts/web/values-extra.yaml': '' });
    const result = await render({
      releaseName: 'web-prod',
      namespace: 'prod',
      valueFiles: ['values-extra.yaml', '../../env/prod/values.yaml'],
      values: { replicas: 3 },
      kubeVersion: 'v1.31.0',
      apiVersions: ['monitoring.coreos.com/v1'],
      skipTests: true,
    });
    expect(result.kind).toBe('helm');
    expect(result.objects).toEqual([{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'rendered' } }]);
    expect(result.inputs).toEqual(['charts/web', 'env/prod/values.yaml']);

    const args = (await readFile(argsFile, 'utf8')).trimEnd().split('\n');
    const root = args.at(-1)!.replace(/\/charts\/web$/, '');
    const inlineValues = args[args.indexOf('--', 0) - 1]!;
    expect(args).toEqual([
      'template',
      '--namespace',
      'prod',
      '--include-crds',
      '--skip-tests',
      '--kube-version',
      'v1.31.0',
      '--api-versions',
      'monitoring.coreos.com/v1',
      '--values',
      `${root}/charts/web/values-extra.yaml`,
      '--values',
      `${root}/env/prod/values.yaml`,
      '--values',
      inlineValues,
      '--',
      'web-prod',
      `${root}/charts/web`,
    ]);
    expect(inlineValues).toMatch(/capstan-helm-[^/]+\/inline-values\.json$/);
    expect(existsSync(inlineValues)).toBe(false); // the sandbox is gone

    const env = Object.fromEntries(
      (await readFile(envFile, 'utf8'))
        .trimEnd()
        .split('\n')
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    );
    const sandbox = inlineValues.replace(/\/inline-values\.json$/, '');
    expect(env).toMatchObject({
      PATH: '',
      HOME: `${sandbox}/home`,
      HELM_CACHE_HOME: `${sandbox}/helm/cache`,
      HELM_CONFIG_HOME: `${sandbox}/helm/config`,
      HELM_DATA_HOME: `${sandbox}/helm/data`,
      HELM_PLUGINS: `${sandbox}/helm/plugins`,
      HELM_REPOSITORY_CONFIG: `${sandbox}/helm/config/repositories.yaml`,
      KUBECONFIG: `${sandbox}/no-kubeconfig`,
    });
    // Nothing of this process's environment leaks through.
    for (const name of Object.keys(process.env)) {
      if (!(name in env)) continue;
      expect([
        'PATH',
        'HOME',
        'TMPDIR',
        'LANG',
        'LC_ALL',
        'PWD',
        'SHLVL',
        '_',
        'HTTP_PROXY',
        'HTTPS_PROXY',
        'http_proxy',
        'https_proxy',
        'NO_PROXY',
        'no_proxy',
      ]).toContain(name);
    }
  });

  it('defaults the release name to the chart folder and the namespace to default', async () => {
    await render();
    const args = (await readFile(argsFile, 'utf8')).trimEnd().split('\n');
    expect(args.slice(0, 4)).toEqual(['template', '--namespace', 'default', '--include-crds']);
    expect(args.at(-2)).toBe('web');
  });

  it('reports a missing helm binary as an environment problem', async () => {
    const error = await caught(() => render({}, 'charts/web', join(repo.outside, 'no-helm')));
    expect(error).toBeInstanceOf(EnvironmentError);
  });

  it.each([
    [
      'a release name that looks like a flag',
      { releaseName: '--post-renderer=/bin/sh' },
      /^helm release name "--post-renderer=\/bin\/sh" is not valid/,
    ],
    [
      'an invalid namespace',
      { namespace: 'Prod Env' },
      'helm namespace "Prod Env" is not a valid namespace name',
    ],
    [
      'an invalid kube version',
      { kubeVersion: '--debug' },
      'helm kubeVersion "--debug" is not a Kubernetes version like v1.31.0',
    ],
    [
      'an invalid api version',
      { apiVersions: ['x --set a=b'] },
      'helm apiVersions entry "x --set a=b" is not an API version',
    ],
  ])('refuses %s', async (_name, helm, message) => {
    await refused(message, helm);
  });

  it('refuses a default release name the chart folder cannot provide', async () => {
    await repo.write({
      'charts/My_Chart/Chart.yaml': 'apiVersion: v2\nname: x\nversion: 0.1.0\n',
    });
    await refused(
      /^helm release name "My_Chart" is not valid: .* \(taken from the app path; set helm\.releaseName\)$/,
      {},
      'charts/My_Chart',
    );
  });

  it.each([
    [
      'climbing out with ..',
      '../../../outside/secret.txt',
      'helm valueFiles of charts/web: "../../../outside/secret.txt" leads outside the repository',
    ],
    [
      'absolute',
      '/etc/passwd',
      'helm valueFiles of charts/web: "/etc/passwd" is an absolute path; paths must be relative and stay inside the repository',
    ],
    [
      'a URL',
      'https://example.com/values.yaml',
      'helm valueFiles of charts/web: "https://example.com/values.yaml" is a URL; values files must be in the repository',
    ],
    ['missing', 'nope.yaml', 'helm valueFiles of charts/web: "charts/web/nope.yaml" does not exist'],
  ])('refuses a values file that is %s', async (_name, file, message) => {
    await refused(message, { valueFiles: [file] });
  });

  it('refuses a values file that is a symlink out of the checkout', async () => {
    // Outside the chart folder, so it is the values check that catches it, not the chart walk.
    await repo.write({ 'env/stolen.yaml': { symlink: '../../outside/secret.txt' } });
    await refused(
      'helm valueFiles of charts/web: "env/stolen.yaml" is a symlink that leads outside the repository',
      {
        valueFiles: ['../../env/stolen.yaml'],
      },
    );
  });

  it('refuses a values file with broken YAML, naming it without its content', async () => {
    await repo.write({ 'env/values.yaml': `db:\n  password: "${SECRET}\n` });
    await refused(/^env\/values\.yaml:\d+:\d+: invalid YAML: /, { valueFiles: ['../../env/values.yaml'] });
  });

  it('refuses a chart whose folder holds a symlink out of the checkout', async () => {
    await repo.write({ 'charts/web/files/creds.txt': { symlink: '../../../../outside/secret.txt' } });
    await refused('helm chart: "charts/web/files/creds.txt" is a symlink that leads outside the repository');
  });

  it('refuses a chart folder symlinked out, special files, and oversized files', async () => {
    await repo.write({ 'charts/web/templates/more': { symlink: '../../../../outside/secret-dir' } });
    await refused('helm chart: "charts/web/templates/more" is a symlink that leads outside the repository');
    await repo.cleanup();

    repo = await makeRepo({ ...CHART, 'charts/web/files/pipe': { fifo: true } });
    await refused(
      'helm chart: "charts/web/files/pipe" is not a regular file; charts may hold only files and folders',
    );
    await repo.cleanup();

    repo = await makeRepo({ ...CHART, 'charts/web/files/huge.bin': { sparseBytes: 200 * 1024 * 1024 } });
    await refused('charts/web/files/huge.bin is 200 MiB, over the 16 MiB limit for one file');
  });

  it('follows symlinks that stay inside the repository and records them', async () => {
    await repo.write({
      'shared/tpl/_common.tpl': '{{- define "x" -}}{{- end -}}',
      'charts/web/templates/_common.tpl': { symlink: '../../../shared/tpl/_common.tpl' },
    });
    const result = await render();
    expect(result.inputs).toEqual(['charts/web', 'shared/tpl/_common.tpl']);
  });

  it('refuses chart paths outside the repository', async () => {
    await refused('app path: "../outside" leads outside the repository', {}, '../outside');
  });

  it('requires chart dependencies to be vendored, and says Capstan never fetches them', async () => {
    await repo.write({
      'charts/web/Chart.yaml':
        'apiVersion: v2\nname: web\nversion: 0.1.0\ndependencies:\n  - name: redis\n    version: 1.0.0\n    repository: https://charts.example.com\n  - name: common\n    version: 0.1.0\n',
      'charts/web/charts/common/Chart.yaml': 'apiVersion: v2\nname: common\nversion: 0.1.0\n',
    });
    await refused(
      'helm chart "charts/web" depends on "redis", which is not vendored under charts/; Capstan never downloads chart dependencies: run `helm dependency build` and commit the charts/ folder',
    );
    await repo.write({ 'charts/web/charts/redis-1.0.0.tgz': 'not really a tarball' });
    expect((await render()).objects).toHaveLength(1);
  });
});
