/**
 * kstatus-compatible health of one object (sigs.k8s.io/cli-utils/pkg/kstatus): generic checks that
 * every kind shares, then a rule per built-in kind, then the `Ready` condition for everything else.
 */
import { messageOf } from '../core/errors.js';
import { formatRef, splitApiVersion, type KubeObject, type ObjectRef } from '../core/objects.js';
import { conditionsOf, explain } from './conditions.js';
import { jobStatus, podStatus } from './pods.js';
import {
  alwaysCurrent,
  cronJobStatus,
  customResourceDefinitionStatus,
  persistentVolumeClaimStatus,
  podDisruptionBudgetStatus,
  serviceStatus,
} from './resources.js';
import { current, failed, inProgress, type HealthResult, type KindRule } from './result.js';
import { daemonSetStatus, deploymentStatus, replicaSetStatus, statefulSetStatus } from './workloads.js';

/** Keyed by `group/Kind` (just `Kind` for the core group), so a custom `Deployment` is not mistaken for ours. */
const RULES_BY_KIND: ReadonlyMap<string, KindRule> = new Map<string, KindRule>([
  ['Pod', podStatus],
  ['Service', serviceStatus],
  ['PersistentVolumeClaim', persistentVolumeClaimStatus],
  ['ConfigMap', alwaysCurrent],
  ['Secret', alwaysCurrent],
  ['apps/Deployment', deploymentStatus],
  ['extensions/Deployment', deploymentStatus],
  ['apps/StatefulSet', statefulSetStatus],
  ['apps/DaemonSet', daemonSetStatus],
  ['extensions/DaemonSet', daemonSetStatus],
  ['apps/ReplicaSet', replicaSetStatus],
  ['extensions/ReplicaSet', replicaSetStatus],
  ['batch/Job', jobStatus],
  ['batch/CronJob', cronJobStatus],
  ['policy/PodDisruptionBudget', podDisruptionBudgetStatus],
  ['apiextensions.k8s.io/CustomResourceDefinition', customResourceDefinitionStatus],
]);

/**
 * The health of one object as kstatus would judge it. `undefined` means the object does not exist.
 * `now` matters only for time-bound rules (a Pod's grace to get scheduled).
 * Never throws: an object too malformed to judge is `Unknown`.
 */
export function computeStatus(object: KubeObject | undefined, now: Date = new Date()): HealthResult {
  if (object === undefined) return { status: 'NotFound', message: 'Object does not exist in the cluster' };
  try {
    if (object.metadata.deletionTimestamp) return terminating(object);
    const generic = checkGeneration(object) ?? checkReconcilingOrStalled(object);
    if (generic) return generic;
    const rule = RULES_BY_KIND.get(kindKey(object));
    if (rule) return rule(object, now);
    return checkReady(object) ?? current('Resource is current');
  } catch (error) {
    return { status: 'Unknown', message: `Cannot judge the object's health: ${messageOf(error)}` };
  }
}

/** "Deployment/prod/web: 1 of 3 replicas available", for logs, events and summaries. */
export function describeHealth(ref: ObjectRef, result: HealthResult): string {
  return `${formatRef(ref)}: ${result.message}`;
}

function kindKey(object: KubeObject): string {
  const { group } = splitApiVersion(object.apiVersion);
  return group ? `${group}/${object.kind}` : object.kind;
}

function terminating(object: KubeObject): HealthResult {
  const finalizers = object.metadata.finalizers ?? [];
  const waitingFor = finalizers.length > 0 ? `; waiting for finalizers ${finalizers.join(', ')}` : '';
  return { status: 'Terminating', message: `Object is being deleted${waitingFor}` };
}

/** Everything else the object says is stale until its controller has seen the latest spec. */
function checkGeneration(object: KubeObject): HealthResult | undefined {
  const generation = object.metadata.generation;
  const status = object.status as { observedGeneration?: unknown } | undefined;
  const observed = status?.observedGeneration;
  // Lenient, like kstatus: many kinds have no observedGeneration at all.
  if (typeof generation !== 'number' || typeof observed !== 'number' || generation === observed)
    return undefined;
  return inProgress(
    `Waiting for the ${object.kind} controller to observe generation ${generation} (it has seen ${observed})`,
  );
}

/** The kstatus conventions any controller can adopt: `Reconciling` and `Stalled`. */
function checkReconcilingOrStalled(object: KubeObject): HealthResult | undefined {
  for (const condition of conditionsOf(object)) {
    if (condition.status !== 'True') continue;
    if (condition.type === 'Reconciling') return inProgress(`Reconciling: ${explain(condition)}`);
    if (condition.type === 'Stalled') return failed(`Stalled: ${explain(condition)}`);
  }
  return undefined;
}

function checkReady(object: KubeObject): HealthResult | undefined {
  const ready = conditionsOf(object).find((condition) => condition.type === 'Ready');
  if (!ready) return undefined;
  if (ready.status === 'True') return current(ready.message ? `Ready: ${ready.message}` : 'Ready');
  if (ready.status === 'False') return inProgress(`Not ready: ${explain(ready)}`);
  return inProgress(`Readiness unknown: ${explain(ready)}`);
}
