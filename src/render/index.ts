/** The render stage: a checkout and an app path in, Kubernetes objects and the paths read out. */
export { createRenderer, detectRenderKind } from './renderer.js';
export type { RendererOptions } from './renderer.js';
export { createPlainRenderer } from './plain.js';
export type { PlainRendererOptions } from './plain.js';
export { createKustomizeRenderer } from './kustomize.js';
export type { KustomizeRendererOptions } from './kustomize.js';
export { looksRemote, KUSTOMIZATION_FILE_NAMES } from './kustomize-scan.js';
export { createHelmRenderer } from './helm.js';
export type { HelmRendererOptions } from './helm.js';
export { RenderCache, cachedRenderer, renderCacheKey, stableStringify } from './cache.js';
export type {
  CachedRenderer,
  CachedRendererOptions,
  CachedRendererStats,
  RenderCacheOptions,
  RenderCacheStats,
  RenderEvent,
} from './cache.js';
export { DEFAULT_RENDER_LIMITS, RenderBudget, resolveLimits } from './limits.js';
export type { RenderLimits } from './limits.js';
export { Checkout, compactInputs, normaliseAppPath } from './paths.js';
export type { ResolvedPath } from './paths.js';
export { parseYamlStream } from './yaml.js';
export type { YamlDocument, YamlLimits } from './yaml.js';
export { parseManifests } from './manifests.js';
export type {
  HelmRenderOptions,
  PlainRenderOptions,
  RenderKind,
  RenderLogger,
  RenderOptions,
  RenderRequest,
  RenderResult,
  Renderer,
} from './types.js';
