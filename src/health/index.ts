/** Health: kstatus rules per kind, and watch-driven waits for a set of objects. */
export { systemClock, type Clock, type TimerHandle } from './clock.js';
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
