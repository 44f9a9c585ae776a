/** `capstan dashboard` itself: loaded only when that command runs (see dashboard.ts). */
import { KubeConfig } from '@kubernetes/client-node';
import { GROUP, type Application, type Repository } from '../../api/v1alpha1.js';
import {
  previewApplication,
  readableOrUndefined,
  userPreparer,
  type PreviewDeps,
} from '../../controller/preview.js';
import { createRepositoryAccess } from '../../controller/repository.js';
import { UserError } from '../../core/errors.js';
import { createKubeClient, type KubeClient } from '../../kube/index.js';
import type { PlanDiff } from '../../server/dashboard/dry-run.js';
import { startLocalDashboard } from '../../server/dashboard/serve.js';
import { EXIT } from '../exit-codes.js';
import { capstanCacheDir, engineParts } from '../wiring.js';
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
      planDiff: userPlanDiff(kube, { stateDir: capstanCacheDir() }),
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

/**
 * The dry-run of an app as the kubeconfig user — their client, and an engine built as `capstan
 * diff` builds one — so a laptop shows the diff a sync would make, within the user's own rights:
 * what they may not read (the Repository's Secret, the inventory) fails the dry-run, and the page
 * says so. Refs are resolved afresh each time (nothing polls here). Repository URLs come from the
 * cluster, so file:// is refused: a tenant's Repository must not read this machine's files.
 *
 * The engine is built on first use, not at start: its helm and kustomize may still need building.
 */
export function userPlanDiff(kube: KubeClient, options: { stateDir: string }): PlanDiff {
  let building: Promise<PreviewDeps> | undefined;
  const build = async (): Promise<PreviewDeps> => {
    const parts = await engineParts({ stateDir: options.stateDir, allowFileUrls: false });
    const now = (): Date => new Date();
    return {
      prepare: userPreparer({ kube, engine: parts.engineOn(kube), name: 'you (your kubeconfig user)' }),
      access: createRepositoryAccess({ kube, git: parts.git, now }),
      application: (namespace, name) =>
        readableOrUndefined(() =>
          kube.get<Application>({ group: GROUP, kind: 'Application', namespace, name }),
        ),
      repository: (namespace, name) =>
        readableOrUndefined(() =>
          kube.get<Repository>({ group: GROUP, kind: 'Repository', namespace, name }),
        ),
      freshRevisions: true,
      now,
    };
  };
  return async (app, signal) => {
    building ??= build();
    // A failed build (a tool that would not build) is tried again by the next request.
    building.catch(() => (building = undefined));
    return previewApplication(await building, app, signal);
  };
}
