/**
 * The pull-request generator against a real Gitea (the run's shared forge): opening a pull request
 * makes an Application that applies the pull request's head (fetched by `refs/pull/N/head`);
 * closing it deletes the Application and what it applied.
 */
import { rm } from 'node:fs/promises';
import { describe, expect, it, onTestFinished } from 'vitest';
import { GENERATOR_LABEL, type ApplicationGenerator } from '../../src/api/generator.js';
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

describe('the pullRequests generator', () => {
  it('makes an Application per open pull request on Gitea and deletes it when the pull request closes', async () => {
    const forge = await sharedForge();
    const owner = await forge.createUser();
    const token = await forge.token(owner, ['write:repository']);
    const repo = await forge.createRepo(owner.username, `gen-${Date.now().toString(36)}`);
    const root = await makeTempDir('gen-pr');
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
    await push('main', await local.commit({ 'web/cm.yaml': configMap('from-main', {}) }, 'main'));
    await push(
      'feature/one',
      await local.commit({ 'web/cm.yaml': configMap('from-pr', {}) }, 'pr', 'feature/one'),
    );

    const namespace = await freshNamespace('gen-pr');
    const t = await startTestController({ namespace });
    onTestFinished(() => t.stop());
    await t.kube.apply(giteaSecret(namespace, forge, owner, token));
    await t.kube.apply(isolated(giteaRepository(namespace, 'apps', repo.cloneUrl)));
    const generator: ApplicationGenerator = {
      apiVersion: API_VERSION,
      kind: 'ApplicationGenerator',
      metadata: { name: 'previews', namespace, labels: { [ISOLATED_LABEL]: 'true' } },
      spec: {
        sourceRef: { name: 'apps' },
        interval: '1s',
        pullRequests: { base: 'main' },
        template: {
          metadata: { name: 'pr-{{number}}', labels: { [ISOLATED_LABEL]: 'true' } },
          spec: { ref: '{{ref}}', path: 'web', healthTimeout: '60s' },
        },
      },
    };
    await t.kube.apply(generator);
    const generated = () =>
      t.kube.list<Application>('capstan.dev', 'v1alpha1', 'Application', {
        namespace,
        labelSelector: `${GENERATOR_LABEL}=previews`,
      });
    await eventually('the generator Ready with no pull request', async () => {
      const stored = await t.kube.get<ApplicationGenerator>({
        group: 'capstan.dev',
        kind: 'ApplicationGenerator',
        namespace,
        name: 'previews',
      });
      return condition(stored as never, 'Ready')?.reason === 'Generated';
    });
    expect((await generated()).items).toEqual([]);

    const opened = await forge.api<{ number: number }>('POST', `/repos/${repo.fullName}/pulls`, {
      auth: { token },
      body: { head: 'feature/one', base: 'main', title: 'feature one' },
    });
    const name = `pr-${opened.number}`;
    const app = await eventually(
      `${name} Ready`,
      async () => {
        const found = (await generated()).items.find((item) => item.metadata.name === name);
        return found && condition(found, 'Ready')?.status === 'True' ? found : undefined;
      },
      90_000,
    );
    expect(app.spec.ref).toBe(`refs/pull/${opened.number}/head`);
    expect((await kubectl(['get', 'configmap', 'from-pr', '-n', namespace])).code).toBe(0);

    await forge.api('PATCH', `/repos/${repo.fullName}/pulls/${opened.number}`, {
      auth: { token },
      body: { state: 'closed' },
    });
    await eventually(`${name} deleted`, async () => (await generated()).items.length === 0);
    await eventually(
      'its ConfigMap pruned',
      async () => (await kubectl(['get', 'configmap', 'from-pr', '-n', namespace])).code !== 0,
    );
  });
});
