import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../core/objects.js';
import { aggregateHealth, objectHealthState } from './app-health.js';

const NOW = new Date('2026-12-01T10:00:00Z');

function deployment(status: Record<string, unknown>, spec: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'shop', generation: 1 },
    spec: { replicas: 1, progressDeadlineSeconds: 600, ...spec },
    status: { observedGeneration: 1, ...status },
  };
}

const condition = (type: string, status: string, reason: string) => ({
  type,
  status,
  reason,
  message: reason,
});
const rolledOut = condition('Progressing', 'True', 'NewReplicaSetAvailable');
const rollingOut = condition('Progressing', 'True', 'ReplicaSetUpdated');
const unavailable = condition('Available', 'False', 'MinimumReplicasUnavailable');
const available = condition('Available', 'True', 'MinimumReplicasAvailable');

describe('objectHealthState', () => {
  it('calls a Deployment that lost its Pods after its rollout Degraded, not Progressing', () => {
    const broken = deployment({
      replicas: 1,
      updatedReplicas: 1,
      availableReplicas: 0,
      unavailableReplicas: 1,
      conditions: [unavailable, rolledOut],
    });
    expect(objectHealthState(broken, NOW)).toEqual({
      state: 'Degraded',
      message: expect.stringContaining('0 of 1 replica available') as string,
    });
  });

  it('keeps a rollout that is still under way Progressing, even while below minimum availability', () => {
    const rolling = deployment({
      replicas: 1,
      updatedReplicas: 1,
      availableReplicas: 0,
      conditions: [unavailable, rollingOut],
    });
    expect(objectHealthState(rolling, NOW).state).toBe('Progressing');
  });

  it('says Healthy, Suspended, Missing and Degraded as people read them', () => {
    const healthy = deployment({
      replicas: 1,
      updatedReplicas: 1,
      readyReplicas: 1,
      availableReplicas: 1,
      conditions: [available, rolledOut],
    });
    expect(objectHealthState(healthy, NOW).state).toBe('Healthy');
    expect(objectHealthState(deployment({}, { paused: true }), NOW)).toEqual({
      state: 'Suspended',
      message: 'Deployment is paused',
    });
    expect(objectHealthState(undefined, NOW).state).toBe('Missing');
    const deadline = deployment({
      conditions: [condition('Progressing', 'False', 'ProgressDeadlineExceeded')],
    });
    expect(objectHealthState(deadline, NOW).state).toBe('Degraded');
  });
});

describe('aggregateHealth', () => {
  const ref = (name: string) => ({ group: 'apps', kind: 'Deployment', namespace: 'shop', name });

  it('is the worst state, explained by the object that has it, with how many share it', () => {
    expect(
      aggregateHealth([
        { ref: ref('a'), health: { state: 'Healthy', message: 'ok' } },
        { ref: ref('b'), health: { state: 'Progressing', message: '0 of 1 available' } },
        { ref: ref('c'), health: { state: 'Degraded', message: 'Pods fail' } },
        { ref: ref('d'), health: { state: 'Degraded', message: 'Pods fail too' } },
      ]),
    ).toEqual({ state: 'Degraded', message: 'Deployment.apps/shop/c: Pods fail (and 1 more Degraded)' });
  });

  it('counts healthy objects, and calls an app with none Healthy', () => {
    expect(aggregateHealth([{ ref: ref('a'), health: { state: 'Healthy', message: 'ok' } }])).toEqual({
      state: 'Healthy',
      message: '1 object healthy',
    });
    expect(aggregateHealth([]).state).toBe('Healthy');
  });

  it('ranks Missing above Progressing: a deleted object needs a person', () => {
    expect(
      aggregateHealth([
        { ref: ref('a'), health: { state: 'Progressing', message: 'rolling' } },
        { ref: ref('b'), health: { state: 'Missing', message: 'gone' } },
      ]).state,
    ).toBe('Missing');
  });
});
