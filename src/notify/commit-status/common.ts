/**
 * What the three Git hosts' commit status APIs share: the state an event means, the context that
 * tells Capstan's statuses apart from CI's, a bounded description, and the repository path and API
 * base derived from the Application's Repository URL.
 */
import { UserError } from '../../core/errors.js';
import { parseLocation, type Location } from '../../source/credential-scope.js';
import { boundedMessage, summary, truncate } from '../format.js';
import { requireSecretValue } from '../secrets.js';
import type { NotificationEvent, TargetInput } from '../types.js';
import { displayUrl } from '../url.js';

// The hosts' status vocabulary has one home, the forge client (src/forge); these requests are
// built here because notifications go through the notify transport (retries, delivery records).
import { MAX_DESCRIPTION_CHARS, type CommitState } from '../../forge/index.js';

export { MAX_DESCRIPTION_CHARS, type CommitState };

/**
 * A sync that succeeded while objects are still rolling out is `pending` until health settles (the
 * next event is HealthRecovered or HealthDegraded); a failed rollback is an `error` of Capstan's,
 * not a verdict on the commit.
 */
export function commitState(event: NotificationEvent): CommitState {
  switch (event.type) {
    case 'SyncSucceeded':
      // The controller's states (Progressing, Degraded), and kstatus's for other senders.
      if (event.health === 'Progressing' || event.health === 'InProgress') return 'pending';
      return event.health === 'Degraded' || event.health === 'Failed' ? 'failure' : 'success';
    case 'HealthRecovered':
    case 'RolledBack':
      return 'success';
    case 'SyncFailed':
    case 'HealthDegraded':
      return 'failure';
    case 'RollbackFailed':
      return 'error';
  }
}

/**
 * `capstan/<namespace>/<name>`: one status per Application, and two teams' apps of the same name on
 * one repository do not overwrite each other's.
 */
export function statusContext(event: NotificationEvent): string {
  return `capstan/${event.application.namespace}/${event.application.name}`;
}

/** `rolled back from 0123… to abc1…: <message>`, at most 140 characters. */
export function description(event: NotificationEvent): string {
  const app = `${event.application.namespace}/${event.application.name} `;
  const what = summary(event).slice(app.length);
  const message = boundedMessage(event, MAX_DESCRIPTION_CHARS).replace(/\s+/g, ' ').trim();
  return truncate(message ? `${what}: ${message}` : what, MAX_DESCRIPTION_CHARS);
}

/** Full SHA-1 or SHA-256 object names only: a branch name in a URL path would be a different API. */
const SHA = /^([0-9a-f]{40}|[0-9a-f]{64})$/;
/** Owner, group and repository names as the hosts allow them; nothing else is put in a path. */
const SEGMENT = /^[A-Za-z0-9_.-]+$/;

export interface CommitTarget {
  readonly sha: string;
  /** The repository's path segments on its host: `[owner, repo]`, or GitLab's `[group, sub, project]`. */
  readonly segments: readonly string[];
  /** Where the API lives, without a trailing `/`. */
  readonly apiBase: string;
  /** True when apiBase came from target.url (else derived from the Repository URL). */
  readonly apiFromSpec: boolean;
}

export type CommitTargetOrSkip = CommitTarget | { readonly skip: string };

/**
 * The commit and repository an event's status goes to, or why none. `defaultApi` makes the API base
 * from the Repository URL's origin and host.
 */
export function commitTarget(
  input: TargetInput,
  defaultApi: (origin: string, host: string) => string,
): CommitTargetOrSkip {
  const { event, target } = input;
  if (!event.revision) return { skip: 'the event names no commit' };
  if (!SHA.test(event.revision)) return { skip: 'the revision is not a full commit SHA' };
  if (!event.repositoryUrl) return { skip: 'the event names no repository URL' };
  let location: Location;
  try {
    location = parseLocation(event.repositoryUrl, 'url');
  } catch (error) {
    throw new UserError(
      `cannot derive a commit status API from the repository URL ${displayUrl(event.repositoryUrl)}: ${
        error instanceof Error ? error.message : String(error)
      }`,
    );
  }
  const segments = location.segments;
  if (segments.length < 2 || !segments.every((segment) => SEGMENT.test(segment))) {
    throw new UserError(
      `the repository URL ${displayUrl(event.repositoryUrl)} does not name owner/repository in a form a commit status API takes`,
    );
  }
  if (target.url !== undefined) {
    return { sha: event.revision, segments, apiBase: apiBaseOf(target.url), apiFromSpec: true };
  }
  // ssh and scp-like URLs name the same host; its API speaks https on the default port.
  const scheme = location.scheme === 'http' ? 'http' : 'https';
  const defaultPort = scheme === 'https' ? 443 : 80;
  const port = location.scheme !== 'ssh' && location.port !== defaultPort ? `:${location.port}` : '';
  const origin = `${scheme}://${location.host}${port}`;
  return { sha: event.revision, segments, apiBase: defaultApi(origin, location.host), apiFromSpec: false };
}

/** target.url as an API base: no query or fragment, no trailing `/`. */
function apiBaseOf(url: string): string {
  if (/[?#]/.test(url)) {
    throw new UserError(`target.url ${displayUrl(url)} must be an API base URL without a query or fragment`);
  }
  return url.replace(/\/+$/, '');
}

/** The request's display: its URL, which holds nothing secret (the token goes in a header). */
export function display(url: string): string {
  return displayUrl(url);
}

/** The Secret's `token`, refused when it could not be a header value (the error never shows it). */
export function tokenOf(input: TargetInput, purpose: string): string {
  const token = requireSecretValue(input.secret, 'token', purpose);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(token) || /[^\u0000-\u00ff]/.test(token)) {
    throw new UserError(
      `the token in the Secret ${input.secret?.namespace}/${input.secret?.name} has characters a header cannot carry`,
    );
  }
  return token;
}
