/** What `get`, `describe`, `sync`, `suspend` and `resume` do (registered in apps.ts). */
import { randomBytes } from 'node:crypto';
import pc from 'picocolors';
import {
  GROUP,
  REQUESTED_AT_ANNOTATION,
  ROLLBACK_ANNOTATION,
  VERSION,
  type Application,
  type Repository,
} from '../../api/v1alpha1.js';
import type { ImagePolicy } from '../../api/image-policy.js';
import { CapstanError, isCapstanError, UserError } from '../../core/errors.js';
import { REQUESTED_BY_ANNOTATION } from '../../controller/history.js';
import { sleep } from '../../core/time.js';
import {
  createKubeClient,
  isGone,
  isNotFound,
  UnknownKindError,
  type HttpKubeClient,
} from '../../kube/index.js';
import {
  conditionOf,
  formatApplicationDescription,
  formatApplicationTable,
  formatObjects,
  formatImagePolicyTable,
  formatRepositoryTable,
  shortSha,
  type KubeEvent,
  type StructuredFormat,
} from '../apps-output.js';
import { EXIT } from '../exit-codes.js';
import { whoAmI } from '../identity.js';
import { parseDurationFlag } from '../parse.js';

import type { ClientFlags, GetFlags } from './apps.js';

const colorOn = (stream: NodeJS.WriteStream): boolean => Boolean(stream.isTTY) && !process.env.NO_COLOR;

// ── the commands ────────────────────────────────────────────────────────────────────────────────

async function withClient<T>(
  flags: ClientFlags,
  use: (kube: HttpKubeClient, namespace: string) => Promise<T>,
): Promise<T> {
  const kube = await createKubeClient(flags.kubeconfig ? { kubeconfigPath: flags.kubeconfig } : {});
  try {
    return await use(kube, flags.namespace ?? kube.contextNamespace ?? 'default');
  } catch (error) {
    if (error instanceof UnknownKindError)
      throw new CapstanError('notFound', `${error.message}: are Capstan's CRDs installed?`, { cause: error });
    throw error;
  } finally {
    kube.close();
  }
}

function notFound(
  kind: 'Application' | 'Repository' | 'ImagePolicy',
  namespace: string,
  name: string,
): CapstanError {
  return new CapstanError('notFound', `${kind.toLowerCase()} ${namespace}/${name} not found`);
}

async function getApplication(kube: HttpKubeClient, namespace: string, name: string): Promise<Application> {
  const app = await kube.get<Application>({ group: GROUP, kind: 'Application', namespace, name });
  if (!app) throw notFound('Application', namespace, name);
  return app;
}

export async function runGet(
  kind: 'Application' | 'Repository' | 'ImagePolicy',
  name: string | undefined,
  flags: GetFlags,
): Promise<number> {
  if (flags.allNamespaces && flags.namespace) throw new UserError('give either -n NAMESPACE or -A, not both');
  if (flags.allNamespaces && name) throw new UserError('a name needs a namespace: use -n, not -A');
  return withClient(flags, async (kube, namespace) => {
    let objects: (Application | Repository | ImagePolicy)[];
    if (name) {
      const one = await kube.get<Application | Repository | ImagePolicy>({
        group: GROUP,
        kind,
        namespace,
        name,
      });
      if (!one) throw notFound(kind, namespace, name);
      objects = [one];
    } else {
      const list = await kube.list<Application | Repository | ImagePolicy>(GROUP, VERSION, kind, {
        ...(flags.allNamespaces ? {} : { namespace }),
      });
      objects = list.items;
    }
    if (flags.output) {
      process.stdout.write(formatObjects(objects, flags.output as StructuredFormat, !name));
      return EXIT.ok;
    }
    if (objects.length === 0) {
      const plural = {
        Application: 'applications',
        Repository: 'repositories',
        ImagePolicy: 'image policies',
      }[kind];
      process.stderr.write(
        flags.allNamespaces ? `No ${plural} found.\n` : `No ${plural} found in namespace ${namespace}.\n`,
      );
      return EXIT.ok;
    }
    const options = {
      now: new Date(),
      color: colorOn(process.stdout),
      allNamespaces: flags.allNamespaces ?? false,
    };
    const table = {
      Application: () => formatApplicationTable(objects as Application[], options),
      Repository: () => formatRepositoryTable(objects as Repository[], options),
      ImagePolicy: () => formatImagePolicyTable(objects as ImagePolicy[], options),
    }[kind];
    process.stdout.write(table());
    return EXIT.ok;
  });
}

export async function runDescribe(name: string, flags: ClientFlags & { output?: string }): Promise<number> {
  return withClient(flags, async (kube, namespace) => {
    const app = await getApplication(kube, namespace, name);
    if (flags.output) {
      process.stdout.write(formatObjects([app], flags.output as StructuredFormat, false));
      return EXIT.ok;
    }
    const [repository, events] = await Promise.all([
      app.spec.sourceRef?.name
        ? kube.get<Repository>({ group: GROUP, kind: 'Repository', namespace, name: app.spec.sourceRef.name })
        : undefined,
      eventsAbout(kube, app),
    ]);
    process.stdout.write(
      formatApplicationDescription(
        { app, repository, events },
        { now: new Date(), color: colorOn(process.stdout) },
      ),
    );
    return EXIT.ok;
  });
}

/** Events whose involvedObject is this very Application (not a namesake of another kind or a previous incarnation). */
async function eventsAbout(kube: HttpKubeClient, app: Application): Promise<KubeEvent[]> {
  const { items } = await kube.list<KubeEvent>('', 'v1', 'Event', {
    namespace: app.metadata.namespace,
    fieldSelector: `involvedObject.name=${app.metadata.name},involvedObject.kind=Application`,
  });
  return items.filter(
    (e) =>
      (e.involvedObject?.apiVersion ?? '').startsWith(`${GROUP}/`) &&
      (!e.involvedObject?.uid || !app.metadata.uid || e.involvedObject.uid === app.metadata.uid),
  );
}

export async function runSetSuspend(name: string, suspend: boolean, flags: ClientFlags): Promise<number> {
  return withClient(flags, async (kube, namespace) => {
    try {
      await kube.patch(
        { group: GROUP, kind: 'Application', namespace, name },
        { spec: { suspend } },
        'merge',
      );
    } catch (error) {
      if (isNotFound(error)) throw notFound('Application', namespace, name);
      throw error;
    }
    process.stdout.write(
      suspend
        ? `application ${namespace}/${name} suspended: the controller leaves it and its objects alone\n`
        : `application ${namespace}/${name} resumed: the controller reconciles it now\n`,
    );
    return EXIT.ok;
  });
}

/** Asks for a rollback (or `--clear`) through the `capstan.dev/rollback` annotation. */
export async function runRollbackRequest(
  name: string,
  revision: string | undefined,
  flags: ClientFlags & { clear?: boolean },
): Promise<number> {
  if (revision !== undefined && !/^[0-9a-f]{7,64}$/.test(revision))
    throw new UserError(
      `revision must be a commit SHA or a prefix of at least 7 hex digits, got '${revision}'`,
    );
  if (revision !== undefined && flags.clear) throw new UserError('give a revision or --clear, not both');
  return withClient(flags, async (kube, namespace) => {
    await getApplication(kube, namespace, name);
    const requester = await whoAmI(kube, { kubeconfigPath: flags.kubeconfig });
    const request = {
      id: `${new Date().toISOString()}-${randomBytes(4).toString('hex')}`,
      ...(revision ? { to: revision } : {}),
      ...(flags.clear ? { clear: true } : {}),
      ...(requester ? { by: requester } : {}),
    };
    await kube.patch(
      { group: GROUP, kind: 'Application', namespace, name },
      { metadata: { annotations: { [ROLLBACK_ANNOTATION]: JSON.stringify(request) } } },
      'merge',
    );
    process.stdout.write(
      flags.clear
        ? `application ${namespace}/${name}: rejected revisions cleared; the branch head is applied again\n`
        : `application ${namespace}/${name}: rollback to ${revision ?? 'the healthy revision before the one running'} requested (see \`capstan describe app ${name}\`)\n`,
    );
    return EXIT.ok;
  });
}

export async function runSyncRequest(
  name: string,
  flags: ClientFlags & { timeout: string; wait: boolean },
): Promise<number> {
  const timeoutMs = parseDurationFlag(flags.timeout, '--timeout');
  return withClient(flags, async (kube, namespace) => {
    const app = await getApplication(kube, namespace, name);
    // The controller skips suspended apps, so a request would never be handled.
    if (app.spec.suspend)
      throw new CapstanError(
        'conflict',
        `application ${namespace}/${name} is suspended; run 'capstan resume ${name}' first`,
      );
    const request = `${new Date().toISOString()}-${randomBytes(4).toString('hex')}`;
    const requester = await whoAmI(kube, { kubeconfigPath: flags.kubeconfig });
    let patched: Application;
    try {
      patched = await kube.patch<Application>(
        { group: GROUP, kind: 'Application', namespace, name },
        {
          metadata: {
            // Who asked goes with the request; unknown, an earlier requester's name is removed.
            annotations: { [REQUESTED_AT_ANNOTATION]: request, [REQUESTED_BY_ANNOTATION]: requester ?? null },
          },
        },
        'merge',
      );
    } catch (error) {
      if (isNotFound(error)) throw notFound('Application', namespace, name);
      throw error;
    }
    const colors = pc.createColors(colorOn(process.stderr));
    const progress = (line: string): void => {
      process.stderr.write(`${colors.dim(line)}\n`);
    };
    progress(`requested a sync of ${namespace}/${name} (${REQUESTED_AT_ANNOTATION}=${request})`);
    if (!flags.wait) return EXIT.ok;

    const verdict = await followSync(kube, patched, request, timeoutMs, progress);
    if (verdict.done && verdict.ok) {
      process.stdout.write(`application ${namespace}/${name} synced: ${verdict.message}\n`);
      return EXIT.ok;
    }
    process.stderr.write(
      verdict.done
        ? `capstan: sync of ${namespace}/${name} failed: ${verdict.message}\n`
        : `capstan: timed out after ${flags.timeout} waiting for ${verdict.waitingFor}\n`,
    );
    return EXIT.error;
  });
}

// ── following a sync request ────────────────────────────────────────────────────────────────────

export type SyncVerdict =
  | { readonly done: true; readonly ok: boolean; readonly message: string }
  | { readonly done: false; readonly waitingFor: string };

/**
 * Where the app stands on our request. Done only once the controller recorded handling *this*
 * request (`status.lastHandledRequest`) for the current generation; then Ready=True is success,
 * Stalled=True or Ready=False without Reconciling (nothing more will happen on its own) is failure.
 */
export function syncVerdict(app: Application, request: string): SyncVerdict {
  const status = app.status ?? {};
  const ready = conditionOf(app, 'Ready');
  const reconciling = conditionOf(app, 'Reconciling');
  const stalled = conditionOf(app, 'Stalled');
  // What the app is doing meanwhile: the likeliest reason the request is not handled yet.
  const now =
    reconciling?.status === 'True'
      ? `; meanwhile ${reconciling.reason}: ${reconciling.message}`
      : ready
        ? `; now Ready=${ready.status} ${ready.reason}: ${ready.message}`
        : '';
  if (status.lastHandledRequest !== request)
    return {
      done: false,
      waitingFor: `the controller to handle the request${reconciling?.status === 'True' ? '' : ' (is it running?)'}${now}`,
    };
  if (status.observedGeneration !== app.metadata.generation)
    return {
      done: false,
      waitingFor: `the controller to observe generation ${app.metadata.generation}${now}`,
    };
  if (stalled?.status === 'True')
    return { done: true, ok: false, message: `${stalled.reason}: ${stalled.message}` };
  if (ready?.status === 'True') return { done: true, ok: true, message: ready.message };
  if (ready?.status === 'False' && reconciling?.status !== 'True')
    return { done: true, ok: false, message: `${ready.reason}: ${ready.message}` };
  return {
    done: false,
    waitingFor: reconciling
      ? `the app to become Ready: ${reconciling.message}`
      : `the app to become Ready${now}`,
  };
}

/** What changed between two observations of the app, in the words a person follows a sync by. */
export function progressLines(previous: Application | undefined, current: Application): string[] {
  const lines: string[] = [];
  const before = (type: string) => (previous ? conditionOf(previous, type) : undefined);
  const differs = (type: string): boolean => {
    const [a, b] = [before(type), conditionOf(current, type)];
    return a?.status !== b?.status || a?.reason !== b?.reason || a?.message !== b?.message;
  };
  const reconciling = conditionOf(current, 'Reconciling');
  const stalled = conditionOf(current, 'Stalled');
  const ready = conditionOf(current, 'Ready');
  const applied = current.status?.lastAppliedRevision;
  if (applied && applied.sha !== previous?.status?.lastAppliedRevision?.sha)
    lines.push(
      `applied ${shortSha(applied.sha)}${applied.message ? ` (${applied.message.split('\n')[0]})` : ''}`,
    );
  if (reconciling?.status === 'True' && differs('Reconciling'))
    lines.push(`reconciling: ${reconciling.message}`);
  if (stalled?.status === 'True' && differs('Stalled'))
    lines.push(`stalled: ${stalled.reason}: ${stalled.message}`);
  // While reconciling, Ready=False repeats the Reconciling message.
  if (ready && reconciling?.status !== 'True' && differs('Ready'))
    lines.push(`ready: ${ready.status} (${ready.reason}) ${ready.message}`);
  const health = current.status?.health;
  if (health && health.status !== previous?.status?.health?.status) lines.push(`health: ${health.status}`);
  return lines;
}

/**
 * Watches the app (from the patched object's resourceVersion, so no change is missed) until the
 * verdict is done or the time is up. The watch is reopened where it ended when the server closes it,
 * and from a fresh read when its resourceVersion expired.
 */
async function followSync(
  kube: HttpKubeClient,
  start: Application,
  request: string,
  timeoutMs: number,
  progress: (line: string) => void,
): Promise<SyncVerdict> {
  const { namespace, name } = start.metadata;
  const deadline = Date.now() + timeoutMs;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  let current = start;
  let resourceVersion = start.metadata.resourceVersion;
  let verdict = syncVerdict(current, request);
  const observe = (next: Application): SyncVerdict => {
    for (const line of progressLines(current, next)) progress(line);
    current = next;
    resourceVersion = next.metadata.resourceVersion;
    verdict = syncVerdict(current, request);
    return verdict;
  };
  try {
    while (!verdict.done && !abort.signal.aborted) {
      try {
        const events = kube.watch<Application>(GROUP, VERSION, 'Application', {
          namespace,
          fieldSelector: `metadata.name=${name}`,
          ...(resourceVersion ? { resourceVersion } : {}),
          timeoutSeconds: Math.max(1, Math.ceil((deadline - Date.now()) / 1000)),
          signal: abort.signal,
        });
        for await (const event of events) {
          if (event.type === 'BOOKMARK') resourceVersion = event.object.metadata.resourceVersion;
          else if (event.type === 'DELETED')
            throw new CapstanError('notFound', `application ${namespace}/${name} was deleted`);
          else if (observe(event.object).done) break;
        }
      } catch (error) {
        if (isGone(error)) {
          const fresh = await kube.get<Application>({ group: GROUP, kind: 'Application', namespace, name });
          if (!fresh) throw notFound('Application', namespace, name);
          observe(fresh);
        } else if (isCapstanError(error) && error.kind === 'transient' && Date.now() < deadline) {
          // The connection dropped: reconnect after a breath, from where we were.
          await sleep(1000, { signal: abort.signal });
        } else throw error;
      }
    }
    return verdict;
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
}
