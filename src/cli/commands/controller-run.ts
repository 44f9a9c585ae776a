/** `capstan controller` itself: loaded only when that command runs (see controller.ts). */
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { pino } from 'pino';
import { crds } from '../../api/crds.js';
import { REQUESTED_AT_ANNOTATION } from '../../api/v1alpha1.js';
import { Controller } from '../../controller/controller.js';
import { assertNoActiveLeader, LeaderElector } from '../../controller/leader.js';
import { parseDefaultServiceAccount } from '../../controller/tenancy.js';
import { UserError } from '../../core/errors.js';
import { createKubeClient, type KubeClient } from '../../kube/index.js';
import type { ImagePolicy } from '../../api/image-policy.js';
import { imageMatches } from '../../images/index.js';
import {
  CapstanMetrics,
  createServer,
  type ImagePushEvent,
  type PullRequestEvent,
  type PushEvent,
} from '../../server/index.js';
import { startControllerDashboard, type RunningDashboard } from '../../server/dashboard/serve.js';
import { isPushedRepository } from '../../source/index.js';
import { EXIT } from '../exit-codes.js';
import { parseDurationFlag } from '../parse.js';
import { capstanCacheDir, engineParts, metricsHooks } from '../wiring.js';
import type { ControllerFlags } from './controller.js';

export async function runController(flags: ControllerFlags): Promise<number> {
  const log = pino({
    level: flags.logLevel,
    // Defence in depth: nothing we log should carry these, but if it does it is dropped.
    redact: {
      paths: [
        '*.password',
        '*.token',
        '*.privateKey',
        '*.secret',
        '*.authorization',
        'headers.authorization',
      ],
      censor: '[redacted]',
    },
  });
  const concurrency = Number(flags.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new UserError(`--concurrency must be a positive integer, not '${flags.concurrency}'`);
  const resyncMs = parseDurationFlag(flags.resync, '--resync');
  const leaseSeconds = parseDurationFlag(flags.leaseDuration, '--lease-duration') / 1000;
  const tenancy = flags.defaultServiceAccount
    ? { defaultServiceAccount: parseDefaultServiceAccount(flags.defaultServiceAccount) }
    : {};
  const [host, portText] = splitAddress(flags.httpAddress);
  const dashboardAddress = flags.dashboardAddress
    ? splitAddress(flags.dashboardAddress, '--dashboard-address')
    : undefined;
  const secret = flags.webhookSecretFile
    ? await readWebhookSecret(flags.webhookSecretFile, log)
    : process.env.CAPSTAN_WEBHOOK_SECRET;

  const kube = await createKubeClient(flags.kubeconfig ? { kubeconfigPath: flags.kubeconfig } : {});
  if (flags.installCrds) {
    for (const crd of crds()) await kube.apply(crd, { force: true });
    for (const kind of ['Repository', 'Application'])
      await kube.mapper.waitForMapping('capstan.dev', kind, { timeoutMs: 60_000 });
    log.info('CRDs installed');
  }
  const stateDir = flags.stateDir ?? capstanCacheDir();
  const parts = await engineParts({ stateDir, allowFileUrls: flags.allowFileUrls ?? false });
  const metrics = new CapstanMetrics();
  const controller = new Controller({
    kube,
    git: parts.git,
    createEngine: (client) => parts.engineOn(client, kube),
    renderAt: parts.renderAt,
    tenancy,
    concurrency,
    resyncMs,
    ...(flags.namespace ? { namespace: flags.namespace } : {}),
    log,
    hooks: metricsHooks(metrics),
  });

  // Before serving anything: a replica that may not run must exit, not linger half-started.
  const lease = {
    namespace: flags.leaseNamespace ?? (await leaseNamespaceDefault(flags)),
    name: leaseName(flags),
  };
  try {
    if (flags.leaderElect) await assertNamespaceExists(kube, lease.namespace);
    else await assertNoActiveLeader(kube, lease);
  } catch (error) {
    kube.close();
    throw error;
  }

  let leading = !flags.leaderElect;
  const server = createServer({
    metrics,
    isReady: () => (leading ? controller.isReady() : true),
    webhookSecrets: secret
      ? {
          github: secret,
          gitlab: secret,
          gitea: secret,
          bitbucket: secret,
          generic: secret,
          registry: secret,
        }
      : {},
    onPush: routePush({ kube, controller, isLeading: () => leading }),
    onPullRequest: routePullRequest({ kube, controller, isLeading: () => leading }),
    onImagePush: routeImagePush({ kube, controller, isLeading: () => leading }),
    logger: log,
  });
  await server.listen({ host, port: portText });
  log.info({ address: flags.httpAddress }, 'serving /healthz, /readyz, /metrics and /hooks/*');
  let dashboard: RunningDashboard | undefined;
  if (dashboardAddress) {
    // A listener of its own: people with sessions, CSRF and a strict CSP, not Git hosts and scrapers.
    try {
      dashboard = await startControllerDashboard({
        kube,
        source: flags.kubeconfig ? { kubeconfigPath: flags.kubeconfig } : {},
        host: dashboardAddress[0],
        port: dashboardAddress[1],
        namespace: flags.namespace,
        readOnly: flags.dashboardReadOnly ?? false,
        ...(flags.dashboardTrustProxy
          ? { trustProxy: flags.dashboardTrustProxy.split(',').map((address) => address.trim()) }
          : {}),
        logger: log.child({ component: 'dashboard' }),
        // The dry-run of an app is computed by the controller, as the app's ServiceAccount.
        planDiff: (app, signal) => controller.previewSync(app, signal),
      });
    } catch (error) {
      await server.close();
      kube.close();
      throw error;
    }
    log.info(
      { address: dashboard.url, readOnly: flags.dashboardReadOnly ?? false },
      'serving the dashboard API (/api/v1)',
    );
  }

  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    log.info({ signal }, 'stopping');
    stop.abort();
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, onSignal);
  try {
    if (!flags.leaderElect) {
      await controller.run(stop.signal);
    } else {
      const identity = `${hostname()}-${process.pid}`;
      const elector = new LeaderElector({
        kube,
        namespace: lease.namespace,
        name: lease.name,
        identity,
        // client-go's proportions: renew within 2/3 of the lease, retry at 1/5 of it.
        leaseDurationSeconds: leaseSeconds,
        renewDeadlineSeconds: (leaseSeconds * 2) / 3,
        retryPeriodSeconds: leaseSeconds / 5,
        onStartedLeading: async (signal) => {
          log.info({ identity }, 'became the leader');
          leading = true;
          await controller.run(signal);
        },
        onStoppedLeading: () => {
          leading = false;
          log.warn({ identity }, 'lost the leader Lease');
        },
        onNewLeader: (leader) => log.info({ leader }, 'leader'),
        onError: (error) => log.warn({ err: String(error) }, 'leader election error'),
      });
      await elector.run(stop.signal);
      // Let a standby take over at once instead of waiting for the Lease to expire.
      await elector.release().catch(() => false);
      if (!stop.signal.aborted) {
        // Leadership was lost while running: exit so a fresh process campaigns again (as controller-runtime does).
        return EXIT.error;
      }
    }
  } finally {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.removeListener(signal, onSignal);
    await dashboard?.close();
    await server.close();
    kube.close();
  }
  return EXIT.ok;
}

/**
 * Where an accepted push goes: the leader polls the Repositories it names at once; a standby runs no
 * controller, so it passes the push on to the leader. Both match Repositories with the keys the
 * server computed (`isPushedRepository`), so a push wakes the same Repositories whichever replica
 * the webhook reached.
 */
export function routePush(deps: {
  readonly kube: KubeClient;
  readonly controller: Pick<Controller, 'repositoriesPushed'>;
  readonly isLeading: () => boolean;
}): (event: PushEvent) => void | Promise<void> {
  return (event) =>
    deps.isLeading()
      ? void deps.controller.repositoriesPushed(event.repositoryKeys)
      : forwardPush(deps.kube, event);
}

/**
 * Where an accepted pull-request event goes: the leader plans it at once; a standby wakes the
 * Repositories it names like a push, and the leader, polling them, lists their open pull requests
 * and plans the head commits it has not planned yet (src/review/pull-requests.ts).
 */
export function routePullRequest(deps: {
  readonly kube: KubeClient;
  readonly controller: Pick<Controller, 'pullRequestChanged'>;
  readonly isLeading: () => boolean;
}): (event: PullRequestEvent) => void | Promise<void> {
  return (event) =>
    deps.isLeading() ? void deps.controller.pullRequestChanged(event) : forwardPush(deps.kube, event);
}

/**
 * Where an accepted registry notification goes: the leader scans the ImagePolicies of the pushed
 * images at once; a standby asks the leader to, through each matching policy's request annotation.
 */
export function routeImagePush(deps: {
  readonly kube: KubeClient;
  readonly controller: Pick<Controller, 'imagesPushed'>;
  readonly isLeading: () => boolean;
}): (event: ImagePushEvent) => void | Promise<void> {
  return (event) =>
    deps.isLeading() ? void deps.controller.imagesPushed(event.images) : forwardImagePush(deps.kube, event);
}

async function forwardImagePush(kube: KubeClient, event: ImagePushEvent): Promise<void> {
  const { items } = await kube.list('capstan.dev', 'v1alpha1', 'ImagePolicy');
  for (const policy of items as ImagePolicy[]) {
    if (!event.images.some((image) => imageMatches(policy, image))) continue;
    await kube.patch(
      {
        group: 'capstan.dev',
        kind: 'ImagePolicy',
        namespace: policy.metadata.namespace,
        name: policy.metadata.name,
      },
      { metadata: { annotations: { [REQUESTED_AT_ANNOTATION]: new Date().toISOString() } } },
      'merge',
    );
  }
}

/** A replica that does not lead passes a webhook on to the leader through the Repository's request annotation. */
async function forwardPush(kube: KubeClient, event: Pick<PushEvent, 'repositoryKeys'>): Promise<void> {
  const pushed = new Set(event.repositoryKeys);
  const { items } = await kube.list('capstan.dev', 'v1alpha1', 'Repository');
  for (const repo of items) {
    const url = (repo.spec as { url?: string } | undefined)?.url ?? '';
    if (!isPushedRepository(url, pushed)) continue;
    await kube.patch(
      {
        group: 'capstan.dev',
        kind: 'Repository',
        namespace: repo.metadata.namespace!,
        name: repo.metadata.name!,
      },
      { metadata: { annotations: { [REQUESTED_AT_ANNOTATION]: new Date().toISOString() } } },
      'merge',
    );
  }
}

/** Controllers of different namespaces do not exclude each other; those of the same do. */
function leaseName(flags: ControllerFlags): string {
  return flags.namespace ? `capstan-controller-${flags.namespace}` : 'capstan-controller';
}

/** In a pod, its own namespace (where deploy/ grants the Lease); beside a cluster, the watched one. */
async function leaseNamespaceDefault(flags: ControllerFlags): Promise<string> {
  if (process.env.KUBERNETES_SERVICE_HOST) {
    const own = await readFile('/var/run/secrets/kubernetes.io/serviceaccount/namespace', 'utf8').catch(
      () => '',
    );
    if (own.trim() !== '') return own.trim();
  }
  return flags.namespace ?? 'capstan-system';
}

async function assertNamespaceExists(kube: KubeClient, namespace: string): Promise<void> {
  if (await kube.get({ group: '', kind: 'Namespace', name: namespace }).catch(() => true)) return;
  throw new UserError(
    `the leader Lease's namespace ${namespace} does not exist: create it, choose another with --lease-namespace, or run a single replica with --no-leader-elect`,
  );
}

function splitAddress(address: string, flag = '--http-address'): [string, number] {
  const colon = address.lastIndexOf(':');
  const host = colon > 0 ? address.slice(0, colon) : '0.0.0.0';
  const port = Number(address.slice(colon + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UserError(`${flag} must be host:port, not '${address}'`);
  return [host, port];
}

/**
 * The webhook secret from its file. deploy/ mounts the Secret capstan-webhook as optional, so a
 * cluster without one has no file: the controller then runs and refuses every webhook (fail
 * closed) rather than crash-looping. It is read at start; a Secret created later needs a restart.
 */
async function readWebhookSecret(
  file: string,
  log: { warn(object: object, message: string): void },
): Promise<string | undefined> {
  try {
    return (await readFile(file, 'utf8')).trim() || undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    log.warn({ file }, 'no webhook secret: every webhook is refused until one is given (then restart)');
    return undefined;
  }
}
