/**
 * Plain manifests: every `*.yaml`, `*.yml` and `*.json` under the app folder (recursively by
 * default), multi-document, in a deterministic order (a depth-first walk, entries sorted by name,
 * like Go's filepath.Walk). Entries whose name starts with a dot (`.git`, `.github`, editor files)
 * are skipped: they are never Kubernetes manifests and often are not YAML we want.
 */
import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import pLimit from 'p-limit';
import type { KubeObject } from '../core/objects.js';
import { UserError } from '../core/errors.js';
import { chargeForReading, readChargedFile } from './files.js';
import type { RenderLimits } from './limits.js';
import { RenderBudget, resolveLimits } from './limits.js';
import { parseManifests } from './manifests.js';
import type { ResolvedPath } from './paths.js';
import { Checkout, codeOf, compactInputs, displayPath, normaliseAppPath, quotePath } from './paths.js';
import type { PlainRenderOptions, RenderResult, Renderer, RenderRequest } from './types.js';

const MANIFEST_FILE = /\.(ya?ml|json)$/i;

/**
 * File-system calls in flight at once. Reading one small file is a handful of calls, each a round
 * trip to libuv's thread pool; one file after the other, 100 files took ~100 ms, mostly waiting.
 */
const IO_IN_FLIGHT = 8;

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
  const visitedFolders = new Set<string>();
  const io = pLimit(IO_IN_FLIGHT);
  /** Manifests in walk order; regular files are resolved in the background while the walk goes on. */
  const manifests: Promise<ResolvedPath>[] = [];

  const record = (resolved: ResolvedPath): void => {
    for (const link of resolved.symlinks) inputs.add(link);
    inputs.add(resolved.realRepoPath);
  };

  const readManifest = (resolved: ResolvedPath | (() => Promise<ResolvedPath>)): void => {
    const pending = typeof resolved === 'function' ? io(resolved) : Promise.resolve(resolved);
    pending.catch(() => undefined); // taken in walk order below, never an unhandled rejection
    manifests.push(pending);
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
          readManifest(target);
        }
      } else if (entry.isDirectory()) {
        if (recurse) await walk(await checkout.resolve(childPath));
      } else if (isManifest) {
        // Regular files, and FIFOs or sockets named like manifests (refused by the reader, not read).
        readManifest(() => checkout.resolve(childPath));
      }
    }
  };

  const app = await checkout.resolve(appPath, 'app path');
  record(app);
  try {
    if (app.stats.isDirectory()) await walk(app);
    else if (app.stats.isFile() && MANIFEST_FILE.test(app.realRepoPath)) readManifest(app);
    else
      throw new UserError(
        `app path ${quotePath(displayPath(appPath))} is neither a folder nor a manifest file`,
      );
  } finally {
    // Nothing may still run once the render has returned, whatever happened.
    await Promise.allSettled(manifests);
  }

  // Every check and every budget charge happens in walk order, so the same repository always gets
  // the same error, and before anything is read: only the reads themselves overlap.
  const files: ResolvedPath[] = [];
  for (const manifest of manifests) {
    const resolved = await manifest;
    chargeForReading(resolved, budget);
    files.push(resolved);
  }
  const texts = files.map((file) =>
    io(() => {
      signal?.throwIfAborted();
      return readChargedFile(file, budget.limits);
    }),
  );
  for (const text of texts) text.catch(() => undefined);
  try {
    const objects: KubeObject[] = [];
    for (const [i, file] of files.entries()) {
      objects.push(...(await parseManifests(await texts[i]!, file.realRepoPath, budget)));
    }
    return { objects, inputs: compactInputs(inputs) };
  } finally {
    await Promise.allSettled(texts);
  }
}
