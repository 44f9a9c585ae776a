import { describe, expect, it } from 'vitest';
import type { Application, ApplicationStatus, Repository } from '../api/v1alpha1.js';
import { automaticRevision, branchOf, refusalOf, resolveEnvironment, sameGitRepository } from './rules.js';

const S = 'a'.repeat(40);
const T = 'b'.repeat(40);

function app(
  name: string,
  spec: Partial<Application['spec']> = {},
  options: { labels?: Record<string, string>; status?: ApplicationStatus } = {},
): Application {
  return {
    apiVersion: 'capstan.dev/v1alpha1',
    kind: 'Application',
    metadata: { name, namespace: 'shop', ...(options.labels ? { labels: options.labels } : {}) },
    spec: { sourceRef: { name: 'apps' }, ...spec },
    ...(options.status ? { status: options.status } : {}),
  };
}

function repo(name: string, url: string): Repository {
  return {
    apiVersion: 'capstan.dev/v1alpha1',
    kind: 'Repository',
    metadata: { name, namespace: 'shop' },
    spec: { url },
  };
}

const healthy: ApplicationStatus = {
  health: { status: 'Healthy' },
  lastAppliedRevision: { sha: S },
  lastHealthyRevision: { sha: S },
};
const apps = repo('apps', 'https://git.example/org/apps.git');
const end = (a: Application, ...r: [Repository | undefined] | []) => ({
  app: a,
  repository: r.length === 0 ? apps : r[0],
});
const staging = (status: ApplicationStatus = healthy, spec: Partial<Application['spec']> = {}) =>
  app('web-staging', { ref: 'staging', path: 'web', ...spec }, { status });
const production = (spec: Partial<Application['spec']> = {}, status?: ApplicationStatus) =>
  app('web-production', { ref: 'production', path: 'web', ...spec }, status ? { status } : {});

describe('resolveEnvironment', () => {
  const all = [
    app('web-staging', { ref: 'staging' }),
    app('frontend-prod', { ref: 'refs/heads/production' }, { labels: { 'capstan.dev/app': 'web' } }),
    app('api-staging', { ref: 'staging' }),
  ];

  it('finds an environment by name APP-ENV or by the capstan.dev/app label, ref short or full', () => {
    expect(resolveEnvironment(all, 'web', 'staging').metadata.name).toBe('web-staging');
    expect(resolveEnvironment(all, 'web', 'production').metadata.name).toBe('frontend-prod');
    expect(resolveEnvironment(all, 'web', 'refs/heads/production').metadata.name).toBe('frontend-prod');
  });

  it('lists what it found when no Application follows the branch', () => {
    expect(() => resolveEnvironment(all, 'web', 'qa')).toThrow(
      /no Application of 'web' follows branch 'qa'; found: web-staging \(ref staging\), frontend-prod \(ref refs\/heads\/production\)/,
    );
    expect(() => resolveEnvironment(all, 'shop', 'staging')).toThrow(
      /no Application of 'shop' in namespace shop/,
    );
  });

  it('refuses several matches, listing them', () => {
    const twice = [...all, app('other', { ref: 'staging' }, { labels: { 'capstan.dev/app': 'web' } })];
    expect(() => resolveEnvironment(twice, 'web', 'staging')).toThrow(
      /several Applications of 'web' follow branch 'staging': web-staging \(ref staging\), other \(ref staging\)/,
    );
  });

  it('refuses an environment that is no branch name', () => {
    expect(() => resolveEnvironment(all, 'web', '--upload-pack=x')).toThrow(/is not a branch name/);
    expect(() => resolveEnvironment(all, 'web', 'refs/tags/v1')).toThrow(/is not a branch name/);
  });
});

describe('branchOf', () => {
  it('takes branches, not tags, SHAs or ranges', () => {
    expect(branchOf('main')).toBe('main');
    expect(branchOf('refs/heads/env/prod')).toBe('env/prod');
    expect(branchOf('refs/tags/v1')).toBeUndefined();
    expect(branchOf(S)).toBeUndefined();
    expect(branchOf('>=1.2 <2')).toBeUndefined();
    expect(branchOf('a..b')).toBeUndefined();
  });
});

describe('sameGitRepository', () => {
  it('is the same Repository, or Repositories with the same URL key', () => {
    const other = app('x', { sourceRef: { name: 'mirror' } });
    expect(sameGitRepository(end(staging()), end(production()))).toBe(true);
    expect(sameGitRepository(end(staging()), end(other, repo('mirror', 'git@GIT.example:org/apps')))).toBe(
      true,
    );
    expect(
      sameGitRepository(end(staging()), end(other, repo('mirror', 'https://git.example/org/other'))),
    ).toBe(false);
    expect(sameGitRepository(end(staging()), end(other, undefined))).toBe(false);
  });
});

describe('refusalOf', () => {
  it('lets a Healthy source with a last healthy revision be promoted', () => {
    expect(refusalOf(end(staging()), end(production()))).toBeUndefined();
  });

  it.each([
    [
      'not Healthy now',
      { ...healthy, health: { status: 'Degraded', message: 'web: 0/1 available' } },
      /is not Healthy now \(Degraded: web: 0\/1 available\)/,
    ],
    ['never healthy', { health: { status: 'Healthy' } }, /has no last healthy revision/],
    [
      'running a rollback',
      { ...healthy, rollback: { from: T, to: S, at: 'x', automatic: true, reason: 'r' } },
      /runs a rollback \(bbbbbbbbbbbb → aaaaaaaaaaaa\)/,
    ],
    [
      'rejected',
      { ...healthy, rejectedRevisions: [{ sha: S, reason: 'r', rejectedAt: 'x' }] },
      /aaaaaaaaaaaa is rejected/,
    ],
  ] as const)('refuses a source %s', (_what, status, reason) => {
    expect(refusalOf(end(staging(status as ApplicationStatus)), end(production()))).toMatch(reason);
  });

  it('refuses a suspended source, another repository, a target on a tag, and promotion into itself', () => {
    expect(refusalOf(end(staging(healthy, { suspend: true })), end(production()))).toMatch(/is suspended/);
    expect(
      refusalOf(
        end(staging()),
        end(production({ sourceRef: { name: 'other' } }), repo('other', 'https://git.example/org/other')),
      ),
    ).toMatch(/do not use the same Git repository/);
    expect(refusalOf(end(staging()), end(production({ ref: 'refs/tags/v1' })))).toMatch(
      /which is not a branch/,
    );
    expect(refusalOf(end(staging()), end(staging()))).toMatch(/into itself/);
    expect(refusalOf(end(staging()), end(app('copy', { ref: 'staging', path: 'web/' })))).toMatch(
      /same path of the same branch/,
    );
  });
});

describe('automaticRevision', () => {
  const automatic = { promotion: { from: { name: 'web-staging' }, automatic: true } };

  it("promotes the source's new last healthy revision once", () => {
    expect(automaticRevision(end(staging()), end(production(automatic)))).toBe(S);
    const done: ApplicationStatus = {
      promotion: {
        id: 'auto',
        from: 'web-staging',
        sourceRevision: S,
        state: 'PullRequestOpened',
        message: '',
        at: '',
      },
    };
    expect(automaticRevision(end(staging()), end(production(automatic, done)))).toBeUndefined();
    const older: ApplicationStatus = { promotion: { ...done.promotion!, sourceRevision: T } };
    expect(automaticRevision(end(staging()), end(production(automatic, older)))).toBe(S);
  });

  it('does nothing unless automatic, from this source, and the source may be promoted', () => {
    expect(automaticRevision(end(staging()), end(production()))).toBeUndefined();
    expect(
      automaticRevision(
        end(staging()),
        end(production({ promotion: { from: { name: 'qa' }, automatic: true } })),
      ),
    ).toBeUndefined();
    const degraded = { ...healthy, health: { status: 'Degraded' } };
    expect(automaticRevision(end(staging(degraded)), end(production(automatic)))).toBeUndefined();
  });
});
