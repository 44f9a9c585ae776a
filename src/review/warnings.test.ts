import { describe, expect, it } from 'vitest';
import type { PreviewObject } from '../engine/preview.js';
import { countsOf, warningsOf } from './warnings.js';

function object(overrides: Partial<PreviewObject>): PreviewObject {
  return {
    ref: { group: '', kind: 'ConfigMap', namespace: 'shop', name: 'settings' },
    action: 'update',
    changes: [],
    exists: true,
    owners: [],
    ...overrides,
  };
}

describe('warningsOf', () => {
  it('flags what a reviewer must not miss', () => {
    const objects = [
      object({ ref: { group: '', kind: 'Namespace', name: 'shop' }, action: 'prune' }),
      object({
        ref: { group: 'apiextensions.k8s.io', kind: 'CustomResourceDefinition', name: 'widgets.example.com' },
        action: 'prune',
      }),
      object({ action: 'recreate', reason: 're-created: spec.selector is immutable' }),
      object({ action: 'failed', reason: 'belongs to app shop/api', heldBy: 'shop/api' }),
      object({ action: 'failed', reason: 'admission webhook denied it' }),
      object({ action: 'update', heldBy: '' }),
      object({
        changes: [
          { path: '/spec/replicas', op: 'replace', managers: ['kubectl-edit', 'capstan'] },
          { path: '/data/a', op: 'replace', managers: ['capstan'] },
        ],
      }),
      object({ action: 'create', exists: false }),
    ];
    const warnings = warningsOf({
      objects,
      omitted: 3,
      pruneSkipped: 'not pruned: some objects failed to apply',
    });
    expect(warnings.map((w) => w.kind)).toEqual([
      'prunesNamespace',
      'prunesDefinition',
      'recreate',
      'heldByOther',
      'failed',
      'heldByOther',
      'takesFields',
      'pruneSkipped',
      'objectsOmitted',
    ]);
    expect(warnings[3]!.message).toBe('ConfigMap/shop/settings belongs to app shop/api');
    expect(warnings[5]!.message).toBe('adopts ConfigMap/shop/settings, which no app managed');
    expect(warnings[6]!.message).toBe('takes fields of ConfigMap/shop/settings from kubectl-edit');
    expect(countsOf(objects)).toEqual({ create: 1, update: 2, recreate: 1, prune: 2, failed: 2 });
  });

  it('says nothing of a plain update of its own fields', () => {
    const objects = [object({ changes: [{ path: '/data/a', op: 'replace', managers: ['capstan'] }] })];
    expect(warningsOf({ objects, omitted: 0 })).toEqual([]);
  });
});
