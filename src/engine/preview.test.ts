import { describe, expect, it } from 'vitest';
import type { ObjectResult } from '../apply/applier.js';
import { refOf, type KubeObject, type ObjectRef } from '../core/objects.js';
import type { KubeClient } from '../kube/index.js';
import { diffObjects } from '../plan/index.js';
import { previewOf } from './preview.js';
import type { SyncResult } from './sync.js';

const PASSWORD = 'correct-horse-battery';
const NEW_PASSWORD = 'tr0ub4dor-and-3';
const b64 = (text: string): string => Buffer.from(text).toString('base64');

function secret(password: string, managers: KubeObject['metadata']['managedFields'] = []): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      namespace: 'shop',
      name: 'db',
      annotations: { hint: `the password is ${password}` },
      managedFields: managers,
    },
    data: { password: b64(password) },
  };
}

function deployment(replicas: number): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      namespace: 'shop',
      name: 'web',
      managedFields: [
        {
          manager: 'capstan',
          operation: 'Apply',
          fieldsV1: { 'f:spec': { 'f:template': { 'f:spec': { 'f:containers': {} } } } },
        },
        { manager: 'intruder', operation: 'Update', fieldsV1: { 'f:spec': { 'f:replicas': {} } } },
      ],
    },
    spec: { replicas, template: { spec: { containers: [{ name: 'web', image: 'web:1' }] } } },
  };
}

function result(objects: ObjectResult[]): SyncResult {
  return {
    app: { namespace: 'shop', name: 'web' },
    mode: 'diff',
    revision: { id: 'a'.repeat(40) },
    renderKind: 'plain',
    objects,
    changed: true,
    failed: false,
  };
}

/** A client that holds `objects` and answers get; counts reads. */
function reader(objects: KubeObject[]): Pick<KubeClient, 'get'> & { reads: number } {
  const byKey = new Map(objects.map((o) => [JSON.stringify(refOf(o)), o]));
  return {
    reads: 0,
    async get<T extends KubeObject>(ref: ObjectRef): Promise<T | undefined> {
      this.reads++;
      return structuredClone(byKey.get(JSON.stringify(ref))) as T | undefined;
    },
  };
}

describe('previewOf', () => {
  it('lists what would change, each changed path with its owners, and counts the rest', async () => {
    const live = deployment(5);
    const dryRun = deployment(2);
    const preview = await previewOf(
      result([
        { ref: refOf(live), action: 'configured', diff: diffObjects(live, dryRun) },
        { ref: { group: '', kind: 'ConfigMap', namespace: 'shop', name: 'same' }, action: 'unchanged' },
      ]),
      reader([live]),
    );
    expect(preview).toMatchObject({ revision: 'a'.repeat(40), unchanged: 1, omitted: 0 });
    const [web] = preview.objects;
    expect(web).toMatchObject({ action: 'update' });
    expect(web!.changes).toEqual([{ path: '/spec/replicas', op: 'replace', managers: ['intruder'] }]);
    expect(web!.unifiedDiff).toContain('-  replicas: 5');
    expect(web!.unifiedDiff).toContain('+  replicas: 2');
    expect(web!.owners.map((o) => [o.manager, o.fields])).toEqual([
      ['capstan', ['/spec/template/spec/containers']],
      ['intruder', ['/spec/replicas']],
    ]);
    // Values before and after are not carried: a change is a path and its managers.
    expect(Object.keys(web!.changes[0]!).sort()).toEqual(['managers', 'op', 'path']);
  });

  it('never carries a Secret value: not in a change, a create, a prune, nor an annotation', async () => {
    const owners = [
      { manager: 'kubectl-edit', operation: 'Update' as const, fieldsV1: { 'f:data': { 'f:password': {} } } },
    ];
    const changed = secret(PASSWORD, owners);
    const created = { ...secret(NEW_PASSWORD), metadata: { ...secret(NEW_PASSWORD).metadata, name: 'new' } };
    const pruned = {
      ...secret(PASSWORD, owners),
      metadata: { ...secret(PASSWORD, owners).metadata, name: 'old' },
    };
    const preview = await previewOf(
      result([
        {
          ref: refOf(changed),
          action: 'configured',
          diff: diffObjects(changed, secret(NEW_PASSWORD)),
        },
        { ref: refOf(created), action: 'created', diff: diffObjects(undefined, created) },
        { ref: refOf(pruned), action: 'pruned' },
      ]),
      reader([changed, pruned]),
    );
    expect(preview.objects.map((o) => [o.ref.name, o.action, o.exists])).toEqual([
      ['db', 'update', true],
      ['new', 'create', false],
      ['old', 'prune', true],
    ]);
    const text = JSON.stringify(preview);
    for (const value of [PASSWORD, NEW_PASSWORD, b64(PASSWORD), b64(NEW_PASSWORD)])
      expect(text).not.toContain(value);
    // What changed is still said: the key, masked values, who wrote it before.
    expect(preview.objects[0]!.changes).toContainEqual({
      path: '/data/password',
      op: 'replace',
      managers: ['kubectl-edit'],
    });
    expect(preview.objects[0]!.unifiedDiff).toContain('password: "*** (after)"');
    // A prune shows the object going, masked, with its owners.
    expect(preview.objects[2]!.unifiedDiff).toMatch(/^-\s+password: "\*\*\*"$/m);
    expect(preview.objects[2]!.owners[0]).toMatchObject({
      manager: 'kubectl-edit',
      fields: ['/data/password'],
    });
  });

  it('caps objects, changes and diff text, and reads only the objects it shows', async () => {
    const objects: ObjectResult[] = Array.from({ length: 60 }, (_, i) => ({
      ref: { group: '', kind: 'ConfigMap', namespace: 'shop', name: `c${i}` },
      action: 'failed' as const,
      reason: 'the API server refused it',
    }));
    const live = reader([]);
    const capped = await previewOf(result(objects), live, { limits: { maxObjects: 50 } });
    expect(capped.objects).toHaveLength(50);
    expect(capped.omitted).toBe(10);
    expect(live.reads).toBe(50);

    const data = (value: string) =>
      Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, value.repeat(100)]));
    const big = { ...deployment(1), data: data('x') };
    const wide = { ...big, data: data('y') };
    const preview = await previewOf(
      result([{ ref: refOf(big), action: 'configured', diff: diffObjects(big, wide) }]),
      reader([big]),
      { limits: { maxChanges: 200, maxDiffChars: 4096 } },
    );
    const [object] = preview.objects;
    expect(object!.changes).toHaveLength(200);
    expect(object!.changesOmitted).toBe(100);
    expect(object!.unifiedDiff!.length).toBeLessThanOrEqual(4096);
    expect(object!.unifiedDiff!.endsWith('\n')).toBe(true);
    expect(object!.unifiedDiffTruncated).toBe(true);
  });

  it('refuses an apply-mode result: a preview is of what would happen, not of what did', async () => {
    await expect(previewOf({ ...result([]), mode: 'apply' }, reader([]))).rejects.toThrow(/diff-mode/);
  });
});
