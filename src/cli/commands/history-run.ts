/** What `capstan history` does (registered in history.ts). */
import { GROUP, type Application } from '../../api/v1alpha1.js';
import { CapstanError, UserError } from '../../core/errors.js';
import { ConfigMapHistoryStore, historyConfigMapName } from '../../controller/history.js';
import { createKubeClient, isKubeApiError, UnknownKindError } from '../../kube/index.js';
import { EXIT } from '../exit-codes.js';
import { formatHistoryJson, formatHistoryTable, mergeHistory } from '../history-output.js';
import type { HistoryFlags } from './history.js';

export async function runHistory(name: string, flags: HistoryFlags): Promise<number> {
  const limit = flags.limit === undefined ? undefined : Number(flags.limit);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1))
    throw new UserError(`--limit must be a positive integer, not '${flags.limit}'`);
  const kube = await createKubeClient(flags.kubeconfig ? { kubeconfigPath: flags.kubeconfig } : {});
  try {
    const namespace = flags.namespace ?? kube.contextNamespace ?? 'default';
    let app: Application | undefined;
    try {
      app = await kube.get<Application>({ group: GROUP, kind: 'Application', namespace, name });
    } catch (error) {
      if (error instanceof UnknownKindError)
        throw new CapstanError('notFound', `${error.message}: are Capstan's CRDs installed?`, {
          cause: error,
        });
      throw error;
    }
    if (!app) throw new CapstanError('notFound', `application ${namespace}/${name} not found`);
    let stored;
    try {
      stored = await new ConfigMapHistoryStore(kube).read({ namespace, name, uid: app.metadata.uid });
    } catch (error) {
      // May read Applications but not ConfigMaps: the status's last few are still worth showing.
      if (!(isKubeApiError(error) && error.status === 403)) throw error;
      process.stderr.write(
        `capstan: cannot read ConfigMap ${namespace}/${historyConfigMapName({ name })} (forbidden); showing the last entries kept in status\n`,
      );
    }
    const merged = mergeHistory(stored, app.status?.history);
    const entries = limit === undefined ? merged.entries : merged.entries.slice(0, limit);
    if (flags.output === 'json') {
      process.stdout.write(formatHistoryJson({ namespace, name, source: merged.source, entries }));
      return EXIT.ok;
    }
    if (entries.length === 0) {
      process.stderr.write(`No history for application ${namespace}/${name} yet.\n`);
      return EXIT.ok;
    }
    process.stdout.write(
      formatHistoryTable(entries, {
        now: new Date(),
        color: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR,
      }),
    );
    return EXIT.ok;
  } finally {
    kube.close();
  }
}
