/**
 * The dashboard attacked on the real control plane, in a real browser, by the people of a shared
 * cluster and by pages of other sites:
 *
 * - tenants own what ends up on other people's screens — names, specs, Repository URLs, Git content
 *   and commit messages (one with a 200,000-character author), Events, their Git server's replies —
 *   so a hostile version of each is planted (statuses the controller would write are written by the
 *   admin here) and every page and tab is opened: no script runs, no CSP violation, no link but
 *   http(s);
 * - a user of team A gets nothing of team B through any endpoint, its errors and its event stream;
 * - no Secret value (plain or base64, from Git, or copied into kubectl's last-applied annotation by
 *   a drift) appears in any answer, even the admin's;
 * - a page of another site can neither act (forms, no-cors fetches, beacons, preflighted fetches),
 *   nor read, nor frame the dashboard; `capstan dashboard`'s `#token=` never leaves the address
 *   bar it is wiped from.
 * src/server/dashboard/attack.test.ts covers the static files, CSRF and costs in detail.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import { API_VERSION, type Application, type Repository } from '../../src/api/v1alpha1.js';
import { createKubeClient, type HttpKubeClient } from '../../src/kube/index.js';
import type { PlanDiff } from '../../src/server/dashboard/index.js';
import {
  appDetailSchema,
  appDiffSchema,
  appListSchema,
  sessionSchema,
  type AppDiff,
} from '../../src/server/dashboard/schema.js';
import {
  startControllerDashboard,
  startLocalDashboard,
  type LocalDashboard,
  type RunningDashboard,
} from '../../src/server/dashboard/serve.js';
import { dashboardAssets, launchBrowser } from '../support/browser.js';
import { kubectl, kubectlOk } from '../support/cluster.js';
import {
  application,
  eventually,
  getApp,
  installCrds,
  isolated,
  readyAt,
  repository,
  startTestController,
  type TestController,
} from '../support/controller.js';
import { serviceAccountKubeconfig } from '../support/controller-process.js';
import {
  createTestRepo,
  makeTempDir,
  startGitHttpServer,
  type GitHttpServer,
} from '../support/git-servers.js';

// ── what the attackers plant ──────────────────────────────────────────────────────────────────────

/** Every way of running script a page could fall for, and a word to find it by as plain text. */
const PAYLOAD =
  'HOSTILE<img src=x onerror=alert(1)><script>alert(2)</script><svg onload=alert(3)>"\'><a href=javascript:alert(4)>x</a>';
/** What Git allows in an author's name (no `<`), 200,000 characters of it. */
const HOSTILE_AUTHOR = `Mallory "onmouseover=alert(5) '&${' '.repeat(200_000)}x`;

const PASSWORD_IN_GIT = 'first-Pa55word-in-git';
const PASSWORD_NEXT = 'second-Pa55word-in-git';
const PASSWORD_DRIFT = 'drift-Pa55word-by-kubectl';
const b64 = (text: string): string => Buffer.from(text).toString('base64');
const SECRET_VALUES = [PASSWORD_IN_GIT, PASSWORD_NEXT, PASSWORD_DRIFT].flatMap((p) => [p, b64(p)]);

const B_VALUE = 'team-b-private-value';
const B_EVENT = 'team-b-private-event';
const B_ERROR = 'team-b-private-error';
const B_REPO_URL = 'https://git.team-b.example/private-project.git';
const B_STRINGS = [B_VALUE, B_EVENT, B_ERROR, B_REPO_URL, 'private-repo'];

const SHA_1 = 'a1'.repeat(20);
const SHA_2 = 'b2'.repeat(20);

function secret(password: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    // People do copy a password into an annotation.
    metadata: { name: 'db', annotations: { note: `copied by mistake: ${password}` } },
    type: 'Opaque',
    data: { password: b64(password) },
  });
}

const configMap = (name: string, data: Record<string, string>, namespace?: string): string =>
  JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace }, data });

/** Repository URLs a tenant may write (the CRD takes any string) and the page must not link. */
const HOSTILE_URLS: Record<string, string> = {
  'x-javascript': 'javascript:alert(document.domain)//forge.invalid/o/r',
  'x-data': 'data:text/html,<script>alert(1)</script>',
  'x-quote': 'https://forge.invalid/"onmouseover="alert(1)/r',
  'x-scp': 'git@forge.invalid:"><script>alert(1)</script>',
  // The control: a forge URL, linked to its commit pages.
  'x-forge': 'https://forge.invalid/team/repo.git',
};

/** A status the controller could write from a hostile repository and Git server. */
function hostileStatus(namespace: string, now: string): NonNullable<Application['status']> {
  return {
    observedGeneration: 1,
    conditions: [
      { type: 'Ready', status: 'False', reason: 'Hostile', message: PAYLOAD, lastTransitionTime: now },
      { type: 'Stalled', status: 'True', reason: 'Hostile', message: PAYLOAD, lastTransitionTime: now },
    ],
    sync: { status: 'OutOfSync', revision: SHA_2 },
    health: { status: 'Degraded', message: PAYLOAD },
    lastAppliedRevision: {
      sha: SHA_1,
      ref: PAYLOAD,
      message: PAYLOAD,
      author: `${PAYLOAD} <m@x>`,
      date: now,
    },
    lastAttemptedRevision: SHA_2,
    resources: [
      { group: '', kind: 'ConfigMap', namespace, name: PAYLOAD, sync: 'configured', message: PAYLOAD },
      { group: '', kind: 'ConfigMap', namespace, name: '../../secrets/x', sync: 'failed', message: PAYLOAD },
      { group: 'evil.example', kind: 'Hostile<b>', name: 'x', sync: 'failed', message: PAYLOAD },
    ],
    history: [
      {
        id: 1,
        revision: SHA_1,
        commit: { message: PAYLOAD, author: PAYLOAD },
        trigger: 'request',
        requestedBy: PAYLOAD,
        startedAt: now,
        finishedAt: now,
        durationSeconds: 1,
        result: 'Failed',
        health: PAYLOAD,
        message: PAYLOAD,
        rollbackOf: SHA_2,
      },
    ],
    lastError: PAYLOAD,
    lastHandledRequest: PAYLOAD,
    rollout: { revision: SHA_2, startedAt: now },
    lastHealthyRevision: { sha: SHA_1, message: PAYLOAD },
    previousHealthyRevision: SHA_2,
    rejectedRevisions: [{ sha: SHA_2, reason: PAYLOAD, rejectedAt: now, by: PAYLOAD }],
    rollback: {
      from: SHA_2,
      to: SHA_1,
      at: now,
      automatic: false,
      by: PAYLOAD,
      reason: PAYLOAD,
      gitRevert: { mode: 'pullRequest', state: 'Failed', message: PAYLOAD, url: 'javascript:alert(6)' },
    },
  };
}

// ── the cluster ───────────────────────────────────────────────────────────────────────────────────

let admin: HttpKubeClient;
let browser: Browser;
let controller: TestController;
let git: GitHttpServer;
/** People log in with their own token; diffs are the controller's dry-runs. */
let shared: RunningDashboard;
/** No dry-run: every diff is the live mode. */
let liveOnly: RunningDashboard;
/** A dry-run that always fails, with credentials in its error. */
let failing: RunningDashboard;
/** `capstan dashboard` as the admin, on the hostile namespace. */
let local: LocalDashboard;
/** A web server elsewhere that a commit link points at: what does it learn? */
let linkTarget: Server;
const linkRequests: { url: string; headers: IncomingHttpHeaders }[] = [];
/** A page of another site. */
let attacker: Server;
let attackerUrl: string;
/** Team A (a controller syncs it), team B (its secrets), X (hostile data, nothing reconciles it). */
let nsA: string;
let nsB: string;
let nsX: string;
let aliceToken: string;
let aliceKubeconfig: string;
let adminToken: string;

const namespaces: string[] = [];
async function createNamespace(prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  await kubectlOk(['create', 'namespace', name]);
  namespaces.push(name);
  return name;
}

const appRef = (namespace: string, name: string) => ({
  group: 'capstan.dev',
  kind: 'Application',
  namespace,
  name,
});

async function writeStatus(object: Application | Repository): Promise<void> {
  await admin.patch(
    {
      group: 'capstan.dev',
      kind: object.kind,
      namespace: object.metadata.namespace,
      name: object.metadata.name,
    },
    { status: object.status },
    'merge',
    { subresource: 'status' },
  );
}

async function listen(server: Server, host: string): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return (server.address() as AddressInfo).port;
}

/** Replaces the tip of main by the same commit with another author (any bytes Git keeps). */
function reauthor(workDir: string, author: string): void {
  const run = (args: string[], input?: string) =>
    execFileSync('git', args, {
      cwd: workDir,
      input,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' },
    }).trim();
  const commit = run(['cat-file', 'commit', 'HEAD']).replace(
    /^author .*? (\d+ [+-]\d{4})$/m,
    (_line, when: string) => `author ${author} <mallory@example.com> ${when}`,
  );
  const sha = run(['hash-object', '-t', 'commit', '-w', '--stdin'], `${commit}\n`);
  run(['reset', '--quiet', '--hard', sha]);
  run(['push', '--quiet', '--force', 'origin', 'main:main']);
}

beforeAll(async () => {
  admin = await createKubeClient({ kubeconfig: inject('kubeconfig') });
  await installCrds(admin);
  const assets = await dashboardAssets();
  browser = await launchBrowser();
  adminToken = /token: (\S+)/.exec(inject('kubeconfig'))![1]!;
  const now = new Date().toISOString();

  nsA = await createNamespace('atk-a');
  nsB = await createNamespace('atk-b');
  nsX = await createNamespace('atk-x');

  // Team A: its apps apply as `deployer` (admin of A); alice reads A (`view`, and Capstan's objects).
  await kubectlOk(['create', 'serviceaccount', 'deployer', '-n', nsA]);
  await kubectlOk([
    'create',
    'rolebinding',
    'deployer',
    '-n',
    nsA,
    '--clusterrole=admin',
    `--serviceaccount=${nsA}:deployer`,
  ]);
  await kubectlOk(['create', 'serviceaccount', 'alice', '-n', nsA]);
  await kubectlOk([
    'create',
    'rolebinding',
    'alice-view',
    '-n',
    nsA,
    '--clusterrole=view',
    `--serviceaccount=${nsA}:alice`,
  ]);
  await kubectlOk([
    'create',
    'role',
    'capstan-reader',
    '-n',
    nsA,
    '--verb=get,list,watch',
    '--resource=applications.capstan.dev,repositories.capstan.dev',
  ]);
  await kubectlOk([
    'create',
    'rolebinding',
    'alice-capstan',
    '-n',
    nsA,
    '--role=capstan-reader',
    `--serviceaccount=${nsA}:alice`,
  ]);
  aliceKubeconfig = await serviceAccountKubeconfig(nsA, 'alice');
  aliceToken = /token: (\S+)/.exec(await readFile(aliceKubeconfig, 'utf8'))![1]!;

  // Team A's Git: a Secret (its password also in an annotation), a ConfigMap, and an object in
  // team B's namespace that A's ServiceAccount may not touch. The commit's message and author are
  // hostile.
  const gitRoot = await makeTempDir('attack-git');
  const repo = await createTestRepo(gitRoot, 'apps');
  await repo.commit(
    {
      'web/secret.yaml': secret(PASSWORD_IN_GIT),
      'web/settings.yaml': configMap('settings', { color: 'blue' }),
      'cross/b-config.yaml': configMap('b-config', { value: 'what team A would like it to be' }, nsB),
    },
    PAYLOAD,
  );
  reauthor(join(gitRoot, '.work', 'apps'), HOSTILE_AUTHOR);
  const first = await repo.head();
  git = await startGitHttpServer({ root: gitRoot });
  controller = await startTestController({ namespace: nsA });
  await admin.apply(isolated(repository(nsA, 'apps', { url: git.url('apps'), interval: '1s' })));
  for (const [name, path] of [
    ['web', 'web'],
    ['cross', 'cross'],
  ] as const)
    await admin.apply(
      isolated(
        application(nsA, name, {
          sourceRef: { name: 'apps' },
          ref: 'main',
          path,
          serviceAccountName: 'deployer',
          syncPolicy: { automated: true, selfHeal: false },
        } as Application['spec']),
      ),
    );
  await readyAt(admin, nsA, 'web', first);

  // Then: no more automatic syncs; someone drifts the Secret with kubectl (whose last-applied
  // annotation copies its data) and Git moves on to another password.
  await admin.patch(appRef(nsA, 'web'), { spec: { syncPolicy: { automated: false } } }, 'merge');
  await kubectlOk(['apply', '-n', nsA, '-f', '-'], { input: secret(PASSWORD_DRIFT) });
  const next = await repo.commit({ 'web/secret.yaml': secret(PASSWORD_NEXT) }, PAYLOAD);
  await eventually('web out of sync at the next commit', async () => {
    const app = await getApp(admin, nsA, 'web');
    return app.status?.sync?.revision === next && app.status.sync.status === 'OutOfSync';
  });

  // Team B: an app, its Repository, an Event and a ConfigMap, none of which alice may read.
  await kubectlOk(['create', 'configmap', 'b-config', '-n', nsB, `--from-literal=value=${B_VALUE}`]);
  const bRepo = isolated(repository(nsB, 'private-repo', { url: B_REPO_URL }));
  await admin.apply(bRepo);
  await writeStatus({ ...bRepo, status: { lastError: B_ERROR } });
  const bApp = isolated(
    application(nsB, 'private', { sourceRef: { name: 'private-repo' }, ref: 'main', path: 'p' }),
  );
  const storedB = await admin.apply<Application>(bApp);
  await writeStatus({
    ...bApp,
    status: { lastError: B_ERROR, health: { status: 'Degraded', message: B_ERROR } },
  });
  await admin.create(kubeEvent(nsB, 'private', storedB.metadata.uid!, B_EVENT, now));

  // X: hostile everything.
  linkTarget = createServer((request, response) => {
    linkRequests.push({ url: request.url ?? '', headers: request.headers });
    response.end('a forge page');
  });
  const linkPort = await listen(linkTarget, '127.0.0.1');
  const urls = { ...HOSTILE_URLS, 'x-link': `http://127.0.0.1:${linkPort}/team/repo.git` };
  for (const [name, url] of Object.entries(urls)) {
    const repositoryObject = isolated(repository(nsX, `r-${name}`, { url, suspend: true }));
    await admin.apply(repositoryObject);
    await writeStatus({
      ...repositoryObject,
      status: {
        conditions: [
          { type: 'Ready', status: 'False', reason: 'Hostile', message: PAYLOAD, lastTransitionTime: now },
        ],
        revisions: [{ ref: PAYLOAD, sha: SHA_1, fetchedAt: now }],
        lastError: PAYLOAD,
      },
    });
    const appObject = isolated(
      application(nsX, name, {
        sourceRef: { name: `r-${name}` },
        ref: PAYLOAD,
        path: PAYLOAD,
        suspend: true,
      }),
    );
    const stored = await admin.apply<Application>(appObject);
    await writeStatus({ ...appObject, status: hostileStatus(nsX, now) });
    await admin.create(kubeEvent(nsX, name, stored.metadata.uid!, PAYLOAD, now));
  }

  // The dashboards. Team A's diffs are the controller's dry-runs; X's fail with hostile words.
  const planDiff: PlanDiff = (app, signal) =>
    app.metadata.namespace === nsA
      ? controller.controller.previewSync(app, signal)
      : Promise.reject(new Error(`cannot fetch: ${PAYLOAD}`));
  shared = await startControllerDashboard({
    kube: admin,
    source: { kubeconfig: inject('kubeconfig') },
    host: '127.0.0.1',
    port: 0,
    assets,
    planDiff,
    // Every test here logs in from 127.0.0.1, more than 10 times a minute when the run is quick;
    // the log-in limit is tested in src/server/dashboard/server.test.ts.
    limits: { loginsPerMinute: 1000 },
  });
  liveOnly = await startControllerDashboard({
    kube: admin,
    source: { kubeconfig: inject('kubeconfig') },
    host: '127.0.0.1',
    port: 0,
    assets: false,
  });
  failing = await startControllerDashboard({
    kube: admin,
    source: { kubeconfig: inject('kubeconfig') },
    host: '127.0.0.1',
    port: 0,
    assets: false,
    planDiff: async () => {
      throw new Error(
        `git fetch https://deploy:${PASSWORD_IN_GIT}@git.example/apps.git failed; ` +
          `password=${PASSWORD_NEXT} Authorization: Bearer ${b64(PASSWORD_DRIFT)}`,
      );
    },
  });
  local = await startLocalDashboard({ kube: admin, namespaces: [nsX], assets });
  await Promise.all([shared, liveOnly, failing, local].map((d) => d.cache.synced));
  await eventually('the caches hold every app', async () =>
    [shared, liveOnly, failing].every(
      (d) =>
        d.cache.index.get(nsA, 'web') &&
        d.cache.index.get(nsB, 'private') &&
        d.cache.index.get(nsX, 'x-link'),
    ) && local.cache.index.get(nsX, 'x-link')
      ? true
      : undefined,
  );

  attacker = createServer((_request, response) => {
    response.setHeader('content-type', 'text/html');
    response.end(attackPage(shared.url, nsA));
  });
  // `localhost` is another site than `127.0.0.1` (the dashboard's): SameSite applies.
  attackerUrl = `http://localhost:${await listen(attacker, '127.0.0.1')}/`;
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await Promise.all([shared, liveOnly, failing, local].map((d) => d?.close()));
  await controller?.stop();
  await git?.close();
  linkTarget?.close();
  attacker?.close();
  admin?.close();
  for (const name of namespaces) await kubectl(['delete', 'namespace', name, '--wait=false']);
});

function kubeEvent(namespace: string, app: string, uid: string, message: string, now: string) {
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { namespace, name: `${app}.${randomBytes(6).toString('hex')}` },
    involvedObject: { apiVersion: API_VERSION, kind: 'Application', namespace, name: app, uid },
    reason: 'Hostile',
    message,
    type: 'Warning',
    source: { component: 'tenant-workload' },
    firstTimestamp: now,
    lastTimestamp: now,
    count: 1,
  };
}

// ── the API as a logged-in browser would use it ──────────────────────────────────────────────────

async function login(token: string, on: RunningDashboard) {
  const response = await fetch(`${on.url}/api/v1/session`, {
    method: 'POST',
    headers: { origin: on.url, 'content-type': 'application/json' },
    body: JSON.stringify({ token }),
  });
  expect(response.status).toBe(201);
  const session = sessionSchema.parse(await response.json());
  const cookie = response.headers.get('set-cookie')!.split(';')[0]!;
  /** Every body this session received, to search for what it must not have. */
  const bodies: string[] = [];
  const get = async (path: string) => {
    const answer = await fetch(`${on.url}${path}`, { headers: { cookie } });
    const body = await answer.text();
    bodies.push(body);
    return { status: answer.status, body, json: () => JSON.parse(body) as unknown };
  };
  const post = async (path: string, payload: unknown = {}) => {
    const answer = await fetch(`${on.url}${path}`, {
      method: 'POST',
      headers: {
        cookie,
        origin: on.url,
        'content-type': 'application/json',
        'x-capstan-csrf': session.csrfToken,
      },
      body: JSON.stringify(payload),
    });
    const body = await answer.text();
    bodies.push(body);
    return { status: answer.status, body };
  };
  /** GET /api/v1/events: its raw text, as it arrives. */
  const stream = async (query = '') => {
    const controller = new AbortController();
    const answer = await fetch(`${on.url}/api/v1/events${query}`, {
      headers: { cookie },
      signal: controller.signal,
    });
    expect(answer.status).toBe(200);
    const received = { text: '' };
    const reader = answer.body!.pipeThrough(new TextDecoderStream()).getReader();
    void (async () => {
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) return;
        received.text += value;
      }
    })();
    onTestFinished(() => controller.abort());
    await eventually('the ready event', async () => received.text.includes('event: ready'));
    return received;
  };
  return { session, cookie, get, post, stream, bodies };
}

function expectNone(bodies: readonly string[], values: readonly string[]): void {
  const all = bodies.join('\n');
  for (const value of values) expect(all, `an answer holds ${value}`).not.toContain(value);
}

/** GET …/diff until it is the mode wanted (the first dry-run of an app takes a moment). */
async function diffOf(
  as: Awaited<ReturnType<typeof login>>,
  namespace: string,
  name: string,
  mode: AppDiff['mode'],
): Promise<AppDiff> {
  return eventually(
    `the ${mode} diff of ${namespace}/${name}`,
    async () => {
      const answer = await as.get(`/api/v1/apps/${namespace}/${name}/diff`);
      if (answer.status !== 200) return undefined;
      const diff = appDiffSchema.parse(answer.json());
      return diff.mode === mode ? diff : undefined;
    },
    90_000,
  );
}

// ── in the browser ──────────────────────────────────────────────────────────────────────────────

/** What of the page the checks below read (this file is compiled without DOM types). */
interface PageNode {
  readonly tagName: string;
  readonly attributes: Iterable<{ readonly name: string; readonly value: string }>;
  getAttribute(name: string): string | null;
}
interface InPage {
  document: {
    querySelectorAll(selector: string): Iterable<PageNode>;
    body: { innerText: string };
    referrer: string;
  };
  location: { href: string };
  opener: unknown;
  pwned?: unknown;
  violations?: string[];
  results?: Record<string, unknown>;
  addEventListener(
    type: string,
    listener: (event: { violatedDirective: string; blockedURI: string }) => void,
  ): void;
}

/** A fresh browser context whose pages record dialogs, errors and CSP violations. */
async function openContext(): Promise<{ context: BrowserContext; problems: string[] }> {
  const context = await browser.newContext();
  onTestFinished(() => context.close());
  const problems: string[] = [];
  await context.addInitScript(() => {
    const window = globalThis as unknown as InPage;
    window.violations = [];
    window.addEventListener('securitypolicyviolation', (event) =>
      window.violations!.push(`${event.violatedDirective} ${event.blockedURI}`),
    );
  });
  context.on('page', (page) => watch(page, problems));
  return { context, problems };
}

function watch(page: Page, problems: string[]): void {
  page.on('dialog', (dialog) => {
    problems.push(`dialog: ${dialog.message()}`);
    void dialog.dismiss();
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    const text = message.text();
    // The browser logs the dashboard's deliberate refusals (401 before log-in, 403, 404).
    if (/Content.Security.Policy/i.test(text)) problems.push(`CSP: ${text}`);
    else if (message.type() === 'error' && !/status of 40[134]/.test(text)) problems.push(`console: ${text}`);
  });
}

/** Logs a context in to `on` with a token, as the log-in form would. */
async function logInContext(context: BrowserContext, on: RunningDashboard, token: string): Promise<void> {
  const answer = await context.request.post(`${on.url}/api/v1/session`, {
    data: { token },
    headers: { origin: on.url },
  });
  expect(answer.status()).toBe(201);
}

/** The page's own h1 (not the log-in form's). */
async function heading(page: Page, timeout = 20_000): Promise<string> {
  return (await page.locator('h1', { hasNotText: /^Capstan$/ }).textContent({ timeout })) ?? '';
}

/** What a script injected into the page would have left, and every link and source in it. */
async function inspect(page: Page) {
  return page.evaluate(() => {
    const window = globalThis as unknown as InPage;
    const all = [...window.document.querySelectorAll('*')];
    return {
      pwned: window.pwned,
      violations: window.violations ?? [],
      hrefs: [...window.document.querySelectorAll('body [href]')].map(
        (node) => node.getAttribute('href') ?? '',
      ),
      sources: [...window.document.querySelectorAll('body [src]')].map(
        (node) => node.getAttribute('src') ?? '',
      ),
      inlineScripts: [...window.document.querySelectorAll('script:not([src])')].length,
      injected: [
        ...window.document.querySelectorAll(
          'body img, body svg, body iframe, body object, body embed, body script',
        ),
      ].length,
      handlers: all.flatMap((node) =>
        [...node.attributes].filter((a) => /^on/i.test(a.name)).map((a) => a.name),
      ),
      text: window.document.body.innerText,
    };
  });
}

async function expectClean(page: Page, where: string): Promise<string> {
  const found = await inspect(page);
  expect(found.pwned, where).toBeUndefined();
  // Nothing is refused by the Content-Security-Policy (zod's eval probe is off: web/src/zod-config.ts).
  expect(found.violations, where).toEqual([]);
  expect(found.inlineScripts, where).toBe(0);
  expect(found.injected, where).toBe(0);
  expect(found.handlers, where).toEqual([]);
  for (const href of found.hrefs) expect(href, `${where}: a link`).toMatch(/^(\/|#|https?:\/\/)/);
  for (const source of found.sources) expect(source, `${where}: a source`).toMatch(/^\/assets\//);
  return found.text;
}

const TABS = ['Resources', 'Diff', 'History', 'Events', 'Conditions', 'Dependencies', 'Repository'];

// ── the tests ─────────────────────────────────────────────────────────────────────────────────────

describe('attack: hostile tenant data in the browser', () => {
  it('shows every hostile string as text, on the list and on every tab of every app: no script, no CSP violation', async () => {
    const { context, problems } = await openContext();
    await logInContext(context, shared, adminToken);
    const page = await context.newPage();

    for (const path of [
      `/?namespace=${nsX}`,
      `/?q=${encodeURIComponent(PAYLOAD)}`,
      `/?label=${encodeURIComponent('a=<b>')}`,
    ]) {
      await page.goto(`${shared.url}${path}`);
      await page.locator('.list-total', { hasText: /application/ }).waitFor();
      await expectClean(page, path);
    }
    await page.goto(`${shared.url}/?namespace=${nsX}`);
    await page.locator(`tr[data-app="${nsX}/x-forge"]`).waitFor();
    expect(await expectClean(page, 'the list')).toContain('HOSTILE<img src=x onerror=alert(1)>');

    for (const name of Object.keys(HOSTILE_URLS)) {
      await page.goto(`${shared.url}/apps/${nsX}/${name}`);
      expect(await heading(page)).toBe(name);
      for (const tab of TABS) {
        await page.getByRole('tab', { name: new RegExp(`^${tab}`) }).click();
        await page.locator('[role="tabpanel"] h2').first().waitFor();
        // The panels that load (the tree, the diff) have loaded.
        await page.locator('[role="tabpanel"] [role="status"].loading').waitFor({ state: 'detached' });
        const text = await expectClean(page, `${name}, ${tab}`);
        if (tab !== 'Dependencies') expect(text, `${name}, ${tab}`).toContain('HOSTILE');
      }
      await expectClean(page, name);
    }
    expect(problems).toEqual([]);
  });

  it('links a commit only on an http(s) forge URL, opened without referrer or opener', async () => {
    const { context, problems } = await openContext();
    await logInContext(context, shared, adminToken);
    const page = await context.newPage();
    for (const name of Object.keys(HOSTILE_URLS)) {
      await page.goto(`${shared.url}/apps/${nsX}/${name}?tab=history`);
      expect(await heading(page)).toBe(name);
      const links = page.locator('a.sha');
      if (name === 'x-forge') {
        await links.first().waitFor();
        for (const link of await links.all()) {
          expect(await link.getAttribute('href')).toMatch(
            /^https:\/\/forge\.invalid\/team\/repo\/commit\/[0-9a-f]{40}$/,
          );
          expect(await link.getAttribute('rel')).toBe('noreferrer noopener');
          expect(await link.getAttribute('target')).toBe('_blank');
        }
      } else expect(await links.count(), name).toBe(0);
      // The rollback's "open" link: its javascript: URL is never a link.
      expect(await page.locator('a', { hasText: /^open$/ }).count(), name).toBe(0);
    }
    expect(problems).toEqual([]);
  });

  it('cuts a 200,000-character commit author (Git sets no limit) in status and the summaries pages show, and renders its page', async () => {
    // The controller records at most 128 characters of a name and of an address.
    const recorded = (await getApp(admin, nsA, 'web')).status?.lastAppliedRevision?.author ?? '';
    expect(recorded).toMatch(/^Mallory/);
    expect(recorded.length).toBeLessThanOrEqual(128 + 3 + 128);
    // The page strips the e-mail from it with a regular expression; in a browser whose engine
    // backtracks without limit (Chromium's falls back to a linear one) an unbounded author would
    // take minutes. The summary the list, the header and the stream show is cut first.
    const root = await login(adminToken, shared);
    const list = appListSchema.parse((await root.get(`/api/v1/apps?namespace=${nsA}`)).json());
    const detail = appDetailSchema.parse((await root.get(`/api/v1/apps/${nsA}/web`)).json());
    for (const summary of [list.items.find((app) => app.name === 'web'), detail.app])
      expect(summary?.revision?.author?.length).toBeLessThanOrEqual(256);
    const { context, problems } = await openContext();
    await logInContext(context, shared, adminToken);
    const page = await context.newPage();
    await page.goto(`${shared.url}/apps/${nsA}/web`);
    expect(await heading(page, 10_000)).toBe('web');
    await page.locator('header.app-header', { hasText: 'Mallory' }).waitFor({ timeout: 10_000 });
    for (const tab of TABS) {
      await page.getByRole('tab', { name: new RegExp(`^${tab}`) }).click();
      await page.locator('[role="tabpanel"] h2').first().waitFor();
      await page
        .locator('[role="tabpanel"] [role="status"].loading')
        .waitFor({ state: 'detached', timeout: 60_000 });
      const text = await expectClean(page, `web, ${tab}`);
      for (const value of SECRET_VALUES) expect(text, `web, ${tab}`).not.toContain(value);
    }
    expect(problems).toEqual([]);
  });

  it('serves a page that needs no inline script or style, under a CSP that allows none', async () => {
    const answer = await fetch(`${shared.url}/`);
    const html = await answer.text();
    const csp = answer.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toMatch(/unsafe-|nonce-|sha256-/);
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/i);
    expect(html).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
    for (const [, path] of html.matchAll(/(?:src|href)="([^"]+)"/g)) {
      if (path!.startsWith('data:')) continue;
      expect(path).toMatch(/^\/assets\//);
      const asset = await fetch(`${shared.url}${path}`);
      expect(asset.status).toBe(200);
      expect(asset.headers.get('x-content-type-options')).toBe('nosniff');
      expect(asset.headers.get('content-type')).toMatch(/^(application\/javascript|text\/css)/);
    }
  });
});

describe('attack: a user of team A reading team B', () => {
  it('gets nothing of team B from the list, whatever the query, nor in its counts and namespaces', async () => {
    const alice = await login(aliceToken, shared);
    const queries = [
      '',
      `?namespace=${nsB}`,
      `?namespace=${nsA},${nsB}`,
      '?q=private',
      `?q=${nsB}`,
      '?repository=private-repo',
      '?health=Degraded',
      '?sort=health&order=desc&limit=500',
      '?page=2&limit=1',
    ];
    for (const query of queries) {
      const list = appListSchema.parse((await alice.get(`/api/v1/apps${query}`)).json());
      expect(
        list.items.every((app) => app.namespace === nsA),
        query,
      ).toBe(true);
      expect(list.namespaces, query).toEqual([nsA]);
      const counted = Object.values(list.counts.health).reduce((a, b) => a + b, 0);
      expect(counted, query).toBeLessThanOrEqual(2);
    }
    const onlyB = appListSchema.parse((await alice.get(`/api/v1/apps?namespace=${nsB}`)).json());
    expect(onlyB.total).toBe(0);
    expect(Object.values(onlyB.counts.health).every((count) => count === 0)).toBe(true);
    expectNone(alice.bodies, B_STRINGS);
  });

  it("answers 403 alike for B's app and for a name that does not exist there, as kubectl does", async () => {
    const alice = await login(aliceToken, shared);
    for (const suffix of ['', '/tree', '/diff']) {
      const existing = await alice.get(`/api/v1/apps/${nsB}/private${suffix}`);
      const missing = await alice.get(`/api/v1/apps/${nsB}/no-such-app${suffix}`);
      expect([existing.status, missing.status], suffix).toEqual([403, 403]);
      expect(existing.body.replaceAll('private', 'NAME'), suffix).toBe(
        missing.body.replaceAll('no-such-app', 'NAME'),
      );
    }
    // kubectl, with the same token, cannot tell them apart either.
    const kubectlSays = async (name: string) =>
      (
        await kubectl(['get', 'applications.capstan.dev', name, '-n', nsB], {
          kubeconfigPath: aliceKubeconfig,
        })
      ).stderr;
    expect((await kubectlSays('private')).replaceAll('private', 'NAME')).toBe(
      (await kubectlSays('no-such-app')).replaceAll('no-such-app', 'NAME'),
    );
    expectNone(alice.bodies, B_STRINGS);
  });

  it("may not act on team B's app: 403 for each action, and nothing changes", async () => {
    const alice = await login(aliceToken, shared);
    const before = await getApp(admin, nsB, 'private');
    for (const [action, body] of [
      ['sync', {}],
      ['suspend', {}],
      ['resume', {}],
      ['rollback', { revision: SHA_1 }],
      ['rollback', { clear: true }],
    ] as const) {
      const answer = await alice.post(`/api/v1/apps/${nsB}/private/${action}`, body);
      expect(answer.status, action).toBe(403);
    }
    const after = await getApp(admin, nsB, 'private');
    expect(after.metadata.annotations ?? {}).toEqual(before.metadata.annotations ?? {});
    expect(after.spec.suspend).toBe(before.spec.suspend);
    expectNone(alice.bodies, B_STRINGS);
  });

  it("hears nothing of team B's apps on the event stream, even when asking for B's namespace", async () => {
    const alice = await login(aliceToken, shared);
    const stream = await alice.stream(`?namespace=${nsB},${nsA}`);
    await admin.patch(appRef(nsB, 'private'), { spec: { path: 'moved' } }, 'merge');
    await admin.patch(appRef(nsA, 'cross'), { metadata: { labels: { poked: 'yes' } } }, 'merge');
    await eventually('the change in team A on the stream', async () => stream.text.includes('"poked":"yes"'));
    expect(stream.text).not.toContain(`"namespace":"${nsB}"`);
    expectNone([stream.text], B_STRINGS);
  });

  it("learns nothing of B's objects through A's dry-run, which runs as A's ServiceAccount", async () => {
    for (const token of [aliceToken, adminToken]) {
      const user = await login(token, shared);
      const diff = await eventually('the dry-run naming B/b-config', async () => {
        const found = await diffOf(user, nsA, 'cross', 'dryRun');
        return found.objects.some((o) => o.name === 'b-config') ? found : undefined;
      });
      const object = diff.objects.find((o) => o.name === 'b-config')!;
      expect(object.namespace).toBe(nsB);
      if (token === aliceToken) {
        // Alice may not get ConfigMaps in B: its name, and nothing else.
        expect(object).toEqual({
          group: '',
          kind: 'ConfigMap',
          namespace: nsB,
          name: 'b-config',
          action: 'hidden',
          state: 'forbidden',
          owners: [],
        });
      }
      expectNone(user.bodies, [B_VALUE]);
    }
  });
});

describe('attack: Secret values', () => {
  it('appear in no answer of the admin: detail, tree, dry-run diff, events, the event stream', async () => {
    const root = await login(adminToken, shared);
    const stream = await root.stream();
    expect((await root.get(`/api/v1/apps/${nsA}/web`)).status).toBe(200);
    expect((await root.get(`/api/v1/apps/${nsA}/web/tree`)).status).toBe(200);
    const diff = await diffOf(root, nsA, 'web', 'dryRun');
    const db = diff.objects.find((o) => o.kind === 'Secret' && o.name === 'db')!;
    expect(db.changes?.map((c) => c.path)).toContain('/data/password');
    expect(db.unifiedDiff).toContain('***');
    await admin.patch(appRef(nsA, 'web'), { metadata: { labels: { poked: 'secrets' } } }, 'merge');
    await eventually('the change on the stream', async () => stream.text.includes('"poked":"secrets"'));
    expectNone([...root.bodies, stream.text], SECRET_VALUES);
  });

  it("appear nowhere in the live mode either: the drifted Secret is metadata only, kubectl's annotation masked", async () => {
    const root = await login(adminToken, liveOnly);
    const diff = await diffOf(root, nsA, 'web', 'live');
    const db = diff.objects.find((o) => o.kind === 'Secret' && o.name === 'db');
    expect(db?.state).toBe('found');
    expect(Object.keys(db!.live!).sort()).toEqual(['apiVersion', 'kind', 'metadata', 'type']);
    const annotations = (db!.live!.metadata as { annotations: Record<string, string> }).annotations;
    expect(annotations.note).toBe('***');
    expect(annotations['kubectl.kubernetes.io/last-applied-configuration']).toBe('***');
    expectNone(root.bodies, SECRET_VALUES);
  });

  it('appear nowhere when the dry-run fails with credentials in its error', async () => {
    const root = await login(adminToken, failing);
    const diff = await diffOf(root, nsA, 'web', 'live');
    expect(diff.note).toContain('The dry-run could not be made');
    expectNone(root.bodies, SECRET_VALUES);
  });
});

describe('attack: pages of other sites, and the local access token', () => {
  it('cannot act for, read from or frame a logged-in user', async () => {
    const { context } = await openContext();
    await logInContext(context, shared, adminToken);
    // The victim is logged in: the dashboard answers them.
    const mine = await context.request.get(`${shared.url}/api/v1/session`);
    expect(mine.status()).toBe(200);
    const before = (await getApp(admin, nsA, 'web')).metadata.annotations?.['capstan.dev/requested-at'];

    const page = await context.newPage();
    await page.goto(attackerUrl);
    const results = await eventually('the attack page done', async () => {
      const found = await page.evaluate(() => (globalThis as unknown as InPage).results);
      return found?.done ? found : undefined;
    });
    expect(results.read).toBe('blocked');
    expect(results.cors).toBe('blocked');
    // The framed dashboard shows nothing (frame-ancestors 'none').
    const framed = await page.locator('#framed').elementHandle();
    const frame = await framed!.contentFrame();
    expect(frame?.url() ?? '').not.toContain(shared.url);
    // Whatever reached the server (the form, the no-cors fetch, the beacon) changed nothing.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect((await getApp(admin, nsA, 'web')).metadata.annotations?.['capstan.dev/requested-at']).toBe(before);
  });

  it("wipes capstan dashboard's #token= from the address bar and history, and sends no Referer anywhere", async () => {
    const { context, problems } = await openContext();
    const referers: string[] = [];
    context.on('request', (request) => {
      void request.allHeaders().then((headers) => {
        // An empty header tells nothing (Chromium reports one on some requests).
        if (headers.referer) referers.push(`${request.url()} ← ${headers.referer}`);
      });
    });
    const page = await context.newPage();
    await page.goto(local.openUrl);
    await page.locator(`tr[data-app="${nsX}/x-link"]`).waitFor({ timeout: 20_000 });
    expect(page.url()).toBe(`${local.url}/`);
    expect(await page.evaluate(() => (globalThis as unknown as InPage).location.href)).not.toContain(
      local.accessToken,
    );

    await page.locator(`tr[data-app="${nsX}/x-link"] a.app-name`).click();
    expect(await heading(page)).toBe('x-link');
    // Back goes to the list as it was left: no entry of the history holds the token.
    await page.goBack();
    expect(page.url()).not.toContain(local.accessToken);
    await page.goForward();
    expect(await heading(page)).toBe('x-link');

    const [popup] = await Promise.all([
      context.waitForEvent('page'),
      page.locator('header.app-header a.sha').first().click(),
    ]);
    await popup.waitForLoadState();
    const visit = await eventually('the forge page visited', async () =>
      linkRequests.find((request) => request.url.includes('/commit/')),
    );
    expect(visit.url).toMatch(/^\/team\/repo\/commit\/[0-9a-f]{40}$/);
    expect(visit.headers.referer).toBeUndefined();
    expect(await popup.evaluate(() => (globalThis as unknown as InPage).document.referrer)).toBe('');
    expect(await popup.evaluate(() => (globalThis as unknown as InPage).opener)).toBeNull();
    expect(referers).toEqual([]);
    expect(problems).toEqual([]);
  });
});

/** A page of another site: a form post, no-cors and preflighted fetches, a beacon, a read, a frame. */
function attackPage(dashboard: string, namespace: string): string {
  const sync = `${dashboard}/api/v1/apps/${namespace}/web/sync`;
  return `<!doctype html>
<iframe name="sink"></iframe>
<form id="form" method="POST" enctype="text/plain" target="sink" action="${sync}">
  <input name='{"x":"' value='"}'>
</form>
<iframe id="framed" src="${dashboard}/apps/${namespace}/web"></iframe>
<script>
  const results = (window.results = {});
  document.getElementById('form').submit();
  (async () => {
    try {
      await fetch(${JSON.stringify(sync)}, { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'content-type': 'text/plain' }, body: '{}' });
      results.noCors = 'sent';
    } catch { results.noCors = 'blocked'; }
    try {
      const answer = await fetch(${JSON.stringify(sync)}, { method: 'POST', credentials: 'include', headers: { 'content-type': 'application/json', 'x-capstan-csrf': 'guess' }, body: '{}' });
      results.cors = answer.status;
    } catch { results.cors = 'blocked'; }
    try {
      const answer = await fetch(${JSON.stringify(`${dashboard}/api/v1/session`)}, { credentials: 'include' });
      results.read = await answer.text();
    } catch { results.read = 'blocked'; }
    results.beacon = navigator.sendBeacon(${JSON.stringify(sync)}, new Blob(['{}'], { type: 'text/plain' }));
    results.done = true;
  })();
</script>`;
}
