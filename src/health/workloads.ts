/**
 * Controllers that roll out Pods: Deployment, StatefulSet, DaemonSet, ReplicaSet. None of them reports
 * "done" by a condition, so, like kstatus, we compare the replica counts in `.status` with the spec.
 */
import type { DaemonSet, Deployment, ReplicaSet, StatefulSet } from 'kubernetes-types/apps/v1.js';
import type { KubeObject } from '../core/objects.js';
import { explain, findCondition } from './conditions.js';
import { count, current, degraded, failed, inProgress, suspended, type HealthResult } from './result.js';

/** The Deployment controller treats this `progressDeadlineSeconds` as "no deadline". */
const NO_PROGRESS_DEADLINE = 2 ** 31 - 1;

/**
 * The generic check lets an object without `status.observedGeneration` through. These controllers
 * always write it, so its absence means the controller has not looked at the object yet: its counts
 * (all zero) would say nothing.
 */
function unobserved(object: KubeObject): HealthResult | undefined {
  const status = object.status as { observedGeneration?: unknown } | undefined;
  if (typeof status?.observedGeneration === 'number') return undefined;
  return inProgress(`Waiting for the ${object.kind} controller to observe the object`);
}

export function deploymentStatus(object: KubeObject): HealthResult {
  const pending = unobserved(object);
  if (pending) return pending;
  const { spec, status = {} } = object as unknown as Deployment;
  // Paused on purpose: nothing will roll out until someone resumes it, so there is nothing to wait for.
  if (spec?.paused === true) return suspended('Deployment is paused');

  const progressing = findCondition(object, 'Progressing');
  if (progressing?.reason === 'ProgressDeadlineExceeded') {
    return failed(
      `Progress deadline exceeded: ${progressing.message ?? 'the rollout stopped making progress'}`,
    );
  }

  const wanted = spec?.replicas ?? 1;
  const total = status.replicas ?? 0;
  const updated = status.updatedReplicas ?? 0;
  const ready = status.readyReplicas ?? 0;
  const available = status.availableReplicas ?? 0;

  // The rollout finished (the controller says so, and every replica runs the new template), yet
  // the Deployment is below its minimum availability: its Pods fail now, nothing is on the way.
  const availableCondition = findCondition(object, 'Available');
  const rolledOut =
    progressing?.status === 'True' &&
    progressing.reason === 'NewReplicaSetAvailable' &&
    updated >= wanted &&
    total <= wanted;
  if (rolledOut && availableCondition?.status === 'False')
    return degraded(
      `Deployment does not have minimum availability (${available} of ${count(wanted, 'replica')} available): ${explain(availableCondition)}`,
    );

  if (total < wanted) return inProgress(`${total} of ${count(wanted, 'replica')} created`);
  if (updated < wanted) return inProgress(`${updated} of ${count(wanted, 'replica')} updated`);
  if (total > wanted) return inProgress(`${count(total - wanted, 'old replica')} pending termination`);
  if (available < updated) return inProgress(`${available} of ${count(updated, 'replica')} available`);
  if (ready < wanted) return inProgress(`${ready} of ${count(wanted, 'replica')} ready`);

  // Without a deadline the controller never reports Progressing, so there is nothing to wait for.
  const hasDeadline = (spec?.progressDeadlineSeconds ?? NO_PROGRESS_DEADLINE) !== NO_PROGRESS_DEADLINE;
  const newReplicaSetAvailable =
    progressing?.status === 'True' && progressing.reason === 'NewReplicaSetAvailable';
  if (hasDeadline && !newReplicaSetAvailable) {
    return inProgress('Waiting for the new ReplicaSet to become available');
  }
  if (availableCondition?.status !== 'True') {
    const why = availableCondition ? `: ${explain(availableCondition)}` : '';
    return inProgress(`Deployment does not have minimum availability${why}`);
  }
  return current(`Deployment is available with ${count(total, 'replica')}`);
}

export function statefulSetStatus(object: KubeObject): HealthResult {
  const pending = unobserved(object);
  if (pending) return pending;
  const { spec, status } = object as unknown as StatefulSet;

  // With OnDelete, Pods change only when someone deletes them: there is no rollout to wait for.
  if (spec?.updateStrategy?.type === 'OnDelete') {
    return current('StatefulSet uses the OnDelete update strategy; Pods are replaced only when deleted');
  }

  const wanted = spec?.replicas ?? 1;
  const total = status?.replicas ?? 0;
  const ready = status?.readyReplicas ?? 0;
  const currentReplicas = status?.currentReplicas ?? 0;
  const updated = status?.updatedReplicas ?? 0;
  const partition = spec?.updateStrategy?.rollingUpdate?.partition;

  if (total < wanted) return inProgress(`${total} of ${count(wanted, 'replica')} created`);
  if (ready < wanted) return inProgress(`${ready} of ${count(wanted, 'replica')} ready`);
  if (total > wanted) return inProgress(`${count(total - wanted, 'extra replica')} pending termination`);

  // A partitioned rollout updates only the ordinals at or above the partition, and stops there.
  if (partition !== undefined) {
    const toUpdate = wanted - partition;
    if (updated < toUpdate) {
      return inProgress(`${updated} of ${count(toUpdate, 'replica')} above partition ${partition} updated`);
    }
    return current(`Partitioned rollout complete: ${count(updated, 'replica')} updated`);
  }

  if (currentReplicas < wanted) {
    return inProgress(`${currentReplicas} of ${count(wanted, 'replica')} at the current revision`);
  }
  if (status?.currentRevision !== status?.updateRevision) {
    return inProgress(
      `Rolling update in progress: replicas are moving from revision ${status?.currentRevision ?? '(none)'} to ${status?.updateRevision ?? '(none)'}`,
    );
  }
  return current(`All ${count(total, 'replica')} ready at revision ${status?.currentRevision ?? '(none)'}`);
}

export function daemonSetStatus(object: KubeObject): HealthResult {
  // kstatus insists on both generation fields here: the DaemonSet controller always sets them.
  if (object.metadata.generation === undefined) {
    return inProgress('Waiting for the API server to set metadata.generation');
  }
  const pending = unobserved(object);
  if (pending) return pending;
  const { status } = object as unknown as DaemonSet;

  const desired = status?.desiredNumberScheduled;
  if (desired === undefined)
    return inProgress('Waiting for the DaemonSet controller to count the nodes to run on');
  const nodes = count(desired, 'node');
  const scheduled = status?.currentNumberScheduled ?? 0;
  const updated = status?.updatedNumberScheduled ?? 0;
  const available = status?.numberAvailable ?? 0;
  const ready = status?.numberReady ?? 0;

  if (scheduled < desired) return inProgress(`Pods scheduled on ${scheduled} of ${nodes}`);
  if (updated < desired) return inProgress(`Pods updated on ${updated} of ${nodes}`);
  if (available < desired) return inProgress(`Pods available on ${available} of ${nodes}`);
  if (ready < desired) return inProgress(`Pods ready on ${ready} of ${nodes}`);
  return current(`Pods ready and up to date on all ${nodes}`);
}

export function replicaSetStatus(object: KubeObject): HealthResult {
  const pending = unobserved(object);
  if (pending) return pending;
  const { spec, status } = object as unknown as ReplicaSet;

  // Often a quota or an admission webhook refusing Pods; it can clear, so this is not a failure.
  const replicaFailure = findCondition(object, 'ReplicaFailure');
  if (replicaFailure?.status === 'True') return inProgress(`Cannot create Pods: ${explain(replicaFailure)}`);

  const wanted = spec?.replicas ?? 1;
  const total = status?.replicas ?? 0;
  const labelled = status?.fullyLabeledReplicas ?? 0;
  const available = status?.availableReplicas ?? 0;
  const ready = status?.readyReplicas ?? 0;

  if (labelled < wanted) return inProgress(`${labelled} of ${count(wanted, 'replica')} labelled`);
  if (available < wanted) return inProgress(`${available} of ${count(wanted, 'replica')} available`);
  if (ready < wanted) return inProgress(`${ready} of ${count(wanted, 'replica')} ready`);
  if (total > wanted) return inProgress(`${count(total - wanted, 'extra replica')} pending termination`);
  return current(`ReplicaSet is available with ${count(total, 'replica')}`);
}
