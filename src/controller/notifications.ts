/**
 * Notifications, wired to the controller: an informer on Notification objects, the dispatcher
 * (src/notify/) that delivers, and the translation of what the reconciler announces (`AppNotice`)
 * into notification events. Delivery never blocks a reconcile: `notify` only queues.
 */
import { GROUP, VERSION, type Notification, type Repository } from '../api/v1alpha1.js';
import { messageOf } from '../core/errors.js';
import { systemClock } from '../core/time.js';
import { startInformer, type KubeClient } from '../kube/index.js';
import { NotificationDispatcher, type NotificationLogEntry, type SecretObject } from '../notify/index.js';
import type { AppNotice } from './application.js';
import type { ControllerLog } from './controller.js';

export interface Notifications {
  readonly synced: Promise<void>;
  notify(notice: AppNotice, repository: Repository | undefined): void;
  close(): Promise<void>;
}

export function startNotifications(
  kube: KubeClient,
  options: {
    readonly signal: AbortSignal;
    readonly log: ControllerLog;
    readonly namespace?: string;
    /** The operator's switch: deliver to link-local and metadata addresses. */
    readonly allowLinkLocal?: boolean;
  },
): Notifications {
  const { log } = options;
  const informer = startInformer<Notification>(kube, {
    group: GROUP,
    version: VERSION,
    kind: 'Notification',
    ...(options.namespace ? { namespace: options.namespace } : {}),
    signal: options.signal,
    onError: (error) => log.warn({ err: messageOf(error) }, 'Notification watch error'),
  });
  const dispatcher = new NotificationDispatcher({
    notificationsIn: (namespace) => informer.list().filter((n) => n.metadata.namespace === namespace),
    readSecret: async (namespace, name) =>
      (await kube.get({ group: '', kind: 'Secret', namespace, name })) as SecretObject | undefined,
    clock: systemClock,
    log: (entry) => logEntry(log, entry),
    options: { allowLinkLocal: options.allowLinkLocal ?? false },
  });
  return {
    synced: informer.synced,
    notify: (notice, repository) =>
      dispatcher.notify({
        type: notice.type,
        application: { namespace: notice.app.metadata.namespace, name: notice.app.metadata.name },
        revision: notice.revision,
        ...(notice.rolledBackFrom ? { previousRevision: notice.rolledBackFrom } : {}),
        ...(typeof notice.app.spec.ref === 'string' ? { ref: notice.app.spec.ref } : {}),
        message: notice.message,
        ...(notice.health ? { health: notice.health } : {}),
        time: new Date(),
        ...(typeof repository?.spec.url === 'string' ? { repositoryUrl: repository.spec.url } : {}),
      }),
    close: () => dispatcher.close(),
  };
}

/** The dispatcher's messages are redacted already; fields name the delivery, never a URL or a secret. */
function logEntry(log: ControllerLog, entry: NotificationLogEntry): void {
  const { level, message, ...fields } = entry;
  log[level === 'error' ? 'error' : level === 'warn' ? 'warn' : level === 'info' ? 'info' : 'debug'](
    fields as Record<string, unknown>,
    `notification: ${message}`,
  );
}
