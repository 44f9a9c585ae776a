import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { KubeObject } from '../core/objects.js';
import { diffObjects } from './diff.js';
import { hasDrifted } from './drift.js';
import { LAST_APPLIED_ANNOTATION } from './normalize.js';

const liveDeployment = parse(
  readFileSync(new URL('./testdata/deployment-live.yaml', import.meta.url), 'utf8'),
) as KubeObject;

type Edit = (object: KubeObject & { spec: Record<string, unknown> }) => void;

/** A dry-run result: the live object as the server would return it after our apply, edited. */
function dryRun(edit: Edit = () => {}): KubeObject {
  const copy = structuredClone(liveDeployment) as KubeObject & { spec: Record<string, unknown> };
  edit(copy);
  return copy;
}

describe('hasDrifted', () => {
  it('is true when there is no live object', () => {
    expect(hasDrifted(undefined, liveDeployment)).toBe(true);
  });

  it.each<[string, Edit]>([
    ['nothing changed', () => {}],
    ['a new resourceVersion', (o) => void (o.metadata.resourceVersion = '99999')],
    ['a new generation', (o) => void (o.metadata.generation = 9)],
    [
      'new managedFields',
      (o) => void (o.metadata.managedFields = [{ manager: 'capstan', time: '2030-01-01T00:00:00Z' }]),
    ],
    ['another status', (o) => void (o.status = { replicas: 0 })],
    [
      'another uid and creationTimestamp',
      (o) => void Object.assign(o.metadata, { uid: 'x', creationTimestamp: 'y' }),
    ],
    ['a deletionTimestamp', (o) => void (o.metadata.deletionTimestamp = '2030-01-01T00:00:00Z')],
    [
      'another last-applied-configuration',
      (o) => void (o.metadata.annotations![LAST_APPLIED_ANNOTATION] = '{"x":1}'),
    ],
  ])('is false for %s', (_name, edit) => {
    expect(hasDrifted(liveDeployment, dryRun(edit))).toBe(false);
  });

  it.each<[string, Edit]>([
    ['a changed label', (o) => void (o.metadata.labels!.team = 'checkout')],
    ['a removed label', (o) => void delete o.metadata.labels!.team],
    ['a new annotation', (o) => void (o.metadata.annotations!['example.com/note'] = 'x')],
    ['a changed spec field', (o) => void (o.spec.replicas = 3)],
    ['a new top-level field', (o) => void (o.extra = true)],
    ['a changed finalizer', (o) => void (o.metadata.finalizers = [])],
    [
      'new owner references',
      (o) => void (o.metadata.ownerReferences = [{ apiVersion: 'v1', kind: 'X', name: 'y', uid: 'z' }]),
    ],
  ])('is true for %s', (_name, edit) => {
    expect(hasDrifted(liveDeployment, dryRun(edit))).toBe(true);
  });

  it('treats empty and missing label maps alike', () => {
    const bare: KubeObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: {} };
    const withEmpty: KubeObject = { ...bare, metadata: { name: 'c', labels: {}, annotations: {} } };
    expect(hasDrifted(bare, withEmpty)).toBe(false);
    expect(hasDrifted(withEmpty, bare)).toBe(false);
  });

  it('ignores fields another manager owns when told to', () => {
    const scaled = dryRun((o) => void (o.spec.replicas = 2));
    expect(hasDrifted(liveDeployment, scaled, { ignoreFields: ['/spec/replicas'] })).toBe(false);
    expect(hasDrifted(liveDeployment, scaled, { ignoreFields: ['/spec/paused'] })).toBe(true);
  });

  it('agrees with diffObjects on every case', () => {
    const edits: Edit[] = [
      () => {},
      (o) => void (o.metadata.resourceVersion = '1'),
      (o) => void (o.spec.replicas = 3),
      (o) => void (o.metadata.labels!.team = 'x'),
    ];
    for (const edit of edits) {
      const result = dryRun(edit);
      expect(diffObjects(liveDeployment, result).action === 'unchanged').toBe(
        !hasDrifted(liveDeployment, result),
      );
    }
  });
});
