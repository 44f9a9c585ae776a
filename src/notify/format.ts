/**
 * Words about an event, shared by the targets: a one-line summary, bounded messages. Messages come
 * from statuses that are already redacted; they are redacted again (structural rules only) and cut,
 * so nothing a target sends is unbounded or carries a credential a caller forgot.
 */
import { redactText } from '../source/redact.js';
import type { NotificationEvent, NotificationEventType } from './types.js';

/** A message longer than this is cut (with `…`) before any target sees it. */
export const MAX_MESSAGE_CHARS = 2000;

const VERBS: Readonly<Record<NotificationEventType, string>> = {
  SyncSucceeded: 'synced',
  SyncFailed: 'sync failed',
  HealthDegraded: 'health degraded',
  HealthRecovered: 'health recovered',
  RolledBack: 'rolled back',
  RollbackFailed: 'rollback failed',
};

/** `team-a/web synced abc1234def56` (rollbacks: `… rolled back from 0123… to abc1…`). */
export function summary(event: NotificationEvent): string {
  const app = `${event.application.namespace}/${event.application.name}`;
  const verb = VERBS[event.type];
  const at = event.revision ? ` ${shortSha(event.revision)}` : '';
  if ((event.type === 'RolledBack' || event.type === 'RollbackFailed') && event.previousRevision) {
    return `${app} ${verb} from ${shortSha(event.previousRevision)} to${at || ' an earlier revision'}`;
  }
  return `${app} ${verb}${event.revision ? ` at${at}` : ''}`;
}

export function shortSha(sha: string): string {
  return sha.slice(0, 12);
}

/** The event's message, redacted and at most `max` characters. */
export function boundedMessage(event: NotificationEvent, max = MAX_MESSAGE_CHARS): string {
  return truncate(redactText(event.message.slice(0, max * 2)), max);
}

/** `text` cut to at most `max` characters (code units), ending in `…` when cut. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  // Do not leave half of a surrogate pair at the end.
  let end = max - 1;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return `${text.slice(0, end)}…`;
}
