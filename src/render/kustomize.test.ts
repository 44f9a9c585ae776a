import { chmod, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EnvironmentError, UserError } from '../core/errors.js';
import type { TempRepo } from '../../test/render/repo.js';
import { SECRET, caught, configMap, fullText, makeRepo } from '../../test/render/repo.js';
import { createKustomizeRenderer } from './kustomize.js';
import { looksRemote } from './kustomize-scan.js';

const KUSTOMIZATION = 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n';

describe('looksRemote', () => {
  it.each([
    'https://github.com/org/repo//deploy?ref=v1.0.0',
    'http://example.com/manifest.yaml',
    'github.com/org/repo/deploy',
    'GitHub.com/org/repo',
    'git@github.com:org/repo.git',
    'deploy@gitlab.example.com:org/repo',
    'git::https://example.com/org/repo',
    'ssh://git@example.com/org/repo',
    'file:///srv/repo',
    'gh:org/repo',
    'example.com/org/repo?ref=main',
  ])('treats %j as remote', (ref) => expect(looksRemote(ref)).toBe(true));

  it.each([
    '../base',
    'base',
    'deploy.yaml',
    './overlays/prod',
    'github-actions/base',
    'my.domain/base',
    'a:b/c',
  ])('treats %j as local', (ref) => expect(looksRemote(ref)).toBe(false));
});

describe('kustomize renderer, checks before kustomize runs', () => {
  let repo: TempRepo;
  let fakeKustomize: string;
  let marker: string;

  beforeEach(async () => {
    repo = await makeRepo();
    // A stand-in binary that leaves a mark if it is ever run.
    marker = join(repo.outside, 'kustomize-ran');
    fakeKustomize = join(repo.outside, 'fake-kustomize');
    await writeFile(
      fakeKustomize,
      `#!/bin/sh\necho ran > '${marker}'\necho 'Error: fake kustomize' >&2\nexit 1\n`,
    );
    await chmod(fakeKustomize, 0o755);
  });
  afterEach(async () => repo.cleanup());

  const render = (appPath = 'apps/web', binary = fakeKustomize) =>
    createKustomizeRenderer({ kustomizeBinary: binary }).render({ checkoutDir: repo.dir, appPath });

  /** Expects a UserError with `message`, and kustomize never started. */
  async function refused(message: string | RegExp, appPath = 'apps/web'): Promise<Error> {
    const error = await caught(() => render(appPath));
    expect(error).toBeInstanceOf(UserError);
    if (typeof message === 'string') expect(error.message).toBe(message);
    else expect(error.message).toMatch(message);
    expect(existsSync(marker)).toBe(false);
    expect(fullText(error)).not.toContain(SECRET);
    return error;
  }

  it('runs kustomize once the tree is clean, with ../base inside the repository allowed', async () => {
    await repo.write({
      'apps/base/kustomization.yaml': `${KUSTOMIZATION}resources:\n  - cm.yaml\n`,
      'apps/base/cm.yaml': configMap('base'),
      'apps/web/kustomization.yaml': `${KUSTOMIZATION}resources:\n  - ../base\n`,
    });
    const error = await caught(() => render());
    expect(error.message).toBe('kustomize build of "apps/web" failed: Error: fake kustomize');
    expect(existsSync(marker)).toBe(true);
  });

  it('reports a missing kustomize binary as an environment problem', async () => {
    await repo.write({ 'apps/web/kustomization.yaml': `${KUSTOMIZATION}resources: []\n` });
    const error = await caught(() => render('apps/web', join(repo.outside, 'no-such-kustomize')));
    expect(error).toBeInstanceOf(EnvironmentError);
    expect(error.message).toMatch(
      /^the kustomize binary .*no-such-kustomize is missing or cannot be run \(ENOENT\)$/,
    );
  });

  it('refuses a resource climbing out of the checkout with ..', async () => {
    await repo.write({
      'apps/web/kustomization.yaml': `${KUSTOMIZATION}resources:\n  - ../../../outside/secret-dir\n`,
    });
    await refused(
      'kustomization apps/web/kustomization.yaml: resource: "../../../outside/secret-dir" leads outside the repository',
    );
  });

  it('refuses absolute resource paths', async () => {
    await repo.write({
      'apps/web/kustomization.yaml': `${KUSTOMIZATION}resources:\n  - ${repo.outside}/secret-dir\n`,
    });
    await refused(
      /^kustomization apps\/web\/kustomization\.yaml: resource: ".*\/outside\/secret-dir" is an absolute path; paths must be relative/,
    );
  });

  it.each([
    ['resources', 'https://github.com/org/repo//deploy?ref=v1'],
    ['resources', 'github.com/org/repo/deploy'],
    ['resources', 'git@github.com:org/repo.git'],
    ['bases', 'ssh://git@example.com/org/repo'],
    ['components', 'git::https://example.com/org/repo'],
    ['crds', 'https://example.com/crd.yaml'],
    ['configurations', 'http://example.com/config.yaml'],
  ])('refuses the remote %s entry %j', async (field, ref) => {
    await repo.write({ 'apps/web/kustomization.yaml': `${KUSTOMIZATION}${field}:\n  - ${ref}\n` });
    await refused(
      new RegExp(
        `^kustomization apps/web/kustomization\\.yaml: \\w+ ${JSON.stringify(ref).replace(/[.?*+/\\]/g, '\\$&')} is a remote reference; Capstan renders only what is in the repository \\(vendor it instead\\)$`,
      ),
    );
  });

  it('refuses remote patches and generator files too', async () => {
    await repo.write({
      'apps/web/kustomization.yaml': `${KUSTOMIZATION}patches:\n  - path: https://example.com/p.yaml\n`,
    });
    await refused(/patches\.path "https:\/\/example\.com\/p\.yaml" is a remote reference/);
    await repo.write({
      'apps/web/kustomization.yaml': `${KUSTOMIZATION}configMapGenerator:\n  - name: x\n    files:\n      - k=https://example.com/data\n`,
    });
    await refused(/configMapGenerator\.files "https:\/\/example\.com\/data" is a remote reference/);
  });

  it('refuses a base that is a symlink leading out of the checkout', async () => {
    await repo.write({
      'apps/web/kustomization.yaml': `${KUSTOMIZATION}resources:\n  - base\n`,
      'apps/web/base': { symlink: '../../../outside/secret-dir' },
    });
    await refused(
      'kustomization apps/web/kustomization.yaml: resource: "apps/web/base" is a symlink that leads outside the repository',
    );
  });

  it('refuses a resource file that is a symlink out of the checkout', async () => {
    await repo.write({
      'apps/web/kustomization.yaml': `${KUSTOMIZATION}resources:\n  - secret.yaml\n`,
      'apps/web/secret.yaml': { symlink: '../../../outside/secret-dir/secret.yaml' },
    });
    await refused(
      'kustomization apps/web/kustomization.yaml: resource: "apps/web/secret.yaml" is a symlink that leads outside the repository',
    );
  });

  it('refuses a kustomization file that is itself a symlink out of the checkout', async () => {
    await repo.write({ 'apps/web/kustomization.yaml': { symlink: '../../../outside/secret.txt' } });
    await refused('"apps/web/kustomization.yaml" is a symlink that leads outside the repository');
  });

  it.each([
    [
      'files',
      'files:\n      - ../../../outside/secret.txt',
      '"../../../outside/secret.txt" leads outside the repository',
    ],
    [
      'files with a key',
      'files:\n      - password=../../../outside/secret.txt',
      '"../../../outside/secret.txt" leads outside the repository',
    ],
    [
      'envs',
      'envs:\n      - ../../../outside/secret.txt',
      '"../../../outside/secret.txt" leads outside the repository',
    ],
    ['env', 'env: ../../../outside/secret.txt', '"../../../outside/secret.txt" leads outside the repository'],
    [
      'a symlinked file',
      'files:\n      - stolen.txt',
      '"apps/web/stolen.txt" is a symlink that leads outside the repository',
    ],
    [
      'a folder holding a symlink',
      'files:\n      - data',
      '"apps/web/data/stolen.txt" is a symlink that leads outside the repository',
    ],
  ])('refuses secretGenerator %s escaping the checkout', async (_name, source, message) => {
    await repo.write({
      'apps/web/kustomization.yaml': `${KUSTOMIZATION}secretGenerator:\n  - name: creds\n    ${source}\n`,
      'apps/web/stolen.txt': { symlink: '../../../outside/secret.txt' },
      'apps/web/data/ok.txt': 'fine',
      'apps/web/data/stolen.txt': { symlink: '../../../../outside/secret.txt' },
    });
    const error = await refused(/^kustomization apps\/web\/kustomization\.yaml: secretGenerator\.\w+: /);
    expect(error.message.endsWith(message)).toBe(true);
  });

  it.each([
    ['patches', 'patches:\n  - path: ../../../outside/secret-dir/secret.yaml'],
    [
      'patchesJson6902',
      'patchesJson6902:\n  - path: ../../../outside/p.yaml\n    target: {kind: Deployment, name: web}',
    ],
    ['patchesStrategicMerge', 'patchesStrategicMerge:\n  - ../../../outside/secret-dir/secret.yaml'],
    ['replacements', 'replacements:\n  - path: ../../../outside/r.yaml'],
    ['openapi', 'openapi:\n  path: ../../../outside/schema.json'],
    ['crds', 'crds:\n  - ../../../outside/crd.yaml'],
    ['configurations', 'configurations:\n  - ../../../outside/c.yaml'],
    ['components', 'components:\n  - ../../../outside/secret-dir'],
  ])('refuses %s paths escaping the checkout', async (field, yaml) => {
    await repo.write({ 'apps/web/kustomization.yaml': `${KUSTOMIZATION}${yaml}\n` });
    const label = field.replace(/s$/, ''); // `crds` entries are reported as `crd`, and so on
    await refused(
      new RegExp(`^kustomization apps/web/kustomization\\.yaml: ${label}.*leads outside the repository$`),
    );
  });

  it('accepts inline patches without treating them as paths', async () => {
    await repo.write({
      'apps/web/kustomization.yaml':
        `${KUSTOMIZATION}resources: [cm.yaml]\npatchesStrategicMerge:\n  - |-\n    apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: a}\n` +
        `patches:\n  - patch: '[{"op": "add", "path": "/data", "value": {}}]'\n    target: {kind: ConfigMap}\n`,
      'apps/web/cm.yaml': configMap('a'),
    });
    expect((await caught(() => render())).message).toBe(
      'kustomize build of "apps/web" failed: Error: fake kustomize',
    );
  });

  it.each([
    ['helmCharts', 'helmCharts:\n  - name: x\n    repo: https://charts.example.com'],
    ['helmChartInflationGenerator', 'helmChartInflationGenerator:\n  - chartName: x'],
    ['helmGlobals', 'helmGlobals:\n  chartHome: ../../../outside'],
  ])('refuses Helm chart inflation (%s)', async (field, yaml) => {
    await repo.write({ 'apps/web/kustomization.yaml': `${KUSTOMIZATION}${yaml}\n` });
    await refused(
      `kustomization apps/web/kustomization.yaml: ${field}: inflating Helm charts inside kustomize is disabled; render the chart with the helm renderer instead`,
    );
  });

  it('checks paths inside transformer and generator configs, inline or in files', async () => {
    await repo.write({
      'apps/web/kustomization.yaml': `${KUSTOMIZATION}transformers:\n  - patch.yaml\n`,
      'apps/web/patch.yaml':
        'apiVersion: builtin\nkind: PatchTransformer\nmetadata: {name: p}\npath: ../../../outside/secret.txt\n',
    });
    await refused(
      /^kustomization apps\/web\/kustomization\.yaml: transformers "patch\.yaml": path: "\.\.\/\.\.\/\.\.\/outside\/secret\.txt" leads outside the repository$/,
    );

    await repo.write({
      'apps/web/kustomization.yaml': `${KUSTOMIZATION}generators:\n  - |\n    apiVersion: builtin\n    kind: HelmChartInflationGenerator\n    metadata: {name: h}\n`,
    });
    await refused(/inflating Helm charts inside kustomize is disabled/);
  });

  it('refuses fields it does not know', async () => {
    await repo.write({
      'apps/web/kustomization.yaml': `${KUSTOMIZATION}remoteResources:\n  - https://example.com\n`,
    });
    await refused(
      'kustomization apps/web/kustomization.yaml: unknown field "remoteResources" (Capstan only accepts fields whose paths it can check)',
    );
  });

  it('refuses cycles between kustomizations', async () => {
    await repo.write({
      'apps/web/kustomization.yaml': `${KUSTOMIZATION}resources:\n  - ../a\n`,
      'apps/a/kustomization.yaml': `${KUSTOMIZATION}resources:\n  - ../b\n`,
      'apps/b/kustomization.yaml': `${KUSTOMIZATION}resources:\n  - ../a\n`,
    });
    await refused(
      'kustomization apps/b/kustomization.yaml: resource "../a": kustomizations form a cycle: apps/a → apps/b → apps/a',
    );
  });

  it('refuses references to paths that do not exist (kustomize would try them as remote)', async () => {
    await repo.write({
      'apps/web/kustomization.yaml': `${KUSTOMIZATION}resources:\n  - example.com/org/repo\n`,
    });
    await refused(
      'kustomization apps/web/kustomization.yaml: resource: "apps/web/example.com/org/repo" does not exist ("apps/web/example.com" is missing)',
    );
  });

  it('refuses folders without a kustomization, and folders with two', async () => {
    await repo.write({
      'apps/web/kustomization.yaml': `${KUSTOMIZATION}resources:\n  - ../plain\n`,
      'apps/plain/a.yaml': configMap('a'),
    });
    await refused(
      'kustomization apps/web/kustomization.yaml: resource "../plain": folder "apps/plain" has no kustomization file (kustomization.yaml, kustomization.yml, Kustomization)',
    );
    await repo.write({ 'apps/web/Kustomization': KUSTOMIZATION });
    await refused(
      '"apps/web" has more than one kustomization file (apps/web/kustomization.yaml, apps/web/Kustomization)',
    );
  });

  it('reports broken YAML in a resource itself, with file and line, without content', async () => {
    await repo.write({
      'apps/web/kustomization.yaml': `${KUSTOMIZATION}resources:\n  - secret.yaml\n`,
      'apps/web/secret.yaml': `apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  password: "${SECRET}\n`,
    });
    await refused(
      'apps/web/secret.yaml:7:1: invalid YAML: a closing character is missing (a quote, bracket or brace?) (MISSING_CHAR)',
    );
  });

  it('charges generator data to the budget by size, without reading it', async () => {
    await repo.write({
      'apps/web/kustomization.yaml': `${KUSTOMIZATION}configMapGenerator:\n  - name: big\n    files:\n      - big.bin\n`,
      'apps/web/big.bin': { sparseBytes: 200 * 1024 * 1024 },
    });
    await refused('apps/web/big.bin is 200 MiB, over the 16 MiB limit for one file');
  });
});
