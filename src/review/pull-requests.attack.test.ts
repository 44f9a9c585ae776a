/**
 * Attacks on the pull-request planner (src/review/pull-requests.ts): a flood of pull-request events
 * (many pull requests, many pushes) must not run more plans at once than configured, nor keep
 * superseded heads' plans alive.
 */
import { describe, expect, it } from 'vitest';
import { FakeForge } from '../../test/forge/fake-forge.js';
import { FakeClock } from '../../test/support/fake-clock.js';
import { API_VERSION, type Application, type Repository } from '../api/v1alpha1.js';
import { repositoryMatchKey } from '../source/index.js';
import type { PlanRequest } from './plan.js';
import { PullRequestPlans } from './pull-requests.js';
import type { ChangePlan } from './types.js';

const URL = 'https://git.example.com/team-a/apps.git';

const repository = {
  apiVersion: API_VERSION,
  kind: 'Repository',
  metadata: { namespace: 'team-a', name: 'apps' },
  spec: { url: URL, forge: { kind: 'gitea' }, secretRef: { name: 'gitea' }, pullRequests: { plan: true } },
} as Repository;
const app = {
  apiVersion: API_VERSION,
  kind: 'Application',
  metadata: { namespace: 'team-a', name: 'web' },
  spec: { sourceRef: { name: 'apps' }, ref: 'main', path: 'web' },
} as Application;

const sha = (n: number) => n.toString(16).padStart(40, '0');

function setup() {
  let running = 0;
  let peak = 0;
  const started: PlanRequest[] = [];
  const release: (() => void)[] = [];
  const plans = new PullRequestPlans({
    repositories: { list: () => [repository], get: () => repository },
    applications: { list: () => [app] },
    forgeOf: async () => ({ forge: new FakeForge(), repo: 'team-a/apps' }),
    plan: async (request) => {
      started.push(request);
      running++;
      peak = Math.max(peak, running);
      try {
        await new Promise<void>((resolve, reject) => {
          release.push(resolve);
          request.signal?.addEventListener('abort', () => reject(new Error('aborted')));
        });
      } finally {
        running--;
      }
      return {
        repository: 'x',
        base: { ref: 'main', sha: sha(1) },
        head: { ref: request.head, sha: request.head },
        apps: [],
        untouched: 0,
      } satisfies ChangePlan;
    },
    log: { debug: () => {}, info: () => {}, warn: () => {} },
    clock: new FakeClock(),
    concurrency: 2,
  });
  return { plans, started, release, stats: () => ({ running, peak }) };
}

const event = (number: number, head: number) => ({
  repositoryKeys: [repositoryMatchKey(URL)!],
  pullRequest: { action: 'opened' as const, number, headSha: sha(head), baseRef: 'main', fork: false },
});

const tick = () => new Promise((resolve) => setTimeout(resolve, 10));

describe('pull-request plan flooding', () => {
  it('never runs more plans at once than its concurrency, whatever the flood', async () => {
    const { plans, stats, release } = setup();
    for (let i = 1; i <= 2000; i++) plans.pullRequestChanged(event(i, i + 10));
    await tick();
    expect(stats().peak).toBeLessThanOrEqual(2);
    await plans.close();
    for (const r of release) r();
  });

  it('a thousand pushes to one pull request leave one plan to run, not a thousand', async () => {
    const { plans, started, release } = setup();
    for (let i = 1; i <= 1000; i++) plans.pullRequestChanged(event(7, i + 10));
    await tick();
    // Release whatever started, and let the queue drain.
    for (let round = 0; round < 20; round++) {
      release.splice(0).forEach((r) => r());
      await tick();
    }
    await plans.idle();
    // Superseded heads are aborted before they start (signal checked first): only a handful ran.
    expect(started.length).toBeLessThanOrEqual(3);
    expect(started.at(-1)?.head).toBe(sha(1010));
  });
});
