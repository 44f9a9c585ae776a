/**
 * Helm: `helm template` on a chart folder inside the repository.
 *
 * Before helm runs, the whole chart folder is walked (helm loads every file in it, following
 * symlinks, and templates can read any of them with `.Files.Get`): every symlink must stay inside
 * the checkout, special files are refused, and sizes count against the render budget. Dependencies
 * must already be vendored under `charts/` (nothing is fetched). Values files are resolved relative
 * to the chart folder, must stay inside the repository and are parsed with the bounded parser.
 *
 * helm runs in a sandbox: HELM_CACHE_HOME, HELM_CONFIG_HOME and HELM_DATA_HOME (and the repository,
 * registry and plugin paths under them) point into a throwaway folder, so no user configuration,
 * repository list, registry credential or plugin leaks in; KUBECONFIG points at nothing.
 */
import type { Dirent } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../core/errors.js';
import { runTool, sanitizeToolMessage } from './exec.js';
import { readResolvedFile } from './files.js';
import type { RenderLimits } from './limits.js';
import { RenderBudget, resolveLimits } from './limits.js';
import { parseManifests } from './manifests.js';
import type { ResolvedPath } from './paths.js';
import { Checkout, codeOf, compactInputs, displayPath, normaliseAppPath, quotePath } from './paths.js';
import type { RenderedParts } from './plain.js';
import { withSandbox } from './sandbox.js';
import type { HelmRenderOptions, RenderLogger, RenderResult, Renderer, RenderRequest } from './types.js';
import { parseYamlStream } from './yaml.js';

export interface HelmRendererOptions {
  /** Path of the helm binary (from `ensureTools()` in development, the image in production). */
  readonly helmBinary: string;
  readonly limits?: Partial<RenderLimits>;
  /** Where sandboxes are made; default the OS temp folder. */
  readonly tempDir?: string;
  readonly logger?: RenderLogger;
}

export function createHelmRenderer(options: HelmRendererOptions): Renderer {
  const limits = resolveLimits(options.limits);
  return {
    async render(request: RenderRequest): Promise<RenderResult> {
      const checkout = await Checkout.open(request.checkoutDir);
      const appPath = normaliseAppPath(request.appPath);
      const helm = request.options?.helm ?? {};
      const rendered = await renderHelm(
        checkout,
        appPath,
        helm,
        options,
        new RenderBudget(limits),
        request.signal,
      );
      return { kind: 'helm', ...rendered };
    },
  };
}

/** Release names as helm accepts them (DNS-1123 subdomain, at most 53 characters). */
const RELEASE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const NAMESPACE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const KUBE_VERSION = /^v?\d+\.\d+(\.\d+)?([-+][0-9A-Za-z.-]+)?$/;
const API_VERSION = /^[A-Za-z0-9.-]+(\/[A-Za-z0-9.-]+)?(\/[A-Za-z0-9]+)?$/;

interface Template {
  readonly release: string;
  readonly namespace: string;
  readonly includeCrds: boolean;
  readonly skipTests: boolean;
  readonly kubeVersion?: string;
  readonly apiVersions: readonly string[];
}

/** Validates the options that become command-line arguments: nothing reaches helm as a flag by accident. */
function checkTemplateOptions(appPath: string, options: HelmRenderOptions): Template {
  const fallbackName = appPath.split('/').pop() || 'release';
  const release = options.releaseName ?? fallbackName;
  if (release.length > 53 || !RELEASE_NAME.test(release)) {
    const origin =
      options.releaseName === undefined ? ` (taken from the app path; set helm.releaseName)` : '';
    throw new UserError(
      `helm release name ${quotePath(release)} is not valid: lowercase letters, digits, '-' and '.', at most 53 characters${origin}`,
    );
  }
  const namespace = options.namespace ?? 'default';
  if (namespace.length > 63 || !NAMESPACE.test(namespace)) {
    throw new UserError(`helm namespace ${quotePath(namespace)} is not a valid namespace name`);
  }
  if (options.kubeVersion !== undefined && !KUBE_VERSION.test(options.kubeVersion)) {
    throw new UserError(
      `helm kubeVersion ${quotePath(options.kubeVersion)} is not a Kubernetes version like v1.31.0`,
    );
  }
  for (const apiVersion of options.apiVersions ?? []) {
    if (!API_VERSION.test(apiVersion))
      throw new UserError(`helm apiVersions entry ${quotePath(apiVersion)} is not an API version`);
  }
  return {
    release,
    namespace,
    includeCrds: options.includeCrds ?? true,
    skipTests: options.skipTests ?? false,
    ...(options.kubeVersion !== undefined ? { kubeVersion: options.kubeVersion } : {}),
    apiVersions: options.apiVersions ?? [],
  };
}

export async function renderHelm(
  checkout: Checkout,
  appPath: string,
  helmOptions: HelmRenderOptions,
  options: HelmRendererOptions,
  budget: RenderBudget,
  signal?: AbortSignal,
): Promise<RenderedParts> {
  const template = checkTemplateOptions(appPath, helmOptions);
  const inputs = new Set<string>();
  const record = (resolved: ResolvedPath): void => {
    for (const link of resolved.symlinks) inputs.add(link);
    inputs.add(resolved.realRepoPath);
  };

  const chart = await checkout.resolve(appPath, 'helm chart');
  if (!chart.stats.isDirectory())
    throw new UserError(`helm chart ${quotePath(displayPath(appPath))} is not a folder`);
  record(chart);
  await walkChartFolder(checkout, chart, budget, record, signal);
  await checkVendoredDependencies(checkout, chart, budget);

  const valueFiles: string[] = [];
  for (const ref of helmOptions.valueFiles ?? []) {
    const where = `helm valueFiles of ${displayPath(chart.realRepoPath)}`;
    if (/^[a-z][a-z0-9+.-]*:/i.test(ref)) {
      throw new UserError(`${where}: ${quotePath(ref)} is a URL; values files must be in the repository`);
    }
    const resolved = await checkout.resolve(checkout.join(chart.realRepoPath, ref, where), where);
    record(resolved);
    const text = await readResolvedFile(resolved, budget, where);
    const documents = parseYamlStream(text, resolved.realRepoPath, yamlLimits(budget));
    if (documents.length > 1 || (documents[0] !== undefined && !isMapping(documents[0].value))) {
      throw new UserError(`${resolved.realRepoPath}: a values file must be a single YAML mapping`);
    }
    valueFiles.push(resolved.absolutePath);
  }
  const inlineValues = helmOptions.values === undefined ? undefined : inlineValuesJson(helmOptions.values);

  const limits = budget.limits;
  const objects = await withSandbox(
    options.tempDir,
    'helm',
    async (sandbox) => {
      const args = ['template', '--namespace', template.namespace];
      if (template.includeCrds) args.push('--include-crds');
      if (template.skipTests) args.push('--skip-tests');
      if (template.kubeVersion !== undefined) args.push('--kube-version', template.kubeVersion);
      for (const apiVersion of template.apiVersions) args.push('--api-versions', apiVersion);
      for (const file of valueFiles) args.push('--values', file);
      if (inlineValues !== undefined) {
        const file = join(sandbox.dir, 'inline-values.json');
        await writeFile(file, inlineValues, { mode: 0o600 });
        args.push('--values', file);
      }
      // `--` ends the flags: the release name and chart path are positional whatever they look like.
      args.push('--', template.release, chart.absolutePath);

      const output = await runTool({
        tool: 'helm',
        binary: options.helmBinary,
        args,
        cwd: sandbox.dir,
        env: sandbox.env,
        timeoutMs: limits.toolTimeoutMs,
        maxStdoutBytes: limits.maxToolOutputBytes,
        maxStderrBytes: limits.maxToolErrorBytes,
        ...(signal ? { signal } : {}),
      });
      // helm's hint about --debug is no use to someone who cannot pass flags.
      const stderr = sanitizeToolMessage(
        output.stderr.replace(/^Use --debug flag to render out invalid YAML\s*$/gm, ''),
        [
          { from: checkout.root, to: '' },
          { from: sandbox.dir, to: '<tmp>' },
        ],
      );
      options.logger?.debug(
        {
          tool: 'helm',
          chart: chart.realRepoPath,
          exitCode: output.exitCode,
          durationMs: output.durationMs,
          stderr,
        },
        'helm template finished',
      );
      if (output.exitCode !== 0) {
        throw new UserError(
          `helm template of ${quotePath(displayPath(chart.realRepoPath))} failed: ${stderr || `exit code ${output.exitCode}`}`,
        );
      }
      return await parseManifests(
        output.stdout,
        `helm output for ${displayPath(chart.realRepoPath)}`,
        budget,
      );
    },
    (dir) => ({
      HELM_CACHE_HOME: join(dir, 'helm', 'cache'),
      HELM_CONFIG_HOME: join(dir, 'helm', 'config'),
      HELM_DATA_HOME: join(dir, 'helm', 'data'),
      HELM_REPOSITORY_CONFIG: join(dir, 'helm', 'config', 'repositories.yaml'),
      HELM_REPOSITORY_CACHE: join(dir, 'helm', 'cache', 'repository'),
      HELM_REGISTRY_CONFIG: join(dir, 'helm', 'config', 'registry', 'config.json'),
      HELM_PLUGINS: join(dir, 'helm', 'plugins'),
      KUBECONFIG: join(dir, 'no-kubeconfig'),
    }),
  );
  return { objects, inputs: compactInputs(inputs) };
}

/**
 * Checks every entry of the chart folder the way helm will load it (all files, dotfiles too,
 * symlinks followed): confined, regular, and within the budget.
 */
async function walkChartFolder(
  checkout: Checkout,
  chart: ResolvedPath,
  budget: RenderBudget,
  record: (resolved: ResolvedPath) => void,
  signal?: AbortSignal,
): Promise<void> {
  const visited = new Set<string>();
  const walk = async (folder: ResolvedPath): Promise<void> => {
    if (visited.has(folder.realRepoPath)) return;
    visited.add(folder.realRepoPath);
    signal?.throwIfAborted();
    let entries: Dirent[];
    try {
      entries = await readdir(folder.absolutePath, { withFileTypes: true });
    } catch (error) {
      throw new UserError(
        `${quotePath(displayPath(folder.realRepoPath))} cannot be listed (${codeOf(error)})`,
        { cause: error },
      );
    }
    budget.chargeEntries(folder.realRepoPath, entries.length);
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const childPath = `${folder.realRepoPath === '' ? '' : `${folder.realRepoPath}/`}${entry.name}`;
      if (entry.isDirectory()) {
        await walk(await checkout.resolve(childPath, 'helm chart'));
        continue;
      }
      if (!entry.isFile() && !entry.isSymbolicLink()) {
        throw new UserError(
          `helm chart: ${quotePath(childPath)} is not a regular file; charts may hold only files and folders`,
        );
      }
      const target = await checkout.resolve(childPath, 'helm chart');
      if (entry.isSymbolicLink()) record(target);
      if (target.stats.isDirectory()) await walk(target);
      else if (target.stats.isFile()) budget.chargeFile(target.realRepoPath, target.stats.size);
      else
        throw new UserError(
          `helm chart: ${quotePath(childPath)} is not a regular file; charts may hold only files and folders`,
        );
    }
  };
  await walk(chart);
}

/** helm refuses to template a chart whose dependencies are missing; we say why, and that we never fetch. */
async function checkVendoredDependencies(
  checkout: Checkout,
  chart: ResolvedPath,
  budget: RenderBudget,
): Promise<void> {
  const chartFile = await readYamlMapping(
    checkout,
    `${prefixOf(chart.realRepoPath)}Chart.yaml`,
    budget,
    true,
  );
  let dependencies = chartFile?.dependencies;
  if (dependencies === undefined) {
    // apiVersion v1 charts list them in requirements.yaml.
    dependencies = (
      await readYamlMapping(checkout, `${prefixOf(chart.realRepoPath)}requirements.yaml`, budget, false)
    )?.dependencies;
  }
  if (dependencies === undefined || dependencies === null) return;
  if (!Array.isArray(dependencies))
    throw new UserError(`${chart.realRepoPath}/Chart.yaml: dependencies must be a list`);
  const vendored = await vendoredCharts(checkout, chart, budget);
  for (const dependency of dependencies) {
    const name = isMapping(dependency) ? dependency.name : undefined;
    if (typeof name !== 'string')
      throw new UserError(`${chart.realRepoPath}/Chart.yaml: every dependency needs a name`);
    const present =
      vendored.names.has(name) || vendored.archives.some((archive) => archive.startsWith(`${name}-`));
    if (!present) {
      throw new UserError(
        `helm chart ${quotePath(displayPath(chart.realRepoPath))} depends on ${quotePath(name)}, which is not vendored under charts/; ` +
          'Capstan never downloads chart dependencies: run `helm dependency build` and commit the charts/ folder',
      );
    }
  }
}

async function vendoredCharts(
  checkout: Checkout,
  chart: ResolvedPath,
  budget: RenderBudget,
): Promise<{ names: Set<string>; archives: string[] }> {
  const names = new Set<string>();
  const archives: string[] = [];
  const chartsDir = `${prefixOf(chart.realRepoPath)}charts`;
  let entries: Dirent[];
  try {
    entries = await readdir(checkout.absolute(chartsDir), { withFileTypes: true });
  } catch {
    return { names, archives };
  }
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (entry.name.endsWith('.tgz')) archives.push(entry.name);
    else if (entry.isDirectory() || entry.isSymbolicLink()) {
      const subchart = await readYamlMapping(
        checkout,
        `${chartsDir}/${entry.name}/Chart.yaml`,
        budget,
        false,
      );
      if (typeof subchart?.name === 'string') names.add(subchart.name);
    }
  }
  return { names, archives };
}

async function readYamlMapping(
  checkout: Checkout,
  repoPath: string,
  budget: RenderBudget,
  required: boolean,
): Promise<Record<string, unknown> | undefined> {
  let resolved: ResolvedPath;
  try {
    resolved = await checkout.resolve(repoPath);
  } catch (error) {
    if (!required && error instanceof UserError && /does not exist/.test(error.message)) return undefined;
    throw error;
  }
  // Already charged by the chart walk; read outside the budget so it is not counted twice.
  const text = await readResolvedFile(resolved, new RenderBudget(budget.limits));
  const documents = parseYamlStream(text, resolved.realRepoPath, yamlLimits(budget));
  const value = documents[0]?.value;
  if (documents.length !== 1 || !isMapping(value))
    throw new UserError(`${resolved.realRepoPath} must be a single YAML mapping`);
  return value;
}

function inlineValuesJson(values: Readonly<Record<string, unknown>>): string {
  if (!isMapping(values)) throw new UserError('helm values must be a mapping');
  try {
    return JSON.stringify(values);
  } catch (error) {
    throw new UserError('helm values must be JSON data', { cause: error });
  }
}

function yamlLimits(budget: RenderBudget): { maxAliasCount: number; maxDepth: number; maxDocuments: number } {
  const { maxAliasCount, maxDepth } = budget.limits;
  return { maxAliasCount, maxDepth, maxDocuments: 16 };
}

function prefixOf(repoPath: string): string {
  return repoPath === '' ? '' : `${repoPath}/`;
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
