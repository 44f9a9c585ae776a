/** Content digests as OCI and Helm write them: `sha256:<64 hex>` (Helm's index: the bare hex). */
import { createHash } from 'node:crypto';
import { UserError } from '../../core/errors.js';
import { quote } from '../redact.js';

const SHA256_DIGEST = /^sha256:([0-9a-f]{64})$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;

/** A digest refused: the bytes are not the ones named. */
export class DigestMismatchError extends UserError {}

/** `sha256:<hex>` from `sha256:<hex>` or a bare hex (Helm indexes); UserError for anything else. */
export function parseDigest(text: string, what: string): string {
  const lower = typeof text === 'string' ? text.trim().toLowerCase() : '';
  if (SHA256_HEX.test(lower)) return `sha256:${lower}`;
  if (SHA256_DIGEST.test(lower)) return lower;
  throw new UserError(`${what}: ${quote(String(text), 80)} is not a sha256 digest (sha256:<64 hex digits>)`);
}

export function isDigest(text: string): boolean {
  return SHA256_DIGEST.test(text);
}

export function sha256Digest(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Throws a DigestMismatchError unless `data` hashes to `expected` (`sha256:<hex>`). */
export function verifyDigest(data: Buffer, expected: string, what: string): void {
  const actual = sha256Digest(data);
  if (actual !== expected)
    throw new DigestMismatchError(
      `${what} is refused: its content has digest ${actual}, not the ${expected} it was published with`,
    );
}
