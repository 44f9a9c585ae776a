/**
 * The dashboard's server attacked the way a tenant of a shared cluster, or a page of another
 * origin, would: the static files (traversal, listing, types), sessions and CSRF (fixation, another
 * session's token, origins, form posts), and what a request may cost (regular expressions on user
 * input, query sizes, event streams, slow readers). Each test shows the attack refused.
 * test/dashboard/attack.test.ts does the same against the real control plane and a real browser.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdtemp } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { Application } from '../../api/v1alpha1.js';
import { FakeClock } from '../../../test/support/fake-clock.js';
import { kubeEventRecorder } from '../../controller/events.js';
import { parseLabelInput } from '../../../web/src/pages/apps-list/list-query.js';
import { commitUrl, httpUrl } from '../../../web/src/format.js';
import { AppIndex, parseLabelFilter } from './app-index.js';
import type { Authenticator } from './identity.js';
import { sessionSchema } from './schema.js';
import { createDashboardServer, type DashboardDependencies } from './server.js';
import { summarize } from './summary.js';
import { FakeCluster } from './testdata/fake-cluster.js';

const ORIGIN = 'http://dash.example';
const HOST = 'dash.example';

function app(namespace: string, name: string, extra: Partial<Application['status']> = {}): Application {
  return {
    apiVersion: 'capstan.dev/v1alpha1',
    kind: 'Application',
    metadata: { namespace, name, uid: `uid-${namespace}-${name}` },
    spec: { sourceRef: { name: 'apps' }, ref: 'main', path: name },
    status: { sync: { status: 'Synced', revision: 'a'.repeat(40) }, ...extra },
  };
}

const servers: { close(): Promise<unknown> }[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

/** `alice` and `bob` may get, list and patch Applications in team-a; nothing in team-b. */
function setup(options: Partial<DashboardDependencies> = {}) {
  const fake = new FakeCluster();
  for (const name of ['alice', 'bob'])
    fake.addUser(`${name}-token`, {
      username: name,
      can: (verb, _group, _resource, namespace) =>
        namespace === 'team-a' && ['get', 'list', 'patch'].includes(verb),
    });
  fake.addUser('admin-token', { username: 'admin', can: () => true });
  const index = new AppIndex();
  for (const [ns, name] of [
    ['team-a', 'web'],
    ['team-b', 'api'],
  ] as const)
    index.upsert(fake.put(app(ns, name)) as Application);
  index.markSynced();
  const authenticate: Authenticator = async (token) => {
    const user = fake.users.get(token);
    return user
      ? { identity: { username: user.username, groups: [] }, kube: fake.clientFor(token) }
      : undefined;
  };
  const server = createDashboardServer({
    mode: 'controller',
    index,
    authenticate,
    eventRecorder: () => kubeEventRecorder(fake.clientFor('admin-token'), 'capstan-dashboard'),
    clock: new FakeClock(),
    assets: false,
    ...options,
  });
  servers.push(server);

  const login = async (token: string, headers: Record<string, string> = {}) => {
    const response = await server.inject({
      method: 'POST',
      url: '/api/v1/session',
      headers: { origin: ORIGIN, host: HOST, 'content-type': 'application/json', ...headers },
      payload: { token },
    });
    expect(response.statusCode).toBe(201);
    return {
      cookie: String(response.headers['set-cookie']).split(';')[0]!,
      csrf: sessionSchema.parse(response.json()).csrfToken,
    };
  };
  /** A POST with everything right unless `headers` says otherwise (a header set to '' is left out). */
  const post = (url: string, headers: Record<string, string>, payload = '{}') =>
    server.inject({
      method: 'POST',
      url,
      headers: Object.fromEntries(
        Object.entries({ host: HOST, origin: ORIGIN, 'content-type': 'application/json', ...headers }).filter(
          ([, value]) => value !== '',
        ),
      ),
      payload,
    });
  const patches = () => fake.calls.filter((call) => call.includes(' patch ')).length;
  return { server, fake, index, login, post, patches };
}

async function listen(server: ReturnType<typeof setup>['server']): Promise<number> {
  await server.listen({ host: '127.0.0.1', port: 0 });
  return (server.server.address() as { port: number }).port;
}

/**
 * One HTTP/1.1 request written byte for byte (no client normalizes its path or merges its
 * headers); resolves with the status, the headers (lower-cased, last wins) and the body.
 */
function raw(
  port: number,
  requestLine: string,
  headers: readonly string[] = [],
): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      const split = text.indexOf('\r\n\r\n');
      const [statusLine = '', ...lines] = text.slice(0, split).split('\r\n');
      const parsed: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        parsed[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers: parsed, body: text.slice(split + 4) });
    });
    socket.write(
      [requestLine, `Host: 127.0.0.1:${port}`, 'Connection: close', ...headers, '', ''].join('\r\n'),
    );
  });
}

describe('attack: the static files', () => {
  const OUTSIDE = 'OUTSIDE-THE-ASSETS-FOLDER';
  const DOTFILE = 'DOTFILE-CONTENT';

  /** A built app (index.html, hashed assets, a dotfile) in a folder with a file beside it. */
  async function site(): Promise<string> {
    const parent = await mkdtemp(join(tmpdir(), 'capstan-attack-'));
    const dir = join(parent, 'dashboard');
    await mkdir(join(dir, 'assets', 'nested'), { recursive: true });
    await writeFile(join(parent, 'secret.txt'), OUTSIDE);
    await writeFile(join(parent, 'package.json'), `{"name":"${OUTSIDE}"}`);
    await writeFile(join(dir, '.env'), DOTFILE);
    await writeFile(join(dir, 'assets', '.hidden.js'), DOTFILE);
    await writeFile(
      join(dir, 'index.html'),
      '<!doctype html><div id="root"></div><script type="module" src="/assets/app-1a2b.js"></script>',
    );
    await writeFile(join(dir, 'assets', 'app-1a2b.js'), 'export {};');
    await writeFile(join(dir, 'assets', 'app-1a2b.css'), 'body{}');
    await writeFile(join(dir, 'assets', 'nested', 'x.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    return dir;
  }

  it('serves nothing outside the built app, whatever the path spelling, and lists no folder', async () => {
    const { server } = setup({ assets: await site() });
    const port = await listen(server);
    const attempts = [
      '/assets/../../package.json',
      '/assets/../../secret.txt',
      '/assets/%2e%2e/%2e%2e/secret.txt',
      '/assets/%2E%2E%2F%2E%2E%2Fsecret.txt',
      '/assets/..%2f..%2fsecret.txt',
      '/assets/..%5c..%5csecret.txt',
      '/assets/%252e%252e/%252e%252e/secret.txt',
      '/../secret.txt',
      '/%2e%2e/secret.txt',
      '/apps/..%2f..%2f..%2fsecret.txt',
      '/apps/..%2f..%2fetc/passwd',
      '/..%00/secret.txt',
      '/secret.txt',
      '/package.json',
      '//evil.example',
      '//evil.example/assets/app-1a2b.js',
      '/.env',
      '/%2eenv',
      '/assets/.hidden.js',
      '/assets/',
      '/assets',
      '/assets/nested/',
      '/assets/nested',
      '/assets/./app-1a2b.js',
      '/assets/app-1a2b.js/',
      '/assets/app-1a2b.js%00.html',
      '/assets/APP-1A2B.JS',
    ];
    for (const path of attempts) {
      const answer = await raw(port, `GET ${path} HTTP/1.1`);
      const what = `GET ${path}`;
      expect(answer.body, what).not.toContain(OUTSIDE);
      expect(answer.body, what).not.toContain(DOTFILE);
      expect(answer.headers.location, what).toBeUndefined();
      expect(answer.headers['content-security-policy'], what).toContain("default-src 'self'");
      if (answer.status === 200) {
        // Only the page itself (the fallback for a shared link under /apps/), never a listing.
        expect(path, what).toMatch(/^\/apps\//);
        expect(answer.body, what).toContain('<div id="root">');
      } else expect(answer.status, what).toBe(404);
    }
  });

  it('serves each file with its own type and nosniff, the page on GET only', async () => {
    const { server } = setup({ assets: await site() });
    const port = await listen(server);
    const types: Record<string, RegExp> = {
      '/': /^text\/html/,
      '/index.html': /^text\/html/,
      '/apps/team-a/web?tab=diff': /^text\/html/,
      '/assets/app-1a2b.js': /^(application|text)\/javascript/,
      '/assets/app-1a2b.css': /^text\/css/,
      '/assets/nested/x.svg': /^image\/svg\+xml/,
    };
    for (const [path, type] of Object.entries(types)) {
      const answer = await raw(port, `GET ${path} HTTP/1.1`);
      expect(answer.status, path).toBe(200);
      expect(answer.headers['content-type'], path).toMatch(type);
      expect(answer.headers['x-content-type-options'], path).toBe('nosniff');
      expect(answer.headers['content-security-policy'], path).not.toContain('unsafe-inline');
      expect(answer.headers['x-frame-options'], path).toBe('DENY');
    }
    // The page is not an answer to anything but a GET (or its HEAD): a form posted to a page URL
    // gets the API's 404, not HTML.
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
      const answer = await raw(port, `${method} /apps/team-a/web HTTP/1.1`, ['Content-Length: 0']);
      expect(answer.status, method).toBe(404);
      expect(answer.headers['content-type'], method).toMatch(/^application\/json/);
    }
    // Anything else is the API's 404, not the page (no soft 404 that hides a typo or a probe).
    for (const path of ['/nothing', '/api/v1/nothing', '/apps']) {
      const answer = await raw(port, `GET ${path} HTTP/1.1`);
      expect(answer.status, path).toBe(404);
      expect(answer.headers['content-type'], path).toMatch(/^application\/json/);
    }
  });

  it('routes an Application name of any valid length (253) to the handler, not to a router error', async () => {
    const { server, login } = setup();
    const port = await listen(server);
    const { cookie } = await login('alice-token');
    const name = `${'a'.repeat(250)}-ab`;
    const answer = await raw(port, `GET /api/v1/apps/team-a/${name} HTTP/1.1`, [`Cookie: ${cookie}`]);
    expect(answer.status).toBe(404);
    expect(JSON.parse(answer.body)).toEqual({
      error: 'not_found',
      message: `application team-a/${name} not found`,
    });
    expect(answer.headers['content-security-policy']).toContain("default-src 'self'");
  });
});

describe('attack: sessions and cross-site requests', () => {
  it('never adopts a session id the client chose (fixation), and ignores made-up ones', async () => {
    const { server, login } = setup();
    const planted = 'capstan-session=attacker-chosen-id-0123456789abcdefghijklmnopqrstu';
    const alice = await login('alice-token', { cookie: planted });
    expect(alice.cookie).not.toBe(planted);
    expect(alice.cookie).toMatch(/^capstan-session=[A-Za-z0-9_-]{43}$/);
    const asPlanted = await server.inject({
      method: 'GET',
      url: '/api/v1/session',
      headers: { host: HOST, cookie: planted },
    });
    expect(asPlanted.statusCode).toBe(401);
    // Two log-ins are two sessions, with their own CSRF tokens.
    const again = await login('alice-token');
    expect(again.cookie).not.toBe(alice.cookie);
    expect(again.csrf).not.toBe(alice.csrf);
  });

  it("refuses an action with another session's CSRF token, or with its own from another origin", async () => {
    const { login, post, patches } = setup();
    const alice = await login('alice-token');
    const bob = await login('bob-token');
    const sync = '/api/v1/apps/team-a/web/sync';
    const refusals: [string, Record<string, string>][] = [
      ["bob's token on alice's cookie", { cookie: alice.cookie, 'x-capstan-csrf': bob.csrf }],
      ['no token', { cookie: alice.cookie }],
      ['an empty token', { cookie: alice.cookie, 'x-capstan-csrf': '' }],
      ['no Origin', { cookie: alice.cookie, 'x-capstan-csrf': alice.csrf, origin: '' }],
      ['Origin null', { cookie: alice.cookie, 'x-capstan-csrf': alice.csrf, origin: 'null' }],
      ['a look-alike host', { cookie: alice.cookie, 'x-capstan-csrf': alice.csrf, origin: `${ORIGIN}.evil` }],
      ['another port', { cookie: alice.cookie, 'x-capstan-csrf': alice.csrf, origin: `${ORIGIN}:8080` }],
      ['another scheme', { cookie: alice.cookie, 'x-capstan-csrf': alice.csrf, origin: `https://${HOST}` }],
      [
        'a same-site page',
        { cookie: alice.cookie, 'x-capstan-csrf': alice.csrf, 'sec-fetch-site': 'same-site' },
      ],
    ];
    for (const [what, headers] of refusals) {
      const answer = await post(sync, headers);
      expect(answer.statusCode, what).toBe(403);
    }
    expect(patches()).toBe(0);
    // The same request with everything right goes through: the refusals above were the checks.
    expect((await post(sync, { cookie: alice.cookie, 'x-capstan-csrf': alice.csrf })).statusCode).toBe(200);
    expect(patches()).toBe(1);
  });

  it('refuses what an HTML form can send (text/plain, urlencoded, multipart), JSON body or not', async () => {
    const { login, post, patches } = setup();
    const alice = await login('alice-token');
    for (const type of [
      'text/plain',
      'text/plain; charset=utf-8',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      '',
    ]) {
      const answer = await post(
        '/api/v1/apps/team-a/web/sync',
        { cookie: alice.cookie, 'x-capstan-csrf': alice.csrf, 'content-type': type },
        '{"x":"="}',
      );
      expect(answer.statusCode, type || 'no content type').toBe(415);
    }
    // A cross-site form post carries no cookie (SameSite=Strict) and no token: refused even earlier.
    const form = await post(
      '/api/v1/apps/team-a/web/sync',
      { origin: 'https://evil.example', 'content-type': 'text/plain' },
      '{}',
    );
    expect(form.statusCode).toBe(401);
    expect(patches()).toBe(0);
  });

  it('refuses a request whose Origin header is repeated', async () => {
    const { server, login, patches } = setup();
    const port = await listen(server);
    const alice = await login('alice-token');
    const body = '{}';
    const answer = await raw(port, 'POST /api/v1/apps/team-a/web/sync HTTP/1.1', [
      `Cookie: ${alice.cookie}`,
      `x-capstan-csrf: ${alice.csrf}`,
      'Origin: https://evil.example',
      `Origin: http://127.0.0.1:${port}`,
      'Content-Type: application/json',
      `Content-Length: ${body.length}`,
      '',
      body,
    ]);
    expect(answer.status).toBe(403);
    expect(patches()).toBe(0);
  });

  it('grants no cross-origin access: no CORS headers, preflights refused', async () => {
    const { server, login } = setup();
    const alice = await login('alice-token');
    const read = await server.inject({
      method: 'GET',
      url: '/api/v1/apps',
      headers: { host: HOST, cookie: alice.cookie, origin: 'https://evil.example' },
    });
    expect(read.statusCode).toBe(200);
    const preflight = await server.inject({
      method: 'OPTIONS',
      url: '/api/v1/apps/team-a/web/sync',
      headers: {
        host: HOST,
        origin: 'https://evil.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,x-capstan-csrf',
      },
    });
    expect(preflight.statusCode).toBe(404);
    for (const answer of [read, preflight])
      for (const header of Object.keys(answer.headers)) expect(header).not.toMatch(/^access-control-/);
  });

  it('ends a session on log-out only with its CSRF token; the old cookie is then worthless', async () => {
    const { server, login } = setup();
    const alice = await login('alice-token');
    const logout = (headers: Record<string, string>) =>
      server.inject({
        method: 'DELETE',
        url: '/api/v1/session',
        headers: { host: HOST, origin: ORIGIN, cookie: alice.cookie, ...headers },
      });
    const whoAmI = () =>
      server.inject({ method: 'GET', url: '/api/v1/session', headers: { host: HOST, cookie: alice.cookie } });
    // A page of another site cannot log the user out either.
    expect((await logout({})).statusCode).toBe(403);
    expect((await logout({ 'x-capstan-csrf': alice.csrf, origin: 'https://evil.example' })).statusCode).toBe(
      403,
    );
    expect((await whoAmI()).statusCode).toBe(200);
    expect((await logout({ 'x-capstan-csrf': alice.csrf })).statusCode).toBe(200);
    expect((await whoAmI()).statusCode).toBe(401);
    expect((await logout({ 'x-capstan-csrf': alice.csrf })).statusCode).toBe(401);
  });

  it('takes no prototype from a JSON body', async () => {
    const { login, post } = setup();
    const alice = await login('alice-token');
    const answer = await post(
      '/api/v1/apps/team-a/web/rollback',
      { cookie: alice.cookie, 'x-capstan-csrf': alice.csrf },
      '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}',
    );
    expect(answer.statusCode).toBe(400);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('attack: what a request may cost', () => {
  /** Milliseconds `run` takes. */
  const timed = (run: () => void): number => {
    const start = performance.now();
    run();
    return performance.now() - start;
  };

  it('parses label filters in linear time, on the server and in the page, far past their size limit', () => {
    const n = 100_000;
    const hostile = [
      'a'.repeat(n),
      `${'a'.repeat(n)}!`,
      `${'a'.repeat(n)} x`,
      `a${' '.repeat(n)}=`,
      `a=${' '.repeat(n)}x y`,
      `a${'='.repeat(n)}`,
      `a${'!='.repeat(n / 2)}`,
      `!${'a'.repeat(n)}=`,
      ' '.repeat(n),
      `${'a '.repeat(n / 2)}=b`,
    ];
    for (const text of hostile) {
      const what = `${JSON.stringify(text.slice(0, 12))}… (${text.length} chars)`;
      expect(
        timed(() => {
          try {
            parseLabelFilter(text);
          } catch {
            // Refused, which is fine: only the time matters here.
          }
        }),
        what,
      ).toBeLessThan(250);
      expect(
        timed(() => parseLabelInput(text)),
        what,
      ).toBeLessThan(250);
    }
  });

  it("bounds a commit author from Git (a tenant's push) before it reaches lists, streams and pages", () => {
    const author = `Mallory${' '.repeat(200_000)}x <m@example.com>`;
    const summary = summarize(
      app('team-a', 'web', { lastAppliedRevision: { sha: 'b'.repeat(40), message: 'm', author } }),
    );
    expect(summary.revision?.author?.length).toBeLessThanOrEqual(256);
  });

  it('refuses oversized list queries with 400 and oversized request lines outright', async () => {
    const { server, login } = setup();
    const port = await listen(server);
    const { cookie } = await login('alice-token');
    const get = (query: string) =>
      server.inject({ method: 'GET', url: `/api/v1/apps?${query}`, headers: { host: HOST, cookie } });
    const tooBig = [
      `q=${'a'.repeat(201)}`,
      Array.from({ length: 17 }, (_, i) => `label=k${i}`).join('&'),
      `label=${'k'.repeat(318)}`,
      `namespace=${Array.from({ length: 65 }, (_, i) => `ns${i}`).join(',')}`,
      `namespace=${'n'.repeat(64)}`,
      `continue=${'A'.repeat(2049)}`,
      'limit=501',
      'page=1000001',
      'page=1&continue=x',
      'sort=__proto__',
      `repository=${'r'.repeat(254)}`,
      `ref=${'r'.repeat(256)}`,
    ];
    for (const query of tooBig) expect((await get(query)).statusCode, query.slice(0, 40)).toBe(400);
    const huge = await raw(port, `GET /api/v1/apps?q=${'a'.repeat(80_000)} HTTP/1.1`, [`Cookie: ${cookie}`]);
    expect(huge.status).toBe(431);
  });

  it('caps event streams per session (429 past the cap) and frees a slot when one closes', async () => {
    const { server, login } = setup({ limits: { streams: { maxPerSession: 2 } } });
    const port = await listen(server);
    const { cookie } = await login('alice-token');
    const open = () =>
      new Promise<{ status: number; close: () => void }>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1');
        socket.setEncoding('utf8');
        socket.once('data', (chunk: string) =>
          resolve({ status: Number(chunk.split(' ')[1]), close: () => socket.destroy() }),
        );
        socket.on('error', reject);
        socket.write(`GET /api/v1/events HTTP/1.1\r\nHost: ${HOST}\r\nCookie: ${cookie}\r\n\r\n`);
      });
    const first = await open();
    const second = await open();
    const third = await open();
    expect([first.status, second.status, third.status]).toEqual([200, 200, 429]);
    third.close();
    first.close();
    const again = await (async () => {
      for (;;) {
        const attempt = await open();
        if (attempt.status === 200) return attempt;
        attempt.close();
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    expect(again.status).toBe(200);
    again.close();
    second.close();
  });

  it('cuts off a stream whose reader stops reading, instead of buffering for it', async () => {
    const { server, login, index } = setup({ limits: { streams: { maxBufferedBytes: 64 * 1024 } } });
    const port = await listen(server);
    const { cookie } = await login('alice-token');
    const socket = connect(port, '127.0.0.1');
    let received = 0;
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.on('error', () => {});
    await new Promise<void>((resolve) => {
      socket.once('data', (chunk: Buffer) => {
        received += chunk.length;
        resolve();
      });
      socket.write(`GET /api/v1/events HTTP/1.1\r\nHost: ${HOST}\r\nCookie: ${cookie}\r\n\r\n`);
    });
    // The reader stops reading; the apps keep changing: ~40 MB of events, far more than the
    // socket buffers on both sides hold.
    socket.pause();
    const message = 'x'.repeat(400);
    let sent = 0;
    for (let i = 0; i < 20_000; i++) {
      const changed = app('team-a', 'web', {
        conditions: [
          {
            type: 'Ready',
            status: 'False',
            reason: `R${i}`,
            message,
            lastTransitionTime: '2024-05-01T00:00:00Z',
          },
        ],
        health: { status: 'Degraded', message: `${i} ${message}` },
      });
      index.upsert(changed);
      sent += JSON.stringify(summarize(changed)).length;
      if (i % 500 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    socket.on('data', (chunk: Buffer) => (received += chunk.length));
    socket.resume();
    await closed;
    // The server cut it: the reader got a part of what was published, and then the connection ended.
    expect(received).toBeLessThan(sent / 2);
  });
});

describe('attack: links built from tenant data (web/src/format.ts)', () => {
  const sha = 'c'.repeat(40);
  it('links only http(s), never a script or data URL, and never a URL with odd characters', () => {
    const hostile = [
      'javascript:alert(1)',
      'JaVaScRiPt:alert(1)//github.com/a/b',
      'java\tscript:alert(1)//github.com/a/b',
      ' javascript:alert(1)',
      'javascript://github.com/a/b%0aalert(1)',
      'data:text/html,<script>alert(1)</script>',
      'data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==',
      'vbscript:msgbox(1)',
      'file:///etc/passwd',
      'https://evil.example/"onmouseover="alert(1)/repo',
      "https://evil.example/a/b'onmouseover='alert(1)",
      'https://evil.example/a/<script>alert(1)</script>',
      'git@evil:"><script>alert(1)</script>',
      'git@evil:a/b"onmouseover="x',
      'git@"evil":a/b',
      'ssh://git@evil.example/a/"><img src=x onerror=alert(1)>',
      'git@evil.example:/abs/path',
      'https://evil.example/only-one-segment',
    ];
    for (const url of hostile) {
      expect(commitUrl(url, sha), url).toBeUndefined();
      const plain = httpUrl(url);
      if (plain !== undefined) expect(new URL(plain).protocol, url).toMatch(/^https?:$/);
    }
    for (const url of ['javascript:alert(1)', 'data:text/html,x', 'JAVASCRIPT:alert(1)', 'vbscript:x'])
      expect(httpUrl(url), url).toBeUndefined();
    // A SHA that is not one makes no link either.
    expect(commitUrl('https://github.com/o/r', 'javascript:alert(1)')).toBeUndefined();
    expect(commitUrl('https://github.com/o/r', `${sha}/../../x`)).toBeUndefined();
  });

  it('keeps credentials out of a commit link and builds it on the forge host', () => {
    expect(commitUrl('https://user:s3cr3t@github.com/o/r.git', sha)).toBe(
      `https://github.com/o/r/commit/${sha}`,
    );
    expect(commitUrl('https://github.com@evil.example/o/r', sha)).toBe(
      `https://evil.example/o/r/commit/${sha}`,
    );
    expect(commitUrl('git@gitlab.com:group/sub/r.git', sha)).toBe(
      `https://gitlab.com/group/sub/r/-/commit/${sha}`,
    );
    expect(commitUrl('ssh://git@bitbucket.org/o/r', sha)).toBe(`https://bitbucket.org/o/r/commits/${sha}`);
  });
});

describe('URLs the router refuses, and log-ins in local mode', () => {
  it('answers a URL it cannot route with our headers and JSON, without echoing it', async () => {
    const { server } = setup();
    for (const url of ['/%zz', '/api/v1/apps/%zz/x', `/api/v1/apps/a/${'n'.repeat(300)}`]) {
      const response = await server.inject({ method: 'GET', url, headers: { host: HOST } });
      expect(response.statusCode, url).toBeGreaterThanOrEqual(400);
      expect(response.statusCode, url).toBeLessThan(500);
      expect(response.headers['content-security-policy'], url).toContain("default-src 'self'");
      expect(response.headers['cache-control'], url).toBe('no-store');
      expect(response.json(), url).toEqual({ error: 'bad_request', message: 'bad request URL' });
    }
  });

  it('does not rate-limit local log-ins: a wrong token from another process cannot lock the user out', async () => {
    const { server } = setup({ mode: 'local' });
    const attempt = (token: string) =>
      server.inject({
        method: 'POST',
        url: '/api/v1/session',
        headers: { origin: ORIGIN, host: HOST, 'content-type': 'application/json' },
        payload: { token },
      });
    for (let i = 0; i < 20; i++) expect((await attempt('wrong')).statusCode).toBe(401);
    expect((await attempt('alice-token')).statusCode).toBe(201);
  });
});
