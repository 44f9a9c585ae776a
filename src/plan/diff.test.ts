import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { KubeObject } from '../core/objects.js';
import { diffObjects, type FieldChange } from './diff.js';
import { SECRET_MASK, SECRET_MASK_AFTER, SECRET_MASK_BEFORE } from './mask.js';
import { LAST_APPLIED_ANNOTATION } from './normalize.js';

const liveDeployment = parse(
  readFileSync(new URL('./testdata/deployment-live.yaml', import.meta.url), 'utf8'),
) as KubeObject;

interface DeploymentShape {
  spec: { replicas: number; template: { spec: { containers: Record<string, unknown>[] } } };
}

/**
 * What the server returns for a dry-run of capstan's apply (force) with a new image, a lower memory
 * limit, 3 replicas, the `team` label dropped and a `tier` label added: the other managers' fields
 * (the sidecar, the revision annotation, the finalizer) stay; the bookkeeping moves on.
 */
function deploymentDryRun(): KubeObject {
  const result = structuredClone(liveDeployment);
  const shape = result as unknown as DeploymentShape;
  const web = shape.spec.template.spec.containers[0]!;
  web.image = 'registry.example.com/web:1.1.0';
  web.resources = { limits: { memory: '256Mi' } };
  shape.spec.replicas = 3;
  delete result.metadata.labels!.team;
  result.metadata.labels!.tier = 'frontend';
  result.metadata.generation = 5;
  result.metadata.managedFields = [{ manager: 'capstan', operation: 'Apply', time: '2024-06-01T00:00:00Z' }];
  return result;
}

const pathsOf = (changes: readonly FieldChange[]): string[] => changes.map((change) => change.path);

describe('diffObjects on a Deployment', () => {
  const diff = diffObjects(liveDeployment, deploymentDryRun());

  it('names the object and calls it an update', () => {
    expect(diff.ref).toEqual({ group: 'apps', kind: 'Deployment', namespace: 'shop', name: 'web' });
    expect(diff.action).toBe('update');
  });

  it('lists each changed field in document order with who owned it before', () => {
    expect(diff.changes).toEqual([
      { path: '/metadata/labels/team', op: 'remove', before: 'storefront', previousManagers: ['capstan'] },
      { path: '/metadata/labels/tier', op: 'add', after: 'frontend', previousManagers: [] },
      { path: '/spec/replicas', op: 'replace', before: 5, after: 3, previousManagers: ['kubectl'] },
      {
        path: '/spec/template/spec/containers/0/image',
        op: 'replace',
        before: 'registry.example.com/web:1.0.0',
        after: 'registry.example.com/web:1.1.0',
        previousManagers: ['capstan'],
      },
      {
        path: '/spec/template/spec/containers/0/resources/limits/memory',
        op: 'replace',
        before: '512Mi',
        after: '256Mi',
        previousManagers: ['kubectl-edit'],
      },
    ]);
  });

  it('renders a unified YAML diff with headers and 3 lines of context', () => {
    const lines = diff.unifiedDiff.split('\n');
    expect(lines.slice(0, 2)).toEqual(['--- live', '+++ desired']);
    expect(lines[2]).toMatch(/^@@ -\d+,\d+ \+\d+,\d+ @@$/);
    expect(lines).toContain('-    team: storefront');
    expect(lines).toContain('+    tier: frontend');
    expect(lines).toContain('-  replicas: 5');
    expect(lines).toContain('+  replicas: 3');
    expect(lines).toContain('-          image: registry.example.com/web:1.0.0');
    expect(lines).toContain('+          image: registry.example.com/web:1.1.0');
    expect(lines).toContain('-              memory: 512Mi');
    expect(lines).toContain('+              memory: 256Mi');
    // 3 lines of context: fields far from any change are not shown.
    expect(diff.unifiedDiff).not.toContain('dnsPolicy');
    expect(diff.unifiedDiff).not.toContain('terminationGracePeriodSeconds');
    expect(lines.filter((line) => line.startsWith('@@'))).toHaveLength(3);
    const replicasAt = lines.indexOf('-  replicas: 5');
    expect(lines.slice(replicasAt - 3, replicasAt).every((line) => line.startsWith(' '))).toBe(true);
  });

  it('shows no bookkeeping in the unified diff', () => {
    for (const noise of [
      'managedFields',
      'resourceVersion',
      'generation',
      'status:',
      'uid:',
      'last-applied',
    ]) {
      expect(diff.unifiedDiff).not.toContain(noise);
    }
  });

  it('serialises to JSON for the dashboard without losing anything', () => {
    expect(JSON.parse(JSON.stringify(diff))).toEqual(diff);
  });
});

describe('diffObjects actions', () => {
  it('calls a missing live object a create, with the whole object added in the unified diff', () => {
    const desired = deploymentDryRun();
    const diff = diffObjects(undefined, desired);
    expect(diff.action).toBe('create');
    expect(diff.changes).toEqual([]);
    const lines = diff.unifiedDiff.trimEnd().split('\n');
    expect(lines.slice(0, 3)).toEqual([
      '--- live',
      '+++ desired',
      expect.stringMatching(/^@@ -0,0 \+1,\d+ @@$/),
    ]);
    expect(lines.slice(3).every((line) => line.startsWith('+'))).toBe(true);
    expect(lines).toContain('+kind: Deployment');
    expect(diff.unifiedDiff).not.toContain('managedFields');
  });

  it('calls an object whose dry-run differs only in bookkeeping unchanged, with no diff', () => {
    const desired = structuredClone(liveDeployment);
    desired.metadata.resourceVersion = '50000';
    desired.metadata.managedFields = [];
    desired.status = {};
    desired.metadata.annotations![LAST_APPLIED_ANNOTATION] = '{}';
    expect(diffObjects(liveDeployment, desired)).toEqual({
      ref: { group: 'apps', kind: 'Deployment', namespace: 'shop', name: 'web' },
      action: 'unchanged',
      changes: [],
      unifiedDiff: '',
    });
  });

  it('leaves ignored fields out of both the changes and the unified diff', () => {
    const diff = diffObjects(liveDeployment, deploymentDryRun(), {
      ignoreFields: ['/spec/replicas', '/spec/template/spec/containers/*/resources'],
    });
    expect(pathsOf(diff.changes)).toEqual([
      '/metadata/labels/team',
      '/metadata/labels/tier',
      '/spec/template/spec/containers/0/image',
    ]);
    expect(diff.unifiedDiff).not.toContain('replicas');
    expect(diff.unifiedDiff).not.toContain('memory');
  });

  it('is unchanged when only ignored fields differ', () => {
    const desired = structuredClone(liveDeployment);
    (desired as unknown as DeploymentShape).spec.replicas = 1;
    expect(diffObjects(liveDeployment, desired, { ignoreFields: ['/spec/replicas'] }).action).toBe(
      'unchanged',
    );
  });
});

describe('diffObjects change shapes', () => {
  const configMap = (data: unknown, labels?: Record<string, string>): KubeObject => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'settings', namespace: 'shop', ...(labels ? { labels } : {}) },
    ...(data === undefined ? {} : { data }),
  });

  it.each<[string, KubeObject, KubeObject, Omit<FieldChange, 'previousManagers'>[]]>([
    [
      'a new map',
      configMap(undefined),
      configMap({ a: '1' }),
      [{ path: '/data', op: 'add', after: { a: '1' } }],
    ],
    [
      'a removed map',
      configMap({ a: '1' }),
      configMap(undefined),
      [{ path: '/data', op: 'remove', before: { a: '1' } }],
    ],
    [
      'a type change',
      configMap({ a: '1' }),
      configMap('text'),
      [{ path: '/data', op: 'replace', before: { a: '1' }, after: 'text' }],
    ],
    [
      'keys with slashes and tildes',
      configMap({}, { 'example.com/a~b': 'x' }),
      configMap({}, { 'example.com/a~b': 'y' }),
      [{ path: '/metadata/labels/example.com~1a~0b', op: 'replace', before: 'x', after: 'y' }],
    ],
    [
      'list items, with indices in numeric order',
      configMap(Array.from({ length: 12 }, (_, i) => `v${i}`)),
      configMap(Array.from({ length: 12 }, (_, i) => (i === 2 || i === 10 ? `w${i}` : `v${i}`))),
      [
        { path: '/data/2', op: 'replace', before: 'v2', after: 'w2' },
        { path: '/data/10', op: 'replace', before: 'v10', after: 'w10' },
      ],
    ],
    [
      'a shorter list',
      configMap(['a', 'b', 'c']),
      configMap(['a']),
      [
        { path: '/data/1', op: 'remove', before: 'b' },
        { path: '/data/2', op: 'remove', before: 'c' },
      ],
    ],
  ])('%s', (_name, live, desired, expected) => {
    const changes = diffObjects(live, desired).changes;
    expect(changes).toEqual(expected.map((change) => ({ ...change, previousManagers: [] })));
  });
});

describe('diffObjects never leaks Secret values', () => {
  const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');
  const liveValue = 'Tr0ub4dor&3-live';
  const desiredValue = 'correct-horse-battery-staple';
  const unchangedValue = 'same-api-key-123';
  const addedValue = 'brand-new-token-xyz';
  const removedValue = 'old-removed-token';
  const stringDataValue = 'plain-text-in-stringData';
  const allValues = [liveValue, desiredValue, unchangedValue, addedValue, removedValue, stringDataValue];

  function liveSecret(): KubeObject {
    const data = { password: b64(liveValue), apiKey: b64(unchangedValue), old: b64(removedValue) };
    return {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: {
        name: 'db',
        namespace: 'shop',
        resourceVersion: '7',
        annotations: {
          // What `kubectl apply` leaves behind: the whole Secret, values included.
          [LAST_APPLIED_ANNOTATION]: JSON.stringify({ apiVersion: 'v1', kind: 'Secret', data }),
          'example.com/hint': `the password is ${liveValue}`,
        },
        managedFields: [
          {
            manager: 'kubectl-client-side-apply',
            operation: 'Update',
            fieldsType: 'FieldsV1',
            fieldsV1: { 'f:data': { '.': {}, 'f:password': {}, 'f:apiKey': {}, 'f:old': {} }, 'f:type': {} },
          },
        ],
      },
      data,
    };
  }

  function desiredSecret(): KubeObject {
    return {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: { name: 'db', namespace: 'shop', annotations: { 'example.com/hint': `now ${desiredValue}` } },
      data: { password: b64(desiredValue), apiKey: b64(unchangedValue), added: b64(addedValue) },
      // Not what a dry-run returns, but a caller might pass a rendered manifest: still masked.
      stringData: { extra: stringDataValue },
    };
  }

  function expectNoValueAnywhere(text: string): void {
    for (const value of allValues) {
      expect(text).not.toContain(value);
      expect(text).not.toContain(b64(value));
    }
  }

  it('masks changed, unchanged, added and removed keys in changes and in the unified diff', () => {
    const diff = diffObjects(liveSecret(), desiredSecret());
    expect(diff.action).toBe('update');
    expectNoValueAnywhere(JSON.stringify(diff));
    expectNoValueAnywhere(diff.unifiedDiff);

    const byPath = new Map(diff.changes.map((change) => [change.path, change]));
    expect(byPath.get('/data/password')).toEqual({
      path: '/data/password',
      op: 'replace',
      before: SECRET_MASK_BEFORE,
      after: SECRET_MASK_AFTER,
      previousManagers: ['kubectl-client-side-apply'],
    });
    expect(byPath.get('/data/added')).toMatchObject({ op: 'add', after: SECRET_MASK });
    expect(byPath.get('/data/old')).toMatchObject({ op: 'remove', before: SECRET_MASK });
    expect(byPath.get('/stringData')).toEqual({
      path: '/stringData',
      op: 'add',
      after: { extra: SECRET_MASK },
      previousManagers: [],
    });
    expect(byPath.has('/data/apiKey')).toBe(false);
    expect(byPath.get('/metadata/annotations/example.com~1hint')).toMatchObject({
      before: SECRET_MASK_BEFORE,
      after: SECRET_MASK_AFTER,
    });
    expect(diff.unifiedDiff).toContain(`-  password: "${SECRET_MASK_BEFORE}"`);
    expect(diff.unifiedDiff).toContain(`+  password: "${SECRET_MASK_AFTER}"`);
    expect(diff.unifiedDiff).toContain(`   apiKey: "${SECRET_MASK}"`);
  });

  it('masks a Secret being created', () => {
    const diff = diffObjects(undefined, desiredSecret());
    expect(diff.action).toBe('create');
    expectNoValueAnywhere(JSON.stringify(diff));
    expect(diff.unifiedDiff).toContain(`+  password: "${SECRET_MASK}"`);
  });

  it('masks an unchanged Secret (and finds it unchanged)', () => {
    const diff = diffObjects(liveSecret(), liveSecret());
    expect(diff.action).toBe('unchanged');
    expectNoValueAnywhere(JSON.stringify(diff));
  });

  it('still sees a change when only a value changed', () => {
    const desired = liveSecret();
    desired.data = { ...(desired.data as Record<string, string>), password: b64(desiredValue) };
    const diff = diffObjects(liveSecret(), desired);
    expect(diff.action).toBe('update');
    expect(pathsOf(diff.changes)).toEqual(['/data/password']);
    expectNoValueAnywhere(JSON.stringify(diff));
  });

  it('does not modify the objects it was given', () => {
    const live = liveSecret();
    const desired = desiredSecret();
    diffObjects(live, desired);
    expect(live).toEqual(liveSecret());
    expect(desired).toEqual(desiredSecret());
  });
});
