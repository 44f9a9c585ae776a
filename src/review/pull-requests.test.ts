import { describe, expect, it } from 'vitest';
import { FakeForge } from '../../test/forge/fake-forge.js';
import { FakeClock } from '../../test/support/fake-clock.js';
import { API_VERSION, type Application, type Repository } from '../api/v1alpha1.js';
import { ForgeError, type CallOptions, type CommentInput, type CommitStatusInput } from '../forge/index.js';
import { repositoryMatchKey } from '../source/index.js';
import type { PlanRequest } from './plan.js';
import { PullRequestPlans, planMarker, type PullRequestChange } from './pull-requests.js';
import { EMPTY_COUNTS, type AppPlan, type ChangePlan } from './types.js';

const URL = 'https://git.example.com/team-a/apps.git';
const REPO = 'team-a/apps';
const SHA1 = '1'.repeat(40);
const SHA2 = '2'.repeat(40);
const TOKEN = 'tok-3f9a-secret';

function repositoryOf(pullRequests: { plan: boolean; forks?: boolean }, annotations = {}): Repository {
  return {
    apiVersion: API_VERSION,
    kind: 'Repository',
    metadata: { namespace: 'team-a', name: 'apps', annotations },
    spec: { url: URL, forge: { kind: 'gitea' }, secretRef: { name: 'gitea' }, pullRequests },
  } as Repository;
}

function app(name: string, ref = 'main', sourceRef = 'apps'): Application {
  return {
    apiVersion: API_VERSION,
    kind: 'Application',
    metadata: { namespace: 'team-a', name },
    spec: { sourceRef: { name: sourceRef }, ref, path: name },
  } as Application;
}

function appPlan(name: string, result: AppPlan['result']): AppPlan {
  return {
    namespace: 'team-a',
    name,
    path: name,
    result,
    counts: { ...EMPTY_COUNTS, update: result === 'changes' ? 1 : 0 },
    objects: [],
    warnings: [],
    notes: [],
    ...(result === 'error' ? { error: 'does not render at head' } : {}),
  };
}

function planOf(request: PlanRequest, apps: AppPlan[]): ChangePlan {
  return {
    repository: 'git.example.com/team-a/apps',
    base: { ref: request.base, sha: 'b'.repeat(40) },
    head: { ref: request.head, sha: request.head },
    apps,
    untouched: 9,
  };
}

function setup(
  options: {
    repository?: Repository;
    plan?: (request: PlanRequest) => Promise<ChangePlan>;
    forge?: FakeForge;
    applications?: Application[];
  } = {},
) {
  const forge = options.forge ?? new FakeForge();
  const clock = new FakeClock();
  let repository = options.repository ?? repositoryOf({ plan: true });
  const requests: PlanRequest[] = [];
  const logs: string[] = [];
  const log = (level: string) => (fields: Record<string, unknown>, message: string) =>
    void logs.push(`${level} ${message} ${JSON.stringify(fields)}`);
  const plans = new PullRequestPlans({
    repositories: { list: () => [repository], get: () => repository },
    applications: { list: () => options.applications ?? [app('web'), app('api')] },
    forgeOf: async () => ({ forge, repo: REPO }),
    plan: async (request) => {
      requests.push(request);
      return options.plan ? options.plan(request) : planOf(request, [appPlan('web', 'changes')]);
    },
    log: { debug: log('debug'), info: log('info'), warn: log('warn') },
    clock,
    wakeAnnotation: 'capstan.dev/requested-at',
  });
  return {
    forge,
    clock,
    plans,
    requests,
    logs,
    setRepository: (next: Repository) => (repository = next),
  };
}

const event = (change: Partial<PullRequestChange> = {}) => ({
  repositoryKeys: [repositoryMatchKey(URL)!],
  pullRequest: {
    action: 'opened' as const,
    number: 7,
    headSha: SHA1,
    baseRef: 'main',
    fork: false,
    ...change,
  },
});

const context = 'capstan/plan/team-a';

describe('PullRequestPlans', () => {
  it('sets pending, plans the Repository’s apps at the head commit, comments once, then success', async () => {
    const { forge, plans, requests } = setup();
    const states: string[] = [];
    const setStatus = forge.setCommitStatus.bind(forge);
    forge.setCommitStatus = async (repo, sha, status) => {
      states.push(status.state);
      return setStatus(repo, sha, status);
    };
    expect(plans.pullRequestChanged(event())).toBe(1);
    await plans.idle();
    expect(states).toEqual(['pending', 'success']);
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({ repositoryUrl: URL, base: 'main', head: SHA1, namespace: 'team-a' });
    const filter = requests[0]!.repositoryFilter!;
    expect(filter(repositoryOf({ plan: true }))).toBe(true);
    expect(
      filter({ ...repositoryOf({ plan: true }), metadata: { namespace: 'team-a', name: 'other' } }),
    ).toBe(false);
    expect(forge.comments).toHaveLength(1);
    expect(forge.comments[0]!.body).toContain(planMarker(repositoryOf({ plan: true })));
    expect(forge.comments[0]!.body).toContain('<!-- capstan:plan team-a/apps -->');
    expect(forge.statusOf(REPO, SHA1, context)).toMatchObject({
      state: 'success',
      description: '1 app(s) would change; 9 untouched',
    });
  });

  it('edits the same comment for a new head, and marks an app in error as failure', async () => {
    const { forge, plans } = setup({
      plan: async (request) => planOf(request, [appPlan('web', request.head === SHA2 ? 'error' : 'changes')]),
    });
    plans.pullRequestChanged(event());
    await plans.idle();
    plans.pullRequestChanged(event({ action: 'synchronized', headSha: SHA2 }));
    await plans.idle();
    expect(forge.comments).toHaveLength(1);
    expect(forge.comments[0]!.body).toContain(SHA2.slice(0, 7));
    expect(forge.statusOf(REPO, SHA2, context)?.state).toBe('failure');
    expect(forge.statusOf(REPO, SHA1, context)?.state).toBe('success');
  });

  it('aborts the plan of an older head when a newer one arrives', async () => {
    const signals: AbortSignal[] = [];
    const { forge, plans } = setup({
      plan: (request) =>
        new Promise((resolve, reject) => {
          signals.push(request.signal!);
          if (request.head === SHA2) return resolve(planOf(request, [appPlan('web', 'changes')]));
          request.signal!.addEventListener('abort', () => reject(request.signal!.reason));
        }),
    });
    plans.pullRequestChanged(event());
    await new Promise((resolve) => setImmediate(resolve));
    plans.pullRequestChanged(event({ action: 'synchronized', headSha: SHA2 }));
    await plans.idle();
    expect(signals[0]!.aborted).toBe(true);
    expect(forge.comments).toHaveLength(1);
    expect(forge.comments[0]!.body).toContain(SHA2.slice(0, 7));
    // The older head keeps its pending status: no verdict is given for a plan that was not finished.
    expect(forge.statusOf(REPO, SHA1, context)?.state).toBe('pending');
    expect(forge.statusOf(REPO, SHA2, context)?.state).toBe('success');
  });

  it('does not plan forks unless the Repository allows them, closed pull requests, or other branches', async () => {
    const { forge, plans, requests, logs, setRepository } = setup();
    plans.pullRequestChanged(event({ fork: true }));
    plans.pullRequestChanged(event({ action: 'closed', number: 8 }));
    plans.pullRequestChanged(event({ baseRef: 'release', number: 9 }));
    await plans.idle();
    expect(requests).toEqual([]);
    expect(forge.statuses).toEqual([]);
    expect(logs.some((line) => line.includes('from a fork: not planned'))).toBe(true);
    setRepository(repositoryOf({ plan: true, forks: true }));
    plans.pullRequestChanged(event({ fork: true }));
    await plans.idle();
    expect(requests).toHaveLength(1);
  });

  it('ignores Repositories without plans, and pull requests of other repositories', async () => {
    const { plans, requests } = setup({ repository: repositoryOf({ plan: false }) });
    expect(plans.pullRequestChanged(event())).toBe(0);
    const other = setup();
    expect(other.plans.pullRequestChanged({ ...event(), repositoryKeys: ['git.example.com/x/y'] })).toBe(0);
    await plans.idle();
    expect(requests).toEqual([]);
  });

  it('reports once that a Repository wants plans without a Git host to post them to', async () => {
    const bare = repositoryOf({ plan: true });
    const { plans, requests, logs } = setup({
      repository: { ...bare, spec: { url: URL, pullRequests: { plan: true } } } as Repository,
    });
    expect(plans.pullRequestChanged(event())).toBe(0);
    plans.pullRequestChanged(event({ number: 8 }));
    await plans.idle();
    expect(requests).toEqual([]);
    expect(logs.filter((line) => line.includes('needs spec.forge'))).toHaveLength(1);
  });

  it('plans the open pull requests it has not planned when the Repository is polled, at most every interval', async () => {
    const forge = new FakeForge();
    forge.addPullRequest(REPO, { number: 1, head: { ref: 'a', sha: SHA1 }, base: { ref: 'main' } });
    forge.addPullRequest(REPO, {
      number: 2,
      head: { ref: 'b', sha: SHA2, fork: true },
      base: { ref: 'main' },
    });
    const { plans, requests, clock, setRepository } = setup({ forge });
    plans.reviewOpen(repositoryOf({ plan: true }));
    await plans.idle();
    expect(requests.map((r) => r.head)).toEqual([SHA1]); // the fork is left out
    plans.reviewOpen(repositoryOf({ plan: true }));
    await plans.idle();
    expect(requests).toHaveLength(1); // not listed again so soon
    clock.advance(60_000);
    plans.reviewOpen(repositoryOf({ plan: true }));
    await plans.idle();
    expect(requests).toHaveLength(1); // listed, but that head is planned already
    // A wake-up (a standby forwarding a webhook) lists at once; a new head is planned.
    forge.pullRequests[0] = {
      ...forge.pullRequests[0]!,
      head: { ref: 'a', sha: '3'.repeat(40), fork: false },
    };
    const woken = repositoryOf({ plan: true }, { 'capstan.dev/requested-at': 'now' });
    setRepository(woken);
    plans.reviewOpen(woken);
    await plans.idle();
    expect(requests.map((r) => r.head)).toEqual([SHA1, '3'.repeat(40)]);
  });

  it('waits out a rate limit the host announces, then goes on', async () => {
    const forge = new FakeForge();
    let limited = true;
    const setStatus = forge.setCommitStatus.bind(forge);
    forge.setCommitStatus = async (repo: string, sha: string, status: CommitStatusInput) => {
      if (limited) {
        limited = false;
        throw new ForgeError('transient', 'rate limited (429)', { status: 429, retryAfterMs: 30_000 });
      }
      return setStatus(repo, sha, status);
    };
    const { plans, clock, logs } = setup({ forge });
    plans.pullRequestChanged(event());
    await clock.advanceAsync(30_000);
    await plans.idle();
    expect(forge.statusOf(REPO, SHA1, context)?.state).toBe('success');
    expect(logs.some((line) => line.includes('forge rate limit'))).toBe(true);
  });

  it('says on the commit that it could not plan, never why; the why (without tokens) goes to the log', async () => {
    const { forge, plans, logs } = setup({
      plan: async () => {
        throw new Error(`cannot fetch https://user:${TOKEN}@git.example.com/team-a/apps.git`);
      },
    });
    plans.pullRequestChanged(event());
    await plans.idle();
    const status = forge.statusOf(REPO, SHA1, context);
    expect(status?.state).toBe('error');
    expect(status?.description).not.toContain('fetch');
    expect(forge.comments).toEqual([]);
    expect(logs.some((line) => line.includes('planning the pull request failed'))).toBe(true);
    expect(logs.join('\n')).not.toContain(TOKEN);
  });

  it('aborts running plans when closed', async () => {
    const signals: AbortSignal[] = [];
    const { plans } = setup({
      plan: (request) =>
        new Promise((_resolve, reject) => {
          signals.push(request.signal!);
          request.signal!.addEventListener('abort', () => reject(request.signal!.reason));
        }),
    });
    plans.pullRequestChanged(event());
    await new Promise((resolve) => setImmediate(resolve));
    await plans.close();
    expect(signals[0]!.aborted).toBe(true);
  });

  it('gives a plan up at its deadline, says so on the commit, and frees the slot', async () => {
    const signals: AbortSignal[] = [];
    const { forge, plans, clock, logs } = setup({
      plan: (request) => {
        signals.push(request.signal!);
        // A plan that never ends (a Git host that never answers, say).
        return new Promise(() => {});
      },
    });
    plans.pullRequestChanged(event());
    plans.pullRequestChanged(event({ number: 8, headSha: SHA2 }));
    await clock.advanceAsync(0);
    expect(signals).toHaveLength(1); // one plan of a namespace at a time
    await clock.advanceAsync(5 * 60_000);
    expect(signals[0]!.aborted).toBe(true);
    expect(forge.statusOf(REPO, SHA1, context)?.state).toBe('error');
    expect(logs.some((line) => line.includes('took too long: given up'))).toBe(true);
    expect(signals).toHaveLength(2); // the next one started
    await clock.advanceAsync(5 * 60_000);
    await plans.idle();
  });

  it('passes its abort signal to the forge calls', async () => {
    const forge = new FakeForge();
    const seen: (AbortSignal | undefined)[] = [];
    const setStatus = forge.setCommitStatus.bind(forge);
    const upsert = forge.upsertComment.bind(forge);
    // The fake's own methods do not declare the options: recorded here.
    Object.assign(forge, {
      setCommitStatus: async (
        repo: string,
        sha: string,
        status: CommitStatusInput,
        options?: CallOptions,
      ) => {
        seen.push(options?.signal);
        return setStatus(repo, sha, status);
      },
      upsertComment: async (repo: string, number: number, comment: CommentInput, options?: CallOptions) => {
        seen.push(options?.signal);
        return upsert(repo, number, comment);
      },
    });
    const { plans } = setup({ forge });
    plans.pullRequestChanged(event());
    await plans.idle();
    expect(seen).toHaveLength(3);
    expect(seen.every((signal) => signal instanceof AbortSignal)).toBe(true);
  });

  it("runs another namespace's plan while one namespace's plans hang", async () => {
    const forge = new FakeForge();
    const teamB = {
      ...repositoryOf({ plan: true }),
      metadata: { namespace: 'team-b', name: 'apps' },
      spec: { ...repositoryOf({ plan: true }).spec, url: 'https://git.example.com/team-b/apps.git' },
    } as Repository;
    const started: string[] = [];
    const plans = new PullRequestPlans({
      repositories: { list: () => [repositoryOf({ plan: true }), teamB], get: () => undefined },
      applications: {
        list: () => [app('web'), { ...app('web'), metadata: { namespace: 'team-b', name: 'web' } }],
      },
      forgeOf: async () => ({ forge, repo: REPO }),
      plan: (request) => {
        started.push(`${request.namespace}#${request.head.slice(0, 1)}`);
        if (request.namespace === 'team-a') return new Promise(() => {});
        return Promise.resolve(planOf(request, []));
      },
      log: { debug: () => {}, info: () => {}, warn: () => {} },
      clock: new FakeClock(),
      concurrency: 2,
      closeGraceMs: 50,
    });
    for (let n = 1; n <= 5; n++)
      plans.pullRequestChanged(event({ number: n, headSha: String(n).repeat(40) }));
    plans.pullRequestChanged({
      repositoryKeys: [repositoryMatchKey('https://git.example.com/team-b/apps.git')!],
      pullRequest: { action: 'opened', number: 1, headSha: SHA2, baseRef: 'main', fork: false },
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual(['team-a#1', 'team-b#2']);
    expect(forge.statusOf(REPO, SHA2, 'capstan/plan/team-b')?.state).toBe('success');
    // Closing does not wait for plans that ignore their abort.
    const before = Date.now();
    await plans.close();
    expect(Date.now() - before).toBeLessThan(5_000);
  });

  it("keeps a bounded queue of a namespace's waiting pull requests, dropping the oldest", async () => {
    const started: number[] = [];
    const release: (() => void)[] = [];
    const logs: string[] = [];
    const repository = repositoryOf({ plan: true });
    const plans = new PullRequestPlans({
      repositories: { list: () => [repository], get: () => repository },
      applications: { list: () => [app('web')] },
      forgeOf: async () => ({ forge: new FakeForge(), repo: REPO }),
      plan: (request) => {
        started.push(Number.parseInt(request.head.slice(0, 8), 16));
        return new Promise((resolve) => release.push(() => resolve(planOf(request, []))));
      },
      log: { debug: () => {}, info: () => {}, warn: (_fields, message) => void logs.push(message) },
      clock: new FakeClock(),
      maxWaitingPerNamespace: 3,
    });
    const head = (n: number) => n.toString(16).padStart(8, '0').repeat(5);
    for (let n = 1; n <= 10; n++) plans.pullRequestChanged(event({ number: n, headSha: head(n) }));
    for (let round = 0; round < 10; round++) {
      await new Promise((resolve) => setImmediate(resolve));
      release.splice(0).forEach((done) => done());
    }
    await plans.idle();
    // The first ran at once; of the nine that waited, the three newest were kept.
    expect(started).toEqual([1, 8, 9, 10]);
    expect(logs.filter((line) => line.includes('the oldest waiting are dropped'))).toHaveLength(1);
  });

  it('reports a Repository without a Git host again only when its generation changes', async () => {
    const bare = {
      ...repositoryOf({ plan: true }),
      spec: { url: URL, pullRequests: { plan: true } },
    } as Repository;
    const { plans, logs, setRepository } = setup({
      repository: { ...bare, metadata: { ...bare.metadata, generation: 1 } },
    });
    plans.pullRequestChanged(event());
    plans.pullRequestChanged(event());
    setRepository({ ...bare, metadata: { ...bare.metadata, generation: 2 } });
    plans.pullRequestChanged(event());
    plans.pullRequestChanged(event());
    await plans.idle();
    expect(logs.filter((line) => line.includes('needs spec.forge'))).toHaveLength(2);
  });
});
