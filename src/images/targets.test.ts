import { describe, expect, it } from 'vitest';
import type { Application, Repository } from '../api/v1alpha1.js';
import { writeTargets } from './targets.js';

const repo = (name: string): Repository => ({
  apiVersion: 'capstan.dev/v1alpha1',
  kind: 'Repository',
  metadata: { name, namespace: 'team-a' },
  spec: { url: `https://git.example.com/team-a/${name}.git` },
});

const app = (name: string, spec: Partial<Application['spec']>): Application => ({
  apiVersion: 'capstan.dev/v1alpha1',
  kind: 'Application',
  metadata: { name, namespace: 'team-a' },
  spec: { sourceRef: { name: 'apps' }, ...spec },
});

function lookup(apps: Application[]) {
  return {
    applications: {
      get: (name: string, ns: string) => apps.find((a) => a.metadata.name === name && ns === 'team-a'),
    },
    repositories: {
      get: (name: string, ns: string) => (ns === 'team-a' && name === 'apps' ? repo(name) : undefined),
    },
  };
}

const update = (names: string[], helmValues: { file: string; tag: string }[] = []) => ({
  applications: names.map((name) => ({ name })),
  helmValues,
  mode: 'push' as const,
});

describe('writeTargets', () => {
  it('groups the Applications of one Repository branch into one write, with each path', () => {
    const { targets, problems } = writeTargets(
      update(['web', 'worker', 'prod'], [{ file: 'values.yaml', tag: 'image.tag' }]),
      'team-a',
      lookup([
        app('web', { ref: 'staging', path: 'apps/web' }),
        app('worker', { ref: 'refs/heads/staging', path: './apps/worker/' }),
        app('prod', { ref: 'production', path: 'apps/web' }),
      ]),
    );
    expect(problems).toEqual([]);
    expect(targets.map((t) => [t.branch, t.paths, t.applications, t.helmValues.map((h) => h.file)])).toEqual([
      [
        'staging',
        ['apps/web', 'apps/worker'],
        ['web', 'worker'],
        ['apps/web/values.yaml', 'apps/worker/values.yaml'],
      ],
      ['production', ['apps/web'], ['prod'], ['apps/web/values.yaml']],
    ]);
  });

  it('says why an Application cannot be written to: missing, on a tag, a SHA or a range, its Repository missing', () => {
    const { targets, problems } = writeTargets(
      update(['gone', 'tagged', 'pinned', 'ranged', 'orphan']),
      'team-a',
      lookup([
        app('tagged', { ref: 'refs/tags/v1' }),
        app('pinned', { ref: 'a'.repeat(40) }),
        app('ranged', { ref: '>=1.0 <2' }),
        app('orphan', { sourceRef: { name: 'elsewhere' } }),
      ]),
    );
    expect(targets).toEqual([]);
    expect(problems).toEqual([
      'the Application gone does not exist in team-a',
      expect.stringMatching(/Application tagged follows 'refs\/tags\/v1', not a branch/),
      expect.stringMatching(/Application pinned follows .*, not a branch/),
      expect.stringMatching(/Application ranged follows .*, not a branch/),
      'the Repository elsewhere of Application orphan does not exist',
    ]);
  });

  it('keeps Helm values files inside the Application path', () => {
    const { targets, problems } = writeTargets(
      update(['web'], [{ file: '../other-team/values.yaml', tag: 'image.tag' }]),
      'team-a',
      lookup([app('web', { path: 'apps/web' })]),
    );
    expect(targets[0]?.helmValues).toEqual([]);
    expect(problems).toEqual([expect.stringMatching(/must not contain "\.\."/)]);
  });
});
