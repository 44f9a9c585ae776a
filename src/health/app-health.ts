/**
 * Health as people read it, for one object and for an Application: the states Argo CD users know
 * (Healthy, Progressing, Degraded, Missing, Suspended, Unknown), derived from kstatus verdicts. The
 * kstatus verdict stays what waves and waits use; this is what status, the CLI and Events say.
 */
import { formatRef, type KubeObject, type ObjectRef } from '../core/objects.js';
import type { HealthResult } from './result.js';
import { computeStatus } from './status.js';

export const HEALTH_STATES = [
  'Healthy',
  'Progressing',
  'Degraded',
  'Missing',
  'Suspended',
  'Unknown',
] as const;
export type HealthState = (typeof HEALTH_STATES)[number];

export interface ObjectHealthState {
  readonly state: HealthState;
  /** What the object says about it, without its kind and name. */
  readonly message: string;
}

export interface AppHealth {
  readonly state: HealthState;
  /** Agrees with `state`: names the object that decided it, or counts the healthy ones. */
  readonly message: string;
}

/** The state of one object; `undefined` is an object the cluster does not have. */
export function objectHealthState(object: KubeObject | undefined, now: Date = new Date()): ObjectHealthState {
  return stateOf(computeStatus(object, now));
}

export function stateOf(verdict: HealthResult): ObjectHealthState {
  const { message } = verdict;
  switch (verdict.status) {
    case 'Current':
      return { state: verdict.suspended ? 'Suspended' : 'Healthy', message };
    case 'InProgress':
      return { state: verdict.degraded ? 'Degraded' : 'Progressing', message };
    case 'Failed':
      return { state: 'Degraded', message };
    case 'NotFound':
      return { state: 'Missing', message };
    case 'Terminating':
      return { state: 'Progressing', message };
    case 'Unknown':
      return { state: 'Unknown', message };
  }
}

/** Worst first: the state that needs a person most decides the Application's. */
const SEVERITY: Readonly<Record<HealthState, number>> = {
  Degraded: 5,
  Missing: 4,
  Unknown: 3,
  Progressing: 2,
  Suspended: 1,
  Healthy: 0,
};

/**
 * The Application's health from its objects': the worst state, explained by the first object in
 * that state (and how many others share it). No objects is Healthy: there is nothing to wait for.
 */
export function aggregateHealth(
  objects: Iterable<{ readonly ref: ObjectRef; readonly health: ObjectHealthState }>,
): AppHealth {
  let worst: { ref: ObjectRef; health: ObjectHealthState } | undefined;
  let total = 0;
  let sharing = 0;
  for (const object of objects) {
    total++;
    const severity = SEVERITY[object.health.state];
    if (worst === undefined || severity > SEVERITY[worst.health.state]) {
      worst = object;
      sharing = 1;
    } else if (severity === SEVERITY[worst.health.state]) sharing++;
  }
  if (worst === undefined) return { state: 'Healthy', message: 'no objects to judge' };
  if (worst.health.state === 'Healthy')
    return { state: 'Healthy', message: `${total === 1 ? '1 object' : `${total} objects`} healthy` };
  const others = sharing > 1 ? ` (and ${sharing - 1} more ${worst.health.state})` : '';
  return { state: worst.health.state, message: `${formatRef(worst.ref)}: ${worst.health.message}${others}` };
}

export function isWorse(a: HealthState, b: HealthState): boolean {
  return SEVERITY[a] > SEVERITY[b];
}
