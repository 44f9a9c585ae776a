/**
 * Plain manifests: every `*.yaml`, `*.yml` and `*.json` under the app folder (recursively by
 * default), multi-document, in a deterministic order (a depth-first walk, entries sorted by name,
 * like Go's filepath.Walk). Entries whose name starts with a dot (`.git`, `.github`, editor files)
 * are skipped: they are never Kubernetes manifests and often are not YAML we want.
 */
import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import type { KubeObject } from '../core/objects.js';
import { UserError } from '../core/errors.js';
import { readResolvedFile } from './files.js';
import type { RenderLimits } from './limits.js';
import { RenderBudget, resolveLimits } from './limits.js';
import { parseManifests } from './manifests.js';
import type { ResolvedPath } from './paths.js';
import { Checkout, codeOf, compactInputs, displayPath, normaliseAppPath, quotePath } from './paths.js';
import type { PlainRenderOptions, RenderResult, Renderer, RenderRequest } from './types.js';

const MANIFEST_FILE = /\.(ya?ml|json)$/i;

export interface PlainRendererOptions {
  readonly limits?: Partial<RenderLimits>;
}

export function createPlainRenderer(options: PlainRendererOptions = {}): Renderer {
  const limits = resolveLimits(options.limits);
  return {
    async render(request: RenderRequest): Promise<RenderResult> {
      const checkout = await Checkout.open(request.checkoutDir);
      const appPath = normaliseAppPath(request.appPath);
      const rendered = await renderPlain(
        checkout,
        appPath,
        request.options?.plain ?? {},
        new RenderBudget(limits),
        request.signal,
      );
      return { kind: 'plain', ...rendered };
    },
  };
}

export interface RenderedParts {
  readonly objects: KubeObject[];
  readonly inputs: readonly string[];
}

/** The plain render of `appPath` (already normalised) inside an open checkout. */
export async function renderPlain(
  checkout: Checkout,
  appPath: string,
  options: PlainRenderOptions,
  budget: RenderBudget,
  signal?: AbortSignal,
): Promise<RenderedParts> {
  const recurse = options.recurse ?? true;
  const inputs = new Set<string>();
  const objects: KubeObject[] = [];
  const visitedFolders = new Set<string>();

  const record = (resolved: ResolvedPath): void => {
    for (const link of resolved.symlinks) inputs.add(link);
    inputs.add(resolved.realRepoPath);
  };

  const readManifest = async (resolved: ResolvedPath): Promise<void> => {
    signal?.throwIfAborted();
    const text = await readResolvedFile(resolved, budget);
    objects.push(...(await parseManifests(text, resolved.realRepoPath, budget)));
  };

  const walk = async (folder: ResolvedPath): Promise<void> => {
    if (visitedFolders.has(folder.realRepoPath)) return; // a symlink back up, or two links to one folder
    visitedFolders.add(folder.realRepoPath);
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
      if (entry.name.startsWith('.')) continue;
      const childPath = folder.realRepoPath === '' ? entry.name : `${folder.realRepoPath}/${entry.name}`;
      const isManifest = MANIFEST_FILE.test(entry.name);
      if (entry.isSymbolicLink()) {
        // Every symlink is checked, manifest or not: one leaving the checkout is refused outright.
        const target = await checkout.resolve(childPath);
        record(target);
        if (target.stats.isDirectory()) {
          if (recurse) await walk(target);
        } else if (isManifest) {
          await readManifest(target);
        }
      } else if (entry.isDirectory()) {
        if (recurse) await walk(await checkout.resolve(childPath));
      } else if (isManifest) {
        // Regular files, and FIFOs or sockets named like manifests (refused by the reader, not read).
        await readManifest(await checkout.resolve(childPath));
      }
    }
  };

  const app = await checkout.resolve(appPath, 'app path');
  record(app);
  if (app.stats.isDirectory()) await walk(app);
  else if (app.stats.isFile() && MANIFEST_FILE.test(app.realRepoPath)) await readManifest(app);
  else
    throw new UserError(
      `app path ${quotePath(displayPath(appPath))} is neither a folder nor a manifest file`,
    );
  return { objects, inputs: compactInputs(inputs) };
}
