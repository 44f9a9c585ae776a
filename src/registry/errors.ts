import { CapstanError, type ErrorKind } from '../core/errors.js';

/**
 * What went wrong with a registry, for callers that branch on it:
 * - `auth`: credentials missing or refused, or they may not go where the registry asked;
 * - `notFound`: no such repository, tag, manifest or blob;
 * - `tooLarge`: an answer (tag list, manifest, blob) exceeded its bound;
 * - `digest`: content does not match its digest (or the registry named a different one);
 * - `unreachable`: no answer, a timeout, a 5xx or a 429 (`retryAfterMs` set when the registry said);
 * - `protocol`: an answer that is not what the distribution spec promises.
 */
export type RegistryErrorKind = 'auth' | 'notFound' | 'tooLarge' | 'digest' | 'unreachable' | 'protocol';

const ERROR_KINDS: Record<RegistryErrorKind, ErrorKind> = {
  auth: 'user',
  notFound: 'notFound',
  tooLarge: 'user',
  digest: 'user',
  unreachable: 'transient',
  protocol: 'transient',
};

/**
 * A registry request that failed. `reason` is the registry-specific kind (CapstanError's `kind` is the
 * general one: `auth` is `user`, `unreachable` is `transient`, …). Messages never carry a password,
 * token or Authorization value, nor text the registry chose beyond a spec error code.
 */
export class RegistryError extends CapstanError {
  readonly reason: RegistryErrorKind;
  /** HTTP status when the registry answered. */
  readonly status: number | undefined;
  /** How long the registry asked to wait (a 429 or 503 with Retry-After). */
  readonly retryAfterMs: number | undefined;

  constructor(
    reason: RegistryErrorKind,
    message: string,
    options: { cause?: unknown; status?: number; retryAfterMs?: number } = {},
  ) {
    super(ERROR_KINDS[reason], message, options.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
  }
}

export function isRegistryError(error: unknown, reason?: RegistryErrorKind): error is RegistryError {
  return error instanceof RegistryError && (reason === undefined || error.reason === reason);
}
