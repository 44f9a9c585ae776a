/**
 * Plans of pull requests end to end: a real Gitea (the run's shared forge) delivering its signed
 * pull-request webhooks to Capstan's webhook server, a controller on the real control plane
 * planning each head commit as the apps' ServiceAccount, and the comment and commit status read
 * back from Gitea's API.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REQUESTED_AT_ANNOTATION } from '../../src/api/v1alpha1.js';
import { routePullRequest } from '../../src/cli/commands/controller-run.js';
import { CapstanMetrics, createServer } from '../../src/server/index.js';
import type { ForgeClient, ForgeUser } from '../../src/dev/forge.js';
import { kubectl, kubectlOk } from '../support/cluster.js';
import {
  createApp,
  eventually,
  isolated,
  readyAt,
  startTestController,
  type TestController,
} from '../support/controller.js';
import { giteaRepository, giteaSecret, sharedForge } from '../support/forge.js';
import { git, makeTempDir } from '../support/git-servers.js';

const APPS = 10;
const WEBHOOK_SECRET = randomBytes(16).toString('hex');

const configMap = (name: string, value: string): string =>
  JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { value } });

interface Comment {
  id: number;
  body: string;
  user: { login: string };
}
interface CombinedStatus {
  statuses: { context: string; status: string; description: string }[] | null;
}

let forge: ForgeClient;
let owner: ForgeUser;
let token: string;
let repo: { owner: string; name: string; fullName: string; cloneUrl: string };
let namespace: string;
let extraNamespace: string;
let work: string;
let t: TestController;
let server: ReturnType<typeof createServer>;
let hookId: number;
const logLines: { message: string; fields: Record<string, unknown> }[] = [];

/** Commits `files` on `branch` (made from `from` when new) in a clone of the Gitea repository, and pushes. */
async function commitTo(
  branch: string,
  files: Record<string, string | null>,
  options: { from?: string; remote?: string } = {},
): Promise<string> {
  const remote = options.remote ?? 'origin';
  await git(work, 'fetch', '--quiet', remote);
  const exists = (await git(work, 'branch', '--list', branch)) !== '';
  await git(
    work,
    'checkout',
    '--quiet',
    ...(exists ? [branch] : ['-b', branch, `origin/${options.from ?? 'main'}`]),
  );
  for (const [path, content] of Object.entries(files)) {
    const target = join(work, path);
    if (content === null) {
      await rm(target, { force: true });
      continue;
    }
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, content);
  }
  await git(work, 'add', '--all');
  await git(work, 'commit', '--quiet', '-m', `change ${branch}`);
  await git(work, 'push', '--quiet', remote, `${branch}:${branch}`);
  return git(work, 'rev-parse', 'HEAD');
}

async function openPullRequest(
  head: string,
  title: string,
  auth: { token: string } = { token },
): Promise<number> {
  const pull = await forge.api<{ number: number }>('POST', `/repos/${repo.fullName}/pulls`, {
    auth,
    body: { head, base: 'main', title },
    expect: [201],
  });
  return pull.number;
}

const marker = (): string => `<!-- capstan:plan ${namespace}/apps -->`;

async function planComments(number: number): Promise<Comment[]> {
  const comments = await forge.api<Comment[]>('GET', `/repos/${repo.fullName}/issues/${number}/comments`);
  return comments.filter((comment) => comment.body.includes(marker()));
}

async function planStatus(sha: string): Promise<{ status: string; description: string } | undefined> {
  const combined = await forge.api<CombinedStatus>('GET', `/repos/${repo.fullName}/commits/${sha}/status`);
  return (combined.statuses ?? []).find((s) => s.context === `capstan/plan/${namespace}`);
}

/** The plan comment once it is about `sha` and the status on `sha` is final. */
async function plannedAt(number: number, sha: string): Promise<{ comment: Comment; status: string }> {
  return eventually(
    `plan of #${number} at ${sha.slice(0, 7)}`,
    async () => {
      const [comments, status] = await Promise.all([planComments(number), planStatus(sha)]);
      // The title names the commits: `### Capstan plan: <repository> <base>..<head>`.
      const comment = comments.find((c) => c.body.includes(`..${sha.slice(0, 7)}`));
      if (!comment || !status || status.status === 'pending') return undefined;
      return { comment, status: status.status };
    },
    180_000,
  );
}

/** Markdown escapes punctuation in names; compare without the escapes. */
const plain = (markdown: string): string => markdown.replace(/\\(.)/g, '$1');

beforeAll(async () => {
  forge = await sharedForge();
  owner = await forge.createUser();
  token = await forge.token(owner, ['write:repository', 'write:issue', 'write:user']);
  repo = await forge.createRepo(owner.username, `plans-${Date.now().toString(36)}`);
  work = await makeTempDir('pr-plans');
  await git(work, 'clone', '--quiet', forge.cloneUrl(repo.owner, repo.name, owner), '.').catch(async () => {
    // An empty repository clones with a warning on some git versions; start one instead.
    await git(work, 'init', '--quiet', '--initial-branch=main');
    await git(work, 'remote', 'add', 'origin', forge.cloneUrl(repo.owner, repo.name, owner));
  });

  namespace = `pr-plans-${randomBytes(4).toString('hex')}`;
  await kubectlOk(['create', 'namespace', namespace]);
  extraNamespace = `${namespace}-extra`;
  const files: Record<string, string> = {};
  for (let i = 0; i < APPS; i++) files[`apps/app-${i}/config.yaml`] = configMap(`config-${i}`, 'v1');
  files['apps/app-9/namespace.yaml'] = JSON.stringify({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: extraNamespace },
  });
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(work, path)), { recursive: true });
    await writeFile(join(work, path), content);
  }
  await git(work, 'checkout', '--quiet', '-B', 'main');
  await git(work, 'add', '--all');
  await git(work, 'commit', '--quiet', '-m', 'ten apps');
  await git(work, 'push', '--quiet', 'origin', 'main:main');
  const main = await git(work, 'rev-parse', 'HEAD');
  await eventually('main on Gitea', () =>
    forge.waitForBranch(repo.fullName, 'main', { sha: main, timeoutMs: 5_000 }),
  );

  const log = (level: string) => (fields: Record<string, unknown>, message: string) => {
    logLines.push({ message, fields });
    if (process.env.CAPSTAN_TEST_LOG)
      console.log(`[controller ${level}] ${message} ${JSON.stringify(fields)}`);
  };
  t = await startTestController({
    namespace,
    log: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
  });
  await t.kube.apply(giteaSecret(namespace, forge, owner, token));
  await t.kube.apply(
    isolated(
      giteaRepository(namespace, 'apps', repo.cloneUrl, { pullRequests: { plan: true, forks: false } }),
    ),
  );
  for (let i = 0; i < APPS; i++)
    await createApp(t.kube, namespace, `app-${i}`, { path: `apps/app-${i}` }, { isolated: true });
  for (let i = 0; i < APPS; i++) await readyAt(t.kube, namespace, `app-${i}`, main, 120_000);

  // Capstan's webhook server, as `capstan controller` runs it, with Gitea's hook pointing at it.
  server = createServer({
    metrics: new CapstanMetrics({ defaultMetrics: false }),
    isReady: () => true,
    webhookSecrets: { gitea: WEBHOOK_SECRET },
    onPush: (event) => void t.controller.repositoriesPushed(event.repositoryKeys),
    onPullRequest: (event) => void t.controller.pullRequestChanged(event),
    limits: { debounceMs: 0 },
  });
  await server.listen({ host: '127.0.0.1', port: 0 });
  const { port } = server.server.address() as AddressInfo;
  const hook = await forge.api<{ id: number }>('POST', `/repos/${repo.fullName}/hooks`, {
    auth: { token },
    body: {
      type: 'gitea',
      active: true,
      events: ['pull_request', 'pull_request_sync'],
      config: { url: `http://127.0.0.1:${port}/hooks/gitea`, content_type: 'json', secret: WEBHOOK_SECRET },
    },
    expect: [201],
  });
  hookId = hook.id;
}, 300_000);

afterAll(async () => {
  await server?.close();
  await t?.stop();
  for (const name of [extraNamespace, namespace])
    if (name) await kubectl(['delete', 'namespace', name, '--ignore-not-found', '--wait=false']);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('pull-request plans on Gitea', () => {
  it('comments the plan of the one app a pull request changes, and edits that comment on the next push', async () => {
    const first = await commitTo('bump-3', { 'apps/app-3/config.yaml': configMap('config-3', 'v2') });
    await eventually('bump-3 on Gitea', () =>
      forge.waitForBranch(repo.fullName, 'bump-3', { sha: first, timeoutMs: 5_000 }),
    );
    const number = await openPullRequest('bump-3', 'Bump app-3');

    const planned = await plannedAt(number, first);
    expect(planned.status).toBe('success');
    const body = plain(planned.comment.body);
    expect(body).toContain(`${namespace}/app-3`);
    for (let i = 0; i < APPS; i++) if (i !== 3) expect(body).not.toContain(`${namespace}/app-${i} `);
    expect(body).toContain('9 other app(s)');
    expect(body).not.toContain(token);
    expect(planned.comment.user.login).toBe(owner.username);
    expect(await planComments(number)).toHaveLength(1);

    // A new push to the pull request: the same comment, edited; the new head gets its own status.
    const second = await commitTo('bump-3', { 'apps/app-3/config.yaml': configMap('config-3', 'v3') });
    const replanned = await plannedAt(number, second);
    expect(replanned.comment.id).toBe(planned.comment.id);
    expect(replanned.status).toBe('success');
    expect(plain(replanned.comment.body)).toContain('v3');
    expect(await planComments(number)).toHaveLength(1);
    expect((await planStatus(first))?.status).toBe('success');
  }, 300_000);

  it('flags a pull request that prunes a Namespace', async () => {
    const head = await commitTo('drop-extra', { 'apps/app-9/namespace.yaml': null });
    await eventually('drop-extra on Gitea', () =>
      forge.waitForBranch(repo.fullName, 'drop-extra', { sha: head, timeoutMs: 5_000 }),
    );
    const number = await openPullRequest('drop-extra', 'Drop the extra namespace');
    const planned = await plannedAt(number, head);
    const body = plain(planned.comment.body);
    expect(body).toContain(`${namespace}/app-9`);
    expect(body).toContain(`deletes Namespace/${extraNamespace} and everything in it`);
  }, 300_000);

  it('does not plan a pull request from a fork while forks are off', async () => {
    const mallory = await forge.createUser();
    const malloryToken = await forge.token(mallory, ['write:repository', 'write:issue']);
    const fork = await forge.api<{ full_name: string; name: string }>(
      'POST',
      `/repos/${repo.fullName}/forks`,
      {
        auth: { token: malloryToken },
        body: {},
        expect: [202],
      },
    );
    await git(work, 'remote', 'add', 'fork', forge.cloneUrl(mallory.username, fork.name, mallory));
    const head = await commitTo(
      'from-fork',
      { 'apps/app-1/config.yaml': configMap('config-1', 'fork') },
      { remote: 'fork' },
    );
    await eventually('from-fork on the fork', () =>
      forge.waitForBranch(fork.full_name, 'from-fork', { sha: head, timeoutMs: 5_000 }),
    );
    const number = await openPullRequest(`${mallory.username}:from-fork`, 'From a fork', {
      token: malloryToken,
    });
    await eventually('the fork pull request refused', async () =>
      logLines.some(
        (line) =>
          line.message.startsWith('pull request from a fork: not planned') &&
          line.fields.pullRequest === number,
      ),
    );
    expect(await planComments(number)).toEqual([]);
    expect(await planStatus(head)).toBeUndefined();
  }, 300_000);

  it('plans a pull request whose webhook reached a standby: forwarded as a wake-up, found by listing', async () => {
    // Gitea stops delivering to the leader's server; the event reaches a standby's instead.
    await forge.api('PATCH', `/repos/${repo.fullName}/hooks/${hookId}`, {
      auth: { token },
      body: { active: false },
    });
    const standby = createServer({
      metrics: new CapstanMetrics({ defaultMetrics: false }),
      isReady: () => true,
      webhookSecrets: { gitea: WEBHOOK_SECRET },
      onPush: () => undefined,
      onPullRequest: routePullRequest({ kube: t.kube, controller: t.controller, isLeading: () => false }),
    });
    try {
      const head = await commitTo('bump-5', { 'apps/app-5/config.yaml': configMap('config-5', 'v2') });
      await eventually('bump-5 on Gitea', () =>
        forge.waitForBranch(repo.fullName, 'bump-5', { sha: head, timeoutMs: 5_000 }),
      );
      const number = await openPullRequest('bump-5', 'Bump app-5');
      const payload = JSON.stringify({
        action: 'opened',
        number,
        pull_request: {
          number,
          merged: false,
          head: { ref: 'bump-5', sha: head, repo_id: 1 },
          base: { ref: 'main', sha: head, repo_id: 1 },
        },
        repository: { clone_url: repo.cloneUrl },
      });
      const answer = await standby.inject({
        method: 'POST',
        url: '/hooks/gitea',
        headers: {
          'content-type': 'application/json',
          'x-gitea-event': 'pull_request',
          'x-gitea-signature': createHmac('sha256', WEBHOOK_SECRET).update(payload).digest('hex'),
        },
        payload,
      });
      expect(answer.statusCode).toBe(202);
      // Forwarded to the leader as a wake-up of the Repository, which then lists its pull requests.
      await eventually('the Repository woken', async () => {
        const woken = await t.kube.get({ group: 'capstan.dev', kind: 'Repository', namespace, name: 'apps' });
        return woken?.metadata.annotations?.[REQUESTED_AT_ANNOTATION] !== undefined;
      });
      const planned = await plannedAt(number, head);
      expect(planned.status).toBe('success');
      expect(plain(planned.comment.body)).toContain(`${namespace}/app-5`);
    } finally {
      await standby.close();
    }
  }, 300_000);
});
