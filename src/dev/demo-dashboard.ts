/**
 * The demo's dashboard, served as the controller serves it: people log in with their own
 * Kubernetes token and see and do what RBAC lets them. The demo makes one such person, the
 * ServiceAccount `capstan-demo/dashboard-user`: it may read and act on the demo's Applications
 * and read their Repository; the example repository itself grants it `view` (no Secrets) in each
 * environment's namespace, so access to an environment is declared in Git like the rest of it.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { KubeObject } from '../core/objects.js';
import type { KubeClient } from '../kube/index.js';
import type { PlanDiff } from '../server/dashboard/index.js';
import { startControllerDashboard, type RunningDashboard } from '../server/dashboard/serve.js';
import type { ControlPlane } from './controlplane.js';
import { freePort } from './controlplane.js';

const run = promisify(execFile);

export const DASHBOARD_USER = 'dashboard-user';

/** The RoleBinding each environment's namespace carries in the example repository. */
export function environmentViewerBinding(demoNamespace: string): string {
  return `apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: dashboard-viewers
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view }
subjects:
  - { kind: ServiceAccount, name: ${DASHBOARD_USER}, namespace: ${demoNamespace} }
`;
}

function dashboardUserObjects(namespace: string): KubeObject[] {
  const rbac = 'rbac.authorization.k8s.io';
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: DASHBOARD_USER, namespace } },
    {
      apiVersion: `${rbac}/v1`,
      kind: 'Role',
      metadata: { name: 'capstan-dashboard-user', namespace },
      rules: [
        {
          apiGroups: ['capstan.dev'],
          resources: ['applications'],
          verbs: ['get', 'list', 'watch', 'patch'],
        },
        { apiGroups: ['capstan.dev'], resources: ['repositories'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: [''], resources: ['events', 'configmaps'], verbs: ['get', 'list', 'watch'] },
      ],
    } as KubeObject,
    {
      apiVersion: `${rbac}/v1`,
      kind: 'RoleBinding',
      metadata: { name: 'capstan-dashboard-user', namespace },
      roleRef: { apiGroup: rbac, kind: 'Role', name: 'capstan-dashboard-user' },
      subjects: [{ kind: 'ServiceAccount', name: DASHBOARD_USER, namespace }],
    } as KubeObject,
  ];
}

export interface DemoDashboard {
  readonly url: string;
  /** The dashboard user's bearer token (24 h): paste it on the log-in page. */
  readonly token: string;
  close(): Promise<void>;
}

export async function startDemoDashboard(
  kube: KubeClient,
  controlPlane: ControlPlane,
  namespace: string,
  /** The controller's preview of a sync: the Diff tab's server-side dry-run. */
  planDiff: PlanDiff,
): Promise<DemoDashboard> {
  for (const object of dashboardUserObjects(namespace)) await kube.apply(object, { force: true });
  const { stdout } = await run(
    controlPlane.tools.kubectl,
    ['create', 'token', DASHBOARD_USER, '-n', namespace, '--duration=24h'],
    { env: { ...process.env, KUBECONFIG: controlPlane.kubeconfigPath } },
  );
  const dashboard: RunningDashboard = await startControllerDashboard({
    kube,
    source: { kubeconfig: controlPlane.kubeconfig },
    host: '127.0.0.1',
    port: await freePort(),
    planDiff,
  });
  return { url: dashboard.url, token: stdout.trim(), close: () => dashboard.close() };
}
