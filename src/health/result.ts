/** The verdicts kstatus gives, and small constructors the per-kind rules share. */
import type { KubeObject } from '../core/objects.js';

export type HealthStatus = 'InProgress' | 'Failed' | 'Current' | 'Terminating' | 'NotFound' | 'Unknown';

export interface HealthResult {
  readonly status: HealthStatus;
  /**
   * A sentence a person can act on. It does not repeat the object's kind and name: whoever shows it
   * shows the object beside it (see `describeHealth`).
   */
  readonly message: string;
  /**
   * Set when the verdict will change by the passage of time alone (a Pod's grace to get scheduled):
   * a waiter computes the status again at that moment even if the object has not changed.
   */
  readonly reevaluateAt?: Date;
  /**
   * Set on an `InProgress` verdict when nothing is rolling out: the object finished its rollout and
   * then lost what made it healthy (a Deployment whose Pods stopped being available). kstatus waits
   * on it like any rollout; a person calls it Degraded, and so does the Application's health.
   */
  readonly degraded?: true;
  /** Set when the object is deliberately stopped (a paused Deployment, a suspended CronJob). */
  readonly suspended?: true;
}

/** Judges one object of a known kind, once the generic checks have passed. */
export type KindRule = (object: KubeObject, now: Date) => HealthResult;

export const current = (message: string): HealthResult => ({ status: 'Current', message });
export const inProgress = (message: string): HealthResult => ({ status: 'InProgress', message });
export const failed = (message: string): HealthResult => ({ status: 'Failed', message });
export const suspended = (message: string): HealthResult => ({ status: 'Current', message, suspended: true });
export const degraded = (message: string): HealthResult => ({
  status: 'InProgress',
  message,
  degraded: true,
});

/** "1 replica", "3 replicas". */
export function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
