/**
 * Kubernetes Events on Capstan's objects (`kubectl describe` and `kubectl get events` show them).
 * Recording is best effort: a failed Event never fails a reconcile.
 */
import { randomBytes } from 'node:crypto';
import type { KubeClient } from '../kube/index.js';

export interface EventTarget {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace: string;
    readonly uid?: string;
    readonly resourceVersion?: string;
  };
}

export type EventRecorder = (
  target: EventTarget,
  type: 'Normal' | 'Warning',
  reason: string,
  message: string,
) => Promise<void>;

export function kubeEventRecorder(
  kube: KubeClient,
  component = 'capstan-controller',
  onError?: (error: unknown) => void,
): EventRecorder {
  return async (target, type, reason, message) => {
    const now = new Date().toISOString();
    try {
      await kube.create({
        apiVersion: 'v1',
        kind: 'Event',
        metadata: {
          name: `${target.metadata.name}.${randomBytes(8).toString('hex')}`,
          namespace: target.metadata.namespace,
        },
        involvedObject: {
          apiVersion: target.apiVersion,
          kind: target.kind,
          name: target.metadata.name,
          namespace: target.metadata.namespace,
          ...(target.metadata.uid ? { uid: target.metadata.uid } : {}),
        },
        type,
        reason,
        message: message.slice(0, 1024),
        source: { component },
        reportingComponent: component,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      });
    } catch (error) {
      onError?.(error);
    }
  };
}
