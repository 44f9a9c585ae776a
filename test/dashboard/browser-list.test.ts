/**
 * The Applications list in a real browser (Debian's chromium), against the dashboard server on the
 * real control plane. No controller runs: the apps' statuses are written straight to the status
 * subresource, which gives every health and sync state without waiting for real workloads, and the
 * dashboard's informer sees those writes exactly as it sees a controller's.
 *
 * Covers both homes of the dashboard: `capstan dashboard` (the `#token=` URL, as the admin here)
 * and the controller's (the log-in form, as a ServiceAccount that may list Applications in one
 * namespace only). CAPSTAN_SHOTS=DIR also saves screenshots of the list there.
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import { API_VERSION, type Application, type ApplicationStatus } from '../../src/api/v1alpha1.js';
import { createKubeClient, type HttpKubeClient } from '../../src/kube/index.js';
import { appListSchema } from '../../src/server/dashboard/schema.js';
import {
  startControllerDashboard,
  startLocalDashboard,
  type LocalDashboard,
  type RunningDashboard,
} from '../../src/server/dashboard/serve.js';
import { dashboardAssets, launchBrowser } from '../support/browser.js';
import { kubectl, kubectlOk } from '../support/cluster.js';
import { applicationViewerToken } from '../support/dashboard.js';
import { eventually, installCrds, isolated } from '../support/controller.js';

const SHOTS = process.env.CAPSTAN_SHOTS;

/** The page's globals that page.evaluate reads (this tsconfig has no DOM library). */
interface InPage {
  location: { href: string };
  innerWidth: number;
  document: { scrollingElement: { scrollWidth: number } | null };
  stillTheSamePage?: boolean;
}
const UI_TIMEOUT_MS = 20_000;

let admin: HttpKubeClient;
let browser: Browser;
let assets: string;
let local: LocalDashboard;
let teamA: string;
let teamB: string;

// ── the apps ──────────────────────────────────────────────────────────────────────────────────────

interface Shape {
  readonly health: string;
  readonly healthMessage?: string;
  readonly sync: string;
  readonly ready: 'True' | 'False' | 'Unknown';
  readonly reason: string;
  readonly message: string;
  readonly minutesAgo?: number;
  readonly result?: 'Succeeded' | 'Failed' | 'RolledBack' | 'OutOfSync';
  readonly commit?: string;
  readonly reconciling?: boolean;
  readonly stalled?: boolean;
}

const APPS: readonly {
  team: 'a' | 'b';
  name: string;
  labels?: Record<string, string>;
  suspend?: boolean;
  shape: Shape;
}[] = [
  {
    team: 'a',
    name: 'api',
    shape: {
      health: 'Healthy',
      sync: 'Synced',
      ready: 'True',
      reason: 'ReconciliationSucceeded',
      message: 'Applied revision main@sha1:4f1c2e9 (14 objects)',
      minutesAgo: 3,
      result: 'Succeeded',
      commit: 'api: raise the connection pool to 40',
    },
  },
  {
    team: 'a',
    name: 'web',
    labels: { tier: 'frontend' },
    shape: {
      health: 'Degraded',
      healthMessage: 'Deployment/web: 1 of 3 replicas unavailable',
      sync: 'OutOfSync',
      ready: 'False',
      reason: 'HealthCheckFailed',
      message: 'Deployment/web: Readiness probe failed: HTTP probe failed with statuscode: 503',
      minutesAgo: 12,
      result: 'Failed',
      commit: 'web: new checkout page',
    },
  },
  {
    team: 'a',
    name: 'worker',
    shape: {
      health: 'Progressing',
      healthMessage: 'Deployment/worker: 2 of 4 updated replicas are available',
      sync: 'Synced',
      ready: 'Unknown',
      reason: 'Progressing',
      message: 'Waiting for Deployment/worker to roll out',
      minutesAgo: 1,
      result: 'Succeeded',
      commit: 'worker: process refunds in batches of 100',
      reconciling: true,
    },
  },
  {
    team: 'a',
    name: 'cache',
    suspend: true,
    shape: {
      health: 'Suspended',
      sync: 'Synced',
      ready: 'False',
      reason: 'Suspended',
      message: 'spec.suspend is true',
      minutesAgo: 240,
      result: 'Succeeded',
      commit: 'cache: pin redis to 7.2',
    },
  },
  {
    team: 'b',
    name: 'billing',
    labels: { tier: 'frontend' },
    shape: {
      health: 'Healthy',
      sync: 'Synced',
      ready: 'True',
      reason: 'ReconciliationSucceeded',
      message: 'Applied revision main@sha1:9b3d0aa (6 objects)',
      minutesAgo: 30,
      result: 'Succeeded',
      commit: 'billing: invoices in EUR and USD',
    },
  },
  {
    team: 'b',
    name: 'ledger',
    shape: {
      health: 'Missing',
      healthMessage: 'StatefulSet/ledger not found',
      sync: 'OutOfSync',
      ready: 'False',
      reason: 'ApplyFailed',
      message: 'StatefulSet/ledger: the namespace "ledger-db" does not exist',
      minutesAgo: 45,
      result: 'Failed',
      commit: 'ledger: move to its own database namespace',
      stalled: true,
    },
  },
];

const namespaceOf = (team: 'a' | 'b'): string => (team === 'a' ? teamA : teamB);
const keyOf = (team: 'a' | 'b', name: string): string => `${namespaceOf(team)}/${name}`;

function condition(type: string, status: 'True' | 'False' | 'Unknown', reason: string, message: string) {
  return { type, status, reason, message, lastTransitionTime: new Date().toISOString() };
}

function statusOf(shape: Shape, index: number): ApplicationStatus {
  const sha = randomBytes(20).toString('hex');
  const finished = new Date(Date.now() - (shape.minutesAgo ?? 5) * 60_000).toISOString();
  return {
    conditions: [
      condition('Ready', shape.ready, shape.reason, shape.message),
      ...(shape.reconciling ? [condition('Reconciling', 'True', 'Progressing', 'rolling out')] : []),
      ...(shape.stalled ? [condition('Stalled', 'True', 'ApplyFailed', 'needs a change to progress')] : []),
    ],
    health: { status: shape.health, ...(shape.healthMessage ? { message: shape.healthMessage } : {}) },
    sync: { status: shape.sync, revision: sha },
    lastAppliedRevision: {
      sha,
      ref: 'main',
      message: `${shape.commit ?? 'a change'}\n\nWith a body the list does not show.`,
      author: 'Ada <ada@example.com>',
    },
    ...(shape.result
      ? {
          history: [
            {
              id: index + 1,
              revision: sha,
              startedAt: finished,
              finishedAt: finished,
              durationSeconds: 4,
              result: shape.result,
            },
          ],
        }
      : {}),
  };
}

/** Writes an app's status as a controller would (merge patch on the status subresource). */
async function writeStatus(namespace: string, name: string, status: ApplicationStatus): Promise<void> {
  await admin.patch({ group: 'capstan.dev', kind: 'Application', namespace, name }, { status }, 'merge', {
    subresource: 'status',
  });
}

async function namespaceForThisFile(prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  await kubectlOk(['create', 'namespace', name]);
  return name;
}

beforeAll(async () => {
  assets = await dashboardAssets();
  admin = await createKubeClient({ kubeconfig: inject('kubeconfig') });
  [browser] = await Promise.all([launchBrowser(), installCrds(admin)]);
  teamA = await namespaceForThisFile('list-a');
  teamB = await namespaceForThisFile('list-b');
  for (const [index, app] of APPS.entries()) {
    const namespace = namespaceOf(app.team);
    const application: Application = isolated({
      apiVersion: API_VERSION,
      kind: 'Application',
      metadata: { namespace, name: app.name, labels: { ...app.labels } },
      spec: {
        sourceRef: { name: app.team === 'a' ? 'shop-deploy' : 'finance-deploy' },
        ref: 'main',
        path: `apps/${app.name}/overlays/prod`,
        ...(app.suspend ? { suspend: true } : {}),
      },
    });
    await admin.apply(application);
    await writeStatus(namespace, app.name, statusOf(app.shape, index));
  }
  local = await startLocalDashboard({ kube: admin, namespaces: [teamA, teamB], assets });
  await local.cache.synced;
  await eventually('the dashboard cache has every status', async () =>
    APPS.every((app) => local.cache.index.get(namespaceOf(app.team), app.name)?.health === app.shape.health),
  );
});

afterAll(async () => {
  await browser?.close();
  await local?.close();
  admin?.close();
  for (const namespace of [teamA, teamB])
    if (namespace) await kubectl(['delete', 'namespace', namespace, '--wait=false']);
});

// ── the browser ───────────────────────────────────────────────────────────────────────────────────

/** A fresh browser profile (no cookies), closed with the test; console errors fail the test. */
async function newPage(options: { width?: number; height?: number } = {}): Promise<Page> {
  const context: BrowserContext = await browser.newContext({
    viewport: { width: options.width ?? 1280, height: options.height ?? 720 },
  });
  onTestFinished(() => context.close());
  const page = await context.newPage();
  trackErrors(page);
  return page;
}

/** Script errors and CSP refusals (an inline style, say) are bugs; the log-in form's 401 is not. */
function trackErrors(page: Page): void {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error' && !/status of 401/.test(message.text())) errors.push(message.text());
  });
  onTestFinished(() => expect(errors).toEqual([]));
}

/** The `data-app` of every row shown, in order. */
function rowsOf(page: Page): Promise<string[]> {
  return page
    .locator('table tr[data-app]')
    .evaluateAll((rows) => rows.map((row) => row.getAttribute('data-app') ?? ''));
}

async function expectRows(page: Page, expected: readonly string[]): Promise<void> {
  let last: string[] = [];
  await eventually(
    `rows ${expected.join(', ')}`,
    async () => {
      last = await rowsOf(page);
      return JSON.stringify(last) === JSON.stringify(expected);
    },
    UI_TIMEOUT_MS,
  ).catch((error: unknown) => {
    throw new Error(`${String(error)}; rows shown: ${last.join(', ')}`);
  });
}

async function expectText(page: Page, selector: string, pattern: RegExp): Promise<void> {
  let last = '';
  await eventually(
    `${selector} to match ${pattern}`,
    async () => {
      last = (await page.locator(selector).first().textContent()) ?? '';
      return pattern.test(last);
    },
    UI_TIMEOUT_MS,
  ).catch((error: unknown) => {
    throw new Error(`${String(error)}; text: ${JSON.stringify(last)}`);
  });
}

const healthChip = (page: Page, state: string) =>
  page.getByRole('group', { name: 'Filter by health' }).getByRole('button', { name: new RegExp(state) });

async function chipCount(page: Page, state: string): Promise<string> {
  return ((await healthChip(page, state).locator('.chip-count').textContent()) ?? '').trim();
}

async function expectChipCount(page: Page, state: string, count: number): Promise<void> {
  let last = '';
  await eventually(
    `the ${state} count to be ${count}`,
    async () => (last = await chipCount(page, state)) === String(count),
    UI_TIMEOUT_MS,
  ).catch((error: unknown) => {
    throw new Error(`${String(error)}; count shown: ${last}`);
  });
}

const table = (page: Page) => page.getByRole('table', { name: 'Applications', exact: true });

/** Opens the `capstan dashboard` URL (the `#token=` log-in) and waits for the list. */
async function openLocal(page: Page, path = ''): Promise<void> {
  await page.goto(local.openUrl);
  await table(page)
    .locator('tr[data-app]')
    .first()
    .waitFor({ timeout: UI_TIMEOUT_MS })
    .catch(async (error: unknown) => {
      throw new Error(`${String(error)}\nthe page: ${await page.locator('body').innerText()}`);
    });
  if (path) await page.goto(`${local.url}${path}`);
}

async function saveShot(page: Page, name: string): Promise<void> {
  if (!SHOTS) return;
  await mkdir(SHOTS, { recursive: true });
  // Relative times and the focus ring settle first.
  await page.mouse.move(0, 0);
  await page.screenshot({ path: join(SHOTS, name) });
}

// ── the tests ─────────────────────────────────────────────────────────────────────────────────────

const ALL_BY_NAME = () =>
  [...APPS].sort((x, y) => x.name.localeCompare(y.name)).map((app) => keyOf(app.team, app.name));

describe('the Applications list in a browser (capstan dashboard mode)', () => {
  it('logs in with the #token= URL, drops the token from the address bar, lists the apps with counts', async () => {
    const page = await newPage();
    await openLocal(page);
    await expectRows(page, ALL_BY_NAME());
    expect(await page.evaluate(() => (globalThis as unknown as InPage).location.href)).toBe(`${local.url}/`);
    await expect.poll(() => page.locator('h1').textContent()).toBe('Applications');
    await expectText(page, '.list-total', /^6 applications$/);
    await expectChipCount(page, 'Healthy', 2);
    await expectChipCount(page, 'Degraded', 1);
    await expectChipCount(page, 'Missing', 1);

    // One row in full: what each column says.
    const web = page.locator(`tr[data-app="${teamA}/web"]`);
    const text = (await web.innerText()).replace(/\s+/g, ' ');
    for (const part of [
      'web',
      teamA,
      'Degraded',
      'OutOfSync',
      'HealthCheckFailed',
      'Readiness probe failed',
      'shop-deploy',
      'main · apps/web/overlays/prod',
      'web: new checkout page',
      'Failed',
    ])
      expect(text).toContain(part);
    expect(text).toMatch(/1[23] min ago/);
    expect(text).not.toContain('With a body');
    expect(await web.getByRole('link', { name: 'web' }).getAttribute('href')).toBe(`/apps/${teamA}/web`);
    const flags = (await page.locator(`tr[data-app="${teamA}/cache"] .flags`).innerText()).trim();
    expect(flags).toContain('suspended');
    expect(await page.locator(`tr[data-app="${teamB}/ledger"] .flags`).innerText()).toContain('stalled');

    // The sortable headers say how the list is sorted.
    const nameHeader = table(page).getByRole('columnheader', { name: 'Name', exact: true });
    expect(await nameHeader.getAttribute('aria-sort')).toBe('ascending');
    await saveShot(page, 'list.png');
  });

  it('filters by a health chip and by search; the URL holds the filter, and a shared link shows the same', async () => {
    const page = await newPage();
    await openLocal(page);
    await expectRows(page, ALL_BY_NAME());

    await healthChip(page, 'Degraded').click();
    await expectRows(page, [`${teamA}/web`]);
    expect(new URL(page.url()).searchParams.get('health')).toBe('Degraded');
    expect(await healthChip(page, 'Degraded').getAttribute('aria-pressed')).toBe('true');
    await expectText(page, '.list-total', /^1 application$/);
    // The other chips still say what choosing them would show (counts without the health filter).
    await expectChipCount(page, 'Healthy', 2);

    // A shared link: a new tab of the same browser opens the same view.
    const shared = page.url();
    const other = await page.context().newPage();
    trackErrors(other);
    await other.goto(shared);
    await expectRows(other, [`${teamA}/web`]);
    expect(await healthChip(other, 'Degraded').getAttribute('aria-pressed')).toBe('true');
    await other.close();

    // Another chip adds to the filter (ORed), and clicking again removes it.
    await healthChip(page, 'Missing').click();
    await expectRows(page, [`${teamB}/ledger`, `${teamA}/web`]);
    expect(new URL(page.url()).searchParams.get('health')).toBe('Degraded,Missing');
    await healthChip(page, 'Missing').click();
    await healthChip(page, 'Degraded').click();
    await expectRows(page, ALL_BY_NAME());

    // Search, debounced into the URL (replacing the entry, so Back skips the keystrokes).
    await page.getByLabel('Search', { exact: true }).fill('ledg');
    await expectRows(page, [`${teamB}/ledger`]);
    await eventually('q in the URL', async () => new URL(page.url()).searchParams.get('q') === 'ledg');
    await page.reload();
    await expectRows(page, [`${teamB}/ledger`]);
    expect(await page.getByLabel('Search', { exact: true }).inputValue()).toBe('ledg');

    await page.goBack();
    await expectRows(page, [`${teamA}/web`]);
    expect(await page.getByLabel('Search', { exact: true }).inputValue()).toBe('');

    // Labels, then "Clear all".
    await page.goForward();
    await expectRows(page, [`${teamB}/ledger`]);
    await page.getByRole('button', { name: 'Clear all', exact: true }).click();
    await expectRows(page, ALL_BY_NAME());
    await page.getByLabel('Labels', { exact: true }).fill('tier=frontend');
    await expectRows(page, [`${teamB}/billing`, `${teamA}/web`]);
    expect(new URL(page.url()).searchParams.getAll('label')).toEqual(['tier=frontend']);

    // The namespace choices are the namespaces with apps.
    const namespaces = await page
      .getByLabel('Namespace', { exact: true })
      .locator('option')
      .evaluateAll((options) => options.map((option) => (option as unknown as { value: string }).value));
    expect(namespaces).toEqual(['', ...[teamA, teamB].sort()]);
  });

  it('pages with limit=2, and sorts by a column header', async () => {
    const page = await newPage();
    await openLocal(page, '/?limit=2');
    const all = ALL_BY_NAME();
    await expectRows(page, all.slice(0, 2));
    await expectText(page, '.page-of', /Page 1 of 3/);
    expect(await page.getByRole('button', { name: 'Previous page' }).isDisabled()).toBe(true);

    await page.getByRole('button', { name: 'Next page' }).click();
    await expectRows(page, all.slice(2, 4));
    await expectText(page, '.page-of', /Page 2 of 3/);
    expect(new URL(page.url()).searchParams.get('page')).toBe('2');

    await page.getByRole('button', { name: 'Last page' }).click();
    await expectRows(page, all.slice(4, 6));
    expect(await page.getByRole('button', { name: 'Next page' }).isDisabled()).toBe(true);
    await page.goBack();
    await expectRows(page, all.slice(2, 4));

    // Sorting goes back to page 1: worst health first.
    await table(page).getByRole('button', { name: 'Health', exact: true }).click();
    await expectRows(page, [`${teamA}/web`, `${teamB}/ledger`]);
    expect(
      await table(page).getByRole('columnheader', { name: 'Health', exact: true }).getAttribute('aria-sort'),
    ).toBe('ascending');
    expect(new URL(page.url()).searchParams.get('page')).toBeNull();
    await table(page).getByRole('button', { name: 'Health', exact: true }).click();
    expect(
      await table(page).getByRole('columnheader', { name: 'Health', exact: true }).getAttribute('aria-sort'),
    ).toBe('descending');
    // Descending: best first, and names Z→A among equals (the whole order reversed).
    await expectRows(page, [`${teamB}/billing`, `${teamA}/api`]);

    await page.getByLabel('Rows per page').selectOption('20');
    await expectRows(page, [
      `${teamB}/billing`,
      `${teamA}/api`,
      `${teamA}/cache`,
      `${teamA}/worker`,
      `${teamB}/ledger`,
      `${teamA}/web`,
    ]);
  });

  it('shows a status change live, without reloading, and refetches at most once per burst', async () => {
    const page = await newPage();
    await openLocal(page);
    await expectRows(page, ALL_BY_NAME());
    await page.evaluate(() => ((globalThis as unknown as InPage).stillTheSamePage = true));
    const requests: string[] = [];
    page.on('request', (request) => {
      if (new URL(request.url()).pathname === '/api/v1/apps') requests.push(request.url());
    });
    const api = APPS.find((app) => app.name === 'api')!;
    onTestFinished(() => writeStatus(teamA, 'api', statusOf(api.shape, 0)));

    await writeStatus(teamA, 'api', {
      ...statusOf(api.shape, 0),
      health: { status: 'Degraded', message: 'Deployment/api: 0 of 2 replicas available' },
    });
    await expectText(page, `tr[data-app="${teamA}/api"] .col-health`, /Degraded/);
    await expectChipCount(page, 'Degraded', 2);
    expect(await page.evaluate(() => (globalThis as unknown as InPage).stillTheSamePage === true)).toBe(true);

    // Twenty changes in a burst: the rows follow, the list is asked for a few times, not twenty.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    requests.length = 0;
    for (let i = 0; i < 20; i++)
      await writeStatus(teamA, 'api', {
        ...statusOf(api.shape, 0),
        health: { status: i % 2 ? 'Healthy' : 'Progressing', message: `step ${i}` },
      });
    await expectText(page, `tr[data-app="${teamA}/api"] .col-health`, /Healthy/);
    await expectText(page, `tr[data-app="${teamA}/api"] .col-health`, /step 19/);
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(requests.length).toBeGreaterThanOrEqual(1);
    expect(requests.length).toBeLessThanOrEqual(3);
    await expectChipCount(page, 'Degraded', 1);
    expect(await page.evaluate(() => (globalThis as unknown as InPage).stillTheSamePage === true)).toBe(true);
  });

  it('fits a phone (390 px): no horizontal scroll, the name and state of each app shown', async () => {
    const page = await newPage({ width: 390, height: 844 });
    await openLocal(page);
    await expectRows(page, ALL_BY_NAME());
    const { scrollWidth, innerWidth } = await page.evaluate(() => {
      const inPage = globalThis as unknown as InPage;
      return { scrollWidth: inPage.document.scrollingElement!.scrollWidth, innerWidth: inPage.innerWidth };
    });
    expect(scrollWidth).toBeLessThanOrEqual(innerWidth);
    const row = page.locator(`tr[data-app="${teamA}/web"]`);
    for (const part of [row.getByRole('link', { name: 'web' }), row.locator('.col-health .badge')]) {
      const box = (await part.boundingBox())!;
      expect(box.width).toBeGreaterThan(0);
      expect(box.x + box.width).toBeLessThanOrEqual(innerWidth);
    }
    expect(await row.locator('.col-source').isVisible()).toBe(false);
    await saveShot(page, 'list-phone.png');
  });
});

describe('the Applications list in a browser (controller mode, a restricted ServiceAccount)', () => {
  let dashboard: RunningDashboard;
  let viewerToken: string;

  beforeAll(async () => {
    dashboard = await startControllerDashboard({
      kube: admin,
      source: { kubeconfig: inject('kubeconfig') },
      host: '127.0.0.1',
      port: 0,
      assets,
    });
    await dashboard.cache.synced;
    // A viewer of team A: get and list Applications there, nothing else.
    viewerToken = await applicationViewerToken(teamA);
    await eventually('the dashboard cache has both teams', async () =>
      APPS.every((app) => dashboard.cache.index.get(namespaceOf(app.team), app.name)),
    );
  });
  afterAll(async () => {
    await dashboard?.close();
  });

  it("logs in through the form; lists their namespace's apps only, live, and never another's", async () => {
    const page = await newPage();
    await page.goto(dashboard.url);
    await page.getByLabel('Token', { exact: true }).fill(viewerToken);
    await page.getByRole('button', { name: 'Log in' }).click();
    const teamAApps = APPS.filter((app) => app.team === 'a')
      .map((app) => app.name)
      .sort()
      .map((name) => `${teamA}/${name}`);
    await expectRows(page, teamAApps);
    await expectText(page, '.list-total', /^4 applications$/);
    expect(await page.locator('.top-bar .user').textContent()).toBe(`system:serviceaccount:${teamA}:viewer`);

    // What the page's session may read through the API: the same.
    const answer = await page.request.get(`${dashboard.url}/api/v1/apps?limit=500`);
    expect(answer.status()).toBe(200);
    const list = appListSchema.parse(await answer.json());
    expect(list.items.map((app) => `${app.namespace}/${app.name}`)).toEqual(teamAApps);
    expect(list.namespaces).toEqual([teamA]);
    const forbidden = appListSchema.parse(
      await (await page.request.get(`${dashboard.url}/api/v1/apps?namespace=${teamB}`)).json(),
    );
    expect(forbidden.total).toBe(0);

    // Team B's apps change: nothing of them reaches this page; team A's change does.
    await writeStatus(teamB, 'billing', {
      ...statusOf(APPS.find((app) => app.name === 'billing')!.shape, 4),
      health: { status: 'Degraded', message: 'team B only' },
    });
    const worker = APPS.find((app) => app.name === 'worker')!;
    onTestFinished(() => writeStatus(teamA, 'worker', statusOf(worker.shape, 2)));
    await writeStatus(teamA, 'worker', { ...statusOf(worker.shape, 2), health: { status: 'Healthy' } });
    await expectText(page, `tr[data-app="${teamA}/worker"] .col-health`, /Healthy/);
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(await rowsOf(page)).toEqual(teamAApps);
    expect(await page.content()).not.toContain(teamB);
    await page.getByLabel('Search', { exact: true }).fill('billing');
    await expectText(page, '.list-total', /^0 applications$/);
    expect(await rowsOf(page)).toEqual([]);
  });
});
