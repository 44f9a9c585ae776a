import { describe, expect, it } from 'vitest';
import type { KubeObject, ManagedFieldsEntry } from '../core/objects.js';
import { isProvablyUnchanged } from './fastpath.js';
import { withoutFieldsOwnedBy } from './ownership.js';

/** What a Deployment applied by Capstan looks like live: capstan's Apply entry, the controller's status. */
function liveDeployment(
  overrides: { replicas?: number; image?: string; entries?: ManagedFieldsEntry[] } = {},
): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: 'web',
      namespace: 'shop',
      resourceVersion: '42',
      generation: 3,
      labels: { app: 'web' },
      annotations: { 'deployment.kubernetes.io/revision': '1' },
      managedFields: overrides.entries ?? [capstanEntry(), statusEntry()],
    },
    spec: {
      replicas: overrides.replicas ?? 2,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          containers: [
            {
              name: 'web',
              image: overrides.image ?? 'web:1',
              imagePullPolicy: 'IfNotPresent',
              ports: [{ containerPort: 8080, protocol: 'TCP' }],
            },
          ],
          restartPolicy: 'Always',
        },
      },
    },
    status: { replicas: 2, readyReplicas: 2 },
  };
}

function capstanEntry(spec: Record<string, unknown> = defaultSpecFields()): ManagedFieldsEntry {
  return {
    manager: 'capstan',
    operation: 'Apply',
    apiVersion: 'apps/v1',
    fieldsType: 'FieldsV1',
    fieldsV1: { 'f:metadata': { 'f:labels': { 'f:app': {} } }, 'f:spec': spec },
  };
}

function defaultSpecFields(): Record<string, unknown> {
  return {
    'f:replicas': {},
    'f:selector': {},
    'f:template': {
      'f:metadata': { 'f:labels': { 'f:app': {} } },
      'f:spec': {
        'f:containers': {
          'k:{"name":"web"}': {
            '.': {},
            'f:image': {},
            'f:name': {},
            'f:ports': { 'k:{"containerPort":8080,"protocol":"TCP"}': { '.': {}, 'f:containerPort': {} } },
          },
        },
      },
    },
  };
}

function statusEntry(): ManagedFieldsEntry {
  return {
    manager: 'kube-controller-manager',
    operation: 'Update',
    subresource: 'status',
    fieldsV1: { 'f:status': { 'f:replicas': {} } },
  };
}

function desiredDeployment(
  overrides: { replicas?: number | undefined; image?: string; extraContainer?: boolean } = {},
): KubeObject {
  const containers: Record<string, unknown>[] = [
    { name: 'web', image: overrides.image ?? 'web:1', ports: [{ containerPort: 8080 }] },
  ];
  if (overrides.extraContainer) containers.push({ name: 'sidecar', image: 'proxy:1' });
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'shop', labels: { app: 'web' } },
    spec: {
      ...('replicas' in overrides && overrides.replicas === undefined
        ? {}
        : { replicas: overrides.replicas ?? 2 }),
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers } },
    },
  };
}

describe('isProvablyUnchanged', () => {
  it('proves an identical re-apply is a no-op, server defaults and status notwithstanding', () => {
    expect(isProvablyUnchanged(liveDeployment(), desiredDeployment(), 'capstan')).toBe(true);
  });

  it('is not sure when a value differs', () => {
    expect(isProvablyUnchanged(liveDeployment(), desiredDeployment({ image: 'web:2' }), 'capstan')).toBe(
      false,
    );
    expect(isProvablyUnchanged(liveDeployment({ replicas: 5 }), desiredDeployment(), 'capstan')).toBe(false);
  });

  it('is not sure when Git dropped a field Capstan owns (the apply would remove it)', () => {
    expect(isProvablyUnchanged(liveDeployment(), desiredDeployment({ replicas: undefined }), 'capstan')).toBe(
      false,
    );
  });

  it('is not sure when Git adds a list item', () => {
    expect(
      isProvablyUnchanged(liveDeployment(), desiredDeployment({ extraContainer: true }), 'capstan'),
    ).toBe(false);
  });

  it('is not sure when another manager took a field Capstan sets (kubectl edit, kubectl scale)', () => {
    const { 'f:replicas': _taken, ...rest } = defaultSpecFields();
    const entries = [
      capstanEntry(rest),
      {
        manager: 'kubectl',
        operation: 'Update',
        fieldsV1: { 'f:spec': { 'f:replicas': {} } },
      } as ManagedFieldsEntry,
    ];
    expect(isProvablyUnchanged(liveDeployment({ entries }), desiredDeployment(), 'capstan')).toBe(false);
  });

  it('is not sure about an object Capstan never applied', () => {
    expect(
      isProvablyUnchanged(liveDeployment({ entries: [statusEntry()] }), desiredDeployment(), 'capstan'),
    ).toBe(false);
  });

  it('is not sure when the apiVersion differs', () => {
    expect(
      isProvablyUnchanged(
        liveDeployment(),
        { ...desiredDeployment(), apiVersion: 'apps/v1beta2' },
        'capstan',
      ),
    ).toBe(false);
  });
});

describe('withoutFieldsOwnedBy', () => {
  it('drops the leaves a named manager owns and keeps list keys and identity', () => {
    const entries: ManagedFieldsEntry[] = [
      capstanEntry(),
      {
        manager: 'autoscaler',
        operation: 'Update',
        fieldsV1: {
          'f:spec': {
            'f:replicas': {},
            'f:template': { 'f:spec': { 'f:containers': { 'k:{"name":"web"}': { 'f:image': {} } } } },
          },
        },
      },
    ];
    const result = withoutFieldsOwnedBy(desiredDeployment(), liveDeployment({ entries }), [
      'autoscaler',
    ]) as unknown as {
      metadata: { name: string };
      spec: { replicas?: number; template: { spec: { containers: { name: string; image?: string }[] } } };
    };
    expect(result.metadata.name).toBe('web');
    expect(result.spec.replicas).toBeUndefined();
    expect(result.spec.template.spec.containers).toEqual([{ name: 'web', ports: [{ containerPort: 8080 }] }]);
  });

  it('leaves the object alone when the managers own nothing', () => {
    const desired = desiredDeployment();
    expect(withoutFieldsOwnedBy(desired, liveDeployment(), ['autoscaler'])).toBe(desired);
  });
});
