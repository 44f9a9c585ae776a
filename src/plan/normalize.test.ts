import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { UserError } from '../core/errors.js';
import type { KubeObject } from '../core/objects.js';
import { cloneJson, deepEqual } from './json.js';
import { LAST_APPLIED_ANNOTATION, normalizeForDiff, parseIgnorePath } from './normalize.js';
import { formatPointer, parsePointer, valueAt } from './pointer.js';

const liveDeployment = parse(
  readFileSync(new URL('./testdata/deployment-live.yaml', import.meta.url), 'utf8'),
) as KubeObject;

function configMap(
  metadata: Record<string, unknown>,
  data: Record<string, unknown> = { key: 'value' },
): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'n', ...metadata }, data };
}

describe('normalizeForDiff', () => {
  it('drops status and server bookkeeping but keeps what an apply can set', () => {
    const normalized = normalizeForDiff(liveDeployment);
    expect(normalized.status).toBeUndefined();
    expect(Object.keys(normalized.metadata).sort()).toEqual([
      'annotations',
      'finalizers',
      'labels',
      'name',
      'namespace',
    ]);
    expect(normalized.metadata.annotations).toEqual({ 'deployment.kubernetes.io/revision': '3' });
    expect(normalized.spec).toEqual(liveDeployment.spec);
  });

  it.each([
    'managedFields',
    'resourceVersion',
    'generation',
    'uid',
    'creationTimestamp',
    'selfLink',
    'deletionTimestamp',
    'deletionGracePeriodSeconds',
  ])('drops metadata.%s', (field) => {
    const normalized = normalizeForDiff(configMap({ [field]: field === 'generation' ? 3 : 'x' }));
    expect(normalized.metadata).not.toHaveProperty(field);
  });

  it.each(['ownerReferences', 'finalizers', 'generateName'])(
    'keeps metadata.%s, which an apply can change',
    (field) => {
      const value = field === 'generateName' ? 'c-' : [{ any: 'thing' }];
      expect(normalizeForDiff(configMap({ [field]: value })).metadata[field]).toEqual(value);
    },
  );

  it.each<[string, Record<string, unknown>, Record<string, unknown>]>([
    ['empty labels and annotations', { labels: {}, annotations: {} }, {}],
    ['null labels', { labels: null }, {}],
    [
      'an annotations map holding only last-applied',
      { annotations: { [LAST_APPLIED_ANNOTATION]: '{}' } },
      {},
    ],
    [
      'last-applied next to other annotations',
      { annotations: { [LAST_APPLIED_ANNOTATION]: '{}', keep: 'me' } },
      { annotations: { keep: 'me' } },
    ],
    ['non-empty labels', { labels: { a: 'b' } }, { labels: { a: 'b' } }],
  ])('%s', (_name, metadata, expected) => {
    expect(normalizeForDiff(configMap(metadata)).metadata).toEqual({
      name: 'c',
      namespace: 'n',
      ...expected,
    });
  });

  it('does not modify its input', () => {
    const before = structuredClone(liveDeployment);
    normalizeForDiff(liveDeployment, { ignoreFields: ['/spec/replicas', '/metadata/labels/team'] });
    expect(liveDeployment).toEqual(before);
  });

  it('makes a live object and a dry-run of the same state equal, whatever the bookkeeping', () => {
    const dryRun = structuredClone(liveDeployment);
    dryRun.metadata.resourceVersion = '48214';
    dryRun.metadata.managedFields = [
      { manager: 'capstan', operation: 'Apply', time: '2024-06-01T00:00:00Z' },
    ];
    dryRun.status = { observedGeneration: 5 };
    expect(deepEqual(normalizeForDiff(liveDeployment), normalizeForDiff(dryRun))).toBe(true);
  });
});

describe('normalizeForDiff ignoreFields', () => {
  const deployment = (): KubeObject => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', labels: { 'app.kubernetes.io/name': 'web', 'scaled-by': 'hpa' } },
    spec: {
      replicas: 4,
      template: {
        spec: {
          containers: [
            { name: 'web', image: 'web:1', resources: { limits: { cpu: '1' } } },
            { name: 'proxy', image: 'envoy:1', resources: { limits: { cpu: '2' } } },
          ],
        },
      },
    },
  });

  it.each<[string, string[], (object: KubeObject) => unknown, unknown]>([
    ['a scalar', ['/spec/replicas'], (o) => (o.spec as Record<string, unknown>).replicas, undefined],
    [
      'an escaped label key, leaving an emptied map out',
      ['/metadata/labels/app.kubernetes.io~1name', '/metadata/labels/scaled-by'],
      (o) => o.metadata.labels,
      undefined,
    ],
    [
      'one field of every list item',
      ['/spec/template/spec/containers/*/resources'],
      (o) => valueAt(o, parsePointer('/spec/template/spec/containers')),
      [
        { name: 'web', image: 'web:1' },
        { name: 'proxy', image: 'envoy:1' },
      ],
    ],
    [
      'one list item by index',
      ['/spec/template/spec/containers/1/image'],
      (o) => valueAt(o, parsePointer('/spec/template/spec/containers/1')),
      { name: 'proxy', resources: { limits: { cpu: '2' } } },
    ],
    [
      'every key of a map',
      ['/spec/template/spec/containers/0/resources/limits/*'],
      (o) => valueAt(o, parsePointer('/spec/template/spec/containers/0/resources')),
      { limits: {} },
    ],
    [
      'whole list items (which shifts the rest)',
      ['/spec/template/spec/containers/0'],
      (o) => valueAt(o, parsePointer('/spec/template/spec/containers/0/name')),
      'proxy',
    ],
    [
      'every list item',
      ['/spec/template/spec/containers/*'],
      (o) => valueAt(o, parsePointer('/spec/template/spec/containers')),
      [],
    ],
    [
      'a path that does not exist',
      ['/spec/paused', '/spec/replicas/deeper', '/spec/template/spec/containers/7/image'],
      (o) => (o.spec as Record<string, unknown>).replicas,
      4,
    ],
  ])('drops %s', (_name, ignoreFields, select, expected) => {
    expect(select(normalizeForDiff(deployment(), { ignoreFields }))).toEqual(expected);
  });

  it.each<[string, string]>([
    ['', 'whole object'],
    ['spec/replicas', 'must start with "/"'],
    ['/spec/a~2b', '"~" must be written "~0"'],
    ['/metadata/name', 'identifies the object'],
    ['/metadata/namespace', 'identifies the object'],
  ])('rejects %j with a UserError', (path, message) => {
    expect(() => normalizeForDiff(deployment(), { ignoreFields: [path] })).toThrow(UserError);
    expect(() => parseIgnorePath(path)).toThrow(message);
  });
});

describe('JSON pointers', () => {
  it.each<[string, string[]]>([
    ['', []],
    ['/spec', ['spec']],
    ['/metadata/labels/app.kubernetes.io~1name', ['metadata', 'labels', 'app.kubernetes.io/name']],
    ['/a~0b', ['a~b']],
    ['/a~01', ['a~1']],
    ['/', ['']],
    ['/a//b', ['a', '', 'b']],
  ])('%j ⇄ %j', (pointer, segments) => {
    expect(parsePointer(pointer)).toEqual(segments);
    expect(formatPointer(segments)).toBe(pointer);
  });

  it.each<[string, unknown]>([
    ['/list/1/name', 'b'],
    ['/list/01', undefined],
    ['/list/-1', undefined],
    ['/list/x', undefined],
    ['/map/missing', undefined],
    ['/map/key/deeper', undefined],
    ['/map/constructor', undefined],
  ])('valueAt %s', (pointer, expected) => {
    const document = { list: [{ name: 'a' }, { name: 'b' }], map: { key: 'v' } };
    expect(valueAt(document, parsePointer(pointer))).toEqual(expected);
  });
});

describe('JSON helpers', () => {
  it.each<[string, unknown, unknown, boolean]>([
    ['equal nested', { a: [1, { b: null }] }, { a: [1, { b: null }] }, true],
    ['key order', { a: 1, b: 2 }, { b: 2, a: 1 }, true],
    ['undefined keys count as absent', { a: 1, b: undefined }, { a: 1 }, true],
    ['null is not absent', { a: null }, {}, false],
    ['array length', [1], [1, 1], false],
    ['array vs object', [], {}, false],
    ['string vs number', '1', 1, false],
  ])('deepEqual: %s', (_name, a, b, expected) => {
    expect(deepEqual(a, b)).toBe(expected);
    expect(deepEqual(b, a)).toBe(expected);
  });

  it('cloneJson copies deeply and drops undefined keys', () => {
    const source = { a: { b: [1, { c: 2 }] }, gone: undefined };
    const copy = cloneJson(source);
    expect(copy).toEqual({ a: { b: [1, { c: 2 }] } });
    expect(Object.hasOwn(copy, 'gone')).toBe(false);
    expect(copy.a).not.toBe(source.a);
  });
});
