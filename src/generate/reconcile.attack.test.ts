/**
 * Attacks on the ApplicationGenerator reconciler's schedule (src/generate/reconcile.ts): a tenant
 * chooses spec.interval, and each run lists its elements (an ls-remote, a fetch, or forge API calls
 * with the Repository's token). A run every few milliseconds is a denial of service on the shared
 * controller's two generator workers, the Git host and the token's rate limit.
 */
import { describe, expect, it } from 'vitest';
import { API_VERSION, type Repository } from '../api/v1alpha1.js';
import type { ApplicationGenerator } from '../api/generator.js';
import type { KubeClient } from '../kube/index.js';
import { reconcileGenerator, type GeneratorDeps } from './reconcile.js';

function depsFor(interval: string, counters: { listings: number }): GeneratorDeps {
  const generator = {
    apiVersion: API_VERSION,
    kind: 'ApplicationGenerator',
    metadata: { name: 'hot', namespace: 'team-a', uid: 'u1', generation: 1 },
    spec: {
      sourceRef: { name: 'apps' },
      interval,
      branches: { include: ['*'] },
      template: { metadata: { name: 'b-{{branchSlug}}' }, spec: { ref: '{{branch}}', path: 'app' } },
    },
  } as unknown as ApplicationGenerator;
  const repository = {
    apiVersion: API_VERSION,
    kind: 'Repository',
    metadata: { name: 'apps', namespace: 'team-a' },
    spec: { url: 'https://git.example.com/team-a/apps.git' },
  } as Repository;
  const kube = {
    get: async () => undefined,
    apply: async (object: unknown) => object,
    delete: async () => undefined,
    patch: async (_ref: unknown, body: { status?: unknown }) => ({ ...generator, status: body.status }),
  } as unknown as KubeClient;
  return {
    kube,
    generators: { get: () => generator },
    labelled: { list: () => [] },
    repositories: { get: () => repository },
    listing: {
      git: {
        listBranches: async () => {
          counters.listings++;
          return new Map([['main', { sha: 'a'.repeat(40) }]]) as never;
        },
        listDirectories: async () => [],
        resolve: async () => ({ sha: 'a'.repeat(40) }) as never,
      },
      source: async () => ({ url: repository.spec.url }) as never,
      pullRequests: async () => ({ kind: 'gitea', pullRequests: [] }),
    },
    recordEvent: async () => undefined,
    now: () => new Date(),
  };
}

describe('generator interval', () => {
  // Found by the red team (fixed): spec.interval is only checked against the duration
  // pattern; "1ms" makes reconcileGenerator ask to run again after 1 ms, forever.
  it('a run every millisecond is not scheduled (interval has a floor)', async () => {
    const counters = { listings: 0 };
    const outcome = await reconcileGenerator(depsFor('1ms', counters), 'team-a', 'hot');
    expect(counters.listings).toBe(1);
    expect(outcome.requeueAfterMs ?? Infinity).toBeGreaterThanOrEqual(1_000);
  });

  it('an interval of 0s does not make a hot loop either', async () => {
    const counters = { listings: 0 };
    const outcome = await reconcileGenerator(depsFor('0s', counters), 'team-a', 'hot').catch(
      (error: unknown) => ({ error }),
    );
    // Refused (thrown: retried with backoff), or run once and scheduled no sooner than a second.
    if (!('error' in outcome)) expect(outcome.requeueAfterMs ?? Infinity).toBeGreaterThanOrEqual(1_000);
    expect(counters.listings).toBeLessThanOrEqual(1);
  });
});
