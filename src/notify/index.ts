/**
 * Notifications: Application events to webhooks, Slack-compatible chats and Git hosts' commit
 * statuses. The controller builds one `NotificationDispatcher` and calls `notify(event)`.
 */
export {
  DEFAULT_DISPATCHER_OPTIONS,
  NotificationDispatcher,
  type DispatcherDeps,
  type DispatcherOptions,
  type DispatcherStats,
  type NotificationLogEntry,
  type NotificationMetrics,
} from './dispatcher.js';
export { decodeSecret, type ReadSecret, type SecretObject } from './secrets.js';
export { targetBuilders } from './targets.js';
export { BlockedAddressError, httpTransport, type TransportOptions } from './transport.js';
export {
  NOTIFICATION_EVENT_TYPES,
  NOTIFICATION_TARGET_TYPES,
  nullNotifier,
  type HttpRequest,
  type HttpResponse,
  type HttpTransport,
  type NotificationEvent,
  type NotificationEventType,
  type NotificationTargetType,
  type Notifier,
} from './types.js';
export { ALLOW_INSECURE_HTTP_ANNOTATION, NOTIFICATION_URLS_ANNOTATION } from './url.js';
export {
  DELIVERY_HEADER,
  EVENT_HEADER,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  verifyDelivery,
  type WebhookPayload,
} from './webhook.js';
