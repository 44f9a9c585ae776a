/**
 * Reads a kustomization tree before kustomize does, and refuses what kustomize must not be
 * allowed to do with untrusted repository content:
 * - remote references anywhere a path is allowed (git URLs, `github.com/…`, `user@host:…`, http(s)
 *   files): kustomize would clone or download them;
 * - paths that are absolute, climb out of the checkout with `..`, or lead out of it through a
 *   symlink (Argo CD CVE-2022-24348, Flux CVE-2022-24877); `../base` inside the repository is fine;
 * - references to paths that do not exist (kustomize falls back to treating those as remote);
 * - cycles between kustomizations (Flux CVE-2022-24878);
 * - Helm chart inflation (`helmCharts` & co.): charts are rendered by the helm renderer;
 * - fields this scanner does not know: it cannot vouch for paths in them.
 *
 * While walking it charges the render budget for every file and collects the repository paths the
 * build depends on. YAML files it reads (kustomizations, resources, patches) are parsed with the
 * bounded parser, so malformed content is reported by us (file and line, no content) rather than
 * by kustomize, whose messages sometimes quote the offending node.
 */
import { lstat, readdir } from 'node:fs/promises';
import { UserError } from '../core/errors.js';
import { assertRegularFile, readResolvedFile } from './files.js';
import type { RenderBudget } from './limits.js';
import type { Checkout, ResolvedPath } from './paths.js';
import { codeOf, displayPath, quotePath } from './paths.js';
import { parseYamlStream } from './yaml.js';

/** The names kustomize looks for, in its order. */
export const KUSTOMIZATION_FILE_NAMES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'] as const;

/** Every top-level field of kustomize v5's Kustomization type. */
const KNOWN_FIELDS = new Set([
  'apiVersion',
  'kind',
  'metadata',
  'openapi',
  'namePrefix',
  'nameSuffix',
  'namespace',
  'commonLabels',
  'labels',
  'commonAnnotations',
  'patchesStrategicMerge',
  'patchesJson6902',
  'patches',
  'images',
  'imageTags',
  'replacements',
  'replicas',
  'vars',
  'sortOptions',
  'resources',
  'components',
  'crds',
  'bases',
  'configMapGenerator',
  'secretGenerator',
  'helmGlobals',
  'helmCharts',
  'helmChartInflationGenerator',
  'generatorOptions',
  'configurations',
  'generators',
  'transformers',
  'validators',
  'buildMetadata',
]);

const HELM_FIELDS = ['helmCharts', 'helmChartInflationGenerator', 'helmGlobals'];

/** Keys holding file paths in builtin generator and transformer configs. */
const PLUGIN_PATH_KEYS = new Set(['path', 'paths', 'files', 'envs', 'env']);

/** What kustomize would fetch rather than read from disk. */
export function looksRemote(ref: string): boolean {
  return (
    /^[a-z][a-z0-9+.-]*:\/\//i.test(ref) || // https://, ssh://, file://, git://
    /^(?:git::|gh:|https?:|ssh:|file:|git:)/i.test(ref) ||
    /^[^/]*@/.test(ref) || // git@github.com:org/repo (any user@ prefix)
    /^(?:www\.)?github\.com(?:[/:]|$)/i.test(ref) ||
    /\?(?:ref|version|timeout|submodules)=/i.test(ref)
  );
}

export interface KustomizationScan {
  /** Repository paths read: kustomization folders, referenced files, and symlinks followed. */
  readonly inputs: ReadonlySet<string>;
  /** How many kustomizations make up the build. */
  readonly kustomizations: number;
}

export async function scanKustomization(
  checkout: Checkout,
  root: ResolvedPath,
  budget: RenderBudget,
  signal?: AbortSignal,
): Promise<KustomizationScan> {
  const scanner = new Scanner(checkout, budget, signal);
  await scanner.folder(root, `app path ${quotePath(displayPath(root.repoPath))}`);
  return { inputs: scanner.inputs, kustomizations: scanner.done.size };
}

/** The kustomization file of a folder, if it has one; more than one is an error (as in kustomize). */
export async function findKustomizationFile(checkout: Checkout, folder: string): Promise<string | undefined> {
  const found: string[] = [];
  for (const name of KUSTOMIZATION_FILE_NAMES) {
    const candidate = folder === '' ? name : `${folder}/${name}`;
    try {
      await lstat(checkout.absolute(candidate));
      found.push(candidate);
    } catch (error) {
      if (codeOf(error) !== 'ENOENT' && codeOf(error) !== 'ENOTDIR') {
        throw new UserError(`${quotePath(candidate)} cannot be read (${codeOf(error)})`, { cause: error });
      }
    }
  }
  if (found.length > 1) {
    throw new UserError(
      `${quotePath(displayPath(folder))} has more than one kustomization file (${found.join(', ')})`,
    );
  }
  return found[0];
}

type Json = Record<string, unknown>;

class Scanner {
  readonly inputs = new Set<string>();
  readonly done = new Set<string>();
  private readonly stack: string[] = [];

  constructor(
    private readonly checkout: Checkout,
    private readonly budget: RenderBudget,
    private readonly signal?: AbortSignal,
  ) {}

  /** A folder used as a kustomization root, base, component or resource. */
  async folder(folder: ResolvedPath, where: string): Promise<void> {
    this.signal?.throwIfAborted();
    const key = folder.realRepoPath;
    const onStack = this.stack.indexOf(key);
    if (onStack >= 0) {
      const cycle = [...this.stack.slice(onStack), key].map(displayPath).join(' → ');
      throw new UserError(`${where}: kustomizations form a cycle: ${cycle}`);
    }
    if (this.done.has(key)) return;
    this.record(folder);
    const fileName = await findKustomizationFile(this.checkout, key);
    if (fileName === undefined) {
      throw new UserError(
        `${where}: folder ${quotePath(displayPath(key))} has no kustomization file (${KUSTOMIZATION_FILE_NAMES.join(', ')})`,
      );
    }
    const file = await this.checkout.resolve(fileName);
    this.record(file);
    const text = await readResolvedFile(file, this.budget);
    const documents = parseYamlStream(text, file.realRepoPath, this.yamlLimits());
    const [first] = documents;
    if (documents.length !== 1 || !isMapping(first?.value)) {
      throw new UserError(`${file.realRepoPath}: a kustomization must be a single YAML mapping`);
    }
    this.stack.push(key);
    await this.kustomization(first.value, file.realRepoPath, key);
    this.stack.pop();
    this.done.add(key);
  }

  private async kustomization(k: Json, file: string, dir: string): Promise<void> {
    const at = (field: string): string => `kustomization ${file}: ${field}`;
    for (const field of Object.keys(k)) {
      if (!KNOWN_FIELDS.has(field)) {
        throw new UserError(
          `kustomization ${file}: unknown field ${quotePath(field)} (Capstan only accepts fields whose paths it can check)`,
        );
      }
    }
    for (const field of HELM_FIELDS) {
      if (k[field] !== undefined) {
        throw new UserError(
          `${at(field)}: inflating Helm charts inside kustomize is disabled; render the chart with the helm renderer instead`,
        );
      }
    }

    for (const ref of strings(k.resources, at('resources')))
      await this.fileOrFolder(dir, ref, at('resource'));
    for (const ref of strings(k.bases, at('bases'))) await this.fileOrFolder(dir, ref, at('base'), 'folder');
    for (const ref of strings(k.components, at('components')))
      await this.fileOrFolder(dir, ref, at('component'), 'folder');
    for (const ref of strings(k.crds, at('crds'))) await this.yamlFile(dir, ref, at('crd'));
    for (const ref of strings(k.configurations, at('configurations')))
      await this.yamlFile(dir, ref, at('configuration'));

    for (const entry of strings(k.patchesStrategicMerge, at('patchesStrategicMerge'))) {
      if (!isInline(entry)) await this.yamlFile(dir, entry, at('patchesStrategicMerge'));
    }
    for (const field of ['patches', 'patchesJson6902', 'replacements'] as const) {
      for (const item of mappings(k[field], at(field))) {
        if (item.path !== undefined)
          await this.yamlFile(dir, string(item.path, at(`${field}.path`)), at(`${field}.path`));
      }
    }
    if (k.openapi !== undefined) {
      const openapi = mapping(k.openapi, at('openapi'));
      if (openapi.path !== undefined)
        await this.yamlFile(dir, string(openapi.path, at('openapi.path')), at('openapi.path'));
    }
    for (const field of ['configMapGenerator', 'secretGenerator'] as const) {
      for (const generator of mappings(k[field], at(field)))
        await this.generatorSources(dir, generator, at(field));
    }
    for (const field of ['generators', 'transformers', 'validators'] as const) {
      for (const entry of strings(k[field], at(field))) {
        if (isInline(entry)) {
          const documents = parseYamlStream(entry, `${at(field)} (inline)`, this.yamlLimits());
          for (const document of documents)
            await this.pluginConfig(dir, document.value, `${at(field)} (inline)`);
        } else {
          await this.fileOrFolder(dir, entry, at(field), 'any', true);
        }
      }
    }
  }

  /** `files` (`key=path` or `path`), `envs` and `env` of a configMap or secret generator. */
  private async generatorSources(dir: string, generator: Json, where: string): Promise<void> {
    for (const source of strings(generator.files, `${where}.files`)) {
      const equals = source.indexOf('=');
      await this.dataPath(dir, equals >= 0 ? source.slice(equals + 1) : source, `${where}.files`);
    }
    for (const env of strings(generator.envs, `${where}.envs`))
      await this.dataPath(dir, env, `${where}.envs`);
    if (generator.env !== undefined)
      await this.dataPath(dir, string(generator.env, `${where}.env`), `${where}.env`);
  }

  /** A builtin generator/transformer config: check every path it names; refuse chart inflation. */
  private async pluginConfig(dir: string, config: unknown, where: string): Promise<void> {
    if (!isMapping(config)) return;
    if (config.kind === 'HelmChartInflationGenerator') {
      throw new UserError(
        `${where}: inflating Helm charts inside kustomize is disabled; render the chart with the helm renderer instead`,
      );
    }
    const visit = async (node: unknown): Promise<void> => {
      if (Array.isArray(node)) {
        for (const item of node) await visit(item);
        return;
      }
      if (!isMapping(node)) return;
      for (const [key, value] of Object.entries(node)) {
        if (PLUGIN_PATH_KEYS.has(key) && (typeof value === 'string' || Array.isArray(value))) {
          for (const ref of strings(value, `${where}: ${key}`)) {
            const equals = key === 'files' ? ref.indexOf('=') : -1;
            await this.dataPath(dir, equals >= 0 ? ref.slice(equals + 1) : ref, `${where}: ${key}`);
          }
        } else {
          await visit(value);
        }
      }
    };
    await visit(config);
  }

  /**
   * A `resources`-like entry: a YAML file, or a folder holding a kustomization.
   * `plugins`: the file is a generator/transformer config whose own paths are checked too.
   */
  private async fileOrFolder(
    dir: string,
    ref: string,
    where: string,
    accept: 'any' | 'folder' = 'any',
    plugins = false,
  ): Promise<void> {
    const target = await this.resolveReference(dir, ref, where);
    if (target.stats.isDirectory()) return this.folder(target, `${where} ${quotePath(ref)}`);
    if (accept === 'folder')
      throw new UserError(`${where} ${quotePath(ref)} must be a folder with a kustomization`);
    const documents = await this.readYaml(target, where);
    if (plugins)
      for (const document of documents)
        await this.pluginConfig(dir, document.value, `${where} ${quotePath(ref)}`);
  }

  private async yamlFile(dir: string, ref: string, where: string): Promise<void> {
    await this.readYaml(await this.resolveReference(dir, ref, where), where);
  }

  private async readYaml(target: ResolvedPath, where: string): Promise<ReturnType<typeof parseYamlStream>> {
    assertRegularFile(target, where);
    const text = await readResolvedFile(target, this.budget, where);
    return parseYamlStream(text, target.realRepoPath, this.yamlLimits());
  }

  /** Generator data: any content (not parsed), one file or a folder of files. */
  private async dataPath(dir: string, ref: string, where: string): Promise<void> {
    const target = await this.resolveReference(dir, ref, where);
    if (target.stats.isDirectory()) {
      // kustomize reads every file directly in the folder: each must be inside the checkout too.
      let names: string[];
      try {
        names = (await readdir(target.absolutePath)).sort();
      } catch (error) {
        throw new UserError(`${where}: ${quotePath(ref)} cannot be listed (${codeOf(error)})`, {
          cause: error,
        });
      }
      this.budget.chargeEntries(target.realRepoPath, names.length);
      for (const name of names) {
        const entry = await this.checkout.resolve(`${target.realRepoPath}/${name}`, where);
        this.record(entry);
        if (entry.stats.isFile()) this.budget.chargeFile(entry.realRepoPath, entry.stats.size);
      }
      return;
    }
    assertRegularFile(target, where);
    // Charged by size without reading: kustomize reads it, we only need it bounded and confined.
    this.budget.chargeFile(target.realRepoPath, target.stats.size);
  }

  private async resolveReference(dir: string, ref: string, where: string): Promise<ResolvedPath> {
    this.signal?.throwIfAborted();
    if (looksRemote(ref)) {
      throw new UserError(
        `${where} ${quotePath(ref)} is a remote reference; Capstan renders only what is in the repository (vendor it instead)`,
      );
    }
    const repoPath = this.checkout.join(dir, ref, where);
    const target = await this.checkout.resolve(repoPath, where);
    this.record(target);
    return target;
  }

  private record(resolved: ResolvedPath): void {
    for (const link of resolved.symlinks) this.inputs.add(link);
    this.inputs.add(resolved.realRepoPath);
  }

  private yamlLimits(): { maxAliasCount: number; maxDepth: number; maxDocuments: number } {
    const { maxAliasCount, maxDepth, maxDocuments } = this.budget.limits;
    return { maxAliasCount, maxDepth, maxDocuments: 2 * maxDocuments + 1 };
  }
}

/** An inline patch or config (a YAML body) rather than a path: kustomize tells them apart the same way. */
function isInline(entry: string): boolean {
  return entry.includes('\n') || /^\s*\{/.test(entry);
}

function isMapping(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function mapping(value: unknown, where: string): Json {
  if (!isMapping(value)) throw new UserError(`${where} must be a mapping`);
  return value;
}

function string(value: unknown, where: string): string {
  if (typeof value !== 'string') throw new UserError(`${where} must be a string`);
  return value;
}

function strings(value: unknown, where: string): string[] {
  if (value === undefined || value === null) return [];
  if (typeof value === 'string') return [value];
  if (!Array.isArray(value)) throw new UserError(`${where} must be a list of strings`);
  return value.map((item, i) => string(item, `${where}[${i}]`));
}

function mappings(value: unknown, where: string): Json[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new UserError(`${where} must be a list`);
  return value.map((item, i) => mapping(item, `${where}[${i}]`));
}
