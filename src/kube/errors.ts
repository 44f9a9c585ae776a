/**
 * Typed errors for everything that talks to the API server.
 *
 * `KubeApiError` carries what the server said (its `Status` body, scrubbed when the target is a
 * Secret), `KubeTransportError` what the network did. Both are `CapstanError`s, so the engine can
 * decide from `kind` alone whether to retry (transient), surface (user), or branch (notFound, conflict).
 * Neither ever includes a request body.
 */
import { CapstanError, type ErrorKind } from '../core/errors.js';

/** One field-level problem from a `Status`'s `details.causes`. */
export interface StatusCause {
  readonly reason?: string;
  /** Absent when scrubbed (the target is a Secret): the server may quote field values in it. */
  readonly message?: string;
  readonly field?: string;
}

export interface StatusDetails {
  readonly name?: string;
  readonly group?: string;
  /** A kind ("Secret") for Invalid errors, a resource ("secrets") for most others. */
  readonly kind?: string;
  readonly uid?: string;
  readonly causes?: readonly StatusCause[];
  readonly retryAfterSeconds?: number;
}

/** What the request was about, so messages can name it and Secrets can be recognised. */
export interface RequestTarget {
  readonly method: string;
  /** The URL path without the query string. */
  readonly path: string;
  readonly group?: string;
  readonly kind?: string;
}

/** The API server answered with an error status. */
export class KubeApiError extends CapstanError {
  /** HTTP status code (also `Status.code`). */
  readonly status: number;
  /** `Status.reason`: NotFound, AlreadyExists, Conflict, Forbidden, Invalid, Expired, … ('' when absent). */
  readonly reason: string;
  readonly details: StatusDetails | undefined;
  readonly method: string;
  readonly path: string;
  /** From `details.retryAfterSeconds` or a `Retry-After` header (429, some 5xx). */
  readonly retryAfterSeconds: number | undefined;

  constructor(init: {
    status: number;
    reason: string;
    message: string;
    details?: StatusDetails;
    target: RequestTarget;
    retryAfterSeconds?: number;
  }) {
    super(kindForStatus(init.status), init.message);
    this.status = init.status;
    this.reason = init.reason;
    this.details = init.details;
    this.method = init.target.method;
    this.path = init.target.path;
    this.retryAfterSeconds = init.retryAfterSeconds ?? init.details?.retryAfterSeconds;
  }
}

/** The request never got an answer: refused, reset, timed out, TLS failed, or the answer was unusable. */
export class KubeTransportError extends CapstanError {
  /** `ECONNREFUSED`, `ECONNRESET`, `ETIMEDOUT`, `ERR_TLS_CERT_ALTNAME_INVALID`, `RESPONSE_TOO_LARGE`, … */
  readonly code: string;
  readonly method: string;
  readonly path: string;

  constructor(init: {
    code: string;
    message: string;
    target: RequestTarget;
    kind?: ErrorKind;
    cause?: unknown;
  }) {
    super(init.kind ?? kindForNetworkCode(init.code), init.message, { cause: init.cause });
    this.code = init.code;
    this.method = init.target.method;
    this.path = init.target.path;
  }
}

export function isKubeApiError(error: unknown): error is KubeApiError {
  return error instanceof KubeApiError;
}

export function isNotFound(error: unknown): boolean {
  return error instanceof KubeApiError && error.status === 404;
}

export function isConflict(error: unknown): boolean {
  return error instanceof KubeApiError && error.status === 409;
}

/** 410 Gone / reason Expired: a resourceVersion or continue token is too old; relist. */
export function isGone(error: unknown): boolean {
  return (
    error instanceof KubeApiError &&
    (error.status === 410 || error.reason === 'Expired' || error.reason === 'Gone')
  );
}

export function kindForStatus(status: number): ErrorKind {
  if (status === 404) return 'notFound';
  if (status === 409) return 'conflict';
  if (status === 400 || status === 403 || status === 405 || status === 413 || status === 422) return 'user';
  // Credentials that the server rejects are a configuration problem, not a flaky network.
  if (status === 401) return 'environment';
  if (status === 408 || status === 410 || status === 429 || status >= 500) return 'transient';
  return 'internal';
}

const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|HOSTNAME_MISMATCH)/;

export function kindForNetworkCode(code: string): ErrorKind {
  // A certificate that does not verify will not verify on retry either: the configuration is wrong.
  if (TLS_CODE.test(code)) return 'environment';
  if (code === 'RESPONSE_TOO_LARGE' || code === 'BAD_RESPONSE') return 'internal';
  return 'transient';
}

/**
 * Builds the error for a non-2xx response from its body (a `Status` when the apiserver produced it,
 * anything at all when a proxy in between did).
 */
export function errorFromResponse(
  status: number,
  body: Buffer | string | undefined,
  target: RequestTarget,
  retryAfterHeader?: string | string[],
): KubeApiError {
  const parsed = parseStatus(body);
  const retryAfterSeconds = parseRetryAfter(retryAfterHeader);
  if (!parsed) {
    return new KubeApiError({
      status,
      reason: reasonForCode(status),
      message: `${target.method} ${target.path}: HTTP ${status}`,
      target,
      ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
    });
  }
  return errorFromStatus(parsed, target, status, retryAfterSeconds);
}

/** Builds the error for a `Status` object (a response body, or a watch `ERROR` event). */
export function errorFromStatus(
  statusObject: StatusObject,
  target: RequestTarget,
  httpStatus?: number,
  retryAfterSeconds?: number,
): KubeApiError {
  const status =
    typeof statusObject.code === 'number' && statusObject.code > 0 ? statusObject.code : (httpStatus ?? 500);
  const reason = typeof statusObject.reason === 'string' ? statusObject.reason : reasonForCode(status);
  const details = normaliseDetails(statusObject.details);
  const secret = targetsSecret(target, details);
  const message = secret
    ? scrubbedSecretMessage(status, reason, statusObject.message, details)
    : typeof statusObject.message === 'string' && statusObject.message !== ''
      ? statusObject.message
      : `${target.method} ${target.path}: HTTP ${status} ${reason}`;
  const safeDetails =
    secret && details?.causes ? { ...details, causes: details.causes.map(withoutMessage) } : details;
  return new KubeApiError({
    status,
    reason,
    message,
    target,
    ...(safeDetails ? { details: safeDetails } : {}),
    ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
  });
}

/** The fields of a `Status` that we read; everything is optional because proxies lie. */
export interface StatusObject {
  kind?: unknown;
  code?: unknown;
  reason?: unknown;
  message?: unknown;
  details?: unknown;
}

function parseStatus(body: Buffer | string | undefined): StatusObject | undefined {
  if (body === undefined || body.length === 0) return undefined;
  try {
    const value: unknown = JSON.parse(typeof body === 'string' ? body : body.toString('utf8'));
    if (value && typeof value === 'object' && (value as StatusObject).kind === 'Status')
      return value as StatusObject;
  } catch {
    // Not JSON (an HTML error page from a load balancer, say): fall back to the HTTP status alone.
  }
  return undefined;
}

function normaliseDetails(raw: unknown): StatusDetails | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const d = raw as Record<string, unknown>;
  const causes = Array.isArray(d.causes)
    ? d.causes.filter((c): c is Record<string, unknown> => !!c && typeof c === 'object').map(normaliseCause)
    : undefined;
  return {
    ...(typeof d.name === 'string' ? { name: d.name } : {}),
    ...(typeof d.group === 'string' ? { group: d.group } : {}),
    ...(typeof d.kind === 'string' ? { kind: d.kind } : {}),
    ...(typeof d.uid === 'string' ? { uid: d.uid } : {}),
    ...(causes ? { causes } : {}),
    ...(typeof d.retryAfterSeconds === 'number' ? { retryAfterSeconds: d.retryAfterSeconds } : {}),
  };
}

function normaliseCause(c: Record<string, unknown>): StatusCause {
  return {
    ...(typeof c.reason === 'string' ? { reason: c.reason } : {}),
    ...(typeof c.message === 'string' ? { message: c.message } : {}),
    ...(typeof c.field === 'string' ? { field: c.field } : {}),
  };
}

function withoutMessage(cause: StatusCause): StatusCause {
  return {
    ...(cause.reason === undefined ? {} : { reason: cause.reason }),
    ...(cause.field === undefined ? {} : { field: cause.field }),
  };
}

function targetsSecret(target: RequestTarget, details: StatusDetails | undefined): boolean {
  if (target.kind === 'Secret' && (target.group ?? '') === '') return true;
  if (details && (details.group ?? '') === '' && (details.kind === 'Secret' || details.kind === 'secrets'))
    return true;
  // A core-group secrets URL, even when the caller did not say what it was for.
  return /^\/api\/v1\/(namespaces\/[^/]+\/)?secrets(\/|$)/.test(target.path);
}

/**
 * The apiserver quotes offending values in Invalid and BadRequest messages
 * (`data[.dockerconfigjson]: Invalid value: "<the secret>": …`). For Secrets we rebuild those messages
 * from reasons and field paths only; other statuses (Forbidden, NotFound, Conflict, AlreadyExists) name
 * the object and the user, never a value, and are kept as they are.
 */
function scrubbedSecretMessage(
  status: number,
  reason: string,
  original: unknown,
  details: StatusDetails | undefined,
): string {
  const echoesInput = status === 400 || status === 422 || reason === 'Invalid' || reason === 'BadRequest';
  if (!echoesInput && typeof original === 'string' && original !== '') return original;
  const name = details?.name ? ` "${details.name}"` : '';
  const fields = (details?.causes ?? [])
    .map((c) => [c.field, c.reason].filter((part) => part !== undefined && part !== '').join(': '))
    .filter((line) => line !== '');
  const problems =
    fields.length > 0 ? `: ${fields.join('; ')}` : ' (message withheld: it may quote secret data)';
  return `Secret${name} is ${reason === 'Invalid' ? 'invalid' : `rejected (${reason || `HTTP ${status}`})`}${problems}`;
}

function parseRetryAfter(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined) return undefined;
  const seconds = Number(value);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds : undefined;
}

function reasonForCode(status: number): string {
  switch (status) {
    case 400:
      return 'BadRequest';
    case 401:
      return 'Unauthorized';
    case 403:
      return 'Forbidden';
    case 404:
      return 'NotFound';
    case 405:
      return 'MethodNotAllowed';
    case 409:
      return 'Conflict';
    case 410:
      return 'Gone';
    case 413:
      return 'RequestEntityTooLarge';
    case 415:
      return 'UnsupportedMediaType';
    case 422:
      return 'Invalid';
    case 429:
      return 'TooManyRequests';
    case 500:
      return 'InternalError';
    case 503:
      return 'ServiceUnavailable';
    case 504:
      return 'Timeout';
    default:
      return '';
  }
}
