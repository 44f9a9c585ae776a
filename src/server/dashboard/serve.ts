/**
 * The dashboard assembled for its two homes, listening:
 * - `startControllerDashboard`: in the controller, on `--dashboard-address`. The cache of
 *   Applications is read with the controller's client; people log in with their own bearer token
 *   and everything else is done as them.
 * - `startLocalDashboard`: `capstan dashboard` on a laptop, as the kubeconfig's user, on loopback,
 *   behind a random per-run access token.
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { kubeEventRecorder } from '../../controller/events.js';
import { describeError, UserError } from '../../core/errors.js';
import type { KubeClient, KubeconfigSource } from '../../kube/index.js';
import { AccessReviewer, APPLICATIONS } from './access.js';
import { startApplicationCache, type ApplicationCache } from './cache.js';
import {
  accessTokenAuthenticator,
  bearerClientFactory,
  bearerTokenAuthenticator,
  reviewSelf,
  type UserIdentity,
} from './identity.js';
import type { PlanDiff } from './dry-run.js';
import { createDashboardServer, type DashboardLimits } from './server.js';
import { systemClock } from '../../core/time.js';

export interface RunningDashboard {
  readonly server: FastifyInstance;
  readonly cache: ApplicationCache;
  /** `http://host:port` it listens on. */
  readonly url: string;
  readonly port: number;
  /** Stops the listener, the streams and the cache's informers. */
  close(): Promise<void>;
}

export async function startControllerDashboard(options: {
  /** The controller's client: reads the Applications for the shared cache, records action Events. */
  readonly kube: KubeClient;
  /** Where the cluster is: users' clients reach the same API server with their own tokens. */
  readonly source: KubeconfigSource;
  readonly host: string;
  readonly port: number;
  /** The controller's --namespace: the cache holds that namespace's apps alone. */
  readonly namespace?: string | undefined;
  readonly readOnly?: boolean;
  readonly logger?: FastifyBaseLogger;
  readonly limits?: Partial<DashboardLimits>;
  readonly trustProxy?: boolean | string | string[];
  /** The built browser app; default dist/dashboard (see assets.ts). */
  readonly assets?: string | false;
  /** The controller's dry-run of an app, as its ServiceAccount (Controller.previewSync). */
  readonly planDiff?: PlanDiff;
}): Promise<RunningDashboard> {
  const stop = new AbortController();
  const log = options.logger;
  const cache = startApplicationCache(options.kube, {
    ...(options.namespace ? { namespaces: [options.namespace] } : {}),
    signal: stop.signal,
    onError: (error) => log?.warn({ error: describeError(error) }, 'dashboard cache: list/watch failed'),
  });
  const clientFor = await bearerClientFactory(options.source, options.kube.mapper);
  const recorder = kubeEventRecorder(options.kube, 'capstan-dashboard', (error) =>
    log?.warn({ error: describeError(error) }, 'dashboard: cannot record an Event'),
  );
  const server = createDashboardServer({
    mode: 'controller',
    index: cache.index,
    authenticate: bearerTokenAuthenticator(clientFor),
    eventRecorder: () => recorder,
    readOnly: options.readOnly ?? false,
    ...(log ? { logger: log } : {}),
    ...(options.limits ? { limits: options.limits } : {}),
    ...(options.trustProxy === undefined ? {} : { trustProxy: options.trustProxy }),
    ...(options.assets === undefined ? {} : { assets: options.assets }),
    ...(options.planDiff ? { planDiff: options.planDiff } : {}),
  });
  return listen(server, cache, stop, options.host, options.port);
}

export interface LocalDashboard extends RunningDashboard {
  /** Proves the browser is the one the URL was given to: POST /api/v1/session {token}. */
  readonly accessToken: string;
  /** The URL to open (the token in the fragment, which browsers never send to any server). */
  readonly openUrl: string;
  readonly identity: UserIdentity;
  /** The namespaces whose Applications are shown: every one, or these. */
  readonly namespaces: 'all' | readonly string[];
}

export async function startLocalDashboard(options: {
  /** The kubeconfig user's client: the identity everything is done as. */
  readonly kube: KubeClient;
  /** Namespaces to show; absent: every namespace if the user may list Applications cluster-wide, else `defaultNamespace`. */
  readonly namespaces?: readonly string[];
  readonly defaultNamespace?: string;
  /** Loopback only: 127.0.0.1 (default), ::1 or localhost. */
  readonly host?: string;
  /** Default 0: a free port. */
  readonly port?: number;
  readonly readOnly?: boolean;
  /** A name for the user when the API server cannot say (no SelfSubjectReview): the kubeconfig's. */
  readonly fallbackUser?: string;
  readonly logger?: FastifyBaseLogger;
  readonly limits?: Partial<DashboardLimits>;
  /** For tests; default 32 random bytes. */
  readonly accessToken?: string;
  /** The built browser app; default dist/dashboard (see assets.ts). */
  readonly assets?: string | false;
  /** A dry-run of an app as the kubeconfig user (see dashboard-run.ts). */
  readonly planDiff?: PlanDiff;
}): Promise<LocalDashboard> {
  const host = options.host ?? '127.0.0.1';
  if (!['127.0.0.1', '::1', 'localhost'].includes(host))
    throw new UserError(
      `capstan dashboard listens on loopback only (127.0.0.1, ::1 or localhost), not ${host}: it acts with your credentials`,
    );
  const { kube } = options;
  const identity: UserIdentity = (await reviewSelf(kube).catch(() => undefined)) ?? {
    username: options.fallbackUser ?? 'unknown',
    groups: [],
  };
  let namespaces: 'all' | readonly string[];
  if (options.namespaces?.length) namespaces = [...options.namespaces];
  else {
    const reviewer = new AccessReviewer({ clock: systemClock });
    const all = await reviewer.allowed({ key: 'local', kube }, { verb: 'list', ...APPLICATIONS });
    namespaces = all ? 'all' : [options.defaultNamespace ?? 'default'];
  }
  const stop = new AbortController();
  const log = options.logger;
  const cache = startApplicationCache(kube, {
    ...(namespaces === 'all' ? {} : { namespaces }),
    signal: stop.signal,
    onError: (error) => log?.warn({ error: describeError(error) }, 'dashboard cache: list/watch failed'),
  });
  const accessToken = options.accessToken ?? randomBytes(32).toString('base64url');
  const recorder = kubeEventRecorder(kube, 'capstan-dashboard', (error) =>
    log?.debug({ error: describeError(error) }, 'dashboard: cannot record an Event'),
  );
  const server = createDashboardServer({
    mode: 'local',
    index: cache.index,
    authenticate: accessTokenAuthenticator(accessToken, { identity, kube }),
    eventRecorder: () => recorder,
    readOnly: options.readOnly ?? false,
    loopbackOnly: true,
    ...(log ? { logger: log } : {}),
    ...(options.limits ? { limits: options.limits } : {}),
    ...(options.assets === undefined ? {} : { assets: options.assets }),
    ...(options.planDiff ? { planDiff: options.planDiff } : {}),
  });
  const running = await listen(server, cache, stop, host, options.port ?? 0);
  return {
    ...running,
    accessToken,
    openUrl: `${running.url}/#token=${accessToken}`,
    identity,
    namespaces,
  };
}

async function listen(
  server: FastifyInstance,
  cache: ApplicationCache,
  stop: AbortController,
  host: string,
  port: number,
): Promise<RunningDashboard> {
  try {
    await server.listen({ host, port });
  } catch (error) {
    stop.abort();
    throw error;
  }
  const address = server.server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    server,
    cache,
    url: `http://${host === 'localhost' ? 'localhost' : shownHost}:${address.port}`,
    port: address.port,
    close: async () => {
      stop.abort();
      await server.close();
      await cache.stopped;
    },
  };
}
