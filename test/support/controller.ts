/**
 * A Capstan controller running in the test process against the shared control plane, with its CRDs
 * installed, and helpers to create Repositories and Applications and wait for their status.
 */
import { inject } from 'vitest';
import { crds } from '../../src/api/crds.js';
import { API_VERSION, type Application, type Repository } from '../../src/api/v1alpha1.js';
import { engineParts } from '../../src/cli/wiring.js';
import { Controller, type ControllerLog, type ControllerOptions } from '../../src/controller/controller.js';
import { installSingleTeamApplier, SINGLE_TEAM_APPLIER } from '../../src/dev/single-team.js';
import { createKubeClient, type KubeClient } from '../../src/kube/index.js';
import { freshNamespace, kubectlOk } from './cluster.js';
import {
  createTestRepo,
  makeTempDir,
  startGitHttpServer,
  type GitHttpServer,
  type TestRepo,
} from './git-servers.js';
import { sleep } from '../../src/core/time.js';

export interface TestController {
  readonly controller: Controller;
  readonly kube: KubeClient;
  stop(): Promise<void>;
}

export async function installCrds(kube: KubeClient): Promise<void> {
  for (const crd of crds()) await kube.apply(crd, { force: true });
  await kubectlOk([
    'wait',
    '--for=condition=Established',
    'crd/applications.capstan.dev',
    'crd/repositories.capstan.dev',
    'crd/accesspolicies.capstan.dev',
    'crd/notifications.capstan.dev',
    'crd/applicationgenerators.capstan.dev',
    'crd/imagepolicies.capstan.dev',
    '--timeout=60s',
  ]);
  await kube.mapper.refresh();
  // Applications that name no ServiceAccount run as the single-team applier (see startTestController).
  await installSingleTeamApplier(kube);
}

/**
 * Applications and Repositories labelled so are left to a controller of their own namespace: the
 * cluster-wide controllers of other test files running at the same time do not see them.
 */
export const ISOLATED_LABEL = 'capstan.dev/test-isolated';

export async function startTestController(
  options: {
    namespace?: string;
    resyncMs?: number;
    hooks?: ControllerOptions['hooks'];
    /** ImagePolicy options (a shorter reconcile deadline, Git options). */
    images?: ControllerOptions['images'];
    /** Where the controller logs (default: nowhere, or the console with CAPSTAN_TEST_LOG set). */
    log?: ControllerLog;
  } = {},
): Promise<TestController> {
  const kube = await createKubeClient({ kubeconfig: inject('kubeconfig') });
  await installCrds(kube);
  const stateDir = await makeTempDir('controller');
  const parts = await engineParts({ stateDir, allowFileUrls: true });
  const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
  const controller = new Controller({
    kube,
    git: parts.git,
    createEngine: (client) => parts.engineOn(client, kube),
    renderAt: parts.renderAt,
    tenancy: { defaultServiceAccount: SINGLE_TEAM_APPLIER },
    concurrency: 4,
    resyncMs: options.resyncMs ?? 60_000,
    ...(options.namespace ? { namespace: options.namespace } : { labelSelector: `!${ISOLATED_LABEL}` }),
    ...(options.hooks ? { hooks: options.hooks } : {}),
    ...(options.images ? { images: options.images } : {}),
    log:
      options.log ??
      (process.env.CAPSTAN_TEST_LOG
        ? { debug: logTo('debug'), info: logTo('info'), warn: logTo('warn'), error: logTo('error') }
        : quiet),
  });
  const abort = new AbortController();
  const running = controller.run(abort.signal);
  running.catch(() => {});
  return {
    controller,
    kube,
    stop: async () => {
      abort.abort();
      await running;
      kube.close();
    },
  };
}

function logTo(level: string) {
  return (fields: Record<string, unknown>, message: string) =>
    console.log(`[controller ${level}] ${message} ${JSON.stringify(fields)}`);
}

/** `object`, labelled for its namespace's own controller only (see ISOLATED_LABEL). */
export function isolated<T extends Application | Repository>(object: T): T {
  return {
    ...object,
    metadata: { ...object.metadata, labels: { ...object.metadata.labels, [ISOLATED_LABEL]: 'true' } },
  };
}

export function repository(namespace: string, name: string, spec: Repository['spec']): Repository {
  return { apiVersion: API_VERSION, kind: 'Repository', metadata: { name, namespace }, spec };
}

export function application(namespace: string, name: string, spec: Application['spec']): Application {
  return { apiVersion: API_VERSION, kind: 'Application', metadata: { name, namespace }, spec };
}

/** Waits (bounded) until `check` returns a value; the last error or value explains a timeout. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`,
      );
    await sleep(200);
  }
}

export async function getApp(kube: KubeClient, namespace: string, name: string): Promise<Application> {
  const app = await kube.get<Application>({ group: 'capstan.dev', kind: 'Application', namespace, name });
  if (!app) throw new Error(`Application ${namespace}/${name} not found`);
  return app;
}

export function condition(
  object: Application | Repository | undefined,
  type: string,
): { status: string; reason: string; message: string } | undefined {
  return object?.status?.conditions?.find((c) => c.type === type);
}

/** A namespace, a Git repository (served over HTTP) holding `files`, and a Repository `apps` polling it. */
export interface GitFixture {
  readonly namespace: string;
  readonly repo: TestRepo;
  readonly server: GitHttpServer;
  /** `http://127.0.0.1:<port>/apps.git` */
  readonly url: string;
}

export async function gitFixture(
  kube: KubeClient,
  files: Record<string, string>,
  options: { interval?: string; prefix?: string } = {},
): Promise<GitFixture> {
  const namespace = await freshNamespace(options.prefix ?? 'op');
  const root = await makeTempDir('git-root');
  const repo = await createTestRepo(root, 'apps');
  await repo.commit(files);
  const server = await startGitHttpServer({ root });
  const url = server.url('apps');
  await kube.apply(repository(namespace, 'apps', { url, interval: options.interval ?? '1s' }));
  return { namespace, repo, server, url };
}

/** An Application on the fixture's Repository `apps`, ref main, with a short health timeout. */
export async function createApp(
  kube: KubeClient,
  namespace: string,
  name: string,
  spec: Partial<Application['spec']> & { path: string },
  options: { isolated?: boolean } = {},
): Promise<void> {
  const app = application(namespace, name, {
    sourceRef: { name: 'apps' },
    ref: 'main',
    healthTimeout: '60s',
    ...spec,
  });
  await kube.apply(options.isolated ? isolated(app) : app);
}

/** Waits until the Application is Ready with `sha` applied. */
export function readyAt(
  kube: KubeClient,
  namespace: string,
  name: string,
  sha: string,
  timeoutMs = 60_000,
): Promise<Application> {
  return eventually(
    `${name} Ready at ${sha.slice(0, 8)}`,
    async () => {
      const app = await getApp(kube, namespace, name);
      const ready = condition(app, 'Ready');
      if (ready?.status === 'True' && app.status?.lastAppliedRevision?.sha === sha) return app;
      // Said when the wait times out: what the Application reports instead.
      throw new Error(
        `Ready ${ready?.status}: ${ready?.message} (at ${app.status?.lastAppliedRevision?.sha})`,
      );
    },
    timeoutMs,
  );
}
