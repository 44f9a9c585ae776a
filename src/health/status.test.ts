import { describe, expect, it } from 'vitest';
import type { KubeObject, ObjectMeta } from '../core/objects.js';
import type { HealthStatus } from './result.js';
import { computeStatus, describeHealth } from './status.js';

const NOW = new Date('2024-05-01T12:00:00Z');
const secondsAgo = (seconds: number): string => new Date(NOW.getTime() - seconds * 1000).toISOString();

interface Case {
  name: string;
  object: KubeObject | undefined;
  status: HealthStatus;
  /** A fragment the message must contain: the part a person acts on. */
  message: string;
}

function expectCases(cases: Case[]): void {
  it.each(cases)('$name → $status', ({ object, status, message }) => {
    const result = computeStatus(object, NOW);
    expect(result.status).toBe(status);
    expect(result.message).toContain(message);
  });
}

function metadata(name: string, extra: Partial<ObjectMeta> = {}): ObjectMeta {
  return {
    name,
    namespace: 'shop',
    uid: '4f3c2a1e-9d7b-4c1a-8e2f-0b6d5a4c3e21',
    resourceVersion: '48213',
    creationTimestamp: secondsAgo(600),
    labels: { 'app.kubernetes.io/name': name },
    ...extra,
  };
}

const condition = (type: string, status: string, reason?: string, message?: string) => ({
  type,
  status,
  lastTransitionTime: secondsAgo(60),
  ...(reason ? { reason } : {}),
  ...(message ? { message } : {}),
});

// --- Deployment -------------------------------------------------------------------------------

function deployment(
  status: Record<string, unknown>,
  spec: Record<string, unknown> = {},
  generation = 2,
): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: metadata('web', { generation }),
    spec: {
      replicas: 3,
      progressDeadlineSeconds: 600,
      revisionHistoryLimit: 10,
      selector: { matchLabels: { 'app.kubernetes.io/name': 'web' } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
      template: { spec: { containers: [{ name: 'web', image: 'ghcr.io/shop/web:1.4.2' }] } },
      ...spec,
    },
    status,
  };
}

const availableTrue = condition(
  'Available',
  'True',
  'MinimumReplicasAvailable',
  'Deployment has minimum availability.',
);
const rolledOut = condition(
  'Progressing',
  'True',
  'NewReplicaSetAvailable',
  'ReplicaSet "web-7c5b9d8f4" has successfully progressed.',
);
const complete = {
  observedGeneration: 2,
  replicas: 3,
  updatedReplicas: 3,
  readyReplicas: 3,
  availableReplicas: 3,
  conditions: [availableTrue, rolledOut],
};

describe('Deployment', () => {
  expectCases([
    {
      name: 'complete rollout',
      object: deployment(complete),
      status: 'Current',
      message: 'available with 3 replicas',
    },
    {
      name: 'not yet seen by the controller',
      object: deployment({}),
      status: 'InProgress',
      message: 'Waiting for the Deployment controller to observe',
    },
    {
      name: 'spec changed, controller behind',
      object: deployment({ ...complete, observedGeneration: 1 }),
      status: 'InProgress',
      message: 'observe generation 2 (it has seen 1)',
    },
    {
      name: 'rolling update, surge pod up',
      object: deployment({
        observedGeneration: 2,
        replicas: 4,
        updatedReplicas: 2,
        readyReplicas: 3,
        availableReplicas: 3,
        unavailableReplicas: 1,
        conditions: [
          availableTrue,
          condition('Progressing', 'True', 'ReplicaSetUpdated', 'ReplicaSet "web-7c5b9d8f4" is progressing.'),
        ],
      }),
      status: 'InProgress',
      message: '2 of 3 replicas updated',
    },
    {
      name: 'old replica still terminating',
      object: deployment({ ...complete, replicas: 4 }),
      status: 'InProgress',
      message: '1 old replica pending termination',
    },
    {
      name: 'updated but not yet available',
      object: deployment({ ...complete, readyReplicas: 1, availableReplicas: 1 }),
      status: 'InProgress',
      message: '1 of 3 replicas available',
    },
    {
      name: 'counts reached, controller has not declared the new ReplicaSet available',
      object: deployment({
        ...complete,
        conditions: [availableTrue, condition('Progressing', 'True', 'ReplicaSetUpdated')],
      }),
      status: 'InProgress',
      message: 'new ReplicaSet to become available',
    },
    {
      name: 'Available=False',
      object: deployment({
        ...complete,
        conditions: [
          condition(
            'Available',
            'False',
            'MinimumReplicasUnavailable',
            'Deployment does not have minimum availability.',
          ),
          rolledOut,
        ],
      }),
      status: 'InProgress',
      message: 'MinimumReplicasUnavailable',
    },
    {
      name: 'progress deadline exceeded',
      object: deployment({
        observedGeneration: 2,
        replicas: 4,
        updatedReplicas: 1,
        readyReplicas: 3,
        availableReplicas: 3,
        conditions: [
          availableTrue,
          condition(
            'Progressing',
            'False',
            'ProgressDeadlineExceeded',
            'ReplicaSet "web-7c5b9d8f4" has timed out progressing.',
          ),
        ],
      }),
      status: 'Failed',
      message: 'Progress deadline exceeded: ReplicaSet "web-7c5b9d8f4" has timed out progressing.',
    },
    {
      name: 'spec.replicas defaults to 1',
      object: deployment(
        { ...complete, replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1 },
        { replicas: undefined },
      ),
      status: 'Current',
      message: 'available with 1 replica',
    },
    {
      name: 'scaled to zero',
      object: deployment({ observedGeneration: 2, conditions: [availableTrue, rolledOut] }, { replicas: 0 }),
      status: 'Current',
      message: 'available with 0 replicas',
    },
    {
      name: 'no progress deadline, so no Progressing condition to wait for',
      object: deployment(
        { ...complete, conditions: [availableTrue] },
        { progressDeadlineSeconds: 2 ** 31 - 1 },
      ),
      status: 'Current',
      message: 'available',
    },
  ]);
});

// --- StatefulSet ------------------------------------------------------------------------------

function statefulSet(status: Record<string, unknown>, spec: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: metadata('db', { generation: 4 }),
    spec: {
      replicas: 3,
      serviceName: 'db',
      podManagementPolicy: 'OrderedReady',
      selector: { matchLabels: { 'app.kubernetes.io/name': 'db' } },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } },
      template: { spec: { containers: [{ name: 'postgres', image: 'postgres:16.3' }] } },
      ...spec,
    },
    status: { observedGeneration: 4, collisionCount: 0, ...status },
  };
}

const settled = {
  replicas: 3,
  readyReplicas: 3,
  availableReplicas: 3,
  currentReplicas: 3,
  updatedReplicas: 3,
  currentRevision: 'db-5d8f7b6c9',
  updateRevision: 'db-5d8f7b6c9',
};
const unpartitioned = { type: 'RollingUpdate' };

describe('StatefulSet', () => {
  expectCases([
    {
      name: 'all replicas at one revision',
      object: statefulSet(settled, { updateStrategy: unpartitioned }),
      status: 'Current',
      message: 'All 3 replicas ready at revision db-5d8f7b6c9',
    },
    {
      name: 'scaling up',
      object: statefulSet({ ...settled, replicas: 2, readyReplicas: 2 }),
      status: 'InProgress',
      message: '2 of 3 replicas created',
    },
    {
      name: 'a replica not ready',
      object: statefulSet({ ...settled, readyReplicas: 2 }),
      status: 'InProgress',
      message: '2 of 3 replicas ready',
    },
    {
      name: 'rolling update halfway',
      object: statefulSet(
        { ...settled, currentReplicas: 1, updatedReplicas: 2, updateRevision: 'db-6c9d4f7a8' },
        { updateStrategy: unpartitioned },
      ),
      status: 'InProgress',
      message: '1 of 3 replicas at the current revision',
    },
    {
      name: 'revisions still differ',
      object: statefulSet({ ...settled, updateRevision: 'db-6c9d4f7a8' }, { updateStrategy: unpartitioned }),
      status: 'InProgress',
      message: 'from revision db-5d8f7b6c9 to db-6c9d4f7a8',
    },
    {
      name: 'partitioned rollout waiting on ordinals above the partition',
      object: statefulSet(
        {
          ...settled,
          replicas: 5,
          readyReplicas: 5,
          currentReplicas: 4,
          updatedReplicas: 1,
          updateRevision: 'db-6c9d4f7a8',
        },
        { replicas: 5, updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 3 } } },
      ),
      status: 'InProgress',
      message: '1 of 2 replicas above partition 3 updated',
    },
    {
      name: 'partitioned rollout done (lower ordinals stay on the old revision)',
      object: statefulSet(
        {
          ...settled,
          replicas: 5,
          readyReplicas: 5,
          currentReplicas: 3,
          updatedReplicas: 2,
          updateRevision: 'db-6c9d4f7a8',
        },
        { replicas: 5, updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 3 } } },
      ),
      status: 'Current',
      message: 'Partitioned rollout complete: 2 replicas updated',
    },
    {
      name: 'OnDelete has no rollout to wait for',
      object: statefulSet(
        { ...settled, currentReplicas: 2, updateRevision: 'db-6c9d4f7a8' },
        { updateStrategy: { type: 'OnDelete' } },
      ),
      status: 'Current',
      message: 'OnDelete',
    },
  ]);
});

// --- DaemonSet and ReplicaSet ---------------------------------------------------------------

function daemonSet(status: Record<string, unknown>): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: metadata('node-exporter', { generation: 3 }),
    spec: {
      selector: { matchLabels: { 'app.kubernetes.io/name': 'node-exporter' } },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } },
      template: {
        spec: { containers: [{ name: 'exporter', image: 'quay.io/prometheus/node-exporter:v1.8.1' }] },
      },
    },
    status,
  };
}

const daemonsEverywhere = {
  observedGeneration: 3,
  desiredNumberScheduled: 3,
  currentNumberScheduled: 3,
  updatedNumberScheduled: 3,
  numberAvailable: 3,
  numberReady: 3,
  numberMisscheduled: 0,
};

function replicaSet(status: Record<string, unknown>): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: metadata('web-7c5b9d8f4', { generation: 1 }),
    spec: { replicas: 2, selector: { matchLabels: { 'pod-template-hash': '7c5b9d8f4' } } },
    status: { observedGeneration: 1, ...status },
  };
}

describe('DaemonSet and ReplicaSet', () => {
  expectCases([
    {
      name: 'DaemonSet on every node',
      object: daemonSet(daemonsEverywhere),
      status: 'Current',
      message: 'all 3 nodes',
    },
    {
      name: 'DaemonSet rolling out',
      object: daemonSet({
        ...daemonsEverywhere,
        updatedNumberScheduled: 1,
        numberAvailable: 2,
        numberReady: 2,
      }),
      status: 'InProgress',
      message: 'Pods updated on 1 of 3 nodes',
    },
    {
      name: 'DaemonSet pods not ready',
      object: daemonSet({ ...daemonsEverywhere, numberReady: 2 }),
      status: 'InProgress',
      message: 'Pods ready on 2 of 3 nodes',
    },
    {
      name: 'DaemonSet nodes not yet counted',
      object: daemonSet({ observedGeneration: 3 }),
      status: 'InProgress',
      message: 'count the nodes',
    },
    {
      name: 'DaemonSet never observed',
      object: daemonSet({}),
      status: 'InProgress',
      message: 'Waiting for the DaemonSet controller to observe',
    },
    {
      name: 'ReplicaSet available',
      object: replicaSet({ replicas: 2, fullyLabeledReplicas: 2, readyReplicas: 2, availableReplicas: 2 }),
      status: 'Current',
      message: 'available with 2 replicas',
    },
    {
      name: 'ReplicaSet blocked by a quota',
      object: replicaSet({
        replicas: 1,
        fullyLabeledReplicas: 1,
        conditions: [
          condition(
            'ReplicaFailure',
            'True',
            'FailedCreate',
            'pods "web-7c5b9d8f4-x2x9k" is forbidden: exceeded quota',
          ),
        ],
      }),
      status: 'InProgress',
      message: 'Cannot create Pods: FailedCreate: pods "web-7c5b9d8f4-x2x9k" is forbidden: exceeded quota',
    },
  ]);
});

// --- Pod --------------------------------------------------------------------------------------

function pod(status: Record<string, unknown>, createdSecondsAgo = 600): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: metadata('web-7c5b9d8f4-x2x9k', { creationTimestamp: secondsAgo(createdSecondsAgo) }),
    spec: { nodeName: 'worker-1', containers: [{ name: 'app', image: 'ghcr.io/shop/web:1.4.2' }] },
    status,
  };
}

const waitingContainer = (name: string, reason: string, message: string) => ({
  name,
  ready: false,
  restartCount: 4,
  image: 'ghcr.io/shop/web:1.4.2',
  state: { waiting: { reason, message } },
});

const unschedulable = {
  phase: 'Pending',
  qosClass: 'Burstable',
  conditions: [
    condition('PodScheduled', 'False', 'Unschedulable', '0/3 nodes are available: 3 Insufficient cpu.'),
  ],
};

describe('Pod', () => {
  expectCases([
    {
      name: 'running and ready',
      object: pod({
        phase: 'Running',
        conditions: [
          condition('PodScheduled', 'True'),
          condition('Ready', 'True'),
          condition('ContainersReady', 'True'),
        ],
        containerStatuses: [
          { name: 'app', ready: true, restartCount: 0, state: { running: { startedAt: secondsAgo(30) } } },
        ],
      }),
      status: 'Current',
      message: 'running and ready',
    },
    {
      name: 'running, readiness probe failing',
      object: pod({
        phase: 'Running',
        conditions: [
          condition('Ready', 'False', 'ContainersNotReady', 'containers with unready status: [app]'),
        ],
      }),
      status: 'InProgress',
      message: 'containers with unready status: [app]',
    },
    {
      name: 'succeeded',
      object: pod({ phase: 'Succeeded' }),
      status: 'Current',
      message: 'completed successfully',
    },
    {
      name: 'failed phase',
      object: pod({ phase: 'Failed', reason: 'Evicted', message: 'The node was low on resource: memory.' }),
      status: 'Failed',
      message: 'Pod failed: The node was low on resource: memory.',
    },
    {
      name: 'crash loop',
      object: pod({
        phase: 'Running',
        conditions: [condition('Ready', 'False', 'ContainersNotReady')],
        containerStatuses: [
          waitingContainer('app', 'CrashLoopBackOff', 'back-off 1m20s restarting failed container=app'),
        ],
      }),
      status: 'Failed',
      message:
        'Container app keeps crashing (CrashLoopBackOff): back-off 1m20s restarting failed container=app',
    },
    {
      name: 'image pull back-off while pending',
      object: pod({
        phase: 'Pending',
        containerStatuses: [
          waitingContainer('app', 'ImagePullBackOff', 'Back-off pulling image "ghcr.io/shop/web:1.4.3"'),
        ],
      }),
      status: 'Failed',
      message: 'Container app cannot pull its image (ImagePullBackOff)',
    },
    {
      name: 'image pull error',
      object: pod({
        phase: 'Pending',
        containerStatuses: [waitingContainer('app', 'ErrImagePull', 'manifest unknown')],
      }),
      status: 'Failed',
      message: 'ErrImagePull',
    },
    {
      name: 'init container crash loop',
      object: pod({
        phase: 'Pending',
        initContainerStatuses: [waitingContainer('migrate', 'CrashLoopBackOff', 'back-off 40s')],
        containerStatuses: [waitingContainer('app', 'PodInitializing', '')],
      }),
      status: 'Failed',
      message: 'Container migrate keeps crashing',
    },
    {
      name: 'containers being created',
      object: pod({
        phase: 'Pending',
        containerStatuses: [waitingContainer('app', 'ContainerCreating', '')],
      }),
      status: 'InProgress',
      message: 'waiting for its containers to start',
    },
    {
      name: 'unschedulable for 5 s',
      object: pod(unschedulable, 5),
      status: 'InProgress',
      message: 'waiting to be scheduled: 0/3 nodes are available: 3 Insufficient cpu.',
    },
    {
      name: 'unschedulable for 20 s',
      object: pod(unschedulable, 20),
      status: 'Failed',
      message: 'Pod cannot be scheduled: 0/3 nodes are available: 3 Insufficient cpu.',
    },
    { name: 'not yet reported by a kubelet', object: pod({}), status: 'InProgress', message: 'kubelet' },
    { name: 'node unreachable', object: pod({ phase: 'Unknown' }), status: 'Unknown', message: 'node' },
  ]);

  it('asks to be re-evaluated when the scheduling grace ends', () => {
    const result = computeStatus(pod(unschedulable, 5), NOW);
    expect(result.reevaluateAt).toEqual(new Date(NOW.getTime() + 10_000));
    expect(computeStatus(pod(unschedulable, 20), NOW).reevaluateAt).toBeUndefined();
  });
});

// --- Job, CronJob -----------------------------------------------------------------------------

function job(status: Record<string, unknown>, spec: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: metadata('migrate', { generation: 1 }),
    spec: {
      completions: 1,
      parallelism: 1,
      backoffLimit: 3,
      suspend: false,
      template: {
        spec: { restartPolicy: 'Never', containers: [{ name: 'migrate', image: 'ghcr.io/shop/migrate:7' }] },
      },
      ...spec,
    },
    status,
  };
}

describe('Job and CronJob', () => {
  expectCases([
    {
      name: 'complete',
      object: job({
        startTime: secondsAgo(90),
        completionTime: secondsAgo(10),
        succeeded: 1,
        conditions: [condition('SuccessCriteriaMet', 'True'), condition('Complete', 'True')],
      }),
      status: 'Current',
      message: 'Job completed: 1 of 1 completion succeeded',
    },
    {
      name: 'failed',
      object: job({
        startTime: secondsAgo(90),
        failed: 4,
        conditions: [
          condition('FailureTarget', 'True', 'BackoffLimitExceeded'),
          condition('Failed', 'True', 'BackoffLimitExceeded', 'Job has reached the specified backoff limit'),
        ],
      }),
      status: 'Failed',
      message:
        'Job failed after 4 failed Pods: BackoffLimitExceeded: Job has reached the specified backoff limit',
    },
    {
      name: 'running',
      object: job({ startTime: secondsAgo(30), active: 1, failed: 1 }),
      status: 'InProgress',
      message: 'Job is running: 1 active, 0 of 1 completion succeeded, 1 failed',
    },
    { name: 'not started', object: job({}), status: 'InProgress', message: 'not started' },
    {
      name: 'suspended on purpose',
      object: job({ conditions: [condition('Suspended', 'True', 'JobSuspended')] }, { suspend: true }),
      status: 'Current',
      message: 'suspended',
    },
    {
      name: 'CronJob',
      object: {
        apiVersion: 'batch/v1',
        kind: 'CronJob',
        metadata: metadata('nightly', { generation: 1 }),
        spec: { schedule: '0 3 * * *', jobTemplate: {} },
        status: { lastScheduleTime: secondsAgo(3600) },
      },
      status: 'Current',
      message: 'CronJob is scheduled',
    },
    {
      name: 'suspended CronJob',
      object: {
        apiVersion: 'batch/v1',
        kind: 'CronJob',
        metadata: metadata('nightly', { generation: 1 }),
        spec: { schedule: '0 3 * * *', jobTemplate: {}, suspend: true },
      },
      status: 'Current',
      message: 'CronJob is suspended',
    },
  ]);
});

// --- Services, claims, CRDs, PDBs, plain data ---------------------------------------------------

function service(type: string, status: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: metadata('web'),
    spec: { type, clusterIP: '10.96.14.7', ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] },
    status,
  };
}

function crd(conditions: unknown[]): KubeObject {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'widgets.example.com', generation: 1 },
    spec: { group: 'example.com', names: { kind: 'Widget', plural: 'widgets' }, scope: 'Namespaced' },
    status: { conditions },
  };
}

function claim(phase: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: metadata('data-db-0'),
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '10Gi' } } },
    status: { phase },
  };
}

function pdb(generation: number, observedGeneration: number): KubeObject {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: metadata('web', { generation }),
    spec: { minAvailable: 2, selector: { matchLabels: { 'app.kubernetes.io/name': 'web' } } },
    status: {
      observedGeneration,
      currentHealthy: 3,
      desiredHealthy: 2,
      disruptionsAllowed: 1,
      expectedPods: 3,
    },
  };
}

const plain = (apiVersion: string, kind: string, extra: Record<string, unknown> = {}): KubeObject => ({
  apiVersion,
  kind,
  metadata: metadata('thing'),
  ...extra,
});

describe('Services, claims, CRDs, PDBs and plain data', () => {
  expectCases([
    { name: 'ClusterIP service', object: service('ClusterIP'), status: 'Current', message: 'ready' },
    {
      name: 'LoadBalancer without an address',
      object: service('LoadBalancer', { loadBalancer: {} }),
      status: 'InProgress',
      message: 'Waiting for a load balancer address',
    },
    {
      name: 'LoadBalancer with an address',
      object: service('LoadBalancer', { loadBalancer: { ingress: [{ ip: '203.0.113.10', ipMode: 'VIP' }] } }),
      status: 'Current',
      message: 'at 203.0.113.10',
    },
    { name: 'claim bound', object: claim('Bound'), status: 'Current', message: 'bound' },
    { name: 'claim pending', object: claim('Pending'), status: 'InProgress', message: 'phase Pending' },
    {
      name: 'CRD established',
      object: crd([
        condition('NamesAccepted', 'True', 'NoConflicts', 'no conflicts found'),
        condition('Established', 'True', 'InitialNamesAccepted', 'the initial names have been accepted'),
      ]),
      status: 'Current',
      message: 'established',
    },
    {
      name: 'CRD installing',
      object: crd([
        condition('NamesAccepted', 'True', 'NoConflicts'),
        condition('Established', 'False', 'Installing'),
      ]),
      status: 'InProgress',
      message: 'establish',
    },
    { name: 'CRD just created', object: crd([]), status: 'InProgress', message: 'establish' },
    {
      name: 'CRD name clash',
      object: crd([
        condition('NamesAccepted', 'False', 'ListKindConflict', '"WidgetList" is already in use'),
        condition('Established', 'False', 'NotAccepted', 'not all names are accepted'),
      ]),
      status: 'Failed',
      message: 'CRD names not accepted: ListKindConflict: "WidgetList" is already in use',
    },
    { name: 'PDB observed', object: pdb(2, 2), status: 'Current', message: 'Allowed disruptions' },
    {
      name: 'PDB not yet observed',
      object: pdb(2, 1),
      status: 'InProgress',
      message: 'observe generation 2',
    },
    {
      name: 'ConfigMap',
      object: plain('v1', 'ConfigMap', { data: { a: 'b' } }),
      status: 'Current',
      message: 'current',
    },
    {
      name: 'Secret',
      object: plain('v1', 'Secret', { type: 'Opaque' }),
      status: 'Current',
      message: 'current',
    },
    { name: 'ServiceAccount', object: plain('v1', 'ServiceAccount'), status: 'Current', message: 'current' },
    {
      name: 'Role',
      object: plain('rbac.authorization.k8s.io/v1', 'Role', { rules: [] }),
      status: 'Current',
      message: 'current',
    },
    {
      name: 'Namespace',
      object: plain('v1', 'Namespace', { status: { phase: 'Active' } }),
      status: 'Current',
      message: 'current',
    },
  ]);
});

// --- Generic rules (custom resources), deletion, absence -----------------------------------------

function widget(status: Record<string, unknown>, extra: Partial<ObjectMeta> = {}): KubeObject {
  return {
    apiVersion: 'example.com/v1',
    kind: 'Widget',
    metadata: metadata('blue', { generation: 5, ...extra }),
    spec: { size: 'large' },
    status,
  };
}

describe('generic rules', () => {
  expectCases([
    { name: 'absent', object: undefined, status: 'NotFound', message: 'does not exist' },
    {
      name: 'being deleted, held by a finalizer',
      object: widget({}, { deletionTimestamp: secondsAgo(5), finalizers: ['example.com/cleanup'] }),
      status: 'Terminating',
      message: 'waiting for finalizers example.com/cleanup',
    },
    {
      name: 'generation not observed',
      object: widget({ observedGeneration: 4, conditions: [condition('Ready', 'True')] }),
      status: 'InProgress',
      message: 'Waiting for the Widget controller to observe generation 5 (it has seen 4)',
    },
    {
      name: 'Reconciling=True',
      object: widget({
        observedGeneration: 5,
        conditions: [
          condition('Ready', 'Unknown', 'Progressing', 'Reconciliation in progress'),
          condition('Reconciling', 'True', 'Progressing', 'Fetching revision main@sha1:5a4c3e21'),
        ],
      }),
      status: 'InProgress',
      message: 'Reconciling: Progressing: Fetching revision main@sha1:5a4c3e21',
    },
    {
      name: 'Stalled=True',
      object: widget({
        observedGeneration: 5,
        conditions: [
          condition('Ready', 'False', 'InvalidSpec', 'spec.size must be small or medium'),
          condition('Stalled', 'True', 'InvalidSpec', 'spec.size must be small or medium'),
        ],
      }),
      status: 'Failed',
      message: 'Stalled: InvalidSpec: spec.size must be small or medium',
    },
    {
      name: 'Ready=True',
      object: widget({
        observedGeneration: 5,
        conditions: [condition('Ready', 'True', 'Succeeded', 'Widget is blue')],
      }),
      status: 'Current',
      message: 'Ready: Widget is blue',
    },
    {
      name: 'Ready=False',
      object: widget({
        observedGeneration: 5,
        conditions: [condition('Ready', 'False', 'DependencyNotReady', 'waiting for gear')],
      }),
      status: 'InProgress',
      message: 'Not ready: DependencyNotReady: waiting for gear',
    },
    {
      name: 'Ready=Unknown',
      object: widget({ observedGeneration: 5, conditions: [condition('Ready', 'Unknown', 'Progressing')] }),
      status: 'InProgress',
      message: 'Readiness unknown: Progressing',
    },
    { name: 'no conditions', object: widget({}), status: 'Current', message: 'current' },
    {
      name: 'conditions malformed',
      object: widget({ conditions: 'yes' }),
      status: 'Current',
      message: 'current',
    },
    {
      name: 'a custom kind named Deployment is judged generically',
      object: plain('example.com/v1', 'Deployment'),
      status: 'Current',
      message: 'current',
    },
    {
      name: 'too malformed to judge',
      object: pod({ phase: 'Running', containerStatuses: 42 }),
      status: 'Unknown',
      message: 'Cannot judge',
    },
  ]);

  it('reports deletion before anything else', () => {
    const deleting = deployment(complete);
    deleting.metadata.deletionTimestamp = secondsAgo(1);
    expect(computeStatus(deleting, NOW)).toEqual({
      status: 'Terminating',
      message: 'Object is being deleted',
    });
  });

  it('describes a result with the object it belongs to', () => {
    const ref = { group: 'apps', kind: 'Deployment', namespace: 'shop', name: 'web' };
    expect(describeHealth(ref, { status: 'InProgress', message: '1 of 3 replicas available' })).toBe(
      'Deployment.apps/shop/web: 1 of 3 replicas available',
    );
  });
});
