/**
 * Attacks on pull-request plans (src/review/pull-requests.ts) on the run's real Gitea and the real
 * control plane. Two teams plan the same Git repository (each its own namespace and Repository,
 * one bot account for the repository, as organisations do). A pull request's author controls every
 * byte of the manifests it changes.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REQUESTED_AT_ANNOTATION } from '../../src/api/v1alpha1.js';
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

const configMap = (name: string, value: string): string =>
  JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { value } });

const LIVE_SECRET = 'live-s3cret-d41d8cd9';
const NEW_SECRET = 'new-s3cret-8f00b204';
const secret = (value: string): string =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'creds' },
    stringData: { password: value },
  });

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
let work: string;
const teams: { namespace: string; t?: TestController }[] = [];
const logs: string[] = [];

const marker = (namespace: string): string => `<!-- capstan:plan ${namespace}/apps -->`;

async function commitTo(branch: string, files: Record<string, string>): Promise<string> {
  await git(work, 'fetch', '--quiet', 'origin');
  await git(work, 'checkout', '--quiet', '-b', branch, 'origin/main');
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(work, path)), { recursive: true });
    await writeFile(join(work, path), content);
  }
  await git(work, 'add', '--all');
  await git(work, 'commit', '--quiet', '-m', `change ${branch}`);
  await git(work, 'push', '--quiet', 'origin', `${branch}:${branch}`);
  return git(work, 'rev-parse', 'HEAD');
}

async function comments(number: number): Promise<Comment[]> {
  return forge.api<Comment[]>('GET', `/repos/${repo.fullName}/issues/${number}/comments`);
}

async function statusOf(sha: string, namespace: string): Promise<string | undefined> {
  const combined = await forge.api<CombinedStatus>('GET', `/repos/${repo.fullName}/commits/${sha}/status`);
  return (combined.statuses ?? []).find((s) => s.context === `capstan/plan/${namespace}`)?.status;
}

async function startTeam(namespace: string, path: string, main: string): Promise<TestController> {
  const log = (level: string) => (fields: Record<string, unknown>, message: string) => {
    logs.push(`[${namespace} ${level}] ${message} ${JSON.stringify(fields)}`);
  };
  const t = await startTestController({
    namespace,
    log: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
  });
  await t.kube.apply(giteaSecret(namespace, forge, owner, token));
  await createApp(t.kube, namespace, 'web', { path }, { isolated: true });
  await t.kube.apply(
    isolated(
      giteaRepository(namespace, 'apps', repo.cloneUrl, { pullRequests: { plan: true, forks: false } }),
    ),
  );
  await readyAt(t.kube, namespace, 'web', main, 120_000);
  return t;
}

/** Makes the Repository's controller list the open pull requests now (as a standby's wake-up does). */
async function wake(t: TestController, namespace: string): Promise<void> {
  await t.kube.apply(
    {
      apiVersion: 'capstan.dev/v1alpha1',
      kind: 'Repository',
      metadata: {
        name: 'apps',
        namespace,
        annotations: { [REQUESTED_AT_ANNOTATION]: new Date().toISOString() },
      },
    } as never,
    { fieldManager: 'attack-wake', force: true },
  );
}

beforeAll(async () => {
  forge = await sharedForge();
  owner = await forge.createUser();
  token = await forge.token(owner, ['write:repository', 'write:issue', 'write:user']);
  repo = await forge.createRepo(owner.username, `attack-plans-${Date.now().toString(36)}`);
  work = await makeTempDir('attack-plans');
  await git(work, 'init', '--quiet', '--initial-branch=main');
  await git(work, 'remote', 'add', 'origin', forge.cloneUrl(repo.owner, repo.name, owner));
  await mkdir(join(work, 'a'), { recursive: true });
  await mkdir(join(work, 'b'), { recursive: true });
  await writeFile(join(work, 'a/cm.yaml'), configMap('team-a', 'v1'));
  await writeFile(join(work, 'b/cm.yaml'), configMap('team-b', 'v1'));
  await writeFile(join(work, 'a/secret.yaml'), secret(LIVE_SECRET));
  await git(work, 'add', '--all');
  await git(work, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '--quiet', '-m', 'two teams');
  await git(work, 'push', '--quiet', 'origin', 'main:main');
  await git(work, 'config', 'user.name', 't');
  await git(work, 'config', 'user.email', 't@t');
  const main = await git(work, 'rev-parse', 'HEAD');
  await eventually('main on Gitea', () =>
    forge.waitForBranch(repo.fullName, 'main', { sha: main, timeoutMs: 5_000 }),
  );
  const suffix = randomBytes(3).toString('hex');
  for (const name of [`atk-a-${suffix}`, `atk-b-${suffix}`]) {
    await kubectlOk(['create', 'namespace', name]);
    teams.push({ namespace: name });
  }
  teams[0]!.t = await startTeam(teams[0]!.namespace, 'a', main);
}, 300_000);

afterAll(async () => {
  if (process.env.ATTACK_LOG) console.log(logs.join('\n'));
  for (const team of teams) {
    await team.t?.stop();
    await kubectl(['delete', 'namespace', team.namespace, '--ignore-not-found', '--wait=false']);
  }
  if (work) await rm(work, { recursive: true, force: true });
});

describe('plan comments of two teams on one pull request', () => {
  // Found by the red team: team A's comment quotes the pull request's bytes (the diff), and a marker
  // anywhere in a body used to count, so team B's plan edited team A's comment. Only a first line counts.
  it("a pull request cannot make one team's plan overwrite the other team's comment (marker injection)", async () => {
    const [a, b] = teams as [{ namespace: string; t?: TestController }, { namespace: string }];
    // The author of the pull request writes team B's marker into a value of team A's manifest.
    const head = await commitTo('inject', {
      'a/cm.yaml': configMap('team-a', `pwned ${marker(b.namespace)} by the author`),
    });
    await eventually('inject on Gitea', () =>
      forge.waitForBranch(repo.fullName, 'inject', { sha: head, timeoutMs: 5_000 }),
    );
    const pull = await forge.api<{ number: number }>('POST', `/repos/${repo.fullName}/pulls`, {
      auth: { token },
      body: { head: 'inject', base: 'main', title: 'innocent change' },
      expect: [201],
    });
    await wake(a.t!, a.namespace);
    const aComment = await eventually(
      "team A's plan",
      async () => {
        const found = (await comments(pull.number)).find((c) => c.body.startsWith(marker(a.namespace)));
        return found && (await statusOf(head, a.namespace)) !== 'pending' ? found : undefined;
      },
      180_000,
    );
    // Team A's comment shows the diff, so it carries team B's marker.
    expect(aComment.body).toContain(marker(b.namespace));

    // Team B's controller now plans the same pull request (its Repository made after A's plan).
    const main = await git(work, 'rev-parse', 'origin/main');
    (b as { t?: TestController }).t = await startTeam(b.namespace, 'b', main);
    await eventually(
      "team B's plan",
      async () => {
        const state = await statusOf(head, b.namespace);
        return state !== undefined && state !== 'pending';
      },
      180_000,
    );
    const after = await comments(pull.number);
    // Each team keeps its own comment: A's plan is still there, untouched by B's.
    const aAfter = after.find((c) => c.id === aComment.id);
    if (process.env.ATTACK_LOG)
      console.log(after.map((c) => `#${c.id} by ${c.user.login}: ${c.body.split('\n')[0]}`).join('\n'));
    expect(aAfter?.body.startsWith(marker(a.namespace))).toBe(true);
    expect(after.some((c) => c.body.startsWith(marker(b.namespace)))).toBe(true);
  }, 420_000);

  it('a pull request changing a Secret (and a ConfigMap full of Markdown) gets a comment with no Secret value and no markup', async () => {
    const [a] = teams as [{ namespace: string; t?: TestController }];
    const hostile =
      '```\n</details><img src=https://evil.example/p.png> @org/security-team [x](https://evil.example)\n~~~';
    const head = await commitTo('secret-change', {
      'a/secret.yaml': secret(NEW_SECRET),
      'a/cm.yaml': configMap('team-a', hostile),
    });
    await eventually('secret-change on Gitea', () =>
      forge.waitForBranch(repo.fullName, 'secret-change', { sha: head, timeoutMs: 5_000 }),
    );
    const pull = await forge.api<{ number: number }>('POST', `/repos/${repo.fullName}/pulls`, {
      auth: { token },
      body: { head: 'secret-change', base: 'main', title: 'rotate @org/security-team <b>x</b>' },
      expect: [201],
    });
    await wake(a.t!, a.namespace);
    const comment = await eventually(
      "team A's plan",
      async () => {
        const found = (await comments(pull.number)).find((c) => c.body.startsWith(marker(a.namespace)));
        return found && (await statusOf(head, a.namespace)) !== 'pending' ? found : undefined;
      },
      180_000,
    );
    expect(comment.body).toContain('creds');
    for (const value of [
      LIVE_SECRET,
      NEW_SECRET,
      Buffer.from(LIVE_SECRET).toString('base64'),
      Buffer.from(NEW_SECRET).toString('base64'),
      token,
    ])
      expect(comment.body).not.toContain(value);
    // The hostile value sits inside a fence no backtick run in it can close.
    const fence = /^(`{4,})diff$/m.exec(comment.body);
    expect(fence, "a fence longer than the value's ```").not.toBeNull();
    // What Gitea renders: no image, no link to evil.example outside code.
    const rendered = await fetch(`${forge.url}/api/v1/markdown`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `token ${token}` },
      body: JSON.stringify({ Text: comment.body, Mode: 'gfm', Context: `${forge.url}/${repo.fullName}` }),
    });
    const html = await rendered.text();
    if (process.env.ATTACK_LOG) console.log(html);
    expect(rendered.ok).toBe(true);
    expect(html).not.toMatch(/<img[^>]+evil\.example/);
    expect(html).not.toMatch(/<a[^>]+href="https:\/\/evil\.example/);
  }, 300_000);
});
