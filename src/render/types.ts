/**
 * The render stage's vocabulary: a checkout and an app path in, Kubernetes objects and the
 * repository paths the render depended on out.
 */
import type { KubeObject } from '../core/objects.js';

export type RenderKind = 'plain' | 'kustomize' | 'helm';

export interface HelmRenderOptions {
  /** `helm template <release>`; default: the last folder name of the app path. */
  readonly releaseName?: string;
  /** `.Release.Namespace` (`--namespace`); default `default`. Objects are not namespaced by it. */
  readonly namespace?: string;
  /**
   * Values files, relative to the chart folder like Argo CD's `valueFiles` (`../shared/values.yaml`
   * is fine as long as it stays inside the repository), applied in order.
   */
  readonly valueFiles?: readonly string[];
  /** Inline values, applied after the files (they win). Must be JSON data. */
  readonly values?: Readonly<Record<string, unknown>>;
  /** Render the chart's `crds/` folder too (`--include-crds`); default true. */
  readonly includeCrds?: boolean;
  /** `--kube-version`, for charts that check `.Capabilities.KubeVersion`. */
  readonly kubeVersion?: string;
  /** `--api-versions`, for charts that check `.Capabilities.APIVersions`. */
  readonly apiVersions?: readonly string[];
  /** `--skip-tests`: leave out `helm.sh/hook: test` objects; default false. */
  readonly skipTests?: boolean;
}

export interface PlainRenderOptions {
  /** Walk subfolders too; default true. */
  readonly recurse?: boolean;
}

export interface RenderOptions {
  /**
   * How to render; `auto` (the default) picks helm when the app folder has a `Chart.yaml`,
   * kustomize when it has a kustomization file, plain manifests otherwise.
   */
  readonly kind?: RenderKind | 'auto';
  readonly helm?: HelmRenderOptions;
  readonly plain?: PlainRenderOptions;
}

export interface RenderRequest {
  /** Absolute path of the checkout: the repository root, already on disk. */
  readonly checkoutDir: string;
  /** The app's folder inside the repository, relative (`''` or `.` for the root). */
  readonly appPath: string;
  readonly options?: RenderOptions;
  /**
   * For `cachedRenderer` only (renderers ignore it): what the caller knows makes this render unique,
   * typically the Git tree ids of the inputs of the previous render of this app plus tool versions.
   * See `cache.ts` for how to derive it. Without it the render is not cached.
   */
  readonly cacheKey?: string;
  /** Stops the render (and kills a running tool). */
  readonly signal?: AbortSignal;
}

export interface RenderResult {
  /** The renderer that actually ran (after `auto` detection). */
  readonly kind: RenderKind;
  /** In a deterministic order: files sorted by path for plain, the tool's order otherwise. */
  readonly objects: KubeObject[];
  /**
   * Repository paths the render read (folders and files, symlinks included), compacted so no
   * entry sits under another, sorted. Their Git tree ids, together with the options and tool
   * versions, determine the render completely.
   */
  readonly inputs: readonly string[];
}

/** One way of turning a folder of a checkout into objects. Implementations never print. */
export interface Renderer {
  render(request: RenderRequest): Promise<RenderResult>;
}

/** Structured debug logging (a pino logger fits); optional everywhere. */
export interface RenderLogger {
  debug(fields: Record<string, unknown>, message: string): void;
}
