/** `capstan dashboard` itself: loaded only when that command runs (see dashboard.ts). */
import { KubeConfig } from '@kubernetes/client-node';
import { UserError } from '../../core/errors.js';
import { createKubeClient } from '../../kube/index.js';
import { startLocalDashboard } from '../../server/dashboard/serve.js';
import { EXIT } from '../exit-codes.js';
import type { DashboardFlags } from './dashboard.js';

export async function runDashboard(flags: DashboardFlags): Promise<number> {
  const { host, port } = parseAddress(flags.address);
  const namespaces = flags.namespace
    ?.split(',')
    .map((ns) => ns.trim())
    .filter(Boolean);
  const kube = await createKubeClient({
    ...(flags.kubeconfig ? { kubeconfigPath: flags.kubeconfig } : {}),
    ...(flags.context ? { context: flags.context } : {}),
  });
  try {
    const dashboard = await startLocalDashboard({
      kube,
      ...(namespaces?.length ? { namespaces } : {}),
      ...(kube.contextNamespace ? { defaultNamespace: kube.contextNamespace } : {}),
      host,
      port,
      readOnly: flags.readOnly ?? false,
      ...(kubeconfigUser(flags) ? { fallbackUser: kubeconfigUser(flags)! } : {}),
    });
    const shown =
      dashboard.namespaces === 'all' ? 'all namespaces' : `namespaces ${dashboard.namespaces.join(', ')}`;
    process.stdout.write(
      `Capstan dashboard for ${dashboard.identity.username} (${shown}${flags.readOnly ? ', read-only' : ''})\n` +
        `  open:  ${dashboard.openUrl}\n` +
        `  API:   ${dashboard.url}/api/v1 (log in: POST /api/v1/session {"token": "${dashboard.accessToken}"})\n` +
        `Ctrl-C stops it.\n`,
    );
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        process.removeListener('SIGINT', stop);
        process.removeListener('SIGTERM', stop);
        resolve();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    await dashboard.close();
    return EXIT.ok;
  } finally {
    kube.close();
  }
}

function parseAddress(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  const host = (colon > 0 ? address.slice(0, colon) : '127.0.0.1').replace(/^\[(.*)\]$/, '$1');
  const port = Number(address.slice(colon + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UserError(`--address must be host:port, not '${address}'`);
  return { host, port };
}

/** The kubeconfig's user entry name, for servers that cannot say who we are. */
function kubeconfigUser(flags: DashboardFlags): string | undefined {
  try {
    const config = new KubeConfig();
    if (flags.kubeconfig) config.loadFromFile(flags.kubeconfig);
    else config.loadFromDefault();
    if (flags.context) config.setCurrentContext(flags.context);
    return config.getCurrentUser()?.name || undefined;
  } catch {
    return undefined;
  }
}
