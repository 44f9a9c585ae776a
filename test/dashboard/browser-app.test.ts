/**
 * The dashboard's app page in a real browser, against the real control plane: an app a real
 * controller synced from a real Git server (a Deployment, which kwok runs as ReplicaSet and Pods,
 * and a ConfigMap); drift made with kubectl by another field manager; a sync asked for from the page
 * and handled by the controller while the page watches; and a viewer whose RBAC allows reading
 * Applications only, for whom the server refuses what the page does not offer.
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import { API_VERSION } from '../../src/api/v1alpha1.js';
import { createKubeClient, type HttpKubeClient } from '../../src/kube/index.js';
import {
  startControllerDashboard,
  startLocalDashboard,
  type LocalDashboard,
  type RunningDashboard,
} from '../../src/server/dashboard/serve.js';
import type { PlanDiff } from '../../src/server/dashboard/index.js';
import { dashboardAssets, launchBrowser } from '../support/browser.js';
import { kubectl, kubectlOk } from '../support/cluster.js';
import { applicationViewerToken } from '../support/dashboard.js';
import {
  createApp,
  eventually,
  getApp,
  installCrds,
  isolated,
  readyAt,
  repository,
  startTestController,
  type TestController,
} from '../support/controller.js';
import { configMap } from '../support/engine.js';
import {
  createTestRepo,
  makeTempDir,
  startGitHttpServer,
  type GitHttpServer,
} from '../support/git-servers.js';

const SHOTS = '/tmp/shots';
const DESKTOP = { width: 1280, height: 720 };
const PHONE = { width: 390, height: 844 };

const DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: { app: web }
spec:
  replicas: 1
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      containers: [{ name: web, image: registry.invalid/web:1 }]
`;

let admin: HttpKubeClient;
let browser: Browser;
let controller: TestController;
let git: GitHttpServer;
let local: LocalDashboard;
let shared: RunningDashboard;
let namespace: string;
let otherNamespace: string;
let viewerToken: string;

const namespaces: string[] = [];
async function createNamespace(prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  await kubectlOk(['create', 'namespace', name]);
  namespaces.push(name);
  return name;
}

beforeAll(async () => {
  admin = await createKubeClient({ kubeconfig: inject('kubeconfig') });
  await installCrds(admin);
  const assets = await dashboardAssets();
  browser = await launchBrowser();
  await mkdir(SHOTS, { recursive: true });

  namespace = await createNamespace('app-page');
  otherNamespace = await createNamespace('app-page-other');
  const gitRoot = await makeTempDir('app-page-git');
  const repo = await createTestRepo(gitRoot, 'apps');
  await repo.commit(
    { 'web/deploy.yaml': DEPLOYMENT, 'web/settings.yaml': configMap('settings', { color: 'blue' }) },
    'web: serve the first version',
  );
  git = await startGitHttpServer({ root: gitRoot });
  controller = await startTestController({ namespace });
  await admin.apply(isolated(repository(namespace, 'apps', { url: git.url('apps'), interval: '1h' })));
  // No self-heal: drift made below stays (OutOfSync) until someone asks for a sync.
  await createApp(
    admin,
    namespace,
    'web',
    { path: 'web', syncPolicy: { selfHeal: false } },
    { isolated: true },
  );
  await readyAt(admin, namespace, 'web', await repo.head());
  // An app the viewer below may not read (another namespace); nothing reconciles it.
  await admin.apply(
    isolated({
      apiVersion: API_VERSION,
      kind: 'Application',
      metadata: { namespace: otherNamespace, name: 'secret-plans' },
      spec: { sourceRef: { name: 'apps' }, ref: 'main', path: 'nowhere', suspend: true },
    }),
  );

  // A viewer of the namespace: get and list Applications there, nothing else.
  viewerToken = await applicationViewerToken(namespace);

  // `capstan dashboard` as the admin (the kubeconfig's user), and the controller's dashboard where
  // people log in with their own token.
  // The Diff tab's dry-run is the controller's preview of a sync (in `capstan dashboard` it is
  // computed with the kubeconfig user's rights instead; test/dashboard/diff.test.ts covers that).
  const planDiff: PlanDiff = (app, signal) => controller.controller.previewSync(app, signal);
  local = await startLocalDashboard({ kube: admin, assets, planDiff });
  shared = await startControllerDashboard({
    kube: admin,
    source: { kubeconfig: inject('kubeconfig') },
    host: '127.0.0.1',
    port: 0,
    assets,
    planDiff,
  });
  await Promise.all([local.cache.synced, shared.cache.synced]);
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await local?.close();
  await shared?.close();
  await controller?.stop();
  await git?.close();
  admin?.close();
  for (const name of namespaces) await kubectl(['delete', 'namespace', name, '--wait=false']);
});

/** A fresh browser context (no cookies), its console errors failing the test. */
async function openPage(viewport = DESKTOP): Promise<{ page: Page; context: BrowserContext }> {
  const context = await browser.newContext({ viewport });
  onTestFinished(() => context.close());
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    // Refused requests are logged by the browser itself: the log-in form's 401 (no session yet),
    // the 403 and 404 this file provokes on purpose.
    if (message.type() === 'error' && !/status of 40[134]/.test(message.text()))
      problems.push(`console: ${message.text()}`);
  });
  onTestFinished(() => expect(problems).toEqual([]));
  return { page, context };
}

/**
 * A page of `capstan dashboard`, logged in with its access token. By the API rather than the
 * printed URL's `#token=`: the test build of the app is React's development build, whose StrictMode
 * runs the session query twice, racing the token exchange (see the report of this change).
 */
async function openAsAdmin(path: string, viewport = DESKTOP): Promise<Page> {
  const { page, context } = await openPage(viewport);
  const answer = await context.request.post(`${local.url}/api/v1/session`, {
    data: { token: local.accessToken },
    headers: { origin: local.url },
  });
  expect(answer.status()).toBe(201);
  await page.goto(`${local.url}${path}`);
  return page;
}

const appPath = (name = 'web', ns = namespace) => `/apps/${ns}/${name}`;

/** The page's h1, once it is the page's rather than the log-in form's. */
async function heading(page: Page): Promise<string> {
  const h1 = page.locator('h1', { hasNotText: /^Capstan$/ });
  return (await h1.textContent({ timeout: 20_000 })) ?? '';
}

/** What of the browser functions run in the page use (this file is compiled without DOM types). */
interface PageElement {
  tagName: string;
  className: string;
  parentElement: PageElement | null;
  getBoundingClientRect(): { right: number };
}
interface InPage {
  document: {
    activeElement: unknown;
    documentElement: PageElement & { scrollWidth: number; clientWidth: number };
    querySelectorAll(selector: string): Iterable<PageElement>;
  };
  getComputedStyle(element: PageElement): { overflowX: string };
  marker?: number;
}

/**
 * What sticks out of the page sideways (nothing may: only boxes of code and the tab strip scroll,
 * inside themselves), as `TAG.class` for the failure's message; empty when nothing does.
 */
const overflowing = (page: Page): Promise<string[]> =>
  page.evaluate(() => {
    const window = globalThis as unknown as InPage;
    const root = window.document.documentElement;
    const width = root.clientWidth;
    const clipped = (element: PageElement): boolean => {
      for (let up = element.parentElement; up && up !== root; up = up.parentElement)
        if (window.getComputedStyle(up).overflowX !== 'visible') return true;
      return false;
    };
    const out = [...window.document.querySelectorAll('body *')]
      .filter((element) => element.getBoundingClientRect().right > width + 1 && !clipped(element))
      .map((element) => `${element.tagName}.${element.className}`);
    if (root.scrollWidth > width) out.push(`the page is ${root.scrollWidth} px wide in ${width} px`);
    return out;
  });

describe('the app page', () => {
  it('shows the resource tree: Deployment → ReplicaSet → Pod and the ConfigMap, with their health', async () => {
    const page = await openAsAdmin(appPath());
    expect(await heading(page)).toBe('web');
    const header = page.locator('header.app-header');
    expect(await header.getAttribute('data-health')).toBe('Healthy');
    expect(await header.getAttribute('data-sync')).toBe('Synced');
    expect(await header.textContent()).toContain('web: serve the first version');

    const tree = page.getByRole('list', { name: 'Resources' });
    const deployment = tree.locator('li[data-kind="Deployment"][data-name="web"]');
    const replicaSet = deployment.locator('li[data-kind="ReplicaSet"]').first();
    const pod = replicaSet.locator('li[data-kind="Pod"]').first();
    await pod.waitFor({ timeout: 20_000 });
    expect(await replicaSet.getAttribute('data-name')).toMatch(/^web-[a-z0-9]+$/);
    expect(await pod.getAttribute('data-name')).toMatch(/^web-[a-z0-9]+-[a-z0-9]+$/);
    const configMapItem = tree.locator('li[data-kind="ConfigMap"][data-name="settings"]');
    for (const item of [deployment, replicaSet, pod, configMapItem])
      expect(await item.locator(':scope > .node').textContent()).toContain('Healthy');
    expect(await deployment.locator(':scope > .node').textContent()).toContain('managed');
    expect(await pod.locator(':scope > .node').textContent()).toContain('owned');

    // Folding hides the children; the filter keeps only what needs attention (nothing here).
    await deployment.getByRole('button', { name: /^Collapse Deployment web/ }).click();
    expect(await deployment.locator('li[data-kind="ReplicaSet"]').count()).toBe(0);
    await deployment.getByRole('button', { name: /^Expand Deployment web/ }).click();
    await replicaSet.waitFor();
    await page.getByLabel('Only unhealthy or out of sync').check();
    await page.getByText('Everything is healthy and in sync.').waitFor();
    await page.getByLabel('Only unhealthy or out of sync').uncheck();
    await pod.waitFor();

    await page.screenshot({ path: `${SHOTS}/app-tree.png` });

    // The tabs work from the keyboard, and the URL keeps the choice.
    await page.getByRole('tab', { name: 'Resources' }).focus();
    await page.keyboard.press('End');
    expect(await page.getByRole('tab', { name: 'Repository' }).getAttribute('aria-selected')).toBe('true');
    await page.getByText(git.url('apps')).waitFor();
    expect(new URL(page.url()).searchParams.get('tab')).toBe('repository');
  });

  it('shows drift made by another field manager, live, and names that manager in the diff', async () => {
    const page = await openAsAdmin(appPath());
    expect(await heading(page)).toBe('web');
    await page.locator('header.app-header[data-sync="Synced"]').waitFor();

    await kubectlOk([
      'patch',
      'deployment',
      'web',
      '-n',
      namespace,
      '--type=merge',
      '--field-manager=intruder',
      '-p',
      '{"spec":{"replicas":2}}',
    ]);
    // The page follows the event stream: no reload.
    await page.locator('header.app-header[data-sync="OutOfSync"]').waitFor({ timeout: 60_000 });

    await page.getByRole('tab', { name: /^Diff/ }).click();
    expect(new URL(page.url()).searchParams.get('tab')).toBe('diff');
    const object = page.locator('[data-object="Deployment/web"]');
    await object.waitFor({ timeout: 30_000 });
    // The dry-run of a sync, and its "why": the field it would change, and who owns it now.
    await page.getByText('Server-side dry-run').first().waitFor();
    await object.locator('.manager.other', { hasText: 'intruder' }).first().waitFor();
    const text = (await object.textContent()) ?? '';
    expect(text).toMatch(/\/spec\/replicas/);
    await page.screenshot({ path: `${SHOTS}/app-diff.png` });
  });

  it('syncs on request: the dialog, the live change, the history entry and the Event naming the user', async () => {
    await eventually('the app out of sync (the drift above)', async () =>
      (await getApp(admin, namespace, 'web')).status?.sync?.status === 'OutOfSync' ? true : undefined,
    );
    const page = await openAsAdmin(`${appPath()}?tab=history`);
    expect(await heading(page)).toBe('web');
    // Set in the page: still there at the end means the page never reloaded.
    await page.evaluate(() => ((globalThis as unknown as InPage).marker = 1));
    const user = local.identity.username;

    const syncButton = page.getByRole('button', { name: 'Sync now' });
    await syncButton.click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    expect(await dialog.textContent()).toContain('Event naming you');
    // Escape cancels; focus goes back to the button.
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    expect(
      await syncButton.evaluate(
        (button) => button === (globalThis as unknown as InPage).document.activeElement,
      ),
    ).toBe(true);

    await syncButton.click();
    await dialog.getByRole('button', { name: 'Confirm' }).click();
    await page.locator('.action-result', { hasText: `sync requested by ${user}` }).waitFor();
    await dialog.waitFor({ state: 'hidden' });

    // The controller handles it; the page shows it as it happens.
    await page.locator('header.app-header[data-sync="Synced"]').waitFor({ timeout: 60_000 });
    const entry = page.locator('tr[data-trigger="request"]', { hasText: user }).first();
    await entry.waitFor({ timeout: 30_000 });
    expect(await entry.textContent()).toContain('Succeeded');

    await page.getByRole('tab', { name: /^Events/ }).click();
    const event = page.locator('tr[data-reason="SyncRequested"]').first();
    await event.waitFor({ timeout: 30_000 });
    expect(await event.textContent()).toContain(`by ${user}`);
    expect(await page.evaluate(() => (globalThis as unknown as InPage).marker)).toBe(1);
    expect((await getApp(admin, namespace, 'web')).status?.lastHandledRequest).toBeDefined();
  });

  it('lets a read-only viewer look but not act; the server refuses a forced POST with 403', async () => {
    const { page } = await openPage();
    await page.goto(`${shared.url}${appPath()}`);
    await page.getByLabel('Token').fill(viewerToken);
    await page.getByRole('button', { name: 'Log in' }).click();
    expect(await heading(page)).toBe('web');

    const syncButton = page.getByRole('button', { name: 'Sync now' });
    expect(await syncButton.isDisabled()).toBe(true);
    for (const name of ['Suspend', 'Roll back…'])
      expect(await page.getByRole('button', { name, exact: true }).isDisabled()).toBe(true);
    expect(await page.locator('.action-reason').textContent()).toContain('may not patch Applications');
    // Its Role reads Applications only: the objects, the Repository and the Events say so.
    await page.locator('li[data-kind="Deployment"][data-name="web"]', { hasText: 'Forbidden' }).waitFor();
    await page.getByRole('tab', { name: 'Repository' }).click();
    await page.getByText('You may not read the Repository').waitFor();

    const forced = await page.evaluate(async (path) => {
      const session = (await (await fetch('/api/v1/session')).json()) as { csrfToken: string };
      const answer = await fetch(`/api/v1${path}/sync`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-capstan-csrf': session.csrfToken },
        body: '{}',
      });
      return { status: answer.status, body: (await answer.json()) as { error: string } };
    }, appPath());
    expect(forced.status).toBe(403);
    expect(forced.body.error).toBe('forbidden');

    // Another namespace's app: a page saying why, not an empty one; and a plain 404.
    await page.goto(`${shared.url}${appPath('secret-plans', otherNamespace)}`);
    expect(await heading(page)).toBe('You may not view this application');
    await page.goto(`${shared.url}${appPath('no-such-app')}`);
    expect(await heading(page)).toBe('Application not found');
  });

  it('fits a phone: no sideways scrolling of the page, whatever the section', async () => {
    const page = await openAsAdmin(appPath(), PHONE);
    expect(await heading(page)).toBe('web');
    await page.locator('li[data-kind="Pod"]').first().waitFor({ timeout: 20_000 });
    expect(await overflowing(page)).toEqual([]);
    await page.screenshot({ path: `${SHOTS}/app-phone.png`, fullPage: true });
    for (const tab of ['Diff', 'History', 'Events', 'Conditions', 'Dependencies', 'Repository']) {
      await page.getByRole('tab', { name: new RegExp(`^${tab}`) }).click();
      await page.locator(`[role="tabpanel"] h2`).first().waitFor();
      expect(await overflowing(page), `the ${tab} tab`).toEqual([]);
    }
    // The sync dialog too.
    await page.getByRole('button', { name: 'Sync now' }).click();
    await page.getByRole('dialog').waitFor();
    expect(await overflowing(page)).toEqual([]);
    await page.keyboard.press('Escape');
  });
});
