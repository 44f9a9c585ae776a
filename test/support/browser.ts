/**
 * A real browser for the dashboard's tests and bench: Debian's chromium driven by playwright-core
 * (`npx playwright install` cannot download here; .ci/run installs chromium with apt), and the
 * dashboard's browser app built once per test worker into a folder of its own.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { buildDashboard } from '../../scripts/build.js';
import { makeTempDir } from './git-servers.js';

/** CAPSTAN_CHROMIUM overrides; else Debian's. */
export const CHROMIUM_PATH = process.env.CAPSTAN_CHROMIUM ?? '/usr/bin/chromium';

const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH))
    throw new Error(`no chromium at ${CHROMIUM_PATH}: apt-get install chromium (or set CAPSTAN_CHROMIUM)`);
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_FLAGS, headless: true });
}

let built: Promise<string> | undefined;

/** The browser app as `npm run build` makes it, built once per worker from the current sources. */
export function dashboardAssets(): Promise<string> {
  built ??= makeTempDir('dashboard').then(async (dir) => buildDashboard(join(dir, 'dashboard')));
  return built;
}
