/**
 * Where a notification may be sent. Whoever writes a Notification chooses its URL (or, for commit
 * statuses, the Repository URL it is derived from), and need not be able to read the Secret it names:
 * were the Secret's token sent wherever the URL points, a tenant could name a Secret it cannot read,
 * point the URL at a server of its own and receive the token. So, as for Git credentials
 * (source/credential-scope.ts, whose parser and matching this reuses), the Secret decides:
 *
 * - a URL taken from the Secret itself (key `url`) is the Secret owner's choice, and goes;
 * - any other URL a Secret's material goes with (a token, an HMAC signature) must be covered by a
 *   prefix in the Secret's annotation `capstan.dev/notification-urls`;
 * - plain http:// needs `capstan.dev/allow-insecure-http: "true"` on the Secret; without a Secret,
 *   https:// only;
 * - link-local and cloud metadata addresses (169.254.169.254 and friends) are refused unless the
 *   controller's operator allowed them: checked here on the URL, and again by the transport on every
 *   address a name resolves to (a DNS name can point anywhere).
 */
import { BlockList, isIP } from 'node:net';
import { UserError } from '../core/errors.js';
import {
  ALLOW_INSECURE_HTTP_ANNOTATION,
  covers,
  parseLocation,
  splitPrefixes,
  type Location,
} from '../source/credential-scope.js';
import { quote, redactUrl } from '../source/redact.js';
import type { NotificationSecret, UrlSource } from './types.js';

/** On a Secret: the URL prefixes its material may be sent to, comma- or newline-separated. */
export const NOTIFICATION_URLS_ANNOTATION = 'capstan.dev/notification-urls';
export { ALLOW_INSECURE_HTTP_ANNOTATION };

/** A notification URL refused: fixed by the Notification's or the Secret's owner. */
export class NotificationUrlError extends UserError {}

export interface UrlCheck {
  readonly url: string;
  readonly source: UrlSource;
  /** How to name the URL in an error (never the URL itself when it is secret). */
  readonly display: string;
  /** The Secret whose material goes with the request, if any. */
  readonly secret?: NotificationSecret | undefined;
  /** The operator's switch (never a tenant's): allow link-local and metadata addresses. */
  readonly allowLinkLocal?: boolean;
}

/** Throws a NotificationUrlError saying why `url` may not be used; returns when it may. */
export function checkNotificationUrl(check: UrlCheck): void {
  const refuse = (reason: string, cause?: unknown): never => {
    throw new NotificationUrlError(
      `notification URL ${check.display} is not allowed: ${reason}`,
      cause === undefined ? undefined : { cause },
    );
  };
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(check.url)?.[1]?.toLowerCase();
  if (scheme !== 'https' && scheme !== 'http') return refuse('only https:// (or http://, see below) URLs');
  let location: Location;
  try {
    // The Git URL checks: one reading for every parser, no `..` or encoded `/`, no password.
    location = parseLocation(check.url, 'url');
  } catch (error) {
    return refuse(error instanceof Error ? error.message : String(error), error);
  }
  if (location.user !== undefined) refuse('it names a user; credentials belong in the Secret');

  const secret = check.secret;
  const who = secret ? `the Secret ${secret.namespace}/${secret.name}` : undefined;
  if (location.scheme === 'http') {
    if (!secret) refuse('plain http:// needs a Secret that allows it; use https://');
    if (secret?.annotations[ALLOW_INSECURE_HTTP_ANNOTATION]?.trim() !== 'true') {
      refuse(
        `it would go over plain http://, readable by anyone on the way; use https://, or, if the ` +
          `Secret's owner accepts that risk, annotate ${who} ${ALLOW_INSECURE_HTTP_ANNOTATION}: "true"`,
      );
    }
  }
  if (!check.allowLinkLocal && isBlockedHost(location.host)) {
    refuse('it points at a link-local or cloud metadata address');
  }
  if (secret && check.source !== 'secret') checkScope(location, secret, refuse);
}

function checkScope(location: Location, secret: NotificationSecret, refuse: (reason: string) => never): void {
  const who = `the Secret ${secret.namespace}/${secret.name}`;
  const entries = splitPrefixes(secret.annotations[NOTIFICATION_URLS_ANNOTATION] ?? '');
  const prefixes = entries.map((entry) => {
    try {
      return parseLocation(entry, 'prefix');
    } catch (error) {
      return refuse(
        `${who} has an invalid entry ${quote(redactUrl(entry))} in its annotation ${NOTIFICATION_URLS_ANNOTATION}: ${
          error instanceof Error ? error.message : String(error)
        }`,
      );
    }
  });
  if (!prefixes.some((prefix) => covers(prefix, location))) {
    refuse(
      `${who} does not list it in its annotation ${NOTIFICATION_URLS_ANNOTATION} (URL prefixes its ` +
        `token or key may be used for: scheme, host, port and leading path segments must match); ` +
        `if it may, the Secret's owner adds a prefix such as ${quote(suggestedPrefix(location))}`,
    );
  }
}

/** The URL's origin and its first two path segments: `https://api.github.com/repos/acme/`. */
function suggestedPrefix(location: Location): string {
  const defaultPort = location.scheme === 'https' ? 443 : 80;
  const port = location.port === defaultPort ? '' : `:${location.port}`;
  const path = location.segments.slice(0, 2).join('/');
  return `${location.scheme}://${location.host}${port}/${path}${path ? '/' : ''}`;
}

// Link-local ranges (where every cloud's instance metadata lives) and the other metadata addresses.
const BLOCKED_ADDRESSES = new BlockList();
BLOCKED_ADDRESSES.addSubnet('169.254.0.0', 16, 'ipv4');
BLOCKED_ADDRESSES.addAddress('100.100.100.200', 'ipv4'); // Alibaba Cloud metadata
BLOCKED_ADDRESSES.addSubnet('fe80::', 10, 'ipv6');
BLOCKED_ADDRESSES.addAddress('fd00:ec2::254', 'ipv6'); // AWS IMDS over IPv6

const BLOCKED_NAMES = new Set([
  'metadata',
  'metadata.google.internal',
  'metadata.goog',
  'instance-data',
  'instance-data.ec2.internal',
]);

/** A host name or address literal (IPv6 with or without brackets) that must not be contacted. */
export function isBlockedHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  const family = isIP(bare);
  if (family === 0) return BLOCKED_NAMES.has(bare.replace(/\.$/, ''));
  return isBlockedAddress(bare, family === 4 ? 'ipv4' : 'ipv6');
}

/** A resolved address (IPv4-mapped IPv6 included) in a blocked range. */
export function isBlockedAddress(address: string, family: 'ipv4' | 'ipv6'): boolean {
  return BLOCKED_ADDRESSES.check(address, family);
}

/**
 * A URL as it may appear in logs: for Slack-like URLs, whose path is the credential, only the
 * origin; otherwise credentials and query values redacted (source/redact.ts).
 */
export function displayUrl(url: string, { secretPath = false } = {}): string {
  if (!secretPath) return quote(redactUrl(url));
  try {
    return quote(`${new URL(url).origin}/…`);
  } catch {
    return "'(an invalid URL)'";
  }
}
