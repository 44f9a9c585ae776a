import { describe, expect, it } from 'vitest';
import type { Application, Repository } from '../api/v1alpha1.js';
import type { KubeObject } from '../core/objects.js';
import { UserError } from '../core/errors.js';
import type { RenderResult } from '../render/index.js';
import { appsOnBranch, branchName } from './candidates.js';
import { touchOf, type RenderAt } from './touched.js';

const BASE = 'a'.repeat(40);
const HEAD = 'b'.repeat(40);
const repository = { url: 'https://git.example/org/deploy' };

const cm = (value: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'settings' },
  data: { value },
});

/** Renders from a table of commits; counts the renders at head. */
function renderer(results: Record<string, RenderResult | Error>): RenderAt & { headRenders: number } {
  const render = Object.assign(
    async ({ sha }: { sha: string }) => {
      if (sha === HEAD) render.headRenders++;
      const result = results[sha];
      if (result instanceof Error) throw result;
      return structuredClone(result!);
    },
    { headRenders: 0 },
  );
  return render;
}

const rendered = (value: string, inputs = ['apps/web', 'base']): RenderResult => ({
  kind: 'kustomize',
  objects: [cm(value)],
  inputs,
});

function git(changed: readonly string[] | undefined, trees: Record<string, string> = {}) {
  return {
    changedPaths: async () => changed,
    treeId: async (_repo: unknown, commit: string, path: string) => {
      const id = trees[`${commit}:${path}`];
      if (id === undefined) throw new UserError(`path ${path} does not exist`);
      return id;
    },
  };
}

const request = { repository, base: BASE, head: HEAD, path: 'apps/web' };

describe('touchOf', () => {
  it('leaves an app out without rendering head when no changed file is among its inputs', async () => {
    const renderAt = renderer({ [BASE]: rendered('v1') });
    const touch = await touchOf({ git: git(['apps/other/x.yaml', 'basement/y.yaml']), renderAt }, request);
    expect(touch).toEqual({ touched: false });
    expect(renderAt.headRenders).toBe(0);
  });

  it('takes an app in when a base its kustomization pulls changed', async () => {
    const renderAt = renderer({ [BASE]: rendered('v1'), [HEAD]: rendered('v2') });
    expect(await touchOf({ git: git(['base/configmap.yaml']), renderAt }, request)).toEqual({
      touched: true,
    });
  });

  it('leaves an app out when its inputs changed but its objects did not', async () => {
    const renderAt = renderer({ [BASE]: rendered('v1'), [HEAD]: rendered('v1') });
    expect(await touchOf({ git: git(['apps/web/README.md']), renderAt }, request)).toEqual({
      touched: false,
    });
    expect(renderAt.headRenders).toBe(1);
  });

  it('compares tree ids when Git cannot list the changed files', async () => {
    const trees = { [`${BASE}:apps/web`]: 't1', [`${HEAD}:apps/web`]: 't1', [`${BASE}:base`]: 'b1' };
    const gone = renderer({ [BASE]: rendered('v1'), [HEAD]: rendered('v2') });
    expect(
      await touchOf({ git: git(undefined, { ...trees, [`${HEAD}:base`]: 'b2' }), renderAt: gone }, request),
    ).toEqual({
      touched: true,
    });
    const same = renderer({ [BASE]: rendered('v1') });
    expect(
      await touchOf({ git: git(undefined, { ...trees, [`${HEAD}:base`]: 'b1' }), renderAt: same }, request),
    ).toEqual({
      touched: false,
    });
    // An input that no longer exists at head is a change.
    expect(await touchOf({ git: git(undefined, trees), renderAt: gone }, request)).toEqual({ touched: true });
  });

  it('reports a render error at head, and judges by head alone when base does not render', async () => {
    const broken = new UserError('bad yaml');
    expect(
      await touchOf(
        { git: git(['apps/web/a.yaml']), renderAt: renderer({ [BASE]: rendered('v1'), [HEAD]: broken }) },
        request,
      ),
    ).toEqual({ touched: true, renderError: broken });
    expect(
      await touchOf(
        {
          git: git([]),
          renderAt: renderer({ [BASE]: new UserError('broken on main'), [HEAD]: rendered('v1') }),
        },
        request,
      ),
    ).toEqual({ touched: true });
  });
});

describe('appsOnBranch', () => {
  const repo = (namespace: string, name: string, url: string): Repository =>
    ({
      apiVersion: 'capstan.dev/v1alpha1',
      kind: 'Repository',
      metadata: { namespace, name },
      spec: { url },
    }) as Repository;
  const app = (namespace: string, name: string, sourceRef: string, ref: string): Application =>
    ({
      apiVersion: 'capstan.dev/v1alpha1',
      kind: 'Application',
      metadata: { namespace, name },
      spec: { sourceRef: { name: sourceRef }, ref, path: name },
    }) as Application;
  const repositories = [
    repo('a', 'deploy', 'git@git.example:Org/Deploy.git'),
    repo('b', 'deploy', 'https://git.example/org/deploy'),
    repo('b', 'other', 'https://git.example/org/other'),
  ];
  const lookup = {
    listApplications: async (namespace?: string) =>
      [
        app('a', 'web', 'deploy', 'main'),
        app('b', 'api', 'deploy', 'refs/heads/main'),
        app('b', 'staging', 'deploy', 'staging'),
        app('b', 'elsewhere', 'other', 'main'),
        app('b', 'missing', 'gone', 'main'),
      ].filter((candidate) => namespace === undefined || candidate.metadata.namespace === namespace),
    repository: async (namespace: string, name: string) =>
      repositories.find((r) => r.metadata.namespace === namespace && r.metadata.name === name),
  };

  it('finds the apps on the base branch of the repository, however its URL is spelled', async () => {
    const found = await appsOnBranch(lookup, {
      repositoryUrl: 'https://GIT.example/org/deploy.git/',
      base: 'main',
    });
    expect(found.map((c) => `${c.app.metadata.namespace}/${c.app.metadata.name}`)).toEqual([
      'a/web',
      'b/api',
    ]);
    const inB = await appsOnBranch(lookup, {
      repositoryUrl: 'https://git.example/org/deploy',
      base: 'refs/heads/main',
      namespace: 'b',
    });
    expect(inB.map((c) => c.app.metadata.name)).toEqual(['api']);
    const filtered = await appsOnBranch(lookup, {
      repositoryUrl: 'https://git.example/org/deploy',
      base: 'main',
      repositoryFilter: (r) => r.metadata.namespace === 'a',
    });
    expect(filtered.map((c) => c.app.metadata.name)).toEqual(['web']);
    expect(await appsOnBranch(lookup, { repositoryUrl: 'not a url', base: 'main' })).toEqual([]);
  });

  it('treats refs/heads/X and X as one branch', () => {
    expect(branchName('refs/heads/main')).toBe('main');
    expect(branchName('main')).toBe('main');
    expect(branchName('refs/tags/v1')).toBe('refs/tags/v1');
  });
});
