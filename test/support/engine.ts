/**
 * An engine wired to the shared control plane and a real Git repository, with counters tests use
 * to prove what a sync did (renders run, API writes made).
 */
import { join } from 'node:path';
import { inject } from 'vitest';
import { ConfigMapInventoryStore } from '../../src/apply/index.js';
import type { AppSpec } from '../../src/engine/app.js';
import { createEngine, type Engine, type SyncEvent, type SyncResult } from '../../src/engine/sync.js';
import { createKubeClient, type KubeClient } from '../../src/kube/index.js';
import { cachedRenderer, createRenderer, RenderCache, type CachedRenderer } from '../../src/render/index.js';
import { createGitSource } from '../../src/source/index.js';
import { makeTempDir } from './git-servers.js';

export interface TestEngine {
  readonly engine: Engine;
  readonly kube: KubeClient;
  readonly renderer: CachedRenderer;
  /** Every sync's events, in order. */
  readonly events: SyncEvent[];
  sync(app: AppSpec, mode?: 'diff' | 'apply'): Promise<SyncResult>;
  close(): void;
}

export async function createTestEngine(): Promise<TestEngine> {
  const tools = inject('tools');
  const dir = await makeTempDir('engine');
  const kube = await createKubeClient({ kubeconfig: inject('kubeconfig') });
  const renderer = cachedRenderer(
    createRenderer({ tools: { helm: tools.helm!, kustomize: tools.kustomize! } }),
    new RenderCache(),
  );
  const engine = createEngine({
    kube,
    git: createGitSource({ cacheDir: join(dir, 'git'), allowFileUrls: true }),
    renderer,
    inventory: new ConfigMapInventoryStore(kube),
    workDir: join(dir, 'work'),
  });
  const events: SyncEvent[] = [];
  return {
    engine,
    kube,
    renderer,
    events,
    sync: (app, mode = 'apply') => engine.sync(app, { mode, onEvent: (e) => events.push(e) }),
    close: () => kube.close(),
  };
}

/** An app syncing `path` of the repository at `url` into `namespace`, pruning, not waiting. */
export function gitApp(
  url: string,
  namespace: string,
  path: string,
  overrides: Partial<AppSpec> = {},
): AppSpec {
  return {
    identity: { namespace, name: path.replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'root' },
    source: { type: 'git', repository: { url }, ref: 'main', path },
    destinationNamespace: namespace,
    prune: true,
    health: { wait: false, timeoutSeconds: 60 },
    ...overrides,
  };
}

export function actions(result: SyncResult): Record<string, string> {
  return Object.fromEntries(result.objects.map((o) => [`${o.ref.kind}/${o.ref.name}`, o.action]));
}

export function configMap(
  name: string,
  data: Record<string, string>,
  annotations: Record<string, string> = {},
): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, annotations }, data });
}
