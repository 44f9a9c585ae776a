/**
 * The dashboard's HTTP API (`/api/v1`, see schema.ts), on a listener of its own: served by the
 * controller (`--dashboard-address`) or by `capstan dashboard` on a laptop.
 *
 * Its own listener, not the webhook/metrics one, because its model differs on every point: people
 * with cookie sessions, CSRF tokens and a strict CSP, against Git hosts with HMAC signatures and
 * Prometheus with no authentication at all; and because the two are exposed differently (webhooks
 * to the Git host, often from the internet; the dashboard to the people of the cluster), which a
 * separate port lets a Service, an Ingress or a NetworkPolicy tell apart. Probes and scrapes are
 * also never slowed by dashboard traffic.
 *
 * Every request, in order:
 *   1. security headers on the response (whatever the outcome); the Host checked when the server
 *      listens on loopback for one user (DNS rebinding);
 *   2. the session from its HttpOnly cookie (401 without one), except to log in;
 *   3. for POST and DELETE: the Origin is ours, the CSRF header matches the session's token, the
 *      body is JSON (≤ maxBodyBytes, read while it streams) — 403/415/413 otherwise; actions are
 *      refused outright in read-only mode (403);
 *   4. the handler, which reads and writes as the user: with the user's own Kubernetes client, or
 *      from the shared cache filtered by access reviews made as the user — and so is the diff's
 *      dry-run, computed once with a sync's identity (`planDiff`) and shown object by object as
 *      access reviews made as the user allow (dry-run.ts).
 * Logging in is rate-limited per client address. Errors are JSON `{error, message}`, redacted.
 */
import { STATUS_CODES } from 'node:http';
import Fastify, { LogController } from 'fastify';
import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { GROUP, type Application } from '../../api/v1alpha1.js';
import type { EventRecorder } from '../../controller/events.js';
import { describeError, isCapstanError } from '../../core/errors.js';
import { systemClock, type Clock } from '../../core/time.js';
import { isKubeApiError, KubeTransportError } from '../../kube/index.js';
import { redactText } from '../../source/redact.js';
import { TokenBucketRateLimiter, clientKey } from '../rate-limit.js';
import { AccessReviewer, APPLICATIONS, listableNamespaces, type AccessLimits, type Asker } from './access.js';
import { runAction } from './actions.js';
import { locateDashboardAssets, serveDashboardAssets } from './assets.js';
import type { AppIndex } from './app-index.js';
import { appDetail } from './details.js';
import { appDrift } from './drift.js';
import {
  appDiff,
  DryRunBusyError,
  DryRuns,
  type DryRunLimits,
  type ObjectAccess,
  type PlanDiff,
} from './dry-run.js';
import type { Authenticator } from './identity.js';
import {
  ACTIONS,
  API_PREFIX,
  CSRF_HEADER,
  appListQuerySchema,
  emptyBodySchema,
  rollbackRequestSchema,
  sessionRequestSchema,
  type ActionResult,
  type AppList,
  type DashboardAction,
  type Session as SessionView,
} from './schema.js';
import {
  clearSessionCookie,
  hostAllowed,
  readCookie,
  sameOrigin,
  sameToken,
  securityHeaders,
  serializeSessionCookie,
  sessionCookieName,
  singleHeader,
} from './security.js';
import { SessionStore, type Session, type SessionLimits } from './sessions.js';
import { AppEventStreams, type StreamLimits } from './stream.js';
import { summarize } from './summary.js';
import { DEFAULT_TREE_LIMITS, resourceTree, type TreeLimits } from './tree.js';

export interface DashboardLimits {
  /** Largest request body (default 64 KiB: the largest is a pasted token). */
  readonly maxBodyBytes: number;
  /** Longest a client may take to send a whole request (default 30 s). */
  readonly requestTimeoutMs: number;
  /** Log-in attempts per minute per client address, also the burst (default 10). */
  readonly loginsPerMinute: number;
  /** Client addresses the log-in limiter remembers (default 10 000). */
  readonly maxTrackedClients: number;
  readonly sessions: Partial<SessionLimits>;
  readonly access: Partial<AccessLimits>;
  readonly streams: Partial<StreamLimits>;
  readonly tree: Partial<TreeLimits>;
  readonly dryRun: Partial<DryRunLimits>;
}

export const DEFAULT_DASHBOARD_LIMITS: DashboardLimits = {
  maxBodyBytes: 64 * 1024,
  requestTimeoutMs: 30_000,
  loginsPerMinute: 10,
  maxTrackedClients: 10_000,
  sessions: {},
  access: {},
  streams: {},
  tree: {},
  dryRun: {},
};

export interface DashboardDependencies {
  /** `controller`: each person logs in with a bearer token; `local`: `capstan dashboard`. */
  readonly mode: 'controller' | 'local';
  /** The shared cache of Applications (fed by an informer; see cache.ts). */
  readonly index: AppIndex;
  /** Checks the credential of POST /api/v1/session. */
  readonly authenticate: Authenticator;
  /**
   * Records the Event of an action. Controller mode: as the controller (users seldom may create
   * Events); local mode: as the user.
   */
  readonly eventRecorder: (session: Session) => EventRecorder;
  /** Refuse every action (403). */
  readonly readOnly?: boolean;
  /**
   * Serving one user on loopback (`capstan dashboard`): the Host header must be 127.0.0.1, localhost
   * or [::1] with the listening port, so a web page cannot reach the server by DNS rebinding.
   */
  readonly loopbackOnly?: boolean;
  readonly logger?: FastifyBaseLogger;
  readonly limits?: Partial<DashboardLimits>;
  readonly clock?: Clock;
  /** Fastify's `trustProxy`: set it behind an ingress (client addresses, https detection). */
  readonly trustProxy?: boolean | string | string[];
  /** The built browser app (default: dist/dashboard found from the code); `false`: API only. */
  readonly assets?: string | false;
  /**
   * Computes what a sync of an app would change (a server-side dry-run; see dry-run.ts), with the
   * identity a sync uses: the controller's engine for the app's ServiceAccount, or `capstan
   * dashboard`'s as the kubeconfig user. Absent: GET …/diff answers the `live` mode.
   */
  readonly planDiff?: PlanDiff;
}

/** Thrown by handlers: becomes `{error: code, message}` with this status. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const nameParam = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a lowercase DNS name');
const appParams = z.object({ ns: nameParam.max(63), name: nameParam });
type AppParams = { ns: string; name: string };

export function createDashboardServer(deps: DashboardDependencies): FastifyInstance {
  const limits = { ...DEFAULT_DASHBOARD_LIMITS, ...deps.limits };
  const clock = deps.clock ?? systemClock;
  const readOnly = deps.readOnly ?? false;
  const { index } = deps;
  const treeLimits = { ...DEFAULT_TREE_LIMITS, ...limits.tree };

  const app = Fastify({
    ...(deps.logger === undefined ? { logger: false } : { loggerInstance: deps.logger }),
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: limits.maxBodyBytes,
    routerOptions: { maxParamLength: 253 },
    // A URL the router cannot take (bad %-escape, a name too long) is answered like every other
    // error: our headers, our JSON, no echo of the URL.
    frameworkErrors: (error, request, reply) => {
      const status = error.statusCode ?? 400;
      void (reply as FastifyReply)
        .headers(securityHeaders(request.protocol === 'https'))
        .header('cache-control', 'no-store')
        .code(status >= 400 && status < 500 ? status : 400)
        .send({ error: 'bad_request', message: 'bad request URL' });
    },
    requestTimeout: limits.requestTimeoutMs,
    trustProxy: deps.trustProxy ?? false,
  });

  const reviewer = new AccessReviewer({ clock, limits: limits.access });
  const streams = new AppEventStreams({
    clock,
    limits: limits.streams,
    onDrop: (reason) => app.log.info({ reason }, 'dashboard event stream dropped'),
  });
  const sessions = new SessionStore({
    clock,
    limits: limits.sessions,
    onEnd: (session) => {
      reviewer.forget(session.key);
      streams.closeSession(session.key);
    },
  });
  const logins = new TokenBucketRateLimiter({
    ratePerMinute: limits.loginsPerMinute,
    maxClients: limits.maxTrackedClients,
    clock,
  });
  const dryRuns = deps.planDiff ? new DryRuns(deps.planDiff, { clock, limits: limits.dryRun }) : undefined;
  const unsubscribe = index.subscribe((change) => streams.publish(change));
  // Before the listener waits for open connections to end: the streams never would by themselves.
  app.addHook('preClose', async () => {
    unsubscribe();
    streams.closeAll();
    dryRuns?.close();
  });

  /** Sessions of requests, without decorating Fastify's request type. */
  const sessionOf = new WeakMap<FastifyRequest, Session>();
  const current = (request: FastifyRequest): Session => {
    const session = sessionOf.get(request);
    if (session === undefined) throw new HttpError(401, 'unauthorized', 'log in first');
    return session;
  };
  const asker = (session: Session): Asker => ({ key: session.key, kube: session.kube });

  // ── every request ─────────────────────────────────────────────────────────────────────────────

  app.addHook('onRequest', async (request, reply) => {
    reply.headers(securityHeaders(request.protocol === 'https'));
    reply.header('cache-control', 'no-store');
    if (deps.loopbackOnly && !hostAllowed(request.host, loopbackHosts(request.socket.localPort))) {
      throw new HttpError(403, 'host', 'this dashboard answers on its loopback address only');
    }
  });

  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'string', bodyLimit: limits.maxBodyBytes },
    (_request, body, done) => {
      const text = typeof body === 'string' ? body : body.toString('utf8');
      if (text.trim() === '') return done(null, {});
      try {
        done(null, JSON.parse(text));
      } catch {
        done(new HttpError(400, 'bad_request', 'the body is not JSON'), undefined);
      }
    },
  );

  /** The session from the cookie; 401 without a live one. */
  const authenticated = async (request: FastifyRequest): Promise<void> => {
    const secure = request.protocol === 'https';
    const session = sessions.get(
      readCookie(singleHeader(request.headers, 'cookie'), sessionCookieName(secure)),
    );
    if (session === undefined)
      throw new HttpError(401, 'unauthorized', 'log in first (POST /api/v1/session)');
    sessionOf.set(request, session);
  };

  /** Same origin and JSON for every state-changing request; plus the CSRF token once logged in. */
  const unsafe =
    (checkCsrf: boolean) =>
    async (request: FastifyRequest): Promise<void> => {
      if (!sameOrigin(request.headers, request.protocol, request.host))
        throw new HttpError(403, 'origin', 'cross-origin request refused');
      if (request.method !== 'DELETE' && request.mediaType !== 'application/json')
        throw new HttpError(415, 'unsupported_media_type', 'send JSON (content-type: application/json)');
      if (checkCsrf && !sameToken(singleHeader(request.headers, CSRF_HEADER), current(request).csrfToken))
        throw new HttpError(403, 'csrf', `missing or wrong ${CSRF_HEADER} header`);
    };

  app.setErrorHandler((error: FastifyError | Error, request, reply) => {
    const { status, code, message } = toHttpError(error);
    if (status === 401) {
      // The API server no longer accepts the user's token: the session is over.
      const session = sessionOf.get(request);
      if (session) {
        sessions.delete(session);
        reply.header('set-cookie', clearSessionCookie(request.protocol === 'https'));
      }
    }
    if (status >= 500)
      request.log.error({ error: describeError(error), url: request.url }, 'dashboard request failed');
    return reply.code(status).send({ error: code, message });
  });

  serveDashboardAssets(app, deps.assets === false ? undefined : (deps.assets ?? locateDashboardAssets()));

  app.setNotFoundHandler((_request, reply) =>
    reply.code(404).send({ error: 'not_found', message: 'no such endpoint' }),
  );

  // ── session ───────────────────────────────────────────────────────────────────────────────────

  const sessionView = (session: Session): SessionView => ({
    user: { username: session.identity.username, groups: [...session.identity.groups] },
    mode: deps.mode,
    readOnly,
    csrfToken: session.csrfToken,
    expiresAt: new Date(session.expiresAt).toISOString(),
  });

  app.post(
    `${API_PREFIX}/session`,
    {
      onRequest: async (request, reply) => {
        // Local mode's access token is 256 random bits: nothing to guess, and every process of the
        // machine shares 127.0.0.1, so a limit would only let one lock the user out.
        if (deps.mode === 'local') return;
        const decision = logins.take(clientKey(request.ip));
        if (!decision.allowed) {
          reply.header('retry-after', String(decision.retryAfterSeconds));
          throw new HttpError(429, 'too_many_requests', 'too many log-in attempts; wait a little');
        }
      },
      preHandler: unsafe(false),
    },
    async (request, reply) => {
      const { token } = parse(sessionRequestSchema, request.body);
      const authenticated = await deps.authenticate(token);
      if (authenticated === undefined) {
        request.log.info({ client: request.ip }, 'dashboard log-in refused');
        throw new HttpError(
          401,
          'unauthorized',
          deps.mode === 'local' ? 'wrong access token' : 'the API server does not accept this token',
        );
      }
      const { id, session } = sessions.create(authenticated.identity, authenticated.kube);
      request.log.info({ user: session.identity.username, client: request.ip }, 'dashboard log-in');
      const secure = request.protocol === 'https';
      reply.header(
        'set-cookie',
        serializeSessionCookie(id, { secure, maxAgeSeconds: (session.expiresAt - session.createdAt) / 1000 }),
      );
      return reply.code(201).send(sessionView(session));
    },
  );

  app.get(`${API_PREFIX}/session`, { onRequest: authenticated }, async (request) =>
    sessionView(current(request)),
  );

  app.delete(
    `${API_PREFIX}/session`,
    { onRequest: authenticated, preHandler: unsafe(true) },
    async (request, reply) => {
      sessions.delete(current(request));
      reply.header('set-cookie', clearSessionCookie(request.protocol === 'https'));
      return { ok: true };
    },
  );

  // ── reading ───────────────────────────────────────────────────────────────────────────────────

  app.get(`${API_PREFIX}/apps`, { onRequest: authenticated }, async (request): Promise<AppList> => {
    const query = parse(appListQuerySchema, request.query);
    const session = current(request);
    const scope = await listableNamespaces(reviewer, asker(session), index.namespaces());
    const result = index.query(query, scope);
    const namespaces = index
      .namespaces()
      .filter((ns) => scope === 'all' || scope.has(ns))
      .sort()
      .slice(0, 1000);
    return {
      items: result.items,
      total: result.total,
      counts: result.counts,
      limit: query.limit,
      page: result.page,
      pages: result.pages,
      ...(result.continue ? { continue: result.continue } : {}),
      namespaces,
      synced: index.synced,
    };
  });

  /** The Application, read as the user: 404 when absent, 403 when they may not get it. */
  const readApp = async (request: FastifyRequest): Promise<{ session: Session; app: Application }> => {
    const { ns, name } = parse(appParams, request.params);
    const session = current(request);
    const found = await session.kube.get<Application>({
      group: GROUP,
      kind: 'Application',
      namespace: ns,
      name,
    });
    if (!found) throw new HttpError(404, 'not_found', `application ${ns}/${name} not found`);
    return { session, app: found };
  };

  app.get<{ Params: AppParams }>(
    `${API_PREFIX}/apps/:ns/:name`,
    { onRequest: authenticated },
    async (request) => {
      const { session, app: found } = await readApp(request);
      const namespace = found.metadata.namespace;
      const [canList, canPatch] = await Promise.all([
        reviewer.allowed(asker(session), { verb: 'list', ...APPLICATIONS, namespace }),
        reviewer.allowed(asker(session), {
          verb: 'patch',
          ...APPLICATIONS,
          namespace,
          name: found.metadata.name,
        }),
      ]);
      return appDetail({ kube: session.kube, app: found, index, canList, canPatch, readOnly });
    },
  );

  app.get<{ Params: AppParams }>(
    `${API_PREFIX}/apps/:ns/:name/tree`,
    { onRequest: authenticated },
    async (request) => {
      const { session, app: found } = await readApp(request);
      return resourceTree(session.kube, found, treeLimits, clock.now());
    },
  );

  app.get<{ Params: AppParams }>(
    `${API_PREFIX}/apps/:ns/:name/diff`,
    { onRequest: authenticated },
    async (request, reply) => {
      const { session, app: found } = await readApp(request);
      if (!dryRuns) return appDrift(session.kube, found);
      try {
        return await appDiff({ app: found, kube: session.kube, dryRuns, mayGet: mayGet(session) });
      } catch (error) {
        if (!(error instanceof DryRunBusyError)) throw error;
        reply.header('retry-after', '5');
        throw new HttpError(429, 'too_many_requests', error.message);
      }
    },
  );

  /**
   * Whether the user may `get` an object: an access review as them for its resource in its
   * namespace (cached per session). A kind the API server does not serve (yet) cannot be reviewed,
   * so it is not shown.
   */
  const mayGet =
    (session: Session): ObjectAccess =>
    async (ref) => {
      const mapping = await session.kube.mapper.tryMapping(ref.group, ref.kind).catch(() => undefined);
      if (mapping === undefined) return false;
      return reviewer.allowed(asker(session), {
        verb: 'get',
        group: ref.group,
        resource: mapping.resource,
        ...(ref.namespace ? { namespace: ref.namespace } : {}),
      });
    };

  // ── acting ────────────────────────────────────────────────────────────────────────────────────

  for (const action of ACTIONS) {
    app.post<{ Params: AppParams }>(
      `${API_PREFIX}/apps/:ns/:name/${action}`,
      {
        onRequest: async (request) => {
          await authenticated(request);
          if (readOnly) throw new HttpError(403, 'read_only', 'this dashboard is read-only');
        },
        preHandler: unsafe(true),
      },
      async (request): Promise<ActionResult> => {
        const body =
          action === 'rollback'
            ? parse(rollbackRequestSchema, request.body ?? {})
            : parse(emptyBodySchema, request.body ?? {});
        const { session, app: found } = await readApp(request);
        const outcome = await runAction(
          action as DashboardAction,
          {
            kube: session.kube,
            identity: session.identity,
            app: found,
            recordEvent: deps.eventRecorder(session),
            now: clock.now(),
          },
          body,
        );
        request.log.info(
          {
            user: session.identity.username,
            action,
            app: `${found.metadata.namespace}/${found.metadata.name}`,
          },
          'dashboard action',
        );
        return { ok: true, action, message: outcome.message, app: summarize(outcome.app) };
      },
    );
  }

  // ── live updates ──────────────────────────────────────────────────────────────────────────────

  app.get(`${API_PREFIX}/events`, { onRequest: authenticated }, async (request, reply) => {
    const session = current(request);
    const only = parse(z.object({ namespace: z.string().max(2048).optional() }), request.query).namespace;
    const wanted = only ? new Set(only.split(',').filter(Boolean)) : undefined;
    if (!streams.canOpen(session.key))
      throw new HttpError(429, 'too_many_streams', 'too many event streams open; close some tabs');
    const who = asker(session);
    const visible = (namespace: string): boolean | undefined | Promise<boolean> => {
      if (wanted && !wanted.has(namespace)) return false;
      const all = reviewer.cached(who, { verb: 'list', ...APPLICATIONS });
      if (all === true) return true;
      const one = reviewer.cached(who, { verb: 'list', ...APPLICATIONS, namespace });
      if (all === false && one !== undefined) return one;
      return listableNamespaces(reviewer, who, [namespace]).then(
        (scope) => scope === 'all' || scope.has(namespace),
      );
    };
    reply.hijack();
    reply.raw.writeHead(200, {
      ...securityHeaders(request.protocol === 'https'),
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      // Tell nginx-style proxies not to buffer the stream.
      'x-accel-buffering': 'no',
    });
    streams.open(session.key, reply.raw, {
      visible,
      // An open stream keeps its session alive (up to its maximum age); an ended session ends it.
      alive: () => sessions.touch(session),
      first: `retry: 5000\nevent: ready\ndata: ${JSON.stringify({ synced: index.synced })}\n\n`,
    });
  });

  return app;
}

function loopbackHosts(port: number | undefined): string[] {
  return port === undefined ? [] : [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`];
}

function parse<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
  throw new HttpError(400, 'bad_request', `${where}${issue?.message ?? 'invalid request'}`);
}

/** Any error as the status, code and (redacted) message the client gets. */
export function toHttpError(error: unknown): { status: number; code: string; message: string } {
  if (error instanceof HttpError) return { status: error.status, code: error.code, message: error.message };
  if (isKubeApiError(error)) {
    const message = redactText(error.message).slice(0, 1024);
    switch (error.status) {
      case 401:
        return {
          status: 401,
          code: 'unauthorized',
          message: 'the API server no longer accepts your token; log in again',
        };
      case 403:
        return { status: 403, code: 'forbidden', message };
      case 404:
        return { status: 404, code: 'not_found', message };
      case 409:
        return { status: 409, code: 'conflict', message };
      case 422:
        return { status: 400, code: 'invalid', message };
      case 429:
        return { status: 503, code: 'unavailable', message: 'the API server is busy; try again' };
      default:
        return { status: 502, code: 'upstream', message: `the API server answered ${error.status}` };
    }
  }
  if (error instanceof KubeTransportError)
    return { status: 502, code: 'upstream', message: 'the API server could not be reached' };
  if (isCapstanError(error)) {
    const message = redactText(error.message).slice(0, 1024);
    if (error.kind === 'user') return { status: 400, code: 'bad_request', message };
    if (error.kind === 'notFound') return { status: 404, code: 'not_found', message };
    if (error.kind === 'conflict') return { status: 409, code: 'conflict', message };
    return { status: 500, code: 'internal', message: 'internal error' };
  }
  const status = (error as FastifyError | undefined)?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const text = (STATUS_CODES[status] ?? 'bad request').toLowerCase();
    return { status, code: text.replace(/[^a-z]+/g, '_'), message: text };
  }
  return { status: 500, code: 'internal', message: 'internal error' };
}
