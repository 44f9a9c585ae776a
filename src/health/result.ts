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
}

/** Judges one object of a known kind, once the generic checks have passed. */
export type KindRule = (object: KubeObject, now: Date) => HealthResult;

export const current = (message: string): HealthResult => ({ status: 'Current', message });
export const inProgress = (message: string): HealthResult => ({ status: 'InProgress', message });
export const failed = (message: string): HealthResult => ({ status: 'Failed', message });

/** "1 replica", "3 replicas". */
export function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
