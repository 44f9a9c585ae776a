import { describe, expect, it } from 'vitest';
import type { Repository } from '../api/v1alpha1.js';
import type { KubeClient } from '../kube/index.js';
import type { GitSource, Revision } from '../source/index.js';
import { createRepositoryAccess, parseDurationMs, touches } from './repository.js';

describe('touches', () => {
  const paths = ['apps/web/deployment.yaml', 'apps/web-2/cm.yaml', 'README.md'];

  it.each([
    ['apps/web', true],
    ['apps/web/', true],
    ['./apps/web', true],
    ['apps/web-2', true],
    ['apps/we', false], // a prefix of a name is not its folder
    ['apps/worker', false],
    ['', true], // the root holds everything
    ['.', true],
  ])('the app at %j is touched: %s', (appPath, expected) => {
    expect(touches(paths, appPath)).toBe(expected);
  });

  it('counts unknown changes as touching, and an empty change as touching nothing', () => {
    expect(touches(undefined, 'apps/web')).toBe(true);
    expect(touches([], '')).toBe(false);
  });
});

describe('parseDurationMs', () => {
  it('reads Go-style durations', () => {
    expect(parseDurationMs('1h30m')).toBe(5_400_000);
    expect(parseDurationMs('250ms')).toBe(250);
    expect(() => parseDurationMs('0s')).toThrow("invalid duration '0s'");
  });
});

describe('createRepositoryAccess', () => {
  it("reports a ref's new commit to refresh even when an Application resolved it first", async () => {
    let head = 'a'.repeat(40);
    const git = {
      resolve: async () => ({ sha: head }) as Revision,
    } as unknown as GitSource;
    const moved: string[] = [];
    const access = createRepositoryAccess({
      kube: {} as KubeClient,
      git,
      now: () => new Date(0),
      onRefMoved: (repository) => moved.push(repository.metadata.name),
    });
    const repository = {
      apiVersion: 'capstan.dev/v1alpha1',
      kind: 'Repository',
      metadata: { name: 'apps', namespace: 'shop' },
      spec: { url: 'https://example.com/apps.git' },
    } as Repository;

    expect(await access.refresh(repository, ['main'])).toEqual([{ ref: 'main', to: head }]);
    const first = head;
    head = 'b'.repeat(40);
    // `capstan sync web` resolves afresh: web gets the new commit, and the Repository is told.
    expect((await access.revision(repository, 'main', { fresh: true })).sha).toBe(head);
    expect(moved).toEqual(['apps']);
    // The Repository's reconcile still sees the move, so the other apps on main are woken.
    expect(await access.refresh(repository, ['main'])).toEqual([{ ref: 'main', from: first, to: head }]);
    expect(await access.refresh(repository, ['main'])).toEqual([]);
  });
});
