/**
 * A Notification's Secret: read through an injected function (the controller's client, or a fake),
 * decoded once per attempt (so a rotated token is picked up), never printed. Errors name the Secret
 * and the key, never a value.
 */
import { UserError } from '../core/errors.js';
import type { NotificationSecret } from './types.js';

/** A Secret as the API returns it: base64 `data`, maybe `stringData` from a fake. */
export interface SecretObject {
  readonly metadata?: { readonly annotations?: Readonly<Record<string, string>> | undefined } | undefined;
  readonly data?: Readonly<Record<string, string>> | undefined;
  readonly stringData?: Readonly<Record<string, string>> | undefined;
}

/** `undefined` when the Secret does not exist; rejects when it could not be read (retried). */
export type ReadSecret = (namespace: string, name: string) => Promise<SecretObject | undefined>;

/** No key or value in a notification Secret is this long; larger ones are refused unread. */
const MAX_VALUE_BYTES = 64 * 1024;

export function decodeSecret(namespace: string, name: string, secret: SecretObject): NotificationSecret {
  const data: Record<string, string> = {};
  for (const [key, value] of Object.entries(secret.data ?? {})) {
    if (typeof value !== 'string') continue;
    if (value.length > (MAX_VALUE_BYTES * 4) / 3 + 4) {
      throw new UserError(`the Secret ${namespace}/${name} has a value too large for key ${key}`);
    }
    data[key] = Buffer.from(value, 'base64').toString('utf8');
  }
  for (const [key, value] of Object.entries(secret.stringData ?? {})) {
    if (typeof value === 'string') data[key] = value;
  }
  return { namespace, name, annotations: { ...(secret.metadata?.annotations ?? {}) }, data };
}

/** A key's value with surrounding whitespace trimmed (a trailing newline from `echo` is common). */
export function secretValue(secret: NotificationSecret | undefined, key: string): string | undefined {
  const value = secret?.data[key]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

/** Like secretValue, but the key is required: a UserError names the Secret and the key otherwise. */
export function requireSecretValue(
  secret: NotificationSecret | undefined,
  key: string,
  purpose: string,
): string {
  if (!secret) throw new UserError(`${purpose} needs target.secretRef naming a Secret with key ${key}`);
  const value = secretValue(secret, key);
  if (value === undefined) {
    throw new UserError(`the Secret ${secret.namespace}/${secret.name} has no key ${key} (${purpose})`);
  }
  return value;
}

/** Every value of the Secret: what redaction hides wherever it shows up. */
export function secretValues(secret: NotificationSecret | undefined): string[] {
  const values = Object.values(secret?.data ?? {}).flatMap((value) => [value, value.trim()]);
  return [...new Set(values.filter((value) => value !== ''))];
}
