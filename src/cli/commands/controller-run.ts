/** `capstan controller` itself: loaded only when that command runs (see controller.ts). */
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { pino } from 'pino';
import { crds } from '../../api/crds.js';
import { REQUESTED_AT_ANNOTATION } from '../../api/v1alpha1.js';
import { Controller } from '../../controller/controller.js';
import { LeaderElector } from '../../controller/leader.js';
import { UserError } from '../../core/errors.js';
import { createKubeClient, type KubeClient } from '../../kube/index.js';
import { CapstanMetrics, createServer, repositoryMatchKey, type PushEvent } from '../../server/index.js';
import { EXIT } from '../exit-codes.js';
import { parseDuration } from '../parse.js';
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
  const resyncMs = parseDuration(flags.resync, '--resync') * 1000;
  const leaseSeconds = parseDuration(flags.leaseDuration, '--lease-duration');
  const [host, portText] = splitAddress(flags.httpAddress);
  const secret = flags.webhookSecretFile
    ? (await readFile(flags.webhookSecretFile, 'utf8')).trim()
    : process.env.CAPSTAN_WEBHOOK_SECRET;

  const kube = await createKubeClient(flags.kubeconfig ? { kubeconfigPath: flags.kubeconfig } : {});
  if (flags.installCrds) {
    for (const crd of crds()) await kube.apply(crd, { force: true });
    for (const kind of ['Repository', 'Application'])
      await kube.mapper.waitForMapping('capstan.dev', kind, { timeoutMs: 60_000 });
    log.info('CRDs installed');
  }
  const parts = await engineParts({
    stateDir: flags.stateDir ?? capstanCacheDir(),
    allowFileUrls: flags.allowFileUrls ?? false,
  });
  const metrics = new CapstanMetrics();
  const controller = new Controller({
    kube,
    git: parts.git,
    createEngine: (client) => parts.engineOn(client, kube),
    concurrency,
    resyncMs,
    ...(flags.namespace ? { namespace: flags.namespace } : {}),
    log,
    hooks: metricsHooks(metrics),
  });

  let leading = !flags.leaderElect;
  const server = createServer({
    metrics,
    isReady: () => (leading ? controller.isReady() : true),
    webhookSecrets: secret
      ? { github: secret, gitlab: secret, gitea: secret, bitbucket: secret, generic: secret }
      : {},
    onPush: (event) => (leading ? void controller.repositoriesPushed(event.urls) : forwardPush(kube, event)),
    logger: log,
  });
  await server.listen({ host, port: portText });
  log.info({ address: flags.httpAddress }, 'serving /healthz, /readyz, /metrics and /hooks/*');

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
        namespace: flags.leaseNamespace,
        name: 'capstan-controller',
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
    await server.close();
    kube.close();
  }
  return EXIT.ok;
}

/** A replica that does not lead passes a webhook on to the leader through the Repository's request annotation. */
async function forwardPush(kube: KubeClient, event: PushEvent): Promise<void> {
  const { items } = await kube.list('capstan.dev', 'v1alpha1', 'Repository');
  for (const repo of items) {
    const url = (repo.spec as { url?: string } | undefined)?.url ?? '';
    if (!event.repositoryKeys.includes(repositoryMatchKey(url) ?? '')) continue;
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

function splitAddress(address: string): [string, number] {
  const colon = address.lastIndexOf(':');
  const host = colon > 0 ? address.slice(0, colon) : '0.0.0.0';
  const port = Number(address.slice(colon + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UserError(`--http-address must be host:port, not '${address}'`);
  return [host, port];
}
