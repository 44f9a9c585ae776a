/**
 * The demo: a local control plane, a Git server over HTTP holding an example repository (branches
 * `staging` and `production` as environments), and the controller, wired together the way a real
 * installation is — the Git server announces pushes with a signed webhook.
 */
import { execFile } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { crds } from '../api/crds.js';
import { API_VERSION } from '../api/v1alpha1.js';
import type { EngineParts } from '../cli/wiring.js';
import { Controller, type ControllerLog, type ControllerOptions } from '../controller/controller.js';
import { createKubeClient } from '../kube/index.js';
import { CapstanMetrics, createServer } from '../server/index.js';
import { pushLocalImage } from './buildah.js';
import { startControlPlane, freePort, type ControlPlane } from './controlplane.js';
import { environmentViewerBinding, startDemoDashboard } from './demo-dashboard.js';
import { startGitHttpServer } from './git-http-server.js';
import { buildDemoAppImage } from './image.js';
import { pushImage, startRegistry } from './registry.js';
import { installSingleTeamApplier, SINGLE_TEAM_APPLIER } from './single-team.js';
import { ensureTools } from './tools.js';

const run = promisify(execFile);
const NAMESPACE = 'capstan-demo';

export interface Demo {
  readonly controlPlane: ControlPlane;
  readonly repositoryUrl: string;
  readonly metricsUrl: string;
  /** The dashboard, and the token its demo user logs in with. */
  readonly dashboard: { readonly url: string; readonly token: string };
  /** The demo's image registry (plain http, notifications to Capstan) and crane to publish with. */
  readonly registry: { readonly host: string; readonly crane: string; readonly image: string };
  /** Whether the apps' Pods run on a real kubelet node (else kwok's fake one). */
  readonly realNode: boolean;
  stop(): Promise<void>;
}

export async function startDemo(options: {
  progress: (line: string) => void;
  log: ControllerLog;
  engineParts: (stateDir: string) => Promise<EngineParts>;
  metricsHooks: (metrics: CapstanMetrics) => ControllerOptions['hooks'];
  /** Run the apps' Pods on a real kubelet + containerd node (real images, probes and crashes) instead of kwok's. */
  realNode?: boolean;
}): Promise<Demo> {
  const { progress } = options;
  const realNode = options.realNode ?? false;
  const tools = await ensureTools({ progress });
  const cleanups: (() => Promise<unknown>)[] = [];
  const stop = async (): Promise<void> => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  };
  try {
    const workDir = await mkdtemp(join(tmpdir(), 'capstan-demo-'));
    cleanups.push(() => rm(workDir, { recursive: true, force: true }));
    const secret = randomBytes(24).toString('hex');
    const httpPort = await freePort();
    // The registry first: a real node's containerd pulls the apps' images (and its pause image) from it.
    progress('starting the image registry (CNCF distribution; it notifies Capstan of every push)');
    const registry = await startRegistry({
      tools,
      notifications: {
        url: `http://127.0.0.1:${httpPort}/hooks/registry`,
        headers: { authorization: `Bearer ${secret}` },
      },
    });
    cleanups.push(() => registry.stop());
    const controlPlane = await startControlPlane({
      workloads: true,
      tools,
      progress,
      handleSignals: false,
      ...(realNode ? { realNode: { registry: registry.host } } : {}),
    });
    cleanups.push(() => controlPlane.stop());
    const crane = tools.crane;
    const images = await publishDemoImages(registry.host, crane, realNode, progress);

    progress('creating the example repository (branches staging and production)');
    const gitRoot = join(workDir, 'git');
    await createExampleRepository(gitRoot, join(workDir, 'seed'), images, realNode);

    const kube = await createKubeClient({ kubeconfig: controlPlane.kubeconfig });
    cleanups.push(async () => kube.close());
    for (const crd of crds()) await kube.apply(crd, { force: true });
    for (const kind of ['Repository', 'Application'])
      await kube.mapper.waitForMapping('capstan.dev', kind, { timeoutMs: 60_000 });

    // One team here: Applications that name no ServiceAccount run as the single-team applier.
    await installSingleTeamApplier(kube);
    const parts = await options.engineParts(join(workDir, 'state'));
    const metrics = new CapstanMetrics();
    const controller = new Controller({
      kube,
      git: parts.git,
      createEngine: (client) => parts.engineOn(client, kube),
      tenancy: { defaultServiceAccount: SINGLE_TEAM_APPLIER },
      log: options.log,
      resyncMs: 5 * 60_000,
      hooks: options.metricsHooks(metrics),
    });
    const abort = new AbortController();
    const running = controller.run(abort.signal);
    cleanups.push(async () => {
      abort.abort();
      await running;
    });

    const server = createServer({
      metrics,
      isReady: () => controller.isReady(),
      webhookSecrets: { generic: secret, registry: secret },
      onPush: (event) => void controller.repositoriesPushed(event.repositoryKeys),
      onImagePush: (event) => void controller.imagesPushed(event.images),
      limits: { debounceMs: 200 },
    });
    await server.listen({ host: '127.0.0.1', port: httpPort });
    cleanups.push(() => server.close());

    let repositoryUrl = '';
    const git = await startGitHttpServer({
      root: gitRoot,
      allowPush: true,
      // A real Git host sends a signed webhook after a push; so does ours.
      onPush: () => void sendWebhook(`http://127.0.0.1:${httpPort}/hooks/generic`, secret, repositoryUrl),
    });
    cleanups.push(() => git.close());
    repositoryUrl = git.url('demo');

    progress('creating the Repository and four Applications (web and worker, in staging and production)');
    await kube.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } }, { force: true });
    await kube.apply(
      {
        apiVersion: API_VERSION,
        kind: 'Repository',
        metadata: { name: 'demo', namespace: NAMESPACE },
        spec: { url: repositoryUrl, interval: '1m' },
      },
      { force: true },
    );
    for (const environment of ['staging', 'production']) {
      for (const app of ['web', 'worker']) {
        await kube.apply(
          {
            apiVersion: API_VERSION,
            kind: 'Application',
            metadata: { name: `${app}-${environment}`, namespace: NAMESPACE },
            spec: {
              sourceRef: { name: 'demo' },
              ref: environment,
              path: `apps/${app}`,
              destination: { namespace: environment },
              ...(app === 'worker' ? { dependsOn: [{ name: `web-${environment}` }] } : {}),
              // A web revision that is not healthy within 30 s is rolled back, and reverted in Git.
              ...(app === 'web'
                ? { healthTimeout: '30s', rollback: { automatic: true, gitRevert: 'commit' } }
                : {}),
            },
          },
          { force: true },
        );
      }
    }
    progress('creating the ImagePolicy web: new tags of demo/web are committed to staging');
    await kube.apply(
      {
        apiVersion: API_VERSION,
        kind: 'ImagePolicy',
        metadata: { name: 'web', namespace: NAMESPACE },
        spec: {
          image: images.web,
          insecure: true,
          interval: '10m',
          policy: { semver: { range: '>=1.0.0' } },
          update: { applications: [{ name: 'web-staging' }] },
        },
      },
      { force: true },
    );
    progress('starting the dashboard');
    const dashboard = await startDemoDashboard(kube, controlPlane, NAMESPACE, (app, signal) =>
      controller.previewSync(app, signal),
    );
    cleanups.push(() => dashboard.close());
    return {
      controlPlane,
      repositoryUrl,
      metricsUrl: `http://127.0.0.1:${httpPort}/metrics`,
      dashboard: { url: dashboard.url, token: dashboard.token },
      registry: { host: registry.host, crane, image: images.web },
      realNode,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function sendWebhook(url: string, secret: string, repository: string): Promise<void> {
  const body = JSON.stringify({ repository });
  const signature = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
  await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-capstan-signature': signature },
    body,
  }).catch(() => {});
}

/** The demo's images, without a tag: `web` (its tags are the ImagePolicy's) and `worker`. */
interface DemoImages {
  readonly web: string;
  readonly worker: string;
}

/**
 * kwok runs nothing, so any image will do there: crane pushes a one-layer stand-in. A real node
 * pulls and runs them: both are the busybox demo app, which serves HTTP or crashes when told to.
 */
async function publishDemoImages(
  host: string,
  crane: string,
  realNode: boolean,
  progress: (line: string) => void,
): Promise<DemoImages> {
  const images = { web: `${host}/demo/web`, worker: `${host}/demo/worker` };
  if (!realNode) {
    await pushImage({ host, crane }, 'demo/web', '1.0.0');
    return { ...images, worker: 'registry.example/worker' };
  }
  progress('building the demo app image (busybox, without Docker) and pushing it');
  const app = await buildDemoAppImage({ progress });
  await pushLocalImage(app.reference, `${images.web}:1.0.0`);
  await pushLocalImage(app.reference, `${images.worker}:1.0.0`);
  return images;
}

/** The example: `apps/web` (Kustomize) and `apps/worker` (plain YAML), one branch per environment. */
async function createExampleRepository(
  root: string,
  seed: string,
  images: DemoImages,
  realNode: boolean,
): Promise<void> {
  const env = {
    ...process.env,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_AUTHOR_NAME: 'Capstan Demo',
    GIT_AUTHOR_EMAIL: 'demo@capstan.invalid',
    GIT_COMMITTER_NAME: 'Capstan Demo',
    GIT_COMMITTER_EMAIL: 'demo@capstan.invalid',
  };
  const git = (cwd: string, ...args: string[]) => run('git', args, { cwd, env });
  await mkdir(root, { recursive: true });
  await git(root, 'init', '--quiet', '--bare', '--initial-branch=staging', 'demo.git');
  await mkdir(seed, { recursive: true });
  await git(seed, 'init', '--quiet', '--initial-branch=staging');
  for (const [environment, replicas] of [
    ['staging', 2],
    ['production', 3],
  ] as const) {
    if (environment === 'production') await git(seed, 'checkout', '--quiet', '-b', 'production');
    for (const [path, content] of Object.entries(exampleFiles(environment, replicas, images, realNode))) {
      await mkdir(dirname(join(seed, path)), { recursive: true });
      await writeFile(join(seed, path), content);
    }
    await git(seed, 'add', '-A');
    await git(seed, 'commit', '--quiet', '-m', `${environment}: web and worker`);
  }
  await git(seed, 'push', '--quiet', join(root, 'demo.git'), 'staging', 'production');
}

function exampleFiles(
  environment: string,
  replicas: number,
  images: DemoImages,
  realNode: boolean,
): Record<string, string> {
  return {
    'README.md': `# Capstan demo (${environment})\n\nEach branch is an environment; each folder under apps/ is an Application.\n`,
    'apps/web/kustomization.yaml': `namespace: ${environment}
resources:
  - namespace.yaml
  - deployment.yaml
  - service.yaml
  - dashboard-access.yaml
configMapGenerator:
  - name: web-settings
    literals:
      - GREETING=hello from ${environment}${realNode ? '\n      - MODE=serve' : ''}
`,
    'apps/web/dashboard-access.yaml': environmentViewerBinding(NAMESPACE),
    'apps/web/namespace.yaml': `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${environment}\n`,
    'apps/web/deployment.yaml': `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: ${replicas}
  # A Pod counts as available after 5 s Ready: one that fails sooner never does.
  minReadySeconds: 5
  selector:
    matchLabels: { app: web }
  template:
    metadata:
      labels: { app: web }
    spec:
${realNode ? '      terminationGracePeriodSeconds: 2\n' : ''}      containers:
        - name: web
          image: ${images.web}:1.0.0 # {"$imagepolicy": "${NAMESPACE}:web"}
${realNode ? REAL_WEB_CONTAINER : ''}          envFrom:
            - configMapRef: { name: web-settings }
          ports:
            - containerPort: 8080
`,
    'apps/web/service.yaml': `apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: { app: web }
  ports:
    - port: 80
      targetPort: 8080
`,
    'apps/worker/worker.yaml': `apiVersion: apps/v1
kind: Deployment
metadata:
  name: worker
spec:
  replicas: 1
  selector:
    matchLabels: { app: worker }
  template:
    metadata:
      labels: { app: worker }
    spec:
${realNode ? '      terminationGracePeriodSeconds: 2\n' : ''}      containers:
        - name: worker
          image: ${images.worker}:1.0.0
${realNode ? REAL_WORKER_CONTAINER : ''}`,
  };
}

/**
 * On a real node the web container really serves (busybox httpd, a real readiness probe) — and
 * really crashes when its settings say MODE=crash: the demo's bad commit.
 */
const REAL_WEB_CONTAINER = `          command:
            - /bin/sh
            - -c
            - |
              if [ "$MODE" = crash ]; then echo "web: MODE=$MODE, exiting" >&2; exit 1; fi
              mkdir -p /tmp/www && echo "$GREETING" > /tmp/www/index.html
              httpd -f -p 8080 -h /tmp/www  # not exec: killall httpd then really ends the container
          readinessProbe:
            httpGet: { path: /, port: 8080 }
            periodSeconds: 2
          resources:
            limits: { memory: 32Mi }
`;

const REAL_WORKER_CONTAINER = `          command:
            - /bin/sh
            - -c
            - trap 'exit 0' TERM; while :; do echo working; sleep 30 & wait $!; done
          resources:
            limits: { memory: 16Mi }
`;
