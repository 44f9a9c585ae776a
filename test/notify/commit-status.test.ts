/**
 * Commit statuses end to end: a controller, a Notification of type gitea, and the run's real Gitea
 * forge. A sync that succeeds leaves a success status on the applied commit, one that fails leaves
 * a failure, each with the context `capstan/<namespace>/<application>`.
 */
import { rm } from 'node:fs/promises';
import { describe, expect, it, onTestFinished } from 'vitest';
import { API_VERSION } from '../../src/api/v1alpha1.js';
import { ALLOW_INSECURE_HTTP_ANNOTATION, NOTIFICATION_URLS_ANNOTATION } from '../../src/notify/index.js';
import { freshNamespace } from '../support/cluster.js';
import {
  condition,
  createApp,
  eventually,
  getApp,
  isolated,
  readyAt,
  repository,
  startTestController,
} from '../support/controller.js';
import { sharedForge } from '../support/forge.js';
import { createTestRepo, git, makeTempDir } from '../support/git-servers.js';

function configMap(name: string, value: string): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { value } });
}

interface CombinedStatus {
  statuses: { status: string; context: string; description: string; creator?: { login: string } }[];
}

describe('commit statuses on Gitea', () => {
  it('marks the applied commit success after a sync, and failure after a failed one', async () => {
    const forge = await sharedForge();
    const owner = await forge.createUser();
    const token = await forge.token(owner, ['write:repository']);
    const repo = await forge.createRepo(owner.username, `status-${Date.now().toString(36)}`);
    const root = await makeTempDir('commit-status');
    onTestFinished(() => rm(root, { recursive: true, force: true }));
    const local = await createTestRepo(root, 'local');
    const pushToForge = async (sha: string) => {
      await git(local.bareDir, 'push', '--quiet', forge.cloneUrl(repo.owner, repo.name, owner), 'main:main');
      // Gitea can answer 500 for a branch of a repository whose first push it is still taking in.
      await eventually(`${sha.slice(0, 8)} on Gitea`, () =>
        forge.waitForBranch(repo.fullName, 'main', { sha, timeoutMs: 5_000 }),
      );
    };
    const statusOf = async (sha: string) =>
      (
        await forge.api<CombinedStatus>('GET', `/repos/${repo.fullName}/commits/${sha}/status`, {
          auth: { token },
        })
      ).statuses;

    const good = await local.commit({ 'app/config.yaml': configMap('settings', 'one') }, 'settings');
    await pushToForge(good);

    const namespace = await freshNamespace('commit-status');
    const t = await startTestController({ namespace });
    onTestFinished(() => t.stop());
    const context = `capstan/${namespace}/app`;
    // The public repository is read without credentials; the Notification's Secret holds the token,
    // and lets it go to this owner's repositories on the forge's API only.
    await t.kube.apply({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: 'gitea-status',
        namespace,
        annotations: {
          [NOTIFICATION_URLS_ANNOTATION]: `${forge.url}/api/v1/repos/${owner.username}/`,
          [ALLOW_INSECURE_HTTP_ANNOTATION]: 'true',
        },
      },
      stringData: { token },
    });
    await t.kube.apply({
      apiVersion: API_VERSION,
      kind: 'Notification',
      metadata: { name: 'status', namespace },
      spec: { target: { type: 'gitea', secretRef: { name: 'gitea-status' } } },
    });
    await t.kube.apply(isolated(repository(namespace, 'apps', { url: repo.cloneUrl, interval: '1s' })));
    await createApp(t.kube, namespace, 'app', { path: 'app' }, { isolated: true });
    await readyAt(t.kube, namespace, 'app', good);

    const success = await eventually('success status', async () => {
      const statuses = await statusOf(good);
      return statuses.find((s) => s.context === context && s.status === 'success');
    });
    expect(success.description).toMatch(/synced|healthy/);
    expect(success.creator?.login).toBe(owner.username);

    // A manifest that is not YAML: the sync fails, and the commit says so.
    const bad = await local.commit(
      { 'app/config.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings\n' },
      'a broken manifest',
    );
    await pushToForge(bad);
    const failed = await eventually('sync failed', async () => {
      const app = await getApp(t.kube, namespace, 'app');
      return app.status?.lastAttemptedRevision === bad && condition(app, 'Ready')?.status === 'False'
        ? app
        : undefined;
    });
    expect(failed.status?.lastAppliedRevision?.sha).not.toBe(bad);
    const failure = await eventually('failure status', async () => {
      const statuses = await statusOf(bad);
      return statuses.find((s) => s.context === context && s.status === 'failure');
    });
    expect(failure.description.length).toBeLessThanOrEqual(140);
    // The good commit keeps its own status; no other context was written.
    expect((await statusOf(good)).map((s) => [s.context, s.status])).toEqual([[context, 'success']]);

    // An object the API server refuses (an invalid name): the sync changes nothing, and still fails.
    const refused = await local.commit(
      {
        'app/config.yaml': configMap('settings', 'one'),
        'app/invalid.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Not_A_Valid_Name}\n',
      },
      'an object the API server refuses',
    );
    await pushToForge(refused);
    await eventually('refused status', async () => {
      const statuses = await statusOf(refused);
      return statuses.find((s) => s.context === context && s.status === 'failure');
    });
  });
});
