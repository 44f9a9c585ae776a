import { createHmac } from 'node:crypto';
import { Readable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FakeClock } from '../../test/support/fake-clock.js';
import type { PushEvent } from './debounce.js';
import { CapstanMetrics } from './metrics.js';
import { createServer, type ImagePushEvent, type PullRequestEvent } from './server.js';
import type { ServerDependencies } from './server.js';

const SECRET = 'w3bhook-s3cret-value';
const MiB = 1024 * 1024;

const servers: { close(): Promise<unknown> }[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

function setup(overrides: Partial<ServerDependencies> = {}) {
  const clock = new FakeClock();
  const metrics = new CapstanMetrics({ defaultMetrics: false });
  const pushes: PushEvent[] = [];
  const logLines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) });
  let ready = false;
  const app = createServer({
    metrics,
    isReady: () => ready,
    webhookSecrets: { github: SECRET, gitlab: SECRET, gitea: SECRET, bitbucket: SECRET, generic: SECRET },
    onPush: (event) => void pushes.push(event),
    logger,
    clock,
    ...overrides,
  });
  servers.push(app);
  return {
    app,
    clock,
    metrics,
    pushes,
    logLines,
    setReady: (value: boolean) => (ready = value),
    /** Pushes delivered once the debounce window has passed. */
    settle: () => clock.advance(60_000),
  };
}

const sign = (body: string | Buffer, secret = SECRET): string =>
  createHmac('sha256', secret).update(body).digest('hex');

const githubPush = JSON.stringify({
  ref: 'refs/heads/main',
  after: 'payload-marker-4b1d',
  repository: {
    clone_url: 'https://github.com/acme/deploy.git',
    ssh_url: 'git@github.com:acme/deploy.git',
    git_url: 'git://github.com/acme/deploy.git',
    html_url: 'https://github.com/acme/deploy',
    url: 'https://github.com/acme/deploy',
  },
});

function githubRequest(
  body: string | Buffer = githubPush,
  event = 'push',
  signature = `sha256=${sign(body)}`,
) {
  return {
    method: 'POST' as const,
    url: '/hooks/github',
    headers: {
      'content-type': 'application/json',
      'x-github-event': event,
      'x-hub-signature-256': signature,
    },
    payload: body,
  };
}

async function webhookCount(metrics: CapstanMetrics, provider: string, outcome: string): Promise<number> {
  const text = await metrics.exposition();
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`capstan_webhook_requests_total{provider="${provider}",outcome="${outcome}"}`));
  return Number(line?.split(' ').at(-1) ?? Number.NaN);
}

describe('health and metrics endpoints', () => {
  it('answers /healthz while alive and /readyz from isReady', async () => {
    const { app, setReady } = setup();
    expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200);
    expect((await app.inject({ url: '/readyz' })).statusCode).toBe(503);
    setReady(true);
    expect((await app.inject({ url: '/readyz' })).statusCode).toBe(200);
  });

  it('answers 503 when the readiness check throws', async () => {
    const { app } = setup({
      isReady: () => {
        throw new Error('cache not started');
      },
    });
    expect((await app.inject({ url: '/readyz' })).statusCode).toBe(503);
  });

  it('serves the private registry in the Prometheus text format', async () => {
    const { app, metrics } = setup();
    metrics.setQueueDepth(7);
    const response = await app.inject({ url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    for (const name of [
      'capstan_reconcile_duration_seconds',
      'capstan_sync_results_total',
      'capstan_app_ready',
      'capstan_app_health',
      'capstan_git_fetch_duration_seconds',
      'capstan_git_fetch_errors_total',
      'capstan_queue_depth',
      'capstan_webhook_requests_total',
    ]) {
      expect(response.body).toContain(`# TYPE ${name}`);
    }
    expect(response.body).toContain('capstan_queue_depth 7');
  });
});

describe('webhook receivers', () => {
  it('accepts a signed GitHub push and reports every URL variant and its match keys', async () => {
    const { app, pushes, settle, metrics } = setup();
    const response = await app.inject(githubRequest());
    expect(response.statusCode).toBe(202);
    expect(response.json()).toEqual({ status: 'accepted' });
    expect(pushes).toEqual([]); // held for the debounce window
    settle();
    expect(pushes).toEqual([
      {
        provider: 'github',
        ref: 'refs/heads/main',
        urls: [
          'https://github.com/acme/deploy.git',
          'git@github.com:acme/deploy.git',
          'git://github.com/acme/deploy.git',
          'https://github.com/acme/deploy',
        ],
        repositoryKeys: ['github.com/acme/deploy'],
      },
    ]);
    expect(await webhookCount(metrics, 'github', 'accepted')).toBe(1);
  });

  it.each([
    {
      provider: 'gitlab',
      headers: { 'x-gitlab-token': SECRET, 'x-gitlab-event': 'Push Hook' },
      body: {
        object_kind: 'push',
        ref: 'refs/heads/main',
        project: {
          git_http_url: 'https://gitlab.com/acme/deploy.git',
          git_ssh_url: 'git@gitlab.com:acme/deploy.git',
          web_url: 'https://gitlab.com/acme/deploy',
        },
      },
      key: 'gitlab.com/acme/deploy',
    },
    {
      provider: 'gitea',
      headers: { 'x-gitea-event': 'push' },
      signatureHeader: 'x-gitea-signature',
      body: {
        ref: 'refs/heads/main',
        repository: {
          clone_url: 'https://git.example.com/acme/deploy.git',
          ssh_url: 'ssh://git@git.example.com:2222/acme/deploy.git',
          html_url: 'https://git.example.com/acme/deploy',
        },
      },
      key: 'git.example.com/acme/deploy',
    },
    {
      provider: 'bitbucket',
      headers: { 'x-event-key': 'repo:push' },
      signatureHeader: 'x-hub-signature',
      prefix: 'sha256=',
      body: {
        repository: {
          full_name: 'acme/deploy',
          links: { html: { href: 'https://bitbucket.org/acme/deploy' } },
        },
        push: { changes: [{ new: { type: 'branch', name: 'main' } }] },
      },
      key: 'bitbucket.org/acme/deploy',
    },
    {
      provider: 'generic',
      headers: {},
      signatureHeader: 'x-capstan-signature',
      prefix: 'sha256=',
      body: { repository: 'git@example.com:acme/deploy.git', ref: 'refs/heads/main' },
      key: 'example.com/acme/deploy',
    },
  ])('accepts a signed $provider push', async ({ provider, headers, signatureHeader, prefix, body, key }) => {
    const { app, pushes, settle } = setup();
    const payload = JSON.stringify(body);
    const signature =
      signatureHeader === undefined ? {} : { [signatureHeader]: `${prefix ?? ''}${sign(payload)}` };
    const response = await app.inject({
      method: 'POST',
      url: `/hooks/${provider}`,
      headers: { 'content-type': 'application/json', ...headers, ...signature },
      payload,
    });
    expect(response.statusCode).toBe(202);
    settle();
    expect(pushes).toHaveLength(1);
    expect(pushes[0]).toMatchObject({ provider, ref: 'refs/heads/main', repositoryKeys: [key] });
    expect(pushes[0]?.urls.length).toBeGreaterThan(0);
  });

  it('refuses a wrong HMAC with 401 and counts it', async () => {
    const { app, pushes, settle, metrics } = setup();
    const response = await app.inject(
      githubRequest(githubPush, 'push', `sha256=${sign(githubPush, 'guess')}`),
    );
    expect(response.statusCode).toBe(401);
    expect(response.json()).toEqual({ error: 'invalid signature' });
    settle();
    expect(pushes).toEqual([]);
    expect(await webhookCount(metrics, 'github', 'rejected')).toBe(1);
  });

  it('refuses a signature over other bytes (a tampered body)', async () => {
    const { app, pushes, settle } = setup();
    const tampered = githubPush.replace('acme/deploy', 'acme/other');
    const response = await app.inject(githubRequest(tampered, 'push', `sha256=${sign(githubPush)}`));
    expect(response.statusCode).toBe(401);
    settle();
    expect(pushes).toEqual([]);
  });

  it('refuses a request without the signature header, before reading its body', async () => {
    const { app, pushes } = setup();
    const request = githubRequest();
    const response = await app.inject({
      ...request,
      headers: { 'content-type': 'application/json', 'x-github-event': 'push' },
    });
    expect(response.statusCode).toBe(401);
    expect(response.json()).toEqual({ error: 'missing signature header' });
    expect(pushes).toEqual([]);
  });

  it('refuses everything on a receiver without a secret, and says so in the log once', async () => {
    const { app, pushes, settle, logLines, metrics } = setup({
      webhookSecrets: { gitlab: SECRET, github: '' },
    });
    for (let i = 0; i < 3; i++) {
      const response = await app.inject(githubRequest());
      expect(response.statusCode).toBe(401);
      expect(response.json()).toEqual({ error: 'invalid signature' });
    }
    settle();
    expect(pushes).toEqual([]);
    expect(logLines.filter((line) => line.includes('has no secret configured'))).toHaveLength(1);
    expect(await webhookCount(metrics, 'github', 'rejected')).toBe(3);
  });

  it('answers 404 for an unknown provider', async () => {
    const { app, metrics } = setup();
    const response = await app.inject({ method: 'POST', url: '/hooks/svn', payload: {} });
    expect(response.statusCode).toBe(404);
    expect(await webhookCount(metrics, 'unknown', 'rejected')).toBe(1);
  });

  it('refuses a 10 MiB body with 413 without calling onPush', async () => {
    const { app, pushes, settle, metrics } = setup();
    const huge = Buffer.alloc(10 * MiB, 'a');
    const response = await app.inject(githubRequest(huge, 'push', `sha256=${sign(huge)}`));
    expect(response.statusCode).toBe(413);
    expect(response.json()).toEqual({ error: 'payload too large' });
    settle();
    expect(pushes).toEqual([]);
    expect(await webhookCount(metrics, 'github', 'toolarge')).toBe(1);
  });

  it('counts a streamed body without Content-Length as it arrives and refuses it past the limit', async () => {
    const { app, pushes, metrics } = setup();
    const chunk = Buffer.alloc(64 * 1024, 'a');
    const stream = Readable.from(
      (function* () {
        for (let sent = 0; sent < 10 * MiB; sent += chunk.length) yield chunk;
      })(),
    );
    const response = await app.inject({
      method: 'POST',
      url: '/hooks/github',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` },
      payload: stream,
    });
    // inject has no socket, so how little is read is shown by the real-socket test.
    expect(response.statusCode).toBe(413);
    expect(pushes).toEqual([]);
    expect(await webhookCount(metrics, 'github', 'toolarge')).toBe(1);
  });

  it('refuses malformed JSON under a valid signature with 400', async () => {
    const { app, pushes, settle } = setup();
    const body = '{"ref": "refs/heads/main", "repository": ';
    const response = await app.inject(githubRequest(body));
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({ error: 'payload is not valid JSON' });
    settle();
    expect(pushes).toEqual([]);
  });

  it('refuses a signed push whose URLs are all unusable with 400', async () => {
    const { app, pushes } = setup();
    const body = JSON.stringify({ repository: { clone_url: 'ext::sh -c reboot', html_url: 'ftp://x/y' } });
    const response = await app.inject(githubRequest(body));
    expect(response.statusCode).toBe(400);
    expect(pushes).toEqual([]);
  });

  it('refuses other content types with 415', async () => {
    const { app } = setup();
    const request = githubRequest();
    const response = await app.inject({
      ...request,
      headers: { ...request.headers, 'content-type': 'text/plain' },
    });
    expect(response.statusCode).toBe(415);
  });

  it('rate-limits each client address with 429 and Retry-After, and lets it back in later', async () => {
    const { app, clock, metrics } = setup({ limits: { ratePerMinute: 3 } });
    for (let i = 0; i < 3; i++) expect((await app.inject(githubRequest())).statusCode).toBe(202);
    const limited = await app.inject(githubRequest());
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['retry-after']).toBe('20');
    // Another address has a bucket of its own.
    expect((await app.inject({ ...githubRequest(), remoteAddress: '192.0.2.9' })).statusCode).toBe(202);
    clock.advance(20_000);
    expect((await app.inject(githubRequest())).statusCode).toBe(202);
    expect(await webhookCount(metrics, 'github', 'ratelimited')).toBe(1);
  });

  it('turns a burst of pushes to one repository into one onPush', async () => {
    const { app, clock, pushes } = setup({ limits: { debounceMs: 2000 } });
    for (let i = 0; i < 5; i++) {
      expect((await app.inject(githubRequest())).statusCode).toBe(202);
      clock.advance(500);
    }
    const generic = JSON.stringify({ repository: 'git@github.com:acme/deploy.git', ref: 'refs/heads/main' });
    await app.inject({
      method: 'POST',
      url: '/hooks/generic',
      headers: { 'content-type': 'application/json', 'x-capstan-signature': `sha256=${sign(generic)}` },
      payload: generic,
    });
    clock.advance(1999);
    expect(pushes).toEqual([]);
    clock.advance(1);
    expect(pushes).toHaveLength(1);
    expect(pushes[0]).toMatchObject({ ref: 'refs/heads/main', repositoryKeys: ['github.com/acme/deploy'] });
  });

  it('answers a GitHub ping with 200 and reconciles nothing', async () => {
    const { app, pushes, settle, metrics } = setup();
    const body = JSON.stringify({ zen: 'Design for failure.', hook_id: 1 });
    const response = await app.inject(githubRequest(body, 'ping'));
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'pong' });
    settle();
    expect(pushes).toEqual([]);
    expect(await webhookCount(metrics, 'github', 'accepted')).toBe(1);
  });

  it('answers other events with 200 and counts them as ignored', async () => {
    const { app, pushes, settle, metrics } = setup();
    const response = await app.inject(githubRequest(githubPush, 'issues'));
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ignored' });
    settle();
    expect(pushes).toEqual([]);
    expect(await webhookCount(metrics, 'github', 'ignored')).toBe(1);
  });

  it('accepts a form-encoded GitHub payload, signed over the form bytes', async () => {
    const { app, pushes, settle } = setup();
    const form = `payload=${encodeURIComponent(githubPush)}`;
    const response = await app.inject({
      method: 'POST',
      url: '/hooks/github',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-github-event': 'push',
        'x-hub-signature-256': `sha256=${sign(form)}`,
      },
      payload: form,
    });
    expect(response.statusCode).toBe(202);
    settle();
    expect(pushes[0]?.repositoryKeys).toEqual(['github.com/acme/deploy']);
  });

  it('logs a failing onPush without affecting the response', async () => {
    const onPush = vi.fn(async () => {
      throw new Error('queue closed');
    });
    const { app, settle, logLines } = setup({ onPush, limits: { debounceMs: 0 } });
    expect((await app.inject(githubRequest())).statusCode).toBe(202);
    settle();
    await vi.waitFor(() => expect(logLines.some((line) => line.includes('queue closed'))).toBe(true));
    expect(onPush).toHaveBeenCalledTimes(1);
  });

  it('drops held pushes when the server closes', async () => {
    const { app, clock, pushes } = setup();
    await app.inject(githubRequest());
    expect(clock.pendingTimers).toBe(1);
    await app.close();
    clock.advance(60_000);
    expect(pushes).toEqual([]);
  });

  it('never logs the secret, signatures or the body', async () => {
    const { app, settle, logLines } = setup({ webhookSecrets: { github: SECRET } });
    const credentialed = githubPush.replace(
      'https://github.com/acme/deploy.git',
      'https://user:t0ken-in-url@github.com/acme/deploy.git',
    );
    await app.inject(githubRequest(credentialed));
    await app.inject(githubRequest(githubPush, 'push', `sha256=${sign(githubPush, 'guess')}`));
    await app.inject(githubRequest('{"broken": "payload-marker-4b1d'));
    await app.inject({
      method: 'POST',
      url: '/hooks/gitlab',
      headers: { 'x-gitlab-token': SECRET },
      payload: {},
    });
    settle();
    const log = logLines.join('');
    expect(logLines.length).toBeGreaterThan(3);
    expect(log).toContain('"provider":"github"');
    for (const secret of [
      SECRET,
      sign(githubPush),
      sign(githubPush, 'guess'),
      'payload-marker-4b1d',
      't0ken-in-url',
    ]) {
      expect(log).not.toContain(secret);
    }
  });

  it('refuses invalid limits when it is built', () => {
    expect(() => setup({ limits: { maxBodyBytes: 0 } })).toThrow(/maxBodyBytes/);
    expect(() => setup({ limits: { ratePerMinute: 1.5 } })).toThrow(/ratePerMinute/);
  });
});

describe('pull-request webhooks', () => {
  const sha = 'a'.repeat(40);
  const pullRequestBody = (action = 'opened') =>
    JSON.stringify({
      action,
      number: 7,
      pull_request: {
        number: 7,
        merged: false,
        head: { ref: 'bump', sha, repo: { id: 1 } },
        base: { ref: 'main', sha: 'b'.repeat(40), repo: { id: 1 } },
      },
      repository: {
        clone_url: 'https://github.com/acme/deploy.git',
        html_url: 'https://github.com/acme/deploy',
      },
    });

  it('hands a signed pull-request event to onPullRequest at once, with the same repository keys as pushes', async () => {
    const received: PullRequestEvent[] = [];
    const { app, pushes, settle, metrics } = setup({ onPullRequest: (event) => void received.push(event) });
    const response = await app.inject(githubRequest(pullRequestBody('synchronize'), 'pull_request'));
    expect(response.statusCode).toBe(202);
    expect(response.json()).toEqual({ status: 'accepted' });
    expect(received).toEqual([
      {
        provider: 'github',
        urls: ['https://github.com/acme/deploy.git', 'https://github.com/acme/deploy'],
        repositoryKeys: ['github.com/acme/deploy'],
        pullRequest: {
          action: 'synchronized',
          number: 7,
          headSha: sha,
          headRef: 'bump',
          baseRef: 'main',
          merged: false,
          fork: false,
        },
      },
    ]);
    settle();
    expect(pushes).toEqual([]); // not a push: nothing is fetched for it
    expect(await webhookCount(metrics, 'github', 'accepted')).toBe(1);
  });

  it('answers 202 and ignores pull requests on a push-only deployment', async () => {
    const { app, pushes, settle, metrics } = setup();
    const response = await app.inject(githubRequest(pullRequestBody(), 'pull_request'));
    expect(response.statusCode).toBe(202);
    expect(response.json()).toEqual({ status: 'ignored' });
    settle();
    expect(pushes).toEqual([]);
    expect(await webhookCount(metrics, 'github', 'ignored')).toBe(1);
  });

  it('refuses a forged pull-request event and a hostile head SHA', async () => {
    const received: PullRequestEvent[] = [];
    const { app } = setup({ onPullRequest: (event) => void received.push(event) });
    const body = pullRequestBody();
    const forged = await app.inject(githubRequest(body, 'pull_request', `sha256=${sign(body, 'guess')}`));
    expect(forged.statusCode).toBe(401);
    const hostile = body.replace(sha, '--upload-pack=touch /tmp/x');
    const refused = await app.inject(githubRequest(hostile, 'pull_request'));
    expect(refused.statusCode).toBe(400);
    expect(refused.json().error).toMatch(/head commit/);
    expect(received).toEqual([]);
  });

  it('logs a failing onPullRequest without affecting the response', async () => {
    const { app, logLines } = setup({
      onPullRequest: () => Promise.reject(new Error('planner down')),
    });
    expect((await app.inject(githubRequest(pullRequestBody(), 'pull_request'))).statusCode).toBe(202);
    await new Promise((resolve) => setImmediate(resolve));
    expect(logLines.join('')).toContain('webhook pull request handler failed');
  });
});

describe('registry webhooks', () => {
  const notification = JSON.stringify({
    events: [
      {
        action: 'push',
        target: {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          repository: 'team/web',
          tag: '1.2.0',
          digest: `sha256:${'c'.repeat(64)}`,
        },
        request: { host: '127.0.0.1:5000' },
      },
    ],
  });
  const registryRequest = (authorization: string, body = notification) => ({
    method: 'POST' as const,
    url: '/hooks/registry',
    headers: { 'content-type': 'application/vnd.docker.distribution.events.v2+json', authorization },
    payload: body,
  });

  it("hands the distribution registry's notification (its own content type, a Bearer header) to onImagePush", async () => {
    const received: ImagePushEvent[] = [];
    const { app, pushes, settle, metrics } = setup({
      webhookSecrets: { registry: SECRET },
      onImagePush: (event) => void received.push(event),
    });
    const response = await app.inject(registryRequest(`Bearer ${SECRET}`));
    expect(response.statusCode).toBe(202);
    expect(received).toEqual([{ provider: 'registry', images: [{ repository: 'team/web' }] }]);
    settle();
    expect(pushes).toEqual([]);
    expect(await webhookCount(metrics, 'registry', 'accepted')).toBe(1);
  });

  it('refuses a wrong token before reading the images, and ignores them without a handler', async () => {
    const received: ImagePushEvent[] = [];
    const { app } = setup({
      webhookSecrets: { registry: SECRET },
      onImagePush: (e) => void received.push(e),
    });
    expect((await app.inject(registryRequest('Bearer guess'))).statusCode).toBe(401);
    expect(received).toEqual([]);
    const { app: bare } = setup({ webhookSecrets: { registry: SECRET } });
    const ignored = await bare.inject(registryRequest(`Bearer ${SECRET}`));
    expect(ignored.statusCode).toBe(202);
    expect(ignored.json()).toEqual({ status: 'ignored' });
  });
});
