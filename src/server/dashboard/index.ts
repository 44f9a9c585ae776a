/**
 * The dashboard's server side: the `/api/v1` HTTP API (schemas in schema.ts, which the front-end
 * imports), its sessions and authorization as the user, the shared cache of Applications and the
 * event stream.
 */
export { createDashboardServer, DEFAULT_DASHBOARD_LIMITS, HttpError, toHttpError } from './server.js';
export type { DashboardDependencies, DashboardLimits } from './server.js';
export { startApplicationCache, type ApplicationCache } from './cache.js';
export {
  DEFAULT_DRY_RUN_LIMITS,
  type DryRunLimits,
  type DryRunPlan,
  type PlanDiff,
  type PlannedObject,
} from './dry-run.js';
export { AppIndex, type IndexChange, type NamespaceScope } from './app-index.js';
export {
  accessTokenAuthenticator,
  bearerClientFactory,
  bearerTokenAuthenticator,
  reviewSelf,
  type Authenticated,
  type Authenticator,
  type BearerClientFactory,
  type UserIdentity,
} from './identity.js';
export type { Session } from './sessions.js';
export * from './schema.js';
