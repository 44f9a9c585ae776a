/**
 * Made-up Applications for the dashboard's tests and bench/dashboard.bench.ts: app `i` is in
 * namespace `team-(i % 50)`, on `repo-(i % 7)`, with health, sync, labels and a last sync spread
 * evenly over the possible values.
 */
import type { Application } from '../../../api/v1alpha1.js';

const HEALTH = ['Healthy', 'Progressing', 'Degraded', 'Missing', 'Suspended', 'Unknown'] as const;
const SYNC = ['Synced', 'OutOfSync', 'Waiting', 'Unknown'] as const;

export function fakeApp(
  i: number,
  overrides: { namespace?: string; health?: string; sync?: string } = {},
): Application {
  const namespace = overrides.namespace ?? `team-${i % 50}`;
  return {
    apiVersion: 'capstan.dev/v1alpha1',
    kind: 'Application',
    metadata: {
      namespace,
      name: `app-${String(i).padStart(5, '0')}`,
      uid: `uid-${i}`,
      resourceVersion: String(i),
      labels: { tier: i % 3 === 0 ? 'frontend' : 'backend', env: i % 2 === 0 ? 'prod' : 'staging' },
    },
    spec: {
      sourceRef: { name: `repo-${i % 7}` },
      ref: i % 4 === 0 ? 'production' : 'main',
      path: `apps/app-${i}`,
    },
    status: {
      conditions: [
        {
          type: 'Ready',
          status: i % 5 === 0 ? 'False' : 'True',
          reason: 'Synced',
          message: 'ok',
          lastTransitionTime: 'x',
        },
      ],
      health: { status: overrides.health ?? HEALTH[i % HEALTH.length]! },
      sync: { status: overrides.sync ?? SYNC[i % SYNC.length]! },
      lastAppliedRevision: {
        sha: `${(i * 2654435761) % 2 ** 32}`.padStart(40, '0'),
        message: `change number ${i}`,
      },
      history: [
        {
          revision: 'x',
          startedAt: new Date(Date.UTC(2024, 0, 1) + i * 60_000).toISOString(),
          finishedAt: new Date(Date.UTC(2024, 0, 1) + ((i * 7919) % 10_000) * 60_000).toISOString(),
          durationSeconds: 1,
          result: 'Succeeded',
        },
      ],
    },
  };
}
