import { describe, expect, it } from 'vitest';
import type { ObjectResult } from '../apply/index.js';
import type { KubeObject } from '../core/objects.js';
import { LiveHealth, type CachedObject } from './live-health.js';

const ref = { group: 'apps', kind: 'Deployment', namespace: 'shop', name: 'web' };

function deployment(resourceVersion: string, available: boolean): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'shop', generation: 1, resourceVersion },
    spec: { replicas: 1, progressDeadlineSeconds: 600 },
    status: {
      observedGeneration: 1,
      replicas: 1,
      updatedReplicas: 1,
      readyReplicas: available ? 1 : 0,
      availableReplicas: available ? 1 : 0,
      conditions: [
        {
          type: 'Available',
          status: available ? 'True' : 'False',
          reason: available ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable',
        },
        { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable' },
      ],
    },
  };
}

const unknown = (): CachedObject => ({ known: false });

function tracker() {
  const changes: string[] = [];
  const live = new LiveHealth({
    now: () => new Date('2026-12-01T10:00:00Z'),
    onChange: (key) => changes.push(key),
  });
  return { live, changes };
}

describe('LiveHealth', () => {
  it('judges an object again on every watch event and asks for a write only when the aggregate changes', () => {
    const { live, changes } = tracker();
    const results: ObjectResult[] = [{ ref, action: 'unchanged', applied: deployment('10', true) }];
    expect(live.track('shop/app', results, unknown, { mode: 'apply' }).state).toBe('Healthy');
    live.published('shop/app', live.view('shop/app')!.health);

    live.observe('shop/app', ref, deployment('11', true));
    expect(changes).toEqual([]);
    live.observe('shop/app', ref, deployment('12', false));
    expect(live.view('shop/app')!.health.state).toBe('Degraded');
    expect(changes).toEqual(['shop/app']);

    live.published('shop/app', live.view('shop/app')!.health);
    live.observe('shop/app', ref, deployment('13', false));
    expect(changes).toHaveLength(1);
    live.observe('shop/app', ref, undefined);
    expect(live.view('shop/app')!.health.state).toBe('Missing');
    expect(changes).toHaveLength(2);
  });

  it('ignores a watch event older than what the sync saw, and objects of other apps', () => {
    const { live, changes } = tracker();
    live.track('shop/app', [{ ref, action: 'configured', applied: deployment('20', true) }], unknown, {
      mode: 'apply',
    });
    live.published('shop/app', live.view('shop/app')!.health);
    live.observe('shop/app', ref, deployment('19', false));
    live.observe('shop/other', ref, deployment('30', false));
    expect(live.view('shop/app')!.health.state).toBe('Healthy');
    expect(changes).toEqual([]);
  });

  it('starts a compare-only sync from the watch copy, not the dry-run preview', () => {
    const { live } = tracker();
    const preview = deployment('5', true);
    const cached = (): CachedObject => ({ known: true, object: deployment('5', false) });
    // Short of replicas and never seen Healthy: Progressing (see the scale-up test for Degraded).
    expect(
      live.track('shop/app', [{ ref, action: 'configured', applied: preview }], cached, { mode: 'diff' }),
    ).toMatchObject({ state: 'Progressing', message: expect.stringContaining('0 of 1 replica available') });
    expect(
      live.track('shop/app', [{ ref, action: 'configured', applied: preview }], () => ({ known: true }), {
        mode: 'diff',
      }).state,
    ).toBe('Missing');
  });

  it('calls a shortage Degraded only at a generation it was Healthy at: a scale-up is Progressing', () => {
    const { live } = tracker();
    live.track('shop/app', [{ ref, action: 'unchanged', applied: deployment('10', true) }], unknown, {
      mode: 'apply',
    });
    const scaled = deployment('11', false);
    scaled.metadata.generation = 2;
    (scaled.status as { observedGeneration: number }).observedGeneration = 2;
    live.observe('shop/app', ref, scaled);
    expect(live.view('shop/app')!.health.state).toBe('Progressing');
    live.observe('shop/app', ref, deployment('12', false));
    expect(live.view('shop/app')!.health.state).toBe('Degraded');
  });

  it('leaves out the Application itself when it applies its own object, and counts the others it applies', () => {
    const { live } = tracker();
    const reconciling = (name: string): KubeObject => ({
      apiVersion: 'capstan.dev/v1alpha1',
      kind: 'Application',
      metadata: { name, namespace: 'capstan-system', generation: 1, resourceVersion: '5' },
      status: {
        observedGeneration: 1,
        conditions: [
          { type: 'Ready', status: 'False', reason: 'Progressing', message: 'waiting for health' },
          { type: 'Reconciling', status: 'True', reason: 'Progressing', message: 'waiting for health' },
        ],
      },
    });
    const application = (name: string) => ({
      group: 'capstan.dev',
      kind: 'Application',
      namespace: 'capstan-system',
      name,
    });
    const results: ObjectResult[] = [
      { ref, action: 'unchanged', applied: deployment('10', true) },
      { ref: application('capstan'), action: 'unchanged', applied: reconciling('capstan') },
    ];
    expect(live.track('capstan-system/capstan', results, unknown, { mode: 'apply' }).state).toBe('Healthy');
    expect(live.view('capstan-system/capstan')!.objects.size).toBe(1);

    const child: ObjectResult = {
      ref: application('child'),
      action: 'unchanged',
      applied: reconciling('child'),
    };
    expect(live.track('capstan-system/capstan', [...results, child], unknown, { mode: 'apply' }).state).toBe(
      'Progressing',
    );
  });

  it('leaves out pruned objects and forgets deleted apps', () => {
    const { live } = tracker();
    live.track('shop/app', [{ ref, action: 'pruned' }], unknown, { mode: 'apply' });
    expect(live.view('shop/app')!.objects.size).toBe(0);
    live.forget('shop/app');
    expect(live.view('shop/app')).toBeUndefined();
  });
});
