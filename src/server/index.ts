/** The HTTP front end: health, metrics and webhook receivers. */
export { createServer, DEFAULT_LIMITS } from './server.js';
export type { ImagePushEvent, PullRequestEvent, ServerDependencies, ServerLimits } from './server.js';
export { CapstanMetrics, SYNC_OUTCOMES, WEBHOOK_OUTCOMES } from './metrics.js';
export type {
  CapstanMetricsOptions,
  ReconcileKind,
  ReconcileResult,
  SyncOutcome,
  WebhookOutcome,
} from './metrics.js';
export type { PushEvent } from './debounce.js';
export { repositoryMatchKey } from './repository-key.js';
export { WEBHOOK_PROVIDERS, isWebhookProvider, webhookReceivers } from './webhooks/index.js';
export type {
  ParsedWebhook,
  PullRequestAction,
  PullRequestChange,
  WebhookHeaders,
  WebhookProvider,
  WebhookReceiver,
} from './webhooks/index.js';
