/** People of a shared cluster, as the dashboard's tests need them. */
import { kubectlOk } from './cluster.js';

/**
 * A ServiceAccount `viewer` of `namespace` that may get, list and watch Applications there and
 * nothing else (no Repositories, no objects, no Events): returns its bearer token (1 h).
 */
export async function applicationViewerToken(namespace: string): Promise<string> {
  await kubectlOk(['create', 'serviceaccount', 'viewer', '-n', namespace]);
  await kubectlOk([
    'create',
    'role',
    'app-viewer',
    '-n',
    namespace,
    '--verb=get,list,watch',
    '--resource=applications.capstan.dev',
  ]);
  await kubectlOk([
    'create',
    'rolebinding',
    'app-viewer',
    '-n',
    namespace,
    '--role=app-viewer',
    `--serviceaccount=${namespace}:viewer`,
  ]);
  return (await kubectlOk(['create', 'token', 'viewer', '-n', namespace, '--duration=1h'])).trim();
}
