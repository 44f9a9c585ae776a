/**
 * Image automation end to end: a real distribution registry (crane pushes), its notifications to
 * Capstan's webhook server, a controller, Git over HTTP (and the shared Gitea for pull requests), and
 * the real control plane rolling out what Git says.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { inject } from 'vitest';
import { API_VERSION } from '../../src/api/v1alpha1.js';
import type { ImagePolicy } from '../../src/api/image-policy.js';
import { sleep } from '../../src/core/time.js';
import { pushImage, startRegistry, type PushTarget } from '../../src/dev/registry.js';
import { CapstanMetrics, createServer } from '../../src/server/index.js';
import { freshNamespace, kubectlOk } from '../support/cluster.js';
import {
  condition,
  eventually,
  getApp,
  isolated,
  application,
  readyAt,
  repository,
  startTestController,
  type TestController,
} from '../support/controller.js';
import { giteaRepository, giteaSecret, sharedForge } from '../support/forge.js';
import { sharedRegistry, uniqueRepo } from '../support/registry.js';
import { createTestRepo, git, makeTempDir, startGitHttpServer } from '../support/git-servers.js';

const WEBHOOK_SECRET = 'registry-hook-secret';

let t: TestController;

function deployment(image: string, marker: string): string {
  return [
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    '  name: web',
    'spec:',
    '  replicas: 1',
    '  selector: { matchLabels: { app: web } }',
    '  template:',
    '    metadata: { labels: { app: web } }',
    '    spec:',
    '      containers:',
    '        - name: web',
    `          image: ${image} # {"$imagepolicy": "${marker}"}`,
    '          # a comment that stays',
    '',
  ].join('\n');
}

function imagePolicy(namespace: string, name: string, spec: ImagePolicy['spec']): ImagePolicy {
  return { apiVersion: API_VERSION, kind: 'ImagePolicy', metadata: { name, namespace }, spec };
}

async function getPolicy(namespace: string, name: string): Promise<ImagePolicy> {
  const policy = await t.kube.get<ImagePolicy>({
    group: 'capstan.dev',
    kind: 'ImagePolicy',
    namespace,
    name,
  });
  if (!policy) throw new Error(`ImagePolicy ${namespace}/${name} not found`);
  return policy;
}

async function deployedImage(namespace: string): Promise<string> {
  return (
    await kubectlOk([
      'get',
      'deployment',
      'web',
      '-n',
      namespace,
      '-o',
      'jsonpath={.spec.template.spec.containers[0].image}',
    ])
  ).trim();
}

/** Capstan's webhook server, passing registry notifications to the test's controller. */
async function webhookServer(): Promise<string> {
  const server = createServer({
    metrics: new CapstanMetrics({ defaultMetrics: false }),
    isReady: () => true,
    webhookSecrets: { registry: WEBHOOK_SECRET },
    onPush: () => {},
    onImagePush: (event) => void t.controller.imagesPushed(event.images),
  });
  await server.listen({ host: '127.0.0.1', port: 0 });
  onTestFinished(() => server.close());
  const { port } = server.server.address() as AddressInfo;
  return `http://127.0.0.1:${port}/hooks/registry`;
}

async function setup(prefix: string) {
  const namespace = await freshNamespace(prefix);
  t = await startTestController({ namespace, resyncMs: 60_000 });
  onTestFinished(() => t.stop());
  const tools = inject('tools');
  const registry = await startRegistry({
    tools: { registry: tools.registry! },
    notifications: { url: await webhookServer(), headers: { authorization: `Bearer ${WEBHOOK_SECRET}` } },
  });
  onTestFinished(() => registry.stop());
  const target: PushTarget = { host: registry.host, crane: tools.crane! };
  return { namespace, registry, target };
}

describe('image automation', () => {
  it('writes a pushed tag into Git within seconds of the registry webhook; the app rolls it out; an rc outside the range is ignored', async () => {
    const { namespace, registry, target } = await setup('img');
    await pushImage(target, 'team/app', '1.1.0');
    const root = await makeTempDir('git-root');
    const repo = await createTestRepo(root, 'apps');
    const image = `${registry.host}/team/app`;
    const first = await repo.commit({ 'web/deploy.yaml': deployment(`${image}:1.1.0`, `${namespace}:web`) });
    const server = await startGitHttpServer({ root, allowPush: true });
    onTestFinished(() => server.close());
    await t.kube.apply(isolated(repository(namespace, 'apps', { url: server.url('apps'), interval: '1h' })));
    await t.kube.apply(isolated(application(namespace, 'web', { sourceRef: { name: 'apps' }, path: 'web' })));
    await readyAt(t.kube, namespace, 'web', first);
    await t.kube.apply(
      imagePolicy(namespace, 'web', {
        image,
        insecure: true,
        interval: '1h',
        policy: { semver: { range: '>=1.0.0' } },
        update: { applications: [{ name: 'web' }] },
      }),
    );
    // The first scan finds 1.1.0 already in Git: nothing to commit.
    const idle = await eventually('the first scan', async () => {
      const policy = await getPolicy(namespace, 'web');
      return policy.status?.updates?.[0]?.outcome === 'upToDate' ? policy : undefined;
    });
    expect(idle.status?.latest?.tag).toBe('1.1.0');
    expect(condition(idle as never, 'Ready')?.status).toBe('True');
    expect(await repo.head()).toBe(first);

    // A release candidate is outside the range: the notification wakes the policy, nothing is written.
    await pushImage(target, 'team/app', '1.3.0-rc.1');
    await sleep(3000);
    expect(await repo.head()).toBe(first);

    const pushedAt = Date.now();
    const release = await pushImage(target, 'team/app', '1.2.0');
    const commit = await eventually(
      'the commit of 1.2.0',
      async () => {
        const head = await repo.head();
        return head !== first ? head : undefined;
      },
      30_000,
    );
    const seconds = (Date.now() - pushedAt) / 1000;
    expect(seconds).toBeLessThan(30); // the interval is an hour: only the webhook can explain it
    const diff = await git(repo.bareDir, 'diff', '--unified=0', first, commit);
    const changed = diff.split('\n').filter((line) => /^[-+][^-+]/.test(line));
    expect(changed).toEqual([
      `-          image: ${image}:1.1.0 # {"$imagepolicy": "${namespace}:web"}`,
      `+          image: ${image}:1.2.0 # {"$imagepolicy": "${namespace}:web"}`,
    ]);
    const message = await git(repo.bareDir, 'log', '-1', '--format=%an <%ae>%n%B', commit);
    expect(message).toContain('Capstan <capstan@localhost>');
    expect(message).toContain('1.1.0 → 1.2.0');
    expect(message).toContain(`Capstan-Image-Policy: ${namespace}/web`);

    // The ordinary sync rolls it out, without waiting for the Repository's hour-long poll.
    await readyAt(t.kube, namespace, 'web', commit);
    expect(await deployedImage(namespace)).toBe(`${image}:1.2.0`);
    const policy = await eventually('status of the commit', async () => {
      const p = await getPolicy(namespace, 'web');
      return p.status?.updates?.[0]?.commit === commit ? p : undefined;
    });
    expect(policy.status?.latest).toMatchObject({ tag: '1.2.0', digest: release.digest });
    expect(policy.status?.updates?.[0]).toMatchObject({ outcome: 'pushed', branch: 'main', tag: '1.2.0' });
    expect((await getApp(t.kube, namespace, 'web')).status?.lastAppliedRevision?.sha).toBe(commit);
  });

  it('two policies writing the same file: both tags land, one commit each, nothing lost', async () => {
    const { namespace, registry, target } = await setup('img2');
    await pushImage(target, 'team/app', '1.0.0');
    await pushImage(target, 'team/sidecar', '2.0.0');
    const root = await makeTempDir('git-root');
    const repo = await createTestRepo(root, 'apps');
    const app = `${registry.host}/team/app`;
    const sidecar = `${registry.host}/team/sidecar`;
    const file = [
      deployment(`${app}:1.0.0`, `${namespace}:app`).trimEnd(),
      '        - name: sidecar',
      `          image: ${sidecar}:2.0.0 # {"$imagepolicy": "${namespace}:sidecar"}`,
      '',
    ].join('\n');
    const first = await repo.commit({ 'web/deploy.yaml': file });
    const server = await startGitHttpServer({ root, allowPush: true });
    onTestFinished(() => server.close());
    await t.kube.apply(isolated(repository(namespace, 'apps', { url: server.url('apps'), interval: '1h' })));
    await t.kube.apply(isolated(application(namespace, 'web', { sourceRef: { name: 'apps' }, path: 'web' })));
    await readyAt(t.kube, namespace, 'web', first);
    await pushImage(target, 'team/app', '1.1.0');
    await pushImage(target, 'team/sidecar', '2.1.0');
    // Both policies at once, on the same branch and file.
    for (const [name, image] of [
      ['app', app],
      ['sidecar', sidecar],
    ] as const) {
      await t.kube.apply(
        imagePolicy(namespace, name, {
          image,
          insecure: true,
          interval: '1h',
          policy: { semver: { range: '>=1.0.0' } },
          update: { applications: [{ name: 'web' }] },
        }),
      );
    }
    const both = await eventually(
      'both tags in Git',
      async () => {
        const text = await git(repo.bareDir, 'show', 'main:web/deploy.yaml');
        return text.includes(`${app}:1.1.0`) && text.includes(`${sidecar}:2.1.0`) ? text : undefined;
      },
      60_000,
    );
    expect(both).toContain('# a comment that stays');
    const log = (await git(repo.bareDir, 'log', '--format=%an %s', `${first}..main`)).split('\n');
    expect(log).toHaveLength(2);
    expect(log.every((line) => line.startsWith('Capstan images:'))).toBe(true);
    // Later scans find Git up to date: no third commit.
    await kubectlOk([
      'annotate',
      'imagepolicy',
      'app',
      '-n',
      namespace,
      '--overwrite',
      `capstan.dev/requested-at=${new Date().toISOString()}`,
    ]);
    await sleep(3000);
    expect((await git(repo.bareDir, 'log', '--format=%s', `${first}..main`)).split('\n')).toHaveLength(2);
  });

  it('opens a pull request on Gitea in pullRequest mode and leaves the branch alone', async () => {
    const { namespace, registry, target } = await setup('img-pr');
    await pushImage(target, 'team/app', '1.0.0');
    const forge = await sharedForge();
    const user = await forge.createUser();
    const created = await forge.createRepo(user.username, 'deploy');
    const token = await forge.token(user, ['write:repository', 'write:issue']);
    const image = `${registry.host}/team/app`;
    const work = await makeTempDir('gitea-work');
    const cloneUrl = forge.cloneUrl(user.username, 'deploy', user);
    await git(work, 'init', '--quiet', '--initial-branch=main');
    await mkdir(`${work}/web`, { recursive: true });
    await writeFile(`${work}/web/deploy.yaml`, deployment(`${image}:1.0.0`, `${namespace}:web`));
    await git(work, 'add', '--all');
    await git(work, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '--quiet', '-m', 'init');
    await git(work, 'push', '--quiet', cloneUrl, 'main');
    const first = await git(work, 'rev-parse', 'HEAD');
    // Gitea can answer 500 for a branch of a repository whose first push it is still taking in.
    await eventually('main on Gitea', () =>
      forge.waitForBranch(created.fullName, 'main', { sha: first, timeoutMs: 5_000 }),
    );
    await t.kube.apply(giteaSecret(namespace, forge, user, token));
    await t.kube.apply(
      isolated(
        giteaRepository(namespace, 'apps', forge.cloneUrl(user.username, 'deploy'), { interval: '1h' }),
      ),
    );
    await t.kube.apply(isolated(application(namespace, 'web', { sourceRef: { name: 'apps' }, path: 'web' })));
    await readyAt(t.kube, namespace, 'web', first);
    await pushImage(target, 'team/app', '1.2.0');
    await t.kube.apply(
      imagePolicy(namespace, 'web', {
        image,
        insecure: true,
        interval: '1h',
        policy: { semver: { range: '>=1.0.0' } },
        update: { applications: [{ name: 'web' }], mode: 'pullRequest' },
      }),
    );
    const policy = await eventually(
      'the pull request',
      async () => {
        const p = await getPolicy(namespace, 'web');
        return p.status?.updates?.[0]?.outcome === 'pullRequest' ? p : undefined;
      },
      60_000,
    );
    const number = policy.status!.updates![0]!.pullRequest!.number;
    const pulls = await forge.api<{ number: number; head: { ref: string }; base: { ref: string } }[]>(
      'GET',
      `/repos/${created.fullName}/pulls?state=open`,
    );
    expect(pulls.find((p) => p.number === number)).toMatchObject({
      head: { ref: `capstan/images/${namespace}/web` },
      base: { ref: 'main' },
    });
    expect(await git(work, 'ls-remote', cloneUrl, 'refs/heads/main')).toContain(first);
    expect(condition(policy as never, 'Ready')).toMatchObject({ status: 'True', reason: 'PullRequestOpen' });
  });
});

describe('image automation by creation time', () => {
  it('chooses the tag whose image was created last, as the registry tells, among the filtered tags', async () => {
    const namespace = await freshNamespace('img-newest');
    t = await startTestController({ namespace, resyncMs: 60_000 });
    onTestFinished(() => t.stop());
    const registry = await sharedRegistry();
    const repo = `${uniqueRepo()}/app`;
    const created = (at: string) => ({ annotations: { 'org.opencontainers.image.created': at }, oci: true });
    // Names that sort differently from their times, one image without a time, one outside the filter.
    await pushImage(registry, repo, 'build-c', created('2026-11-01T10:00:00Z'));
    await pushImage(registry, repo, 'build-a', created('2026-11-03T10:00:00Z'));
    await pushImage(registry, repo, 'build-b', created('2026-11-02T10:00:00Z'));
    await pushImage(registry, repo, 'build-untimed');
    await pushImage(registry, repo, 'other', created('2026-12-01T10:00:00Z'));
    await t.kube.apply(
      imagePolicy(namespace, 'newest', {
        image: `${registry.host}/${repo}`,
        insecure: true,
        policy: { newest: {} },
        filterTags: { pattern: '^build-' },
      }),
    );
    const policy = await eventually('the scan', async () => {
      const p = await getPolicy(namespace, 'newest');
      return p.status?.latest ? p : undefined;
    });
    expect(policy.status?.latest?.tag).toBe('build-a');
    expect(policy.status?.lastScan).toEqual({ tags: 5, considered: 3 });
  });
});
