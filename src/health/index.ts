/** Health: kstatus rules per kind, and watch-driven waits for a set of objects. */
export type { HealthResult, HealthStatus } from './result.js';
export { SCHEDULING_GRACE_MS } from './pods.js';
export { computeStatus, describeHealth } from './status.js';
export {
  waitForHealth,
  type ObjectHealth,
  type ObjectWatcher,
  type WaitOptions,
  type WaitOutcome,
  type WaitResult,
} from './wait.js';
export {
  aggregateHealth,
  HEALTH_STATES,
  isWorse,
  objectHealthState,
  stateOf,
  type AppHealth,
  type HealthState,
  type ObjectHealthState,
} from './app-health.js';
