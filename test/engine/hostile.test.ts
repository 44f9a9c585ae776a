/**
 * Hostile repositories: each gets a clear error naming what is wrong, and the cluster is left
 * exactly as it was — nothing applied, nothing pruned.
 */
import { mkdir, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCapstanError } from '../../src/core/errors.js';
import type { AppSpec } from '../../src/engine/app.js';
import { freshNamespace, kubectlOk } from '../support/cluster.js';
import { configMap, createTestEngine, gitApp, type TestEngine } from '../support/engine.js';
import { createTestRepo, git, makeTempDir, type FileChange, type TestRepo } from '../support/git-servers.js';

let t: TestEngine;
beforeAll(async () => {
  t = await createTestEngine();
});
afterAll(() => t.close());

/** The namespace's ConfigMaps (name → resourceVersion), to prove a failed sync changed nothing. */
async function snapshot(namespace: string): Promise<Record<string, string>> {
  const list = JSON.parse(await kubectlOk(['get', 'configmaps', '-n', namespace, '-o', 'json']));
  return Object.fromEntries(
    list.items.map((i: { metadata: { name: string; resourceVersion: string } }) => [
      i.metadata.name,
      i.metadata.resourceVersion,
    ]),
  );
}

/**
 * Syncs a good commit of the app first (so there is something a bad sync could prune), then the
 * hostile commit; returns the error of the second sync.
 */
async function syncHostile(
  hostile: Record<string, FileChange> | ((repo: TestRepo) => Promise<void>),
  overrides: Partial<AppSpec> = {},
): Promise<{ error: Error; namespace: string }> {
  const namespace = await freshNamespace('hostile');
  const repo = await createTestRepo(await makeTempDir('repo'));
  await repo.commit({ 'app/good.yaml': configMap('good', { v: '1' }) });
  const app = gitApp(repo.fileUrl, namespace, 'app');
  await t.sync(app);
  const before = await snapshot(namespace);

  if (typeof hostile === 'function') await hostile(repo);
  else await repo.commit({ 'app/good.yaml': null, ...hostile });
  const error = await t.sync({ ...app, ...overrides }).then(
    () => new Error('the sync succeeded'),
    (e: Error) => e,
  );
  expect(await snapshot(namespace)).toEqual(before);
  return { error, namespace };
}

describe('hostile repositories', () => {
  it('a symlink to a file outside the checkout', async () => {
    const { error } = await syncHostile({ 'app/passwd.yaml': { symlink: '/etc/passwd' } });
    expect(isCapstanError(error) && error.kind).toBe('user');
    expect(error.message).toMatch(/app\/passwd\.yaml/);
    expect(error.message).toMatch(/symlink.*must be relative and stay inside the repository/i);
    expect(error.message).not.toContain('root:x:0:0');
  });

  it('a kustomize resource ../../x', async () => {
    const { error } = await syncHostile({
      'app/kustomization.yaml': 'resources:\n  - ../../x\n',
      'app/cm.yaml': configMap('x', { v: '1' }),
    });
    expect(isCapstanError(error) && error.kind).toBe('user');
    expect(error.message).toMatch(/\.\.\/\.\.\/x/);
  });

  it('a Helm values file outside the repository', async () => {
    const { error } = await syncHostile(
      {
        'app/Chart.yaml': 'apiVersion: v2\nname: app\nversion: 0.1.0\n',
        'app/templates/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: x }\ndata: { v: "1" }\n',
      },
      { render: { kind: 'helm', helm: { valueFiles: ['../../../../etc/passwd'] } } },
    );
    expect(isCapstanError(error) && error.kind).toBe('user');
    expect(error.message).toMatch(/etc\/passwd/);
    expect(error.message).toMatch(/outside|escapes|leaves/i);
  });

  it('a YAML alias bomb', async () => {
    const bomb = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 0; i < 8; i++) {
      const prev = String.fromCharCode(97 + i);
      const next = String.fromCharCode(98 + i);
      bomb.push(
        `${next}: &${next} [*${prev},*${prev},*${prev},*${prev},*${prev},*${prev},*${prev},*${prev},*${prev}]`,
      );
    }
    const { error } = await syncHostile({ 'app/bomb.yaml': `${bomb.join('\n')}\n` });
    expect(isCapstanError(error) && error.kind).toBe('user');
    expect(error.message).toMatch(/app\/bomb\.yaml/);
    expect(error.message).toMatch(/alias/i);
  });

  it('a 200 MB file', async () => {
    const { error } = await syncHostile(async (repo) => {
      // A sparse file: 200 MB to git and to the renderer, nothing on disk until read.
      const work = join(repo.bareDir, '..', '.work', repo.name);
      await git(work, 'rm', '-q', 'app/good.yaml');
      await mkdir(join(work, 'app'), { recursive: true });
      await writeFile(join(work, 'app/huge.yaml'), '');
      await truncate(join(work, 'app/huge.yaml'), 200 * 1024 * 1024);
      await git(work, 'add', 'app/huge.yaml');
      await git(work, 'commit', '-q', '-m', 'huge');
      await git(work, 'push', '-q', 'origin', 'main');
    });
    expect(isCapstanError(error) && error.kind).toBe('user');
    expect(error.message).toMatch(/app\/huge\.yaml/);
    expect(error.message).toMatch(/MiB|bytes|too large|limit/i);
  });

  it('invalid YAML in one file of ten', async () => {
    const files: Record<string, FileChange> = {};
    for (let i = 0; i < 9; i++) files[`app/cm-${i}.yaml`] = configMap(`cm-${i}`, { v: String(i) });
    files['app/cm-9.yaml'] =
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\ndata:\n  password: "s3cr3t-in-broken-file\n  other: [\n';
    const { error } = await syncHostile(files);
    expect(isCapstanError(error) && error.kind).toBe('user');
    // file:line:column, like a compiler.
    expect(error.message).toMatch(/app\/cm-9\.yaml:\d+:\d+: invalid YAML/);
    expect(error.message).not.toContain('s3cr3t-in-broken-file');
  });

  it('a ref named --upload-pack=x', async () => {
    const { error } = await syncHostile(async () => {}, {
      source: {
        type: 'git',
        repository: { url: 'file:///nonexistent' },
        ref: '--upload-pack=x',
        path: 'app',
      },
    });
    expect(isCapstanError(error) && error.kind).toBe('user');
    expect(error.message).toMatch(/--upload-pack=x/);
  });
});
