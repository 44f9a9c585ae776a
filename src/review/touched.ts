/**
 * Whether a change touches an app: whether the app renders to other objects at head than at base.
 *
 * Why this is both correct and cheap: a render is a deterministic function of the repository paths
 * it read (`RenderResult.inputs`), its options and the tool versions (render/cache.ts). So render the
 * app once at base; when no file the change touched lies inside those inputs, the render at head
 * would read the same bytes and produce the same objects — no render at head, no dry-run. A change
 * to a `../base` a kustomization pulls is a change inside its inputs, so that app is in. Only when an
 * input changed is the app rendered at head, and it is left out still when the objects come out
 * equal (a comment in a YAML file).
 *
 * Renders are cached by commit (a commit's content never changes), in the engine's render cache
 * when the caller shares it: a pull request's next push renders base from the cache.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Checkouts } from '../engine/checkouts.js';
import { renderCacheKey, type RenderOptions, type RenderResult, type Renderer } from '../render/index.js';
import { normaliseTreePath, type GitSource, type Repository as GitRepository } from '../source/index.js';

/** What an app renders to at a commit (the engine's renderer and checkouts, no cluster access). */
export type RenderAt = (request: {
  readonly repository: GitRepository;
  readonly sha: string;
  readonly path: string;
  readonly options?: RenderOptions | undefined;
  readonly signal?: AbortSignal | undefined;
}) => Promise<RenderResult>;

export function createRenderAt(deps: {
  readonly checkouts: Checkouts;
  /** Best a `cachedRenderer` shared with the engines, so plans and syncs warm one cache. */
  readonly renderer: Renderer;
  /** Versions of helm and kustomize: part of every key (as in the engine). */
  readonly toolVersions?: Readonly<Record<string, string>>;
}): RenderAt {
  return async ({ repository, sha, path, options, signal }) =>
    deps.renderer.render({
      checkoutDir: await deps.checkouts.of(repository, sha),
      appPath: path,
      ...(options ? { options } : {}),
      cacheKey: renderCacheKey({ repository: repository.url, commit: sha, tools: deps.toolVersions ?? {} }),
      ...(signal ? { signal } : {}),
    });
}

export type Touch =
  | { readonly touched: false }
  | { readonly touched: true }
  /** The app does not render at head: the change breaks it. */
  | { readonly touched: true; readonly renderError: unknown };

export async function touchOf(
  deps: { readonly git: Pick<GitSource, 'changedPaths' | 'treeId'>; readonly renderAt: RenderAt },
  request: {
    readonly repository: GitRepository;
    readonly base: string;
    readonly head: string;
    readonly path: string;
    readonly options?: RenderOptions | undefined;
    readonly signal?: AbortSignal | undefined;
  },
): Promise<Touch> {
  const { base, head, ...app } = request;
  if (base === head) return { touched: false };
  // A render that fails at base (the branch is broken already) tells nothing: judge by head alone.
  const atBase = await deps.renderAt({ ...app, sha: base }).catch(() => undefined);
  if (atBase && !(await inputsChanged(deps.git, request.repository, base, head, atBase.inputs)))
    return { touched: false };
  let atHead: RenderResult;
  try {
    atHead = await deps.renderAt({ ...app, sha: head });
  } catch (error) {
    if (request.signal?.aborted) throw error;
    return { touched: true, renderError: error };
  }
  return atBase && isDeepStrictEqual(atBase.objects, atHead.objects) ? { touched: false } : { touched: true };
}

/**
 * Whether a file inside `inputs` differs between the commits: by the changed paths when Git can list
 * them cheaply, else by the tree id of each input at both.
 */
async function inputsChanged(
  git: Pick<GitSource, 'changedPaths' | 'treeId'>,
  repository: GitRepository,
  base: string,
  head: string,
  inputs: readonly string[],
): Promise<boolean> {
  const roots = inputs.map(normaliseTreePath);
  const changed = await git.changedPaths(repository, base, head);
  if (changed !== undefined)
    return changed.some((file) =>
      roots.some((root) => root === '' || file === root || file.startsWith(`${root}/`)),
    );
  for (const root of roots) {
    const before = await git.treeId(repository, base, root);
    const after = await git.treeId(repository, head, root).catch(() => undefined);
    if (before !== after) return true;
  }
  return false;
}
