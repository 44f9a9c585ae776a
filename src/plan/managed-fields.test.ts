import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { KubeObject, ManagedFieldsEntry } from '../core/objects.js';
import { fieldManagers } from './managed-fields.js';
import { parsePointer } from './pointer.js';

const liveDeployment = parse(
  readFileSync(new URL('./testdata/deployment-live.yaml', import.meta.url), 'utf8'),
) as KubeObject;

const managersAt = (object: KubeObject | undefined, pointer: string): string[] =>
  fieldManagers(object, parsePointer(pointer));

describe('fieldManagers on a real Deployment', () => {
  it.each<[string, string, string[]]>([
    // Leaves owned directly.
    ['a field of a keyed list item', '/spec/template/spec/containers/0/image', ['capstan']],
    [
      'a nested field another manager set',
      '/spec/template/spec/containers/0/resources/limits/memory',
      ['kubectl-edit'],
    ],
    ['a map owned with "." and a key', '/spec/template/spec/containers/0/resources/limits', ['kubectl-edit']],
    [
      'the second list item, matched by key not index',
      '/spec/template/spec/containers/1/image',
      ['kubectl-edit'],
    ],
    ['a field set through the scale subresource', '/spec/replicas', ['kubectl']],
    [
      'an annotation with an escaped slash',
      '/metadata/annotations/deployment.kubernetes.io~1revision',
      ['kube-controller-manager'],
    ],
    ['a label', '/metadata/labels/team', ['capstan']],
    ['a set item keyed by value', '/metadata/finalizers/0', ['finalizer-controller']],
    ['an item keyed by two fields', '/spec/template/spec/containers/0/ports/0/name', ['capstan']],
    ['a status field', '/status/observedGeneration', ['kube-controller-manager']],
    ['a status condition by its type key', '/status/conditions/0/status', ['kube-controller-manager']],
    // A node and everything inside it: all managers with a stake in the subtree.
    [
      'a whole list item shared by two managers',
      '/spec/template/spec/containers/0',
      ['capstan', 'kubectl-edit'],
    ],
    ['a whole container list', '/spec/template/spec/containers', ['capstan', 'kubectl-edit']],
    ['the whole spec', '/spec', ['capstan', 'kubectl', 'kubectl-edit']],
    [
      'the annotations map',
      '/metadata/annotations',
      ['kube-controller-manager', 'kubectl-client-side-apply'],
    ],
    // Nearest owned ancestor.
    ['an item inside an atomic list', '/spec/template/spec/containers/0/args/1', ['capstan']],
    ['a key inside an atomic struct', '/spec/selector/matchLabels/app.kubernetes.io~1name', ['capstan']],
    [
      'a new annotation in a map someone owns with "."',
      '/metadata/annotations/new',
      ['kubectl-client-side-apply'],
    ],
    ['a new finalizer in an owned set', '/metadata/finalizers/1', ['finalizer-controller']],
    // Nobody.
    ['a new container in an unowned list', '/spec/template/spec/containers/2', []],
    ['a defaulted field nobody claims', '/spec/template/spec/dnsPolicy', []],
    ['a new label in a map nobody owns with "."', '/metadata/labels/tier', []],
    ['a path through a scalar', '/spec/replicas/deeper', ['kubectl']],
    ['an index that is not a number', '/spec/template/spec/containers/web/image', []],
    [
      'the whole object',
      '',
      [
        'capstan',
        'finalizer-controller',
        'kube-controller-manager',
        'kubectl',
        'kubectl-client-side-apply',
        'kubectl-edit',
      ],
    ],
  ])('%s (%s)', (_name, pointer, expected) => {
    expect(managersAt(liveDeployment, pointer)).toEqual(expected);
  });

  it('finds the metrics container wherever the list puts it', () => {
    const containers = (liveDeployment.spec as { template: { spec: { containers: unknown[] } } }).template
      .spec.containers;
    const swapped = structuredClone(liveDeployment);
    (swapped.spec as { template: { spec: { containers: unknown[] } } }).template.spec.containers = [
      containers[1],
      containers[0],
    ];
    expect(managersAt(swapped, '/spec/template/spec/containers/0/image')).toEqual(['kubectl-edit']);
    expect(managersAt(swapped, '/spec/template/spec/containers/1/image')).toEqual(['capstan']);
  });
});

function withFields(entries: ManagedFieldsEntry[], body: Record<string, unknown>): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 's', namespace: 'n', managedFields: entries },
    ...body,
  };
}

describe('fieldManagers key matching', () => {
  const service = withFields(
    [
      {
        manager: 'tcp-owner',
        operation: 'Apply',
        fieldsType: 'FieldsV1',
        fieldsV1: {
          'f:spec': { 'f:ports': { 'k:{"port":53,"protocol":"TCP"}': { '.': {}, 'f:port': {} } } },
        },
      },
      {
        manager: 'udp-owner',
        operation: 'Apply',
        fieldsType: 'FieldsV1',
        fieldsV1: {
          'f:spec': { 'f:ports': { 'k:{"port":53,"protocol":"UDP"}': { '.': {}, 'f:port': {} } } },
        },
      },
    ],
    {
      spec: {
        ports: [
          { port: 53, protocol: 'UDP', name: 'dns' },
          { port: 53, protocol: 'TCP', name: 'dns-tcp' },
        ],
      },
    },
  );

  it('requires every key field to match', () => {
    expect(managersAt(service, '/spec/ports/0/port')).toEqual(['udp-owner']);
    expect(managersAt(service, '/spec/ports/1/port')).toEqual(['tcp-owner']);
  });

  it('falls back to the item itself when the field inside is not listed', () => {
    expect(managersAt(service, '/spec/ports/1/name')).toEqual(['tcp-owner']);
  });

  it.each<[string, ManagedFieldsEntry]>([
    ['a malformed key', { manager: 'x', fieldsV1: { 'f:spec': { 'f:ports': { 'k:{not json': {} } } } }],
    ['an empty key', { manager: 'x', fieldsV1: { 'f:spec': { 'f:ports': { 'k:{}': {} } } } }],
    [
      'a key on a non-object item',
      { manager: 'x', fieldsV1: { 'f:spec': { 'f:ports': { 'k:{"port":53}': {} } } } },
    ],
    ['another fields type', { manager: 'x', fieldsType: 'FieldsV2', fieldsV1: { 'f:spec': {} } }],
    ['no fieldsV1', { manager: 'x', fieldsType: 'FieldsV1' }],
  ])('ignores %s', (_name, entry) => {
    const object = withFields([entry], { spec: { ports: ['53/TCP'] } });
    expect(managersAt(object, '/spec/ports/0')).toEqual([]);
  });

  it('matches list items by index with i:', () => {
    const object = withFields(
      [{ manager: 'indexer', fieldsV1: { 'f:spec': { 'f:items': { 'i:1': {} } } } }],
      {
        spec: { items: ['a', 'b'] },
      },
    );
    expect(managersAt(object, '/spec/items/1')).toEqual(['indexer']);
    expect(managersAt(object, '/spec/items/0')).toEqual([]);
  });

  it('names a manager without a name "unknown" and lists each manager once', () => {
    const object = withFields(
      [
        { fieldsV1: { 'f:spec': { 'f:type': {} } } },
        { manager: 'twice', operation: 'Apply', fieldsV1: { 'f:spec': { 'f:type': {} } } },
        { manager: 'twice', operation: 'Update', fieldsV1: { 'f:spec': { 'f:type': {} } } },
      ],
      { spec: { type: 'ClusterIP' } },
    );
    expect(managersAt(object, '/spec/type')).toEqual(['twice', 'unknown']);
  });

  it('prefers the deepest owned ancestor', () => {
    const object = withFields(
      [
        { manager: 'outer', fieldsV1: { 'f:spec': { '.': {}, 'f:selector': { 'f:x': {} } } } },
        { manager: 'inner', fieldsV1: { 'f:spec': { 'f:selector': { '.': {} } } } },
      ],
      { spec: { selector: { x: '1' } } },
    );
    expect(managersAt(object, '/spec/selector/y')).toEqual(['inner']);
  });

  it('returns nothing for an object that does not exist or has no managed fields', () => {
    expect(managersAt(undefined, '/spec')).toEqual([]);
    expect(managersAt(withFields([], { spec: {} }), '/spec')).toEqual([]);
  });
});
