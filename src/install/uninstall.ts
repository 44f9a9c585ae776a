/**
 * `capstan uninstall` as named steps. By default Capstan goes and what it applied stays: the
 * controller is scaled to zero first (so it cannot put its finalizer back), then its finalizer is
 * taken off every Application it watches (all namespaces, or its --namespace; deleting one later
 * deletes nothing it applied: its objects are orphaned), then its Deployment,
 * the self-managing Application and Repository, their Secret and ServiceAccount, and the
 * controller's RBAC and Service are deleted. With `pruneApplications`, the Applications are deleted
 * first and the running controller prunes their objects before it is removed itself. With `crds`,
 * the CRDs go last, and with them every Capstan object. The namespace stays (it may hold Secrets
 * of yours). Running it again finds nothing to do. Another Capstan in the cluster is left alone:
 * Applications in the namespaces it answers for are neither released nor pruned, and the CRDs it
 * shares are not deleted while it runs.
 */
import { FINALIZER, GROUP, VERSION, type Application } from '../api/v1alpha1.js';
import { CapstanError, UserError } from '../core/errors.js';
import { formatRef, refOf, type KubeObject, type ObjectRef } from '../core/objects.js';
import { sleep } from '../core/time.js';
import { isConflict, isNotFound, UnknownKindError, type KubeClient } from '../kube/index.js';
import { POLL_MS } from './apply.js';
import { PART_OF_LABEL, SELF_NAME, SELF_SECRET, selfServiceAccount } from './bootstrap-files.js';
import { CONTROLLER_NAME, DEFAULT_NAMESPACE, installManifests } from './manifests.js';

export interface UninstallOptions {
  readonly namespace?: string;
  /** Delete every Application and wait for the controller to prune their objects. */
  readonly pruneApplications?: boolean;
  /** Delete the CRDs too (every Repository, Application… with them). */
  readonly crds?: boolean;
  /** Bound of each wait (the prune, the controller's pods). */
  readonly timeoutMs: number;
  readonly progress?: (line: string) => void;
}

export interface UninstallReport {
  readonly deleted: readonly ObjectRef[];
  /** Applications whose finalizer was removed: their objects stay when they are deleted. */
  readonly released: number;
  /** Applications deleted with their objects (pruneApplications). */
  readonly pruned: number;
}

/** How long the controller's pods may take to stop before the uninstall goes on. */
const CONTROLLER_STOP_MS = 60_000;

export async function uninstall(kube: KubeClient, options: UninstallOptions): Promise<UninstallReport> {
  const namespace = options.namespace ?? DEFAULT_NAMESPACE;
  const progress = options.progress ?? (() => {});
  const controllerRef = { group: 'apps', kind: 'Deployment', namespace, name: CONTROLLER_NAME };
  // First: it checks --namespace, which must fail before anything is changed.
  const leftovers = await capstanObjects(namespace);
  const controller = await kube.get<Deployment>(controllerRef);
  const others = await otherInstalls(kube, namespace);
  if (options.crds) refuseSharedCrds(namespace, others);
  const theirs = namespacesOf(others);
  const deleted: ObjectRef[] = [];
  let pruned = 0;
  let released = 0;
  // No Deployment: Capstan is not installed here, or an earlier run got past these steps.
  if (controller) {
    const scope = { namespace, watched: watchedNamespace(controller), theirs };
    if (options.pruneApplications) pruned = await pruneApplications(kube, scope, options.timeoutMs, progress);
    await stopController(kube, controller, Math.min(options.timeoutMs, CONTROLLER_STOP_MS), progress);
    released = await releaseApplications(kube, scope);
    if (released > 0)
      progress(`removed ${FINALIZER} from ${released} Application(s): their objects stay in place`);
    if (await deleteIfPresent(kube, controllerRef)) deleted.push(controllerRef);
  }
  for (const ref of leftovers) if (await deleteIfPresent(kube, ref)) deleted.push(ref);
  if (options.crds)
    for (const ref of await crdRefs(namespace)) if (await deleteIfPresent(kube, ref)) deleted.push(ref);
  return { deleted, released, pruned };
}

interface Deployment extends KubeObject {
  spec?: { template?: { spec?: { containers?: { name?: string; args?: string[] }[] } } };
  status?: { availableReplicas?: number };
}

/**
 * Capstan's controllers in other namespaces (deploy/'s and bootstrap's by name, the chart's by its
 * part-of label): they share the CRDs, and may answer for Applications this one also sees.
 */
async function otherInstalls(kube: KubeClient, namespace: string): Promise<Deployment[]> {
  const found = new Map<string, Deployment>();
  for (const labelSelector of [
    `app.kubernetes.io/name=${CONTROLLER_NAME}`,
    `${PART_OF_LABEL.key}=${PART_OF_LABEL.value}`,
  ])
    for (const deployment of (await kube.list<Deployment>('apps', 'v1', 'Deployment', { labelSelector }))
      .items)
      if (deployment.spec?.template?.spec?.containers?.some((c) => c.name === 'controller'))
        found.set(`${deployment.metadata.namespace}/${deployment.metadata.name}`, deployment);
  found.delete(`${namespace}/${CONTROLLER_NAME}`);
  return [...found.values()];
}

/**
 * Deleting the CRDs deletes every Repository and Application in the cluster, those of another
 * Capstan too — whose controller, still running, would then prune every object they applied.
 */
function refuseSharedCrds(namespace: string, others: readonly Deployment[]): void {
  if (others.length === 0) return;
  throw new UserError(
    `not deleting the CRDs: Capstan also runs in ${others
      .slice(0, 5)
      .map((d) => `${d.metadata.namespace}/${d.metadata.name}`)
      .join(
        ', ',
      )}, and deleting them would delete its Applications (and it would prune their objects). Nothing was changed; uninstall ${namespace} without --crds`,
  );
}

/** The namespaces other installs answer for: their own (their self-managing Application), and the one each watches. */
function namespacesOf(others: readonly Deployment[]): Set<string> {
  const namespaces = new Set<string>();
  for (const other of others) {
    namespaces.add(other.metadata.namespace!);
    const watched = watchedNamespace(other);
    if (watched !== undefined) namespaces.add(watched);
  }
  return namespaces;
}

/**
 * The one namespace the controller watches (its --namespace argument), or undefined for all: the
 * Applications this Capstan answers for, and no others.
 */
export function watchedNamespace(controller: Deployment): string | undefined {
  const args = controller.spec?.template?.spec?.containers?.find((c) => c.name === 'controller')?.args ?? [];
  for (const [index, arg] of args.entries()) {
    const inline = /^(?:--namespace|-n)=(.+)$/.exec(arg);
    if (inline) return inline[1];
    if ((arg === '--namespace' || arg === '-n') && args[index + 1]) return args[index + 1];
  }
  return undefined;
}

/**
 * Scales the controller to zero and waits (bounded) until its pods are gone: a controller still
 * running would put its finalizer back on the Applications. A pod that lingers is said, not fatal.
 */
async function stopController(
  kube: KubeClient,
  controller: Deployment,
  timeoutMs: number,
  progress: (line: string) => void,
): Promise<void> {
  await kube.patch(refOf(controller), { spec: { replicas: 0 } }, 'merge');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pods = await kube.list('', 'v1', 'Pod', {
      namespace: controller.metadata.namespace!,
      labelSelector: `app.kubernetes.io/name=${CONTROLLER_NAME}`,
    });
    if (pods.items.length === 0) return;
    if (Date.now() > deadline) {
      progress(`${pods.items.length} controller pod(s) still terminating; going on`);
      return;
    }
    await sleep(POLL_MS);
  }
}

/**
 * Deletes every Application but Capstan's own (which would prune Capstan while it works) and waits
 * until the controller has pruned them all.
 */
async function pruneApplications(
  kube: KubeClient,
  scope: Scope,
  timeoutMs: number,
  progress: (line: string) => void,
): Promise<number> {
  const { namespace } = scope;
  const apps = (await listApplications(kube, scope)).filter((app) => !isSelf(app, namespace));
  if (apps.length === 0) return 0;
  await assertControllerRuns(kube, namespace);
  for (const app of apps) await deleteIfPresent(kube, refOf(app));
  progress(`deleted ${apps.length} Application(s); waiting for the controller to prune their objects`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = (await listApplications(kube, scope)).filter((app) =>
      apps.some((a) => a.metadata.uid === app.metadata.uid),
    );
    if (left.length === 0) return apps.length;
    if (Date.now() > deadline)
      throw new CapstanError(
        'transient',
        `the controller did not finish pruning within ${Math.round(timeoutMs / 1000)}s; still there: ${left
          .slice(0, 5)
          .map((app) => `${app.metadata.namespace}/${app.metadata.name}`)
          .join(
            ', ',
          )} (nothing of Capstan was removed yet: run again, or without --prune-applications to leave their objects in place)`,
      );
    await sleep(POLL_MS);
  }
}

function isSelf(app: Application, namespace: string): boolean {
  return (
    app.metadata.namespace === namespace &&
    app.metadata.name === SELF_NAME &&
    app.metadata.labels?.[PART_OF_LABEL.key] === PART_OF_LABEL.value
  );
}

async function assertControllerRuns(kube: KubeClient, namespace: string): Promise<void> {
  const deployment = await kube.get<Deployment>({
    group: 'apps',
    kind: 'Deployment',
    namespace,
    name: CONTROLLER_NAME,
  });
  if (!deployment || (deployment.status?.availableReplicas ?? 0) < 1)
    throw new UserError(
      `the controller (Deployment ${namespace}/${CONTROLLER_NAME}) is not running, and only it can prune the Applications' objects: start it again, or uninstall without --prune-applications to leave their objects in place`,
    );
}

/** Which Applications this uninstall may touch: those its controller watches, but none another Capstan answers for. */
interface Scope {
  /** This install's namespace. */
  readonly namespace: string;
  /** The namespace its controller watches; undefined: all. */
  readonly watched: string | undefined;
  /** Namespaces other installs answer for. */
  readonly theirs: ReadonlySet<string>;
}

async function listApplications(kube: KubeClient, scope: Scope): Promise<Application[]> {
  try {
    const { watched, theirs } = scope;
    return (
      await kube.list<Application>(GROUP, VERSION, 'Application', watched ? { namespace: watched } : {})
    ).items.filter((app) => !theirs.has(app.metadata.namespace!));
  } catch (error) {
    if (error instanceof UnknownKindError || isNotFound(error)) return [];
    throw error;
  }
}

/**
 * Removes Capstan's finalizer from every Application in scope (a merge patch guarded by the list it read:
 * another writer's finalizers are never lost; a conflict is read again).
 */
async function releaseApplications(kube: KubeClient, scope: Scope): Promise<number> {
  let released = 0;
  for (const app of await listApplications(kube, scope)) {
    for (let current: Application | undefined = app; current?.metadata.finalizers?.includes(FINALIZER);) {
      const finalizers = current.metadata.finalizers.filter((f) => f !== FINALIZER);
      try {
        await kube.patch(
          refOf(current),
          { metadata: { resourceVersion: current.metadata.resourceVersion, finalizers } },
          'merge',
        );
        released++;
        break;
      } catch (error) {
        if (isNotFound(error)) break;
        if (!isConflict(error)) throw error;
        current = await kube.get<Application>(refOf(current));
      }
    }
  }
  return released;
}

/** What install and bootstrap made, but the CRDs and the Namespace: the self-managing app first, the Service and RBAC last. */
async function capstanObjects(namespace: string): Promise<ObjectRef[]> {
  // The image does not matter here; single-team is the superset (the applier too).
  const installed = await installManifests({
    image: 'localhost/capstan:any',
    namespace,
    tenancy: 'single-team',
  });
  const self: ObjectRef[] = [
    { group: GROUP, kind: 'Application', namespace, name: SELF_NAME },
    { group: GROUP, kind: 'Repository', namespace, name: SELF_NAME },
    { group: '', kind: 'Secret', namespace, name: SELF_SECRET },
    ...selfServiceAccount(namespace).map(refOf),
  ];
  const rest = installed
    .filter((object) => object.kind !== 'CustomResourceDefinition' && object.kind !== 'Namespace')
    .map(refOf)
    .reverse();
  return [...self, ...rest];
}

async function crdRefs(namespace: string): Promise<ObjectRef[]> {
  const installed = await installManifests({ image: 'localhost/capstan:any', namespace });
  return installed.filter((object) => object.kind === 'CustomResourceDefinition').map(refOf);
}

/** Deletes `ref` (background propagation); false when it was not there, or its kind is not served. */
async function deleteIfPresent(kube: KubeClient, ref: ObjectRef): Promise<boolean> {
  try {
    return await kube.delete(ref, { propagationPolicy: 'Background' });
  } catch (error) {
    if (error instanceof UnknownKindError || isNotFound(error)) return false;
    throw new CapstanError(
      error instanceof CapstanError ? error.kind : 'internal',
      `cannot delete ${formatRef(ref)}: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}
