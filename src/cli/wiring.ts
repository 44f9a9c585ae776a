/**
 * The parts every front end assembles the same way: cache folders, the Git source, the render
 * cache, and an engine on a given Kubernetes client.
 */
import { join } from 'node:path';
import { ConfigMapInventoryStore } from '../apply/index.js';
import { ensureTools, type ToolPaths } from '../dev/tools.js';

/** Git caches, checkouts: beside the built tools (`$CAPSTAN_CACHE_DIR`, default ~/.cache/capstan). */
export { defaultCacheDir as capstanCacheDir } from '../dev/tools.js';
import { createCheckouts } from '../engine/checkouts.js';
import { createEngine, type Engine } from '../engine/sync.js';
import type { ControllerOptions } from '../controller/controller.js';
import type { KubeClient } from '../kube/index.js';
import type { CapstanMetrics } from '../server/index.js';
import {
  cachedRenderer,
  createRenderer,
  DEFAULT_RENDER_LIMITS,
  RenderCache,
  type CachedRenderer,
} from '../render/index.js';
import { createRenderAt, type RenderAt } from '../review/index.js';
import { createGitSource, type GitSource } from '../source/index.js';
import { createArtifactSource, DEFAULT_UNPACK_LIMITS, routeSources } from '../source/artifacts/index.js';

export interface EngineParts {
  readonly git: GitSource;
  readonly renderer: CachedRenderer;
  readonly tools: Pick<ToolPaths, 'helm' | 'kustomize'>;
  /** Renders an app at a commit with the engines' checkouts and render cache (plans of changes). */
  readonly renderAt: RenderAt;
  /** An engine acting through `kube` (the controller's client, or one impersonating a ServiceAccount). */
  engineOn(kube: KubeClient, inventoryKube?: KubeClient): Engine;
}

export async function engineParts(options: {
  stateDir: string;
  allowFileUrls: boolean;
  /** Let Helm and OCI repositories use link-local and metadata addresses (an operator's switch). */
  allowPrivateSourceAddresses?: boolean;
  progress?: (line: string) => void;
}): Promise<EngineParts> {
  // An image ships helm and kustomize (CAPSTAN_HELM, CAPSTAN_KUSTOMIZE); a clone builds them once.
  const tools =
    process.env.CAPSTAN_HELM && process.env.CAPSTAN_KUSTOMIZE
      ? { helm: process.env.CAPSTAN_HELM, kustomize: process.env.CAPSTAN_KUSTOMIZE }
      : await ensureTools({ progress: options.progress ?? (() => {}), only: ['helm', 'kustomize'] });
  // Git repositories, and Helm and OCI repositories (source/artifacts), behind one source stage.
  const git = routeSources(
    createGitSource({
      cacheDir: join(options.stateDir, 'git'),
      allowFileUrls: options.allowFileUrls,
      // What the renderer would refuse by size is never written (a sparse stand-in is).
      maxCheckoutFileBytes: DEFAULT_RENDER_LIMITS.maxFileBytes,
    }),
    createArtifactSource({
      cacheDir: options.stateDir,
      unpackLimits: { ...DEFAULT_UNPACK_LIMITS, maxFileBytes: DEFAULT_RENDER_LIMITS.maxFileBytes },
      allowPrivateAddresses: options.allowPrivateSourceAddresses ?? false,
    }),
  );
  const renderer = cachedRenderer(
    createRenderer({ tools: { helm: tools.helm, kustomize: tools.kustomize } }),
    new RenderCache(),
  );
  const workDir = join(options.stateDir, 'work');
  const checkouts = createCheckouts(git, workDir);
  const toolVersions = { helm: tools.helm, kustomize: tools.kustomize };
  return {
    git,
    renderer,
    tools,
    renderAt: createRenderAt({ checkouts, renderer, toolVersions }),
    engineOn: (kube, inventoryKube = kube) =>
      createEngine({
        checkouts,
        kube,
        git,
        renderer,
        inventory: new ConfigMapInventoryStore(inventoryKube),
        workDir,
        toolVersions,
      }),
  };
}

/** The controller's observations, recorded as Prometheus metrics. */
export function metricsHooks(metrics: CapstanMetrics): NonNullable<ControllerOptions['hooks']> {
  return {
    onReconcile: (kind, seconds, ok) => metrics.observeReconcile(kind, ok ? 'success' : 'failure', seconds),
    onSynced: (_app, result) => {
      for (const object of result.objects) metrics.countSyncResult(object.action);
      metrics.countSync(result.failed ? 'failed' : 'succeeded');
    },
    onHealth: (app, health, ready) =>
      metrics.setAppHealth(app.metadata.namespace, app.metadata.name, ready, health),
    // Its apply was counted as it happened; the rollout's failure is a failed sync of its own.
    onRolloutFailed: () => metrics.countSync('failed'),
    onFetch: (repository, seconds, error) =>
      metrics.observeGitFetch(String(repository.spec.url), seconds, error === undefined),
    onQueueDepth: (depth) => metrics.setQueueDepth(depth),
    onAppDeleted: (namespace, name) => metrics.forgetApp(namespace, name),
  };
}
