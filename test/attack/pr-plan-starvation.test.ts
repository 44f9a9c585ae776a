/**
 * A tenant must not starve the other tenants' pull-request plans (src/review/pull-requests.ts): a
 * namespace runs fewer plans than the controller may (one of four by default) and free slots go to
 * the other namespaces first; every plan has a deadline its forge calls are aborted at; a forge
 * request waits 30 s at most, whatever the tenant's own `spec.timeout`
 * (src/controller/repository-forge.ts).
 *
 * One controller for two namespaces, as deployed: "evil" points its Repository (plan: true) at a
 * server that accepts connections and never answers; "victim" plans its pull request on the real
 * Gitea. The victim's plan is made while the evil ones hang, and the controller stops without
 * waiting for them.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ForgeClient, ForgeUser } from '../../src/dev/forge.js';
import { repositoryMatchKey } from '../../src/source/index.js';
import { kubectl, kubectlOk } from '../support/cluster.js';
import {
  createApp,
  eventually,
  readyAt,
  repository,
  startTestController,
  type TestController,
} from '../support/controller.js';
import { giteaRepository, giteaSecret, sharedForge } from '../support/forge.js';
import { git, makeTempDir } from '../support/git-servers.js';

const configMap = (name: string, value: string): string =>
  JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { value } });

let forge: ForgeClient;
let owner: ForgeUser;
let token: string;
let repo: { owner: string; name: string; fullName: string; cloneUrl: string };
let work: string;
let t: TestController;
let stopped = false;
let tarpit: Server;
let tarpitUrl: string;
let hanging = 0;
const namespaces: string[] = [];
const suffix = randomBytes(3).toString('hex');
const evil = `atk-evil-${suffix}`;
const victim = `atk-victim-${suffix}`;

beforeAll(async () => {
  // Accepts every request and never answers (a slow host, or one that means it).
  tarpit = createServer(() => {
    hanging++;
  });
  await new Promise<void>((resolve) => tarpit.listen(0, '127.0.0.1', resolve));
  tarpitUrl = `http://127.0.0.1:${(tarpit.address() as AddressInfo).port}`;

  forge = await sharedForge();
  owner = await forge.createUser();
  token = await forge.token(owner, ['write:repository', 'write:issue', 'write:user']);
  repo = await forge.createRepo(owner.username, `attack-starve-${Date.now().toString(36)}`);
  work = await makeTempDir('attack-starve');
  await git(work, 'init', '--quiet', '--initial-branch=main');
  await git(work, 'config', 'user.name', 't');
  await git(work, 'config', 'user.email', 't@t');
  await git(work, 'remote', 'add', 'origin', forge.cloneUrl(repo.owner, repo.name, owner));
  await mkdir(join(work, 'v'), { recursive: true });
  await writeFile(join(work, 'v/cm.yaml'), configMap('victim', 'v1'));
  await git(work, 'add', '--all');
  await git(work, 'commit', '--quiet', '-m', 'victim app');
  await git(work, 'push', '--quiet', 'origin', 'main:main');
  const main = await git(work, 'rev-parse', 'HEAD');
  await eventually('main on Gitea', () =>
    forge.waitForBranch(repo.fullName, 'main', { sha: main, timeoutMs: 5_000 }),
  );

  for (const name of [evil, victim]) {
    await kubectlOk(['create', 'namespace', name]);
    namespaces.push(name);
  }
  // One controller for the cluster, as `capstan controller` runs.
  t = await startTestController();

  // The evil tenant: its own Secret for its own server, a long timeout of its choice, plans on.
  await t.kube.apply({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: 'mine',
      namespace: evil,
      annotations: { 'capstan.dev/git-urls': `${tarpitUrl}/`, 'capstan.dev/allow-insecure-http': 'true' },
    },
    stringData: { token: 'evil-own-token' },
  });
  await t.kube.apply(
    repository(evil, 'apps', {
      url: `${tarpitUrl}/evil/apps.git`,
      secretRef: { name: 'mine' },
      forge: { kind: 'gitea' },
      pullRequests: { plan: true, forks: true },
      timeout: '10h',
      // Not polled: only its pull requests matter here.
      suspend: true,
    }),
  );
  // Suspended: its plans matter here, not its syncs (an Application's own fetch from the tarpit is
  // git's, bounded by git's low-speed limit, and not what this file is about).
  await createApp(t.kube, evil, 'web', { path: 'web', suspend: true });

  await t.kube.apply(giteaSecret(victim, forge, owner, token));
  await t.kube.apply(
    giteaRepository(victim, 'apps', repo.cloneUrl, { pullRequests: { plan: true, forks: false } }),
  );
  await createApp(t.kube, victim, 'web', { path: 'v' });
  await readyAt(t.kube, victim, 'web', main, 120_000);
}, 300_000);

afterAll(async () => {
  // The controller first (when the test did not stop it): its shutdown aborts the calls hanging on
  // the tarpit, it does not wait for them.
  if (!stopped) await t?.stop();
  tarpit?.closeAllConnections();
  await new Promise((resolve) => tarpit?.close(resolve));
  for (const name of namespaces)
    await kubectl(['delete', 'namespace', name, '--ignore-not-found', '--wait=false']);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('pull-request plans across tenants', () => {
  // Pull-request events on the evil Repository (signed webhooks of the evil tenant's own repository,
  // or its listing) hang on its host; they take its own namespace's slot, not the others'.
  it("a tenant's unresponsive Git host does not delay another tenant's plans", async () => {
    const sha = (n: number) => n.toString(16).padStart(40, 'e');
    for (const number of [1, 2, 3])
      t.controller.pullRequestChanged({
        repositoryKeys: [repositoryMatchKey(`${tarpitUrl}/evil/apps.git`)!],
        pullRequest: { action: 'opened', number, headSha: sha(number), baseRef: 'main', fork: false },
      });
    await eventually('a plan hanging in the tarpit', async () => hanging >= 1, 30_000);

    // The victim opens a pull request; its webhook (or its listing) asks for a plan.
    await git(work, 'checkout', '--quiet', '-b', 'bump');
    await writeFile(join(work, 'v/cm.yaml'), configMap('victim', 'v2'));
    await git(work, 'commit', '--quiet', '-am', 'bump');
    await git(work, 'push', '--quiet', 'origin', 'bump:bump');
    const head = await git(work, 'rev-parse', 'HEAD');
    await eventually('bump on Gitea', () =>
      forge.waitForBranch(repo.fullName, 'bump', { sha: head, timeoutMs: 5_000 }),
    );
    const pull = await forge.api<{ number: number }>('POST', `/repos/${repo.fullName}/pulls`, {
      auth: { token },
      body: { head: 'bump', base: 'main', title: 'bump' },
      expect: [201],
    });
    t.controller.pullRequestChanged({
      repositoryKeys: [repositoryMatchKey(repo.cloneUrl)!],
      pullRequest: { action: 'opened', number: pull.number, headSha: head, baseRef: 'main', fork: false },
    });
    // A plan takes a few seconds here (see pr-plan.test.ts); the bound is generous for a busy machine.
    await eventually(
      "the victim's plan status",
      async () => {
        const combined = await forge.api<{
          statuses: { context: string; state?: string; status?: string }[] | null;
        }>('GET', `/repos/${repo.fullName}/commits/${head}/status`);
        return (combined.statuses ?? []).some(
          (s) => s.context === `capstan/plan/${victim}` && (s.status ?? s.state) !== 'pending',
        );
      },
      120_000,
    );
    expect(hanging).toBeGreaterThanOrEqual(1);
  }, 300_000);

  it('stops without waiting for the unresponsive host', async () => {
    // Something still hangs in the tarpit: the evil plans (or their failure reports) take 30 s each.
    const startedMs = Date.now();
    stopped = true;
    await t.stop();
    expect(Date.now() - startedMs).toBeLessThan(20_000);
  }, 60_000);
});
