/**
 * The contract between whoever sees something happen to an Application (the controller) and the
 * notifications about it: an event value handed to `Notifier.notify`, which returns at once. What
 * happens next (finding the Notifications that want it, reading their Secrets, sending with retries)
 * is the dispatcher's business and can neither fail nor slow the caller.
 *
 * Each target (webhook.ts, slack.ts, commit-status/*.ts) is a pure function from an event and its
 * configuration to one HTTP request, so each can be tested with nothing but values; sending is the
 * transport's (transport.ts) and deciding what to send where is the dispatcher's (dispatcher.ts).
 */
import type { NotificationEventType, NotificationTargetType } from '../api/v1alpha1.js';

export type { NotificationEventType, NotificationTargetType } from '../api/v1alpha1.js';
export { NOTIFICATION_EVENT_TYPES, NOTIFICATION_TARGET_TYPES } from '../api/v1alpha1.js';

/**
 * Something that happened to one Application. When each is emitted:
 * - `SyncSucceeded` / `SyncFailed`: an apply that changed something, or failed (not every resync).
 * - `HealthDegraded` / `HealthRecovered`: overall health turned Degraded / came back to Healthy,
 *   or a new revision's rollout became Healthy (commit statuses go from pending to success).
 * - `RolledBack` / `RollbackFailed`: `revision` is what is (or was to be) applied now,
 *   `previousRevision` the revision rolled back from.
 */
export interface NotificationEvent {
  readonly type: NotificationEventType;
  readonly application: { readonly namespace: string; readonly name: string };
  /** The commit SHA applied (or attempted); commit statuses are set on it. */
  readonly revision?: string;
  /** For rollbacks: the SHA rolled back from. */
  readonly previousRevision?: string;
  /** The ref the Application follows (`main`, `v1.2.3`), for people. */
  readonly ref?: string;
  /** Already redacted by the caller (status messages are); bounded and redacted again here. */
  readonly message: string;
  /** Overall health: `Healthy`, `Progressing`, `Degraded`, `Missing`, `Suspended`, `Unknown`. */
  readonly health?: string;
  readonly time: Date;
  /** The Application's Repository URL: commit statuses derive their API from it. */
  readonly repositoryUrl?: string;
}

/** Fire-and-forget: never throws, never waits for the network, whatever the receivers do. */
export interface Notifier {
  notify(event: NotificationEvent): void;
}

/** A Notifier that drops everything (no Notifications configured, or tests). */
export const nullNotifier: Notifier = { notify: () => undefined };

/** One request to a receiver. The body is JSON text, sent as given (what an HMAC signs). */
export interface HttpRequest {
  readonly method: 'POST';
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface HttpResponse {
  readonly status: number;
  /** Lower-case names; only single values are kept. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  /** At most the transport's reply limit (a few KiB), decoded as UTF-8. */
  readonly body: string;
}

export interface SendOptions {
  readonly timeoutMs: number;
  /** Aborting destroys the request; the promise rejects. */
  readonly signal?: AbortSignal;
}

/** The I/O boundary: tests substitute it; transport.ts has the node:http one. */
export interface HttpTransport {
  /** Resolves with any HTTP answer (including 4xx/5xx); rejects when none came (network, timeout). */
  send(request: HttpRequest, options: SendOptions): Promise<HttpResponse>;
}

/** A Secret's decoded values and annotations: what the targets and the URL checks need. */
export interface NotificationSecret {
  readonly namespace: string;
  readonly name: string;
  readonly annotations: Readonly<Record<string, string>>;
  readonly data: Readonly<Record<string, string>>;
}

/** Where a request's URL came from: decides which checks it needs (see url.ts). */
export type UrlSource = 'secret' | 'spec' | 'derived';

/** What a target builds: the request, and what is needed to check and describe it safely. */
export interface TargetRequest {
  readonly request: HttpRequest;
  readonly urlSource: UrlSource;
  /** How to name the receiver in logs: never a secret URL. */
  readonly display: string;
}

export interface TargetInput {
  readonly event: NotificationEvent;
  readonly target: { readonly type: NotificationTargetType; readonly url?: string | undefined };
  readonly secret?: NotificationSecret | undefined;
  /** The same for every attempt of one delivery: receivers dedupe retries with it. */
  readonly deliveryId: string;
  /** When this attempt is made. */
  readonly now: Date;
}

/**
 * A target: builds the request for an event, or returns a reason to send nothing (a commit status
 * for an event without a SHA). Throws UserError for configuration it cannot use (no URL, no token).
 */
export type BuildTarget = (input: TargetInput) => TargetRequest | { readonly skip: string };

export type { NotificationTargetType as TargetType };
