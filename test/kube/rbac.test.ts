import { describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { KubeApiError, serviceAccountIdentity } from '../../src/kube/index.js';
import { freshNamespace } from '../support/cluster.js';
import { adminClient, unprivilegedClient } from './helpers.js';
import { sleep } from '../../src/core/time.js';

const admin = await adminClient();
const unprivileged = await unprivilegedClient();

const configMap = (namespace: string, name: string) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace },
  data: { a: '1' },
});

describe('authorisation', () => {
  it('refuses an unprivileged user with a Forbidden user error', async () => {
    const namespace = await freshNamespace('kube-rbac');
    const error = await unprivileged.apply(configMap(namespace, 'nope')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KubeApiError);
    expect(error).toMatchObject({ status: 403, reason: 'Forbidden', kind: 'user' });
    expect((error as KubeApiError).message).toContain(inject('unprivilegedUser'));
  });

  it('impersonates a ServiceAccount: refused without RBAC, allowed with a Role and RoleBinding', async () => {
    const namespace = await freshNamespace('kube-rbac');
    await admin.apply({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'deployer', namespace },
    });
    const asDeployer = admin.impersonate(serviceAccountIdentity(namespace, 'deployer'));

    const refused = await asDeployer.apply(configMap(namespace, 'by-sa')).catch((e: unknown) => e);
    expect(refused).toMatchObject({ status: 403, reason: 'Forbidden', kind: 'user' });
    expect((refused as Error).message).toContain(`system:serviceaccount:${namespace}:deployer`);

    await admin.apply({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'configmaps', namespace },
      rules: [
        {
          apiGroups: [''],
          resources: ['configmaps'],
          verbs: ['get', 'list', 'watch', 'create', 'patch', 'update', 'delete'],
        },
      ],
    });
    await admin.apply({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'deployer-configmaps', namespace },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'configmaps' },
      subjects: [{ kind: 'ServiceAccount', name: 'deployer', namespace }],
    });
    // RBAC is evaluated from an informer cache in the apiserver: allow a moment for the binding to land.
    let applied: unknown;
    for (let attempt = 0; attempt < 50; attempt++) {
      applied = await asDeployer.apply(configMap(namespace, 'by-sa')).catch((e: unknown) => e);
      if (!(applied instanceof KubeApiError && applied.status === 403)) break;
      await sleep(100);
    }
    expect(applied).toMatchObject({ metadata: { name: 'by-sa' } });
    // Still nothing outside the Role.
    await expect(
      asDeployer.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace } }),
    ).rejects.toMatchObject({ status: 403 });
    // The admin client is not affected by the impersonating one.
    expect(await admin.get({ group: '', kind: 'Secret', namespace, name: 's' })).toBeUndefined();
  });
});
