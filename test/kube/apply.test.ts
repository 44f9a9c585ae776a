import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../src/core/objects.js';
import { KubeApiError } from '../../src/kube/index.js';
import { freshNamespace } from '../support/cluster.js';
import { adminClient } from './helpers.js';

const client = await adminClient();

function configMap(namespace: string, name: string, data: Record<string, string>): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace }, data };
}

describe('server-side apply against a real API server', () => {
  it('creates a Namespace and a ConfigMap, owned by the capstan field manager', async () => {
    const namespace = `kube-apply-${Date.now().toString(36)}`;
    // A manager that sets no field beyond the name owns nothing, and gets no managedFields entry: give it a label.
    const created = await client.apply({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: namespace, labels: { team: 'a' } },
    });
    expect(created.metadata.name).toBe(namespace);
    try {
      await client.apply(configMap(namespace, 'settings', { color: 'blue' }));
      const read = await client.get({ group: '', kind: 'ConfigMap', namespace, name: 'settings' });
      expect(read?.data).toEqual({ color: 'blue' });
      const managers = read?.metadata.managedFields?.map((f) => [f.manager, f.operation]);
      expect(managers).toContainEqual(['capstan', 'Apply']);
      const ns = await client.get({ group: '', kind: 'Namespace', name: namespace });
      expect(
        ns?.metadata.managedFields?.some((f) => f.manager === 'capstan' && f.operation === 'Apply'),
      ).toBe(true);
    } finally {
      await client.delete({ group: '', kind: 'Namespace', name: namespace });
    }
  });

  it('dry-run apply changes nothing, and re-applying identical content keeps the resourceVersion', async () => {
    const namespace = await freshNamespace('kube-apply');
    const first = await client.apply(configMap(namespace, 'same', { a: '1' }));

    const dryRun = await client.apply(configMap(namespace, 'same', { a: '2' }), { dryRun: true });
    expect(dryRun.data).toEqual({ a: '2' });
    const afterDryRun = await client.get({ group: '', kind: 'ConfigMap', namespace, name: 'same' });
    expect(afterDryRun?.metadata.resourceVersion).toBe(first.metadata.resourceVersion);
    expect(afterDryRun?.data).toEqual({ a: '1' });

    const again = await client.apply(configMap(namespace, 'same', { a: '1' }));
    expect(again.metadata.resourceVersion).toBe(first.metadata.resourceVersion);

    const changed = await client.apply(configMap(namespace, 'same', { a: '3' }));
    expect(changed.metadata.resourceVersion).not.toBe(first.metadata.resourceVersion);
  });

  it('reports a field-manager conflict, and force takes the field over', async () => {
    const namespace = await freshNamespace('kube-apply');
    await client.apply(configMap(namespace, 'shared', { owner: 'someone-else' }), {
      fieldManager: 'other-tool',
    });
    const conflict = await client
      .apply(configMap(namespace, 'shared', { owner: 'capstan' }))
      .catch((e: unknown) => e);
    expect(conflict).toBeInstanceOf(KubeApiError);
    expect((conflict as KubeApiError).status).toBe(409);
    expect((conflict as KubeApiError).kind).toBe('conflict');
    const forced = await client.apply(configMap(namespace, 'shared', { owner: 'capstan' }), { force: true });
    expect(forced.data).toEqual({ owner: 'capstan' });
  });

  it('gets undefined for absent objects, creates, patches, updates and deletes', async () => {
    const namespace = await freshNamespace('kube-crud');
    const ref = { group: '', kind: 'ConfigMap', namespace, name: 'crud' };
    expect(await client.get(ref)).toBeUndefined();

    const created = await client.create(configMap(namespace, 'crud', { a: '1' }));
    expect(created.metadata.uid).toBeTruthy();
    await expect(client.create(configMap(namespace, 'crud', { a: '1' }))).rejects.toMatchObject({
      status: 409,
      reason: 'AlreadyExists',
    });

    const merged = await client.patch(ref, { data: { b: '2' } }, 'merge');
    expect(merged.data).toEqual({ a: '1', b: '2' });
    const jsonPatched = await client.patch(ref, [{ op: 'remove', path: '/data/a' }], 'json');
    expect(jsonPatched.data).toEqual({ b: '2' });
    const strategic = await client.patch(ref, { metadata: { labels: { tier: 'x' } } }, 'strategic');
    expect(strategic.metadata.labels).toEqual({ tier: 'x' });

    const updated = await client.update({ ...strategic, data: { c: '3' } });
    expect(updated.data).toEqual({ c: '3' });
    const stale = await client.update({ ...strategic, data: { d: '4' } }).catch((e: unknown) => e);
    expect(stale).toMatchObject({ status: 409, reason: 'Conflict', kind: 'conflict' });

    const wrongUid = await client
      .delete(ref, { preconditions: { uid: 'not-the-uid' } })
      .catch((e: unknown) => e);
    expect(wrongUid).toMatchObject({ status: 409, kind: 'conflict' });
    expect(await client.delete(ref, { dryRun: true })).toBe(true);
    expect(await client.get(ref)).toBeDefined();
    expect(await client.delete(ref, { propagationPolicy: 'Background' })).toBe(true);
    expect(await client.get(ref)).toBeUndefined();
    expect(await client.delete(ref)).toBe(false);
  });

  it('updates a status subresource, leaving the spec alone', async () => {
    const namespace = await freshNamespace('kube-status');
    const service = await client.apply({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'svc', namespace },
      spec: { ports: [{ port: 80 }] },
    });
    const withStatus = {
      ...service,
      status: {
        conditions: [
          {
            type: 'Probed',
            status: 'True',
            reason: 'Test',
            message: 'ok',
            lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
          },
        ],
      },
    };
    const updated = await client.update(withStatus, { subresource: 'status' });
    expect((updated.status as { conditions: { type: string }[] }).conditions[0]?.type).toBe('Probed');
  });

  it('lists with pagination', async () => {
    const namespace = await freshNamespace('kube-list');
    await Promise.all(
      Array.from({ length: 7 }, (_, i) => client.apply(configMap(namespace, `item-${i}`, { i: String(i) }))),
    );
    const firstPage = await client.listPage('', 'v1', 'ConfigMap', {
      namespace,
      limit: 3,
      labelSelector: '',
    });
    // kube-root-ca.crt is created in every namespace by the controller-manager, maybe not yet.
    expect(firstPage.items).toHaveLength(3);
    expect(firstPage.continue).toBeTruthy();
    expect(firstPage.items.every((i) => i.apiVersion === 'v1' && i.kind === 'ConfigMap')).toBe(true);
    const all = await client.list('', 'v1', 'ConfigMap', { namespace, limit: 2 });
    const names = all.items.map((i) => i.metadata.name).filter((n) => n?.startsWith('item-'));
    expect(names.sort()).toEqual(Array.from({ length: 7 }, (_, i) => `item-${i}`));
    expect(all.resourceVersion).toMatch(/^\d+$/);

    const selected = await client.list('', 'v1', 'ConfigMap', {
      namespace,
      fieldSelector: 'metadata.name=item-4',
    });
    expect(selected.items.map((i) => i.metadata.name)).toEqual(['item-4']);
  });

  it('maps a server-side validation failure to an Invalid user error with causes', async () => {
    const namespace = await freshNamespace('kube-invalid');
    const error = await client.apply(configMap(namespace, 'Not_Valid', { a: '1' })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KubeApiError);
    expect(error).toMatchObject({ status: 422, reason: 'Invalid', kind: 'user' });
    expect((error as KubeApiError).details?.causes?.[0]?.field).toBe('metadata.name');
  });

  it('keeps secret values out of Invalid errors about Secrets', async () => {
    const namespace = await freshNamespace('kube-secret');
    const secretValue = 'hunter2-this-is-secret';
    const error = await client
      .apply({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'docker', namespace },
        type: 'kubernetes.io/dockerconfigjson',
        stringData: { '.dockerconfigjson': secretValue },
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KubeApiError);
    const apiError = error as KubeApiError;
    expect(apiError.status).toBe(422);
    expect(apiError.message).not.toContain(secretValue);
    expect(JSON.stringify(apiError.details)).not.toContain(secretValue);
    expect(apiError.details?.causes?.some((c) => c.field?.includes('.dockerconfigjson'))).toBe(true);
  });
});
