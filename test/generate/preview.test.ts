/**
 * Preview environments end to end, against the run's real Gitea and the real control plane: a pull
 * request opened gets its own namespace and Application (Ready, its objects in that namespace) and
 * ONE comment saying so, with the environment's URL; a push to it edits that same comment with the
 * new commit; closing it removes the Application, its objects and its namespace, and the comment
 * says the environment was removed.
 */
import { rm } from 'node:fs/promises';
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  ENVIRONMENT_URL_ANNOTATION,
  GENERATOR_LABEL,
  type ApplicationGenerator,
} from '../../src/api/generator.js';
import { API_VERSION, type Application } from '../../src/api/v1alpha1.js';
import { freshNamespace, kubectl } from '../support/cluster.js';
import {
  condition,
  eventually,
  isolated,
  ISOLATED_LABEL,
  startTestController,
} from '../support/controller.js';
import { configMap } from '../support/engine.js';
import { giteaRepository, giteaSecret, sharedForge } from '../support/forge.js';
import { createTestRepo, git, makeTempDir } from '../support/git-servers.js';

interface IssueComment {
  readonly id: number;
  readonly body: string;
}

describe('preview environments', () => {
  it('gives a pull request its namespace, app and one comment, kept up to date, and removes them on close', async () => {
    const forge = await sharedForge();
    const owner = await forge.createUser();
    const token = await forge.token(owner, ['write:repository', 'write:issue', 'read:user']);
    const repo = await forge.createRepo(owner.username, `preview-${Date.now().toString(36)}`);
    const root = await makeTempDir('preview');
    onTestFinished(() => rm(root, { recursive: true, force: true }));
    const local = await createTestRepo(root, 'local');
    const push = async (branch: string, sha: string) => {
      await git(
        local.bareDir,
        'push',
        '--quiet',
        forge.cloneUrl(repo.owner, repo.name, owner),
        `${branch}:${branch}`,
      );
      await eventually(`${branch} on Gitea`, () =>
        forge.waitForBranch(repo.fullName, branch, { sha, timeoutMs: 5_000 }),
      );
    };
    await push('main', await local.commit({ 'web/cm.yaml': configMap('site', { version: 'main' }) }, 'main'));
    const first = await local.commit(
      { 'web/cm.yaml': configMap('site', { version: 'one' }) },
      'preview one',
      'feature/preview',
    );
    await push('feature/preview', first);

    const namespace = await freshNamespace('prev');
    const t = await startTestController({ namespace });
    onTestFinished(() => t.stop());
    await t.kube.apply(giteaSecret(namespace, forge, owner, token));
    await t.kube.apply(isolated(giteaRepository(namespace, 'apps', repo.cloneUrl)));
    // Applications name no ServiceAccount: they run as the test controller's single-team applier
    // (cluster-admin), which may create the namespace.
    const generator: ApplicationGenerator = {
      apiVersion: API_VERSION,
      kind: 'ApplicationGenerator',
      metadata: { name: 'previews', namespace, labels: { [ISOLATED_LABEL]: 'true' } },
      spec: {
        sourceRef: { name: 'apps' },
        interval: '1s',
        pullRequests: { base: 'main' },
        template: {
          metadata: {
            name: 'preview-{{number}}',
            labels: { [ISOLATED_LABEL]: 'true' },
            annotations: { [ENVIRONMENT_URL_ANNOTATION]: 'http://pr-{{number}}.preview.test' },
          },
          spec: {
            ref: '{{ref}}',
            path: 'web',
            healthTimeout: '60s',
            destination: { namespace: `${namespace}-pr-{{number}}`, createNamespace: true },
          },
        },
      },
    };
    await t.kube.apply(generator);

    const opened = await forge.api<{ number: number }>('POST', `/repos/${repo.fullName}/pulls`, {
      auth: { token },
      body: { head: 'feature/preview', base: 'main', title: 'a preview' },
    });
    const number = opened.number;
    const name = `preview-${number}`;
    const target = `${namespace}-pr-${number}`;
    const url = `http://pr-${number}.preview.test`;
    onTestFinished(async () => {
      await kubectl(['delete', 'namespace', target, '--ignore-not-found', '--wait=false']);
    });
    const generated = async () =>
      (
        await t.kube.list<Application>('capstan.dev', 'v1alpha1', 'Application', {
          namespace,
          labelSelector: `${GENERATOR_LABEL}=previews`,
        })
      ).items;
    const previewComments = async () =>
      (
        await forge.api<IssueComment[]>('GET', `/repos/${repo.fullName}/issues/${number}/comments`, {
          auth: { token },
        })
      ).filter((comment) => comment.body.includes('<!-- capstan:preview '));
    /** The one Capstan comment, once `check` holds for it. */
    const commentWhen = (what: string, check: (body: string) => boolean) =>
      eventually(
        what,
        async () => {
          const found = await previewComments();
          expect(found.length).toBeLessThanOrEqual(1);
          return found.length === 1 && check(found[0]!.body) ? found[0]! : undefined;
        },
        90_000,
      );

    // Opened: its namespace, its app Ready, its objects there, one comment with the URL.
    const app = await eventually(
      `${name} Ready at ${first.slice(0, 7)}`,
      async () => {
        const found = (await generated()).find((item) => item.metadata.name === name);
        return found &&
          condition(found, 'Ready')?.status === 'True' &&
          found.status?.lastAppliedRevision?.sha === first
          ? found
          : undefined;
      },
      90_000,
    );
    expect(app.spec.destination?.namespace).toBe(target);
    expect((await kubectl(['get', 'namespace', target])).code).toBe(0);
    const site = await kubectl(['get', 'configmap', 'site', '-n', target, '-o', 'jsonpath={.data.version}']);
    expect(site.stdout).toBe('one');
    const ready = await commentWhen(
      'the comment saying Ready',
      (body) => body.includes('Ready') && body.includes(first.slice(0, 7)),
    );
    expect(ready.body).toContain(url);
    expect(ready.body).toContain(`<!-- capstan:preview ${namespace}/previews -->`);
    // Names are escaped for Markdown (`-` as `\-`).
    expect(ready.body).toContain(`/preview\\-${number} |`);
    expect(ready.body).toContain(`\\-pr\\-${number} (created for it)`);

    // A push to the pull request: the same comment, edited, with the new commit.
    const second = await local.commit(
      { 'web/cm.yaml': configMap('site', { version: 'two' }) },
      'preview two',
      'feature/preview',
    );
    await push('feature/preview', second);
    const updated = await commentWhen(
      'the comment saying Ready at the new commit',
      (body) => body.includes('Ready') && body.includes(second.slice(0, 7)),
    );
    expect(updated.id).toBe(ready.id);
    expect(updated.body).toContain(url);
    const siteTwo = await kubectl([
      'get',
      'configmap',
      'site',
      '-n',
      target,
      '-o',
      'jsonpath={.data.version}',
    ]);
    expect(siteTwo.stdout).toBe('two');

    // Closed: the app, its objects and its namespace are removed, and the comment says so.
    await forge.api('PATCH', `/repos/${repo.fullName}/pulls/${number}`, {
      auth: { token },
      body: { state: 'closed' },
    });
    await eventually(`${name} deleted`, async () => (await generated()).length === 0, 90_000);
    await eventually(
      `the namespace ${target} gone`,
      async () => (await kubectl(['get', 'namespace', target])).code !== 0,
      90_000,
    );
    const removed = await commentWhen('the comment saying removed', (body) => /removed/i.test(body));
    expect(removed.id).toBe(ready.id);
    expect(removed.body).not.toContain('Ready at');
    expect(await previewComments()).toHaveLength(1);
  }, 360_000);
});
