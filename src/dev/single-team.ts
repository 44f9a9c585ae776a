/**
 * The single-team applier: one ServiceAccount bound to cluster-admin that applies every Application
 * naming no ServiceAccount (`--default-service-account capstan-system/capstan-applier`). The demo and
 * the tests run that way; `deploy/single-team/applier.yaml` holds the same objects (a test keeps
 * them equal). Never for clusters shared between teams.
 */
import type { KubeObject } from '../core/objects.js';
import type { DefaultServiceAccount } from '../controller/tenancy.js';

export const SINGLE_TEAM_APPLIER = {
  scope: 'cluster',
  namespace: 'capstan-system',
  name: 'capstan-applier',
} as const satisfies DefaultServiceAccount;

export function singleTeamApplierObjects(): KubeObject[] {
  const { namespace, name } = SINGLE_TEAM_APPLIER;
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ kind: 'ServiceAccount', name, namespace }],
    } as KubeObject,
  ];
}

/** Namespace, ServiceAccount and binding, applied server-side (idempotent). */
export async function installSingleTeamApplier(kube: {
  apply(object: KubeObject, options: { force: boolean }): Promise<unknown>;
}): Promise<void> {
  const namespace: KubeObject = {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: SINGLE_TEAM_APPLIER.namespace },
  };
  for (const object of [namespace, ...singleTeamApplierObjects()]) await kube.apply(object, { force: true });
}
