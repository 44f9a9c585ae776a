import { describe, expect, it } from 'vitest';
import { applicationGeneratorSpecSchema } from '../api/generator.js';
import type { Repository } from '../api/v1alpha1.js';
import { UserError } from '../core/errors.js';
import { generatorKindOf, listElements, type ListingDeps, type OpenPullRequest } from './elements.js';

const repository = {
  apiVersion: 'capstan.dev/v1alpha1',
  kind: 'Repository',
  metadata: { name: 'apps', namespace: 'team' },
  spec: { url: 'https://git.example.com/team/apps.git' },
} as Repository;

function deps(options: {
  branches?: string[];
  folders?: string[];
  pulls?: OpenPullRequest[];
  kind?: 'github' | 'gitlab' | 'gitea';
  fail?: boolean;
}): ListingDeps {
  return {
    git: {
      listBranches: async () => {
        if (options.fail) throw new UserError('repository unreachable');
        return new Map((options.branches ?? []).map((b) => [b, 'a'.repeat(40)]));
      },
      listDirectories: async () => options.folders ?? [],
      resolve: async () => ({
        sha: 'b'.repeat(40),
        ref: 'refs/heads/main',
        message: '',
        author: { name: '', email: '' },
        date: '',
      }),
    },
    source: async () => ({ url: 'https://git.example.com/team/apps.git' }),
    pullRequests: async () => ({ kind: options.kind ?? 'github', pullRequests: options.pulls ?? [] }),
  };
}

const spec = (fields: Record<string, unknown>) =>
  applicationGeneratorSpecSchema.parse({
    sourceRef: { name: 'apps' },
    template: { metadata: { name: 'x' }, spec: {} },
    ...fields,
  });

const pull = (number: number, extra: Partial<OpenPullRequest> = {}): OpenPullRequest => ({
  number,
  head: { ref: `feature/${number}`, sha: 'c'.repeat(40), fork: false },
  base: { ref: 'main' },
  labels: [],
  ...extra,
});

describe('generators', () => {
  it('needs exactly one generator', () => {
    expect(() => generatorKindOf(spec({}))).toThrow(/none is/);
    expect(() => generatorKindOf(spec({ list: { elements: [{ name: 'a' }] }, branches: {} }))).toThrow(
      /branches and list are/,
    );
  });

  it('lists the branches that match include and not exclude, with their slugs', async () => {
    const elements = await listElements(
      deps({ branches: ['main', 'env/qa', 'env/prod', 'env/old-x'] }),
      spec({ branches: { include: ['env/*'], exclude: ['*-x'] } }),
      repository,
    );
    expect(elements.map((e) => [e.key, e.params.get('branchSlug')])).toEqual([
      ['env/prod', 'env-prod'],
      ['env/qa', 'env-qa'],
    ]);
  });

  it('lists folders with their basename and slug', async () => {
    const elements = await listElements(
      deps({ folders: ['apps', 'apps/web', 'apps/web/base', 'apps/API'] }),
      spec({ directories: { include: ['apps/*'], exclude: ['apps/*/*'] } }),
      repository,
    );
    expect(elements.map((e) => Object.fromEntries(e.params))).toEqual([
      { path: 'apps/API', 'path.basename': 'API', 'path.slug': 'apps-api' },
      { path: 'apps/web', 'path.basename': 'web', 'path.slug': 'apps-web' },
    ]);
  });

  it('gives list entries their name and values', async () => {
    const elements = await listElements(
      deps({}),
      spec({ list: { elements: [{ name: 'eu', values: { region: 'eu-1' } }] } }),
      repository,
    );
    expect(Object.fromEntries(elements[0]!.params)).toEqual({ name: 'eu', 'values.region': 'eu-1' });
  });

  it('lists open pull requests, leaving out forks and those without every label', async () => {
    const pulls = [
      pull(3, { labels: ['preview', 'x'] }),
      pull(4, { labels: ['preview'], head: { ref: 'evil', sha: 'd'.repeat(40), fork: true } }),
      pull(5, { labels: [] }),
      pull(6, { labels: ['preview'], base: { ref: 'release' } }),
    ];
    const elements = await listElements(
      deps({ pulls }),
      spec({ pullRequests: { base: 'main', labels: ['preview'] } }),
      repository,
    );
    expect(elements.map((e) => e.key)).toEqual(['#3']);
    expect(Object.fromEntries(elements[0]!.params)).toMatchObject({
      number: '3',
      headRef: 'feature/3',
      branchSlug: 'feature-3',
      ref: 'refs/pull/3/head',
    });
    const withForks = await listElements(
      deps({ pulls, kind: 'gitlab' }),
      spec({ pullRequests: { includeForks: true } }),
      repository,
    );
    expect(withForks.map((e) => e.key)).toEqual(['#3', '#4', '#5', '#6']);
    expect(withForks[1]!.params.get('ref')).toBe('refs/merge-requests/4/head');
  });

  it('refuses more elements than allowed, and lets a failed listing throw', async () => {
    const many = Array.from({ length: 501 }, (_, i) => `b${i}`);
    await expect(listElements(deps({ branches: many }), spec({ branches: {} }), repository)).rejects.toThrow(
      /501 elements, more than 500/,
    );
    await expect(listElements(deps({ fail: true }), spec({ branches: {} }), repository)).rejects.toThrow(
      /unreachable/,
    );
  });
});
