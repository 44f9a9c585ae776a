/**
 * Capstan's HTTP server: liveness and readiness for the kubelet, metrics for Prometheus, and webhook
 * receivers that turn a Git host's "something was pushed" into a prompt reconcile of the Repository.
 *
 * The server decides nothing about Kubernetes objects. A push it accepts becomes one `onPush` call
 * (after debouncing) naming the repository, a pull-request event one `onPullRequest` call; the operator maps that to Repository objects with
 * `repositoryMatchKey`. A webhook is only ever a hint to look now rather than at the next poll: the
 * URLs in a payload are never fetched, so a forged or misdirected hook can at most cause an extra
 * fetch of a repository some Repository already names.
 *
 * A webhook request goes through, in order, each step refusing as early and as cheaply as it can:
 *   1. provider known (404), rate limit per client (429), secret configured and signature header
 *      present (401): headers only, the body is not read;
 *   2. body read up to `maxBodyBytes` while it streams (413);
 *   3. signature verified over the raw bytes (401);
 *   4. only then JSON decoded (400) and the event read (ping and other events answered, not acted on).
 *
 * A refusal sent before the body was read (steps 1 and 2) must still reach the client. Closing the
 * socket with the client's bytes unread makes the kernel answer with a reset, which can overtake our
 * response, so the sender sees "connection reset" or "broken pipe" instead of 401/413 (a Git host's
 * delivery log then says nothing useful). So the rest of the body is read and discarded, like a web
 * server's lingering close, but only up to `lingerBytes` and `lingerMs`; past either the connection is
 * cut. Discarding costs no memory, and the rate limit bounds how often a client can make us do it.
 */
import { STATUS_CODES } from 'node:http';
import Fastify, { LogController } from 'fastify';
import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { UserError, describeError, isCapstanError } from '../core/errors.js';
import { systemClock } from '../core/time.js';
import type { Clock } from '../core/time.js';
import { redactUrl } from '../source/index.js';
import { PushDebouncer } from './debounce.js';
import type { PushEvent } from './debounce.js';
import type { CapstanMetrics, WebhookOutcome } from './metrics.js';
import { TokenBucketRateLimiter, clientKey } from './rate-limit.js';
import { repositoryMatchKey } from './repository-key.js';
import { decodeBody, isWebhookProvider, webhookReceivers } from './webhooks/index.js';
import type { ParsedWebhook, PullRequestChange, PushedImage, WebhookProvider } from './webhooks/index.js';

export interface ServerLimits {
  /** Largest webhook body accepted, enforced while it streams (default 1 MiB). */
  readonly maxBodyBytes: number;
  /** Webhook requests per minute per client address, also the burst allowed (default 60). */
  readonly ratePerMinute: number;
  /** Quiet time after the last push of a burst before `onPush` (default 2000 ms; 0 delivers at once). */
  readonly debounceMs: number;
  /** Longest a push waits while its burst goes on (default 5 × debounceMs). */
  readonly maxDebounceMs: number;
  /** Longest a client may take to send a whole request, against slow-loris clients (default 30 s). */
  readonly requestTimeoutMs: number;
  /** Most client addresses the rate limiter remembers (default 10 000). */
  readonly maxTrackedClients: number;
  /** After an early refusal, most body bytes read and discarded before the connection is cut (default 8 MiB). */
  readonly lingerBytes: number;
  /** After an early refusal, longest the rest of the body is read and discarded (default 5 s). */
  readonly lingerMs: number;
}

export interface ServerDependencies {
  readonly metrics: CapstanMetrics;
  /** Readiness as the operator sees it (caches synced, leader elected or standing by). */
  readonly isReady: () => boolean;
  /**
   * The shared secret of each receiver. A receiver without one (or with an empty one) refuses every
   * request: an unauthenticated webhook endpoint is a free "make the controller fetch" button.
   */
  readonly webhookSecrets: Partial<Record<WebhookProvider, string>>;
  /** Called once per debounced burst of pushes; errors are logged, never sent back to the Git host. */
  readonly onPush: (event: PushEvent) => void | Promise<void>;
  /**
   * Called once per accepted pull-request event (opened, new commits, reopened, closed); errors are
   * logged. Without it, pull-request events are answered 202 and ignored (a push-only deployment).
   */
  readonly onPullRequest?: (event: PullRequestEvent) => void | Promise<void>;
  /**
   * Called once per accepted registry notification naming pushed images; errors are logged.
   * Without it, registry notifications are answered 202 and ignored.
   */
  readonly onImagePush?: (event: ImagePushEvent) => void | Promise<void>;
  readonly logger?: FastifyBaseLogger;
  readonly limits?: Partial<ServerLimits>;
  /** Time for the rate limiter and the debouncer; tests pass a manual clock. */
  readonly clock?: Clock;
  /**
   * Fastify's `trustProxy`: set it when the server sits behind an ingress, or every client shares
   * the ingress's address and thus one rate-limit bucket. Default false (use the socket's address).
   */
  readonly trustProxy?: boolean | string | string[];
}

/** An accepted pull-request webhook, named like a push (see `PushEvent`). */
export interface PullRequestEvent {
  readonly provider: WebhookProvider;
  /** Every URL the payload gave for the base repository, as sent; for logs and diagnostics. */
  readonly urls: readonly string[];
  /** The base repository as match keys (see `repositoryMatchKey`), as for pushes. */
  readonly repositoryKeys: readonly string[];
  readonly pullRequest: PullRequestChange;
}

/** An accepted registry notification: the images pushed, by their path in the registry. */
export interface ImagePushEvent {
  readonly provider: WebhookProvider;
  readonly images: readonly PushedImage[];
}

export const DEFAULT_LIMITS: Omit<ServerLimits, 'maxDebounceMs'> = {
  maxBodyBytes: 1024 * 1024,
  ratePerMinute: 60,
  debounceMs: 2000,
  requestTimeoutMs: 30_000,
  maxTrackedClients: 10_000,
  lingerBytes: 8 * 1024 * 1024,
  lingerMs: 5000,
};

type HookRequest = FastifyRequest<{ Params: { provider: string } }>;

/** Builds the server, not listening: the caller calls `listen` (and `close` on shutdown). */
export function createServer(deps: ServerDependencies): FastifyInstance {
  const limits = resolveLimits(deps.limits);
  const clock = deps.clock ?? systemClock;
  const { metrics } = deps;

  const app = Fastify({
    ...(deps.logger === undefined ? { logger: false } : { loggerInstance: deps.logger }),
    // Probes and scrapes every few seconds would drown the log; webhooks log their own outcome.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: limits.maxBodyBytes,
    requestTimeout: limits.requestTimeoutMs,
    trustProxy: deps.trustProxy ?? false,
  });

  app.get('/healthz', async (_request, reply) => reply.type('text/plain').send('ok\n'));

  app.get('/readyz', async (request, reply) => {
    let ready = false;
    try {
      ready = deps.isReady();
    } catch (error) {
      request.log.warn({ error: describeError(error) }, 'readiness check failed');
    }
    return reply
      .code(ready ? 200 : 503)
      .type('text/plain')
      .send(ready ? 'ok\n' : 'not ready\n');
  });

  app.get('/metrics', async (_request, reply) =>
    reply.type(metrics.contentType).send(await metrics.exposition()),
  );

  const limiter = new TokenBucketRateLimiter({
    ratePerMinute: limits.ratePerMinute,
    maxClients: limits.maxTrackedClients,
    clock,
  });
  const debouncer = new PushDebouncer({
    delayMs: limits.debounceMs,
    maxDelayMs: limits.maxDebounceMs,
    clock,
    deliver: (event) => deliverPush(app.log, deps.onPush, event),
  });
  app.addHook('onClose', async () => debouncer.cancel());

  /** Providers already reported as unconfigured, so the log says it once, not per request. */
  const reportedUnconfigured = new Set<WebhookProvider>();

  function finish(
    request: FastifyRequest,
    reply: FastifyReply,
    provider: string,
    outcome: WebhookOutcome,
    status: number,
    body: Record<string, string>,
    details: Record<string, unknown> = {},
  ): FastifyReply {
    metrics.countWebhook(provider, outcome);
    // A flood is what rate limiting is for; logging each refused request would re-create it in the log.
    const level = outcome === 'ratelimited' ? 'debug' : 'info';
    request.log[level]({ provider, outcome, status, client: request.ip, ...details }, 'webhook');
    return reply.code(status).send(body);
  }

  /** Step 1: everything that can be decided from the request line and headers. */
  async function admit(request: HookRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    const { provider } = request.params;
    const discardBody = (): void => discardBodyBounded(request, limits);
    if (!isWebhookProvider(provider)) {
      discardBody();
      return finish(request, reply, 'unknown', 'rejected', 404, { error: 'unknown webhook provider' });
    }
    const decision = limiter.take(clientKey(request.ip));
    if (!decision.allowed) {
      discardBody();
      reply.header('retry-after', String(decision.retryAfterSeconds));
      return finish(request, reply, provider, 'ratelimited', 429, { error: 'too many requests' });
    }
    if (!deps.webhookSecrets[provider]) {
      if (!reportedUnconfigured.has(provider)) {
        reportedUnconfigured.add(provider);
        request.log.warn(
          { provider },
          `webhook receiver "${provider}" has no secret configured; refusing all of its requests`,
        );
      }
      discardBody();
      const reason = { reason: 'no secret configured' };
      return finish(request, reply, provider, 'rejected', 401, { error: 'invalid signature' }, reason);
    }
    const receiver = webhookReceivers[provider];
    if (!receiver.signatureHeaders.some((name) => typeof request.headers[name] === 'string')) {
      discardBody();
      return finish(request, reply, provider, 'rejected', 401, { error: 'missing signature header' });
    }
    return undefined;
  }

  /** Steps 3 and 4: the body has been read within the limit. */
  async function receive(request: HookRequest, reply: FastifyReply): Promise<FastifyReply> {
    const provider = request.params.provider as WebhookProvider; // checked by admit
    const receiver = webhookReceivers[provider];
    const secret = deps.webhookSecrets[provider] ?? '';
    const rawBody = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    if (!receiver.verify(request.headers, rawBody, secret)) {
      return finish(request, reply, provider, 'rejected', 401, { error: 'invalid signature' });
    }
    let parsed: ParsedWebhook;
    try {
      parsed = receiver.parse(decodeBody(rawBody, request.headers['content-type']), request.headers);
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
      // The sender is authenticated by now, so telling it what was wrong helps and leaks nothing.
      return finish(request, reply, provider, 'rejected', 400, { error: error.message });
    }
    const { event } = parsed;
    if (parsed.kind === 'ping') {
      return finish(request, reply, provider, 'accepted', 200, { status: 'pong' }, { event });
    }
    if (parsed.kind === 'ignored') {
      return finish(request, reply, provider, 'ignored', 200, { status: 'ignored' }, { event });
    }
    if (parsed.kind === 'image') return handOverImages(request, reply, provider, event, parsed.images);
    const named = usableRepository(parsed.urls);
    if (named.repositoryKeys.length === 0) {
      return finish(
        request,
        reply,
        provider,
        'rejected',
        400,
        { error: 'payload names no usable repository URL' },
        { event, urls: parsed.urls.map(redactUrl) },
      );
    }
    return parsed.kind === 'pullRequest'
      ? handOverPullRequest(request, reply, provider, event, named, parsed.pullRequest)
      : queuePush(request, reply, provider, event, named, parsed.ref);
  }

  /** An accepted push waits in the debouncer for the rest of its burst. */
  function queuePush(
    request: HookRequest,
    reply: FastifyReply,
    provider: WebhookProvider,
    event: string,
    named: NamedRepository,
    ref: string | undefined,
  ): FastifyReply {
    debouncer.add({ provider, ...named, ...(ref === undefined ? {} : { ref }) });
    const shown = { event, urls: named.urls.map(redactUrl), ref };
    return finish(request, reply, provider, 'accepted', 202, { status: 'accepted' }, shown);
  }

  /** An accepted pull-request event goes to `onPullRequest` at once (see deliverPullRequest). */
  function handOverPullRequest(
    request: HookRequest,
    reply: FastifyReply,
    provider: WebhookProvider,
    event: string,
    named: NamedRepository,
    pullRequest: PullRequestChange,
  ): FastifyReply {
    const shown = {
      event,
      urls: named.urls.map(redactUrl),
      pullRequest: pullRequest.number,
      action: pullRequest.action,
    };
    if (deps.onPullRequest === undefined) {
      // A push-only deployment: the host is told it was received, and nothing is planned.
      return finish(request, reply, provider, 'ignored', 202, { status: 'ignored' }, shown);
    }
    deliverPullRequest(app.log, deps.onPullRequest, { provider, ...named, pullRequest });
    return finish(request, reply, provider, 'accepted', 202, { status: 'accepted' }, shown);
  }

  /** Pushed images go to `onImagePush` at once: a scan is cheap and keyed by policy, nothing to merge. */
  function handOverImages(
    request: HookRequest,
    reply: FastifyReply,
    provider: WebhookProvider,
    event: string,
    images: readonly PushedImage[],
  ): FastifyReply {
    const shown = { event, images: images.map((image) => image.repository) };
    if (deps.onImagePush === undefined) {
      return finish(request, reply, provider, 'ignored', 202, { status: 'ignored' }, shown);
    }
    const report = (error: unknown): void => {
      app.log.error({ provider, error: describeError(error) }, 'webhook image handler failed');
    };
    try {
      Promise.resolve(deps.onImagePush({ provider, images })).catch(report);
    } catch (error) {
      report(error);
    }
    return finish(request, reply, provider, 'accepted', 202, { status: 'accepted' }, shown);
  }

  // The webhook routes live in their own scope: their body parsers keep the raw bytes (the HMAC is
  // over exactly those), and their error handler counts refusals without echoing anything back.
  void app.register(async (hooks) => {
    hooks.removeAllContentTypeParsers();
    const keepRaw = { parseAs: 'buffer' as const, bodyLimit: limits.maxBodyBytes };
    hooks.addContentTypeParser(
      ['application/json', 'application/x-www-form-urlencoded'],
      keepRaw,
      (_request, body, done) => done(null, body),
    );
    // The distribution registry's notifications: application/vnd.docker.distribution.events.v2+json.
    hooks.addContentTypeParser(/^application\/vnd\.[a-z0-9.-]+\+json$/, keepRaw, (_request, body, done) =>
      done(null, body),
    );
    hooks.setErrorHandler((error: FastifyError, request: HookRequest, reply) => {
      const provider = isWebhookProvider(request.params.provider) ? request.params.provider : 'unknown';
      const status = error.statusCode ?? 500;
      if (status === 413) {
        // Fastify stopped keeping the body at the limit and asks for the connection to be closed,
        // which would reset it under the client's feet; what the client still sends is discarded.
        reply.removeHeader('connection');
        discardBodyBounded(request, limits);
        return finish(request, reply, provider, 'toolarge', 413, { error: 'payload too large' });
      }
      if (status >= 400 && status < 500) {
        return finish(request, reply, provider, 'rejected', status, {
          error: (STATUS_CODES[status] ?? 'bad request').toLowerCase(),
        });
      }
      const cause = isCapstanError(error) ? error.message : describeError(error);
      request.log.error({ provider, error: cause }, 'webhook handler failed');
      return finish(request, reply, provider, 'rejected', 500, { error: 'internal error' });
    });
    hooks.post<{ Params: { provider: string } }>(
      '/hooks/:provider',
      { bodyLimit: limits.maxBodyBytes, onRequest: admit },
      receive,
    );
  });

  return app;
}

/**
 * Pull-request events are not debounced: each names one head commit, and the receiver of a newer
 * one aborts the plan of an older one itself (it knows the pull request; a debouncer keyed by
 * repository would merge different pull requests).
 */
function deliverPullRequest(
  log: FastifyBaseLogger,
  onPullRequest: NonNullable<ServerDependencies['onPullRequest']>,
  event: PullRequestEvent,
): void {
  const { number, action, headSha } = event.pullRequest;
  const fields = { provider: event.provider, urls: event.urls.map(redactUrl), number, action, headSha };
  log.info(fields, 'webhook pull request');
  const report = (error: unknown): void =>
    log.error({ ...fields, error: describeError(error) }, 'webhook pull request handler failed');
  try {
    Promise.resolve(onPullRequest(event)).catch(report);
  } catch (error) {
    report(error);
  }
}

/** The payload's repository URLs that have a match key, and those keys. */
interface NamedRepository {
  readonly urls: string[];
  readonly repositoryKeys: string[];
}

function usableRepository(urls: readonly string[]): NamedRepository {
  const usable: string[] = [];
  const repositoryKeys = new Set<string>();
  for (const url of urls) {
    const key = repositoryMatchKey(url);
    if (key === undefined) continue;
    usable.push(url);
    repositoryKeys.add(key);
  }
  return { urls: usable, repositoryKeys: [...repositoryKeys] };
}

function deliverPush(log: FastifyBaseLogger, onPush: ServerDependencies['onPush'], event: PushEvent): void {
  const fields = { provider: event.provider, urls: event.urls.map(redactUrl), ref: event.ref };
  log.info(fields, 'webhook push: requesting reconcile');
  const report = (error: unknown): void =>
    log.error({ ...fields, error: describeError(error) }, 'webhook push handler failed');
  try {
    Promise.resolve(onPush(event)).catch(report);
  } catch (error) {
    report(error);
  }
}

function hasBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * Lets the refusal about to be sent reach the client (see the header comment): the rest of the body
 * is read and discarded, bounded by bytes and time. A client that sends it all keeps a usable
 * keep-alive connection (its next request is judged like any other); past either bound the
 * connection is cut.
 */
function discardBodyBounded(
  request: FastifyRequest,
  limits: Pick<ServerLimits, 'lingerBytes' | 'lingerMs'>,
): void {
  if (!hasBody(request)) return;
  const { raw } = request;
  // Destroying an unfinished request destroys its socket.
  const cut = (): void => {
    raw.destroy();
  };
  const timer = setTimeout(cut, limits.lingerMs);
  timer.unref();
  let discarded = 0;
  const count = (chunk: Buffer): void => {
    discarded += chunk.length;
    if (discarded > limits.lingerBytes) cut();
  };
  const done = (): void => {
    clearTimeout(timer);
    raw.off('data', count);
  };
  raw.on('data', count);
  raw.once('end', done);
  raw.once('close', done);
  raw.resume(); // the body parser pauses the stream when it gives up at the limit
}

function resolveLimits(given: Partial<ServerLimits> = {}): ServerLimits {
  const merged = { ...DEFAULT_LIMITS, ...stripUndefined(given) };
  const limits: ServerLimits = { maxDebounceMs: merged.debounceMs * 5, ...merged };
  for (const [name, value] of Object.entries(limits)) {
    const positive = name !== 'debounceMs' && name !== 'maxDebounceMs';
    if (!Number.isSafeInteger(value) || value < 0 || (positive && value === 0)) {
      throw new UserError(`server limit ${name} must be a ${positive ? 'positive' : 'non-negative'} integer`);
    }
  }
  return limits;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as Partial<T>;
}
