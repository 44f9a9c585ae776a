/** Pods and Jobs: things that run to a verdict, so they can fail, not only lag behind. */
import type { Job } from 'kubernetes-types/batch/v1.js';
import type { ContainerStatus, Pod } from 'kubernetes-types/core/v1.js';
import type { KubeObject } from '../core/objects.js';
import { explain, findCondition, isConditionTrue } from './conditions.js';
import { count, current, failed, inProgress, suspended, type HealthResult } from './result.js';

/** How long a Pod may stay unschedulable before we call it failed (kstatus's ScheduleWindow). */
export const SCHEDULING_GRACE_MS = 15_000;

/**
 * Waiting reasons that do not clear without someone changing the spec or the registry, so waiting
 * for the timeout would only delay the bad news. (kstatus knows CrashLoopBackOff; the image errors
 * are ours, because a typo in an image tag is the most common failed rollout there is.)
 */
const HOPELESS_WAITING_REASONS: ReadonlyMap<string, string> = new Map([
  ['CrashLoopBackOff', 'keeps crashing'],
  ['ImagePullBackOff', 'cannot pull its image'],
  ['ErrImagePull', 'cannot pull its image'],
  ['InvalidImageName', 'has an invalid image name'],
]);

export function podStatus(object: KubeObject, now: Date): HealthResult {
  const { status } = object as unknown as Pod;
  const phase = status?.phase ?? '';

  if (phase === 'Succeeded') return current('Pod has completed successfully');
  if (phase === 'Failed') {
    const why = status?.message ?? status?.reason;
    return failed(why ? `Pod failed: ${why}` : 'Pod failed: a container exited with an error');
  }

  const stuck = [...(status?.initContainerStatuses ?? []), ...(status?.containerStatuses ?? [])]
    .map(describeHopelessContainer)
    .filter((text) => text !== undefined);
  if (stuck.length > 0) return failed(stuck.join('; '));

  switch (phase) {
    case 'Running': {
      if (isConditionTrue(object, 'Ready')) return current('Pod is running and ready');
      const ready = findCondition(object, 'Ready');
      return inProgress(`Pod is running but not ready${ready?.message ? `: ${ready.message}` : ''}`);
    }
    case 'Pending':
      return pendingPodStatus(object, now);
    case '':
      return inProgress('Waiting for the kubelet to report the Pod');
    default:
      // 'Unknown' means the node stopped reporting; only the node coming back can tell us more.
      return { status: 'Unknown', message: `Pod is in phase ${phase}: its node may be unreachable` };
  }
}

function describeHopelessContainer(container: ContainerStatus): string | undefined {
  const waiting = container.state?.waiting;
  const problem = waiting?.reason ? HOPELESS_WAITING_REASONS.get(waiting.reason) : undefined;
  if (!problem || !waiting) return undefined;
  const detail = waiting.message ? `: ${waiting.message}` : '';
  return `Container ${container.name} ${problem} (${waiting.reason})${detail}`;
}

function pendingPodStatus(object: KubeObject, now: Date): HealthResult {
  const scheduled = findCondition(object, 'PodScheduled');
  if (scheduled?.status !== 'False' || scheduled.reason !== 'Unschedulable') {
    return inProgress('Pod is pending: waiting for its containers to start');
  }
  // kstatus counts the grace from the Pod's creation; the condition's own time is the fallback.
  const since = Date.parse(object.metadata.creationTimestamp ?? scheduled.lastTransitionTime ?? '');
  const deadline = new Date((Number.isNaN(since) ? 0 : since) + SCHEDULING_GRACE_MS);
  const why = scheduled.message ?? 'no node fits its requirements';
  if (now < deadline) {
    return {
      status: 'InProgress',
      message: `Pod is waiting to be scheduled: ${why}`,
      reevaluateAt: deadline,
    };
  }
  return failed(`Pod cannot be scheduled: ${why}`);
}

export function jobStatus(object: KubeObject): HealthResult {
  const { spec, status } = object as unknown as Job;
  const completions = spec?.completions ?? spec?.parallelism ?? 1;
  const succeeded = status?.succeeded ?? 0;

  const failedCondition = findCondition(object, 'Failed');
  if (failedCondition?.status === 'True') {
    return failed(
      `Job failed after ${count(status?.failed ?? 0, 'failed Pod')}: ${explain(failedCondition)}`,
    );
  }
  if (isConditionTrue(object, 'Complete')) {
    return current(`Job completed: ${succeeded} of ${count(completions, 'completion')} succeeded`);
  }
  // Someone paused it on purpose; waiting for it would wait forever.
  if (spec?.suspend === true && isConditionTrue(object, 'Suspended')) return suspended('Job is suspended');
  if (!status?.startTime) return inProgress('Job has not started');
  return inProgress(
    `Job is running: ${status.active ?? 0} active, ${succeeded} of ${count(completions, 'completion')} succeeded, ${status.failed ?? 0} failed`,
  );
}
