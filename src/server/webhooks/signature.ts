/**
 * Constant-time checks of webhook credentials. Both functions compare fixed-length digests, so
 * neither the result's timing nor an early exit says anything about the secret, its length, or how
 * many leading characters of a guess were right.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const SHA256_HEX = /^[0-9a-fA-F]{64}$/;
const SHA256_BYTES = 32;

/**
 * True when `signatureHex` is the hex HMAC-SHA256 of `body` under `secret`. A malformed signature is
 * compared like any other (against zeros) rather than refused early: the work done does not depend
 * on what the sender sent.
 */
export function hmacSha256Matches(body: Buffer, secret: string, signatureHex: string | undefined): boolean {
  const expected = createHmac('sha256', secret).update(body).digest();
  const wellFormed = signatureHex !== undefined && SHA256_HEX.test(signatureHex);
  const provided = wellFormed ? Buffer.from(signatureHex, 'hex') : Buffer.alloc(SHA256_BYTES);
  const equal = timingSafeEqual(expected, provided);
  return equal && wellFormed && secret !== '';
}

/**
 * True when a plain shared token (GitLab's `X-Gitlab-Token`) equals the secret. Both sides are
 * HMACed under a fresh random key first: the digests have equal length whatever the inputs, and
 * their bytes are unpredictable to the sender, so nothing leaks through timing.
 */
export function tokenMatches(provided: string | undefined, secret: string): boolean {
  const key = randomBytes(SHA256_BYTES);
  const digest = (value: string): Buffer => createHmac('sha256', key).update(value, 'utf8').digest();
  const equal = timingSafeEqual(digest(provided ?? ''), digest(secret));
  return equal && provided !== undefined && secret !== '';
}

/** The value after `prefix` (`sha256=`), or undefined when the header lacks that prefix. */
export function withoutPrefix(value: string | undefined, prefix: string): string | undefined {
  if (value === undefined || !value.toLowerCase().startsWith(prefix)) return undefined;
  return value.slice(prefix.length);
}
