/**
 * Applying Capstan's own objects with the installer's credentials: server-side apply under the field
 * manager `capstan-install` (forced: the installer's word wins over hand edits, which is how
 * re-running it repairs drift), CRDs first and Established before anything uses them, then the
 * rest in order; and waiting for the controller's rollout, saying why when it does not come.
 */
import { CapstanError, messageOf } from '../core/errors.js';
import { formatRef, refOf, splitApiVersion, type KubeObject, type ObjectRef } from '../core/objects.js';
import { sleep } from '../core/time.js';
import { isKubeApiError, UnknownKindError, type KubeClient } from '../kube/index.js';
import { hasDrifted } from '../plan/index.js';

export const INSTALL_FIELD_MANAGER = 'capstan-install';

export type InstallAction = 'created' | 'configured' | 'unchanged';

export interface AppliedObject {
  readonly ref: ObjectRef;
  readonly action: InstallAction;
}

/** Time between looks at a CRD, a Deployment or an Application. */
export const POLL_MS = 1000;
const ESTABLISHED_TIMEOUT_MS = 60_000;

/**
 * Applies `objects` in phases: the CRDs first, waited for until Established (and the REST mapper
 * refreshed when one changed), then the Namespaces, then everything else. Objects of one phase go
 * at once (nothing in a phase needs another to exist); results are reported in `objects`' order.
 */
export async function applyInOrder(
  kube: KubeClient,
  objects: readonly KubeObject[],
  onApplied: (applied: AppliedObject) => void = () => {},
): Promise<AppliedObject[]> {
  const crds = objects.filter(isCrd);
  const namespaces = objects.filter((object) => object.kind === 'Namespace' && object.apiVersion === 'v1');
  const rest = objects.filter((object) => !crds.includes(object) && !namespaces.includes(object));
  const results: AppliedObject[] = [];
  const applyPhase = async (phase: readonly KubeObject[]): Promise<AppliedObject[]> => {
    const applied = await Promise.all(phase.map((object) => applyOne(kube, object)));
    for (const result of applied) onApplied(result);
    results.push(...applied);
    return applied;
  };
  const crdResults = await applyPhase(crds);
  if (crds.length > 0) {
    await waitForEstablished(
      kube,
      crds.map((crd) => crd.metadata.name!),
    );
    if (crdResults.some((result) => result.action !== 'unchanged')) await kube.mapper.refresh();
  }
  await applyPhase(namespaces);
  await applyPhase(rest);
  return results;
}

function isCrd(object: KubeObject): boolean {
  return object.kind === 'CustomResourceDefinition' && object.apiVersion.startsWith('apiextensions.k8s.io/');
}

/**
 * One server-side apply. An object that exists is dry-run first and written only when that differs
 * from what is live (as the engine does), so a second install writes nothing and says unchanged.
 */
export async function applyOne(kube: KubeClient, object: KubeObject): Promise<AppliedObject> {
  const ref = refOf(object);
  const options = { force: true, fieldManager: INSTALL_FIELD_MANAGER };
  try {
    const live = await kube.get(ref, { version: splitApiVersion(object.apiVersion).version });
    if (live && !hasDrifted(live, await kube.apply(object, { ...options, dryRun: true })))
      return { ref, action: 'unchanged' };
    await kube.apply(object, options);
    return { ref, action: live ? 'configured' : 'created' };
  } catch (error) {
    throw explainApplyFailure(ref, error);
  }
}

/**
 * The error said for people: the API server's own words (a Forbidden names the user, the verb and
 * the resource), and what to do about it.
 */
export function explainApplyFailure(ref: ObjectRef, error: unknown): CapstanError {
  if (isKubeApiError(error) && error.status === 403)
    return new CapstanError(
      'environment',
      `cannot apply ${formatRef(ref)}: ${error.message} (installing Capstan creates CRDs and ClusterRoles: run it as a cluster administrator)`,
      { cause: error },
    );
  if (error instanceof UnknownKindError)
    return new CapstanError('internal', `cannot apply ${formatRef(ref)}: ${error.message}`, { cause: error });
  const kind = error instanceof CapstanError ? error.kind : 'internal';
  return new CapstanError(kind, `cannot apply ${formatRef(ref)}: ${messageOf(error)}`, { cause: error });
}

interface Crd extends KubeObject {
  status?: { conditions?: { type: string; status: string; message?: string }[] };
}

/** Waits until every CRD named is Established (bounded). */
export async function waitForEstablished(kube: KubeClient, names: readonly string[]): Promise<void> {
  const deadline = Date.now() + ESTABLISHED_TIMEOUT_MS;
  let waiting = [...names];
  for (;;) {
    const states = await Promise.all(
      waiting.map(async (name) => {
        const crd = await kube.get<Crd>({
          group: 'apiextensions.k8s.io',
          kind: 'CustomResourceDefinition',
          name,
        });
        return {
          name,
          established: crd?.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True'),
        };
      }),
    );
    waiting = states.filter((s) => !s.established).map((s) => s.name);
    if (waiting.length === 0) return;
    if (Date.now() > deadline)
      throw new CapstanError(
        'transient',
        `the API server did not establish the CRDs ${waiting.join(', ')} within ${ESTABLISHED_TIMEOUT_MS / 1000}s`,
      );
    await sleep(POLL_MS);
  }
}

interface Deployment extends KubeObject {
  spec?: { replicas?: number; selector?: { matchLabels?: Record<string, string> } };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    availableReplicas?: number;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

interface Pod extends KubeObject {
  metadata: KubeObject['metadata'] & { deletionTimestamp?: string };
  status?: {
    phase?: string;
    containerStatuses?: {
      name: string;
      state?: { waiting?: { reason?: string; message?: string } };
    }[];
  };
}

/** Waiting reasons that do not go away by waiting: the wait ends at once with them. */
const HOPELESS_REASONS = new Set([
  'ImagePullBackOff',
  'ErrImageNeverPull',
  'InvalidImageName',
  'CreateContainerConfigError',
  'CrashLoopBackOff',
]);

/**
 * Waits until the Deployment is rolled out: the controller saw its newest spec
 * (observedGeneration), every replica runs it (updatedReplicas) and is available, and no old one
 * is left. Fails at once when its newest pods wait for a reason that waiting will not fix
 * (ImagePullBackOff, CrashLoopBackOff…), or at the deadline with what the pods wait for.
 */
export async function waitForRollout(
  kube: KubeClient,
  ref: { namespace: string; name: string },
  timeoutMs: number,
  progress: (line: string) => void = () => {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let said = '';
  for (;;) {
    const deployment = await kube.get<Deployment>({ group: 'apps', kind: 'Deployment', ...ref });
    if (!deployment)
      throw new CapstanError(
        'notFound',
        `Deployment ${ref.namespace}/${ref.name} is gone (deleted meanwhile?)`,
      );
    const state = rolloutState(deployment);
    if (state.done) return;
    const waiting = await podsWaiting(kube, deployment);
    const hopeless = waiting.find((w) => HOPELESS_REASONS.has(w.reason));
    if (hopeless || state.failed)
      throw new CapstanError(
        'environment',
        `Deployment ${ref.namespace}/${ref.name} will not become available: ${hopeless ? describeWaiting(waiting) : state.failed}`,
      );
    const line = `waiting for Deployment ${ref.namespace}/${ref.name}: ${state.text}${waiting.length > 0 ? `; ${describeWaiting(waiting)}` : ''}`;
    if (line !== said) progress((said = line));
    if (Date.now() >= deadline)
      throw new CapstanError(
        'transient',
        `Deployment ${ref.namespace}/${ref.name} was not available after ${Math.round(timeoutMs / 1000)}s: ${state.text}${waiting.length > 0 ? `; ${describeWaiting(waiting)}` : ''}`,
      );
    await sleep(POLL_MS);
  }
}

export function rolloutState(deployment: Deployment): { done: boolean; text: string; failed?: string } {
  const wanted = deployment.spec?.replicas ?? 1;
  const status = deployment.status ?? {};
  const progressing = status.conditions?.find((c) => c.type === 'Progressing');
  if (progressing?.reason === 'ProgressDeadlineExceeded')
    return { done: false, text: 'stuck', failed: progressing.message ?? 'progress deadline exceeded' };
  if ((status.observedGeneration ?? 0) < (deployment.metadata.generation ?? 0))
    return { done: false, text: 'the new spec is not picked up yet' };
  const updated = status.updatedReplicas ?? 0;
  const available = status.availableReplicas ?? 0;
  const total = status.replicas ?? 0;
  const text = `${updated}/${wanted} updated, ${available}/${wanted} available${total > updated ? `, ${total - updated} old` : ''}`;
  return { done: updated >= wanted && available >= wanted && total <= updated, text };
}

interface Waiting {
  readonly pod: string;
  readonly reason: string;
  readonly message?: string;
}

/**
 * Why the containers of the Deployment's newest pods (its current ReplicaSet's: an old pod that
 * crashed is not this rollout's problem) are not running.
 */
async function podsWaiting(kube: KubeClient, deployment: Deployment): Promise<Waiting[]> {
  try {
    const hash = await currentTemplateHash(kube, deployment);
    if (hash === undefined) return [];
    const pods = await kube.list<Pod>('', 'v1', 'Pod', {
      namespace: deployment.metadata.namespace!,
      labelSelector: `${selectorOf(deployment)},pod-template-hash=${hash}`,
    });
    const waiting: Waiting[] = [];
    for (const pod of pods.items) {
      if (pod.metadata.deletionTimestamp) continue;
      for (const container of pod.status?.containerStatuses ?? []) {
        const reason = container.state?.waiting?.reason;
        const message = container.state?.waiting?.message;
        if (reason) waiting.push({ pod: pod.metadata.name!, reason, ...(message ? { message } : {}) });
      }
    }
    return waiting;
  } catch {
    // Reading pods is a courtesy of the message; the installer may not be allowed to.
    return [];
  }
}

const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';

/** The pod-template-hash of the Deployment's ReplicaSet at its current revision, once there is one. */
async function currentTemplateHash(kube: KubeClient, deployment: Deployment): Promise<string | undefined> {
  const revision = deployment.metadata.annotations?.[REVISION_ANNOTATION];
  const selector = selectorOf(deployment);
  if (revision === undefined || selector === '') return undefined;
  const sets = await kube.list('apps', 'v1', 'ReplicaSet', {
    namespace: deployment.metadata.namespace!,
    labelSelector: selector,
  });
  const current = sets.items.find(
    (set) =>
      set.metadata.annotations?.[REVISION_ANNOTATION] === revision &&
      set.metadata.ownerReferences?.some((owner) => owner.uid === deployment.metadata.uid),
  );
  return current?.metadata.labels?.['pod-template-hash'];
}

function selectorOf(deployment: Deployment): string {
  return Object.entries(deployment.spec?.selector?.matchLabels ?? {})
    .map(([key, value]) => `${key}=${value}`)
    .join(',');
}

function describeWaiting(waiting: readonly Waiting[]): string {
  return waiting
    .slice(0, 3)
    .map((w) => `pod ${w.pod} is waiting: ${w.reason}${w.message ? ` (${w.message.slice(0, 300)})` : ''}`)
    .join('; ');
}
