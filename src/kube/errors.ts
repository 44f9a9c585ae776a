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
  /**
   * The server's words, except when the target is a Secret: then one of the fixed texts
   * `SECRET_CAUSE_IMMUTABLE` or `SECRET_CAUSE_WITHHELD`, since the server may quote field values.
   */
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
  /** The kind the request is about; `Secret` (in any group) gets its errors scrubbed. */
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
  const serverMessage = typeof statusObject.message === 'string' ? statusObject.message : '';
  const shown = targetsSecret(target, details)
    ? scrubbedForSecret({ status, reason, serverMessage, details, target })
    : { message: serverMessage || `${target.method} ${target.path}: HTTP ${status} ${reason}`, details };
  return new KubeApiError({
    status,
    reason,
    message: shown.message,
    target,
    ...(shown.details ? { details: shown.details } : {}),
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

/** A Secret cause's message when the server said the field may not change (the applier looks for it). */
export const SECRET_CAUSE_IMMUTABLE = 'field is immutable';
/** A Secret cause's message otherwise. */
export const SECRET_CAUSE_WITHHELD = 'message withheld: it may quote Secret data';

/**
 * Whether the request was about a Secret: by kind name in any group (a Secret under a misspelled or
 * custom group carries the same data), by the `secrets` resource a Status names, or by a `secrets`
 * URL when the caller did not say what the request was for.
 */
function targetsSecret(target: RequestTarget, details: StatusDetails | undefined): boolean {
  if (target.kind !== undefined && SECRET_KIND.test(target.kind)) return true;
  if (details?.kind !== undefined && SECRET_KIND.test(details.kind)) return true;
  return SECRETS_PATH.test(target.path);
}

const SECRET_KIND = /^secrets?$/i;
const SECRETS_PATH = /^\/(?:api\/[^/]+|apis\/[^/]+\/[^/]+)\/(?:namespaces\/[^/]+\/)?secrets(?:\/|$)/;

/**
 * A failure about a Secret keeps only what cannot carry a value: the HTTP status, the reason, the
 * object's name, and each problem's field path with its reason or expected type. The API server
 * quotes values in more than Invalid errors — a field of the wrong type in a server-side apply
 * answers 500 "failed to create typed patch object" with the value printed in Go syntax, and any
 * other message may be next — so none of the prose it wrote is kept, whatever the status.
 */
function scrubbedForSecret(failure: {
  status: number;
  reason: string;
  serverMessage: string;
  details: StatusDetails | undefined;
  target: RequestTarget;
}): { message: string; details?: StatusDetails } {
  const { status, reason, serverMessage, details, target } = failure;
  const causes = details?.causes?.map(scrubbedCause);
  const problems = [
    ...(causes ?? []).flatMap(describeCause),
    ...typedPatchProblems(serverMessage),
    ...authorizationDenial(serverMessage),
  ];
  const name = details?.name ?? secretNameInPath(target.path);
  const what = `Secret${name ? ` "${name}"` : ''}: ${target.method} failed with HTTP ${status}${reason ? ` ${reason}` : ''}`;
  return {
    message:
      problems.length > 0
        ? `${what}: ${problems.join('; ')}`
        : `${what} (the API server's message is withheld: it may quote Secret data)`,
    ...(details ? { details: causes ? { ...details, causes } : details } : {}),
  };
}

/** Keeps the reason and field path (they name, never quote), and replaces the message with a fixed text. */
function scrubbedCause(cause: StatusCause): StatusCause {
  return {
    ...(cause.reason === undefined ? {} : { reason: cause.reason }),
    ...(cause.field === undefined ? {} : { field: cause.field }),
    message: saysImmutable(cause.message) ? SECRET_CAUSE_IMMUTABLE : SECRET_CAUSE_WITHHELD,
  };
}

/**
 * Whether the server's verdict is that the field may not change (`Forbidden: field is immutable when
 * \`immutable\` is set`, `Invalid value: "Opaque": field is immutable`), read outside the quotes
 * where it puts values, so that a value cannot pass itself off as the verdict.
 */
function saysImmutable(message: string | undefined): boolean {
  return message !== undefined && /\bfield is immutable\b/.test(outsideQuotes(message));
}

/**
 * The text with every double-quoted string (Go's %q, backslash escapes) emptied. A scanner, not a
 * pattern: a value full of escaped quotes would make a backtracking regex quadratic, and the value is
 * the tenant's to choose. An unclosed quote hides the rest.
 */
function outsideQuotes(text: string): string {
  let out = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const character = text[i]!;
    if (quoted) {
      if (character === '\\') i++;
      else if (character === '"') {
        quoted = false;
        out += '"';
      }
    } else {
      out += character;
      if (character === '"') quoted = true;
    }
  }
  return out;
}

function describeCause(cause: StatusCause): string[] {
  const line = [cause.field, cause.reason].filter((part) => part !== undefined && part !== '').join(': ');
  if (line === '') return [];
  return [cause.message === SECRET_CAUSE_IMMUTABLE ? `${line} (${SECRET_CAUSE_IMMUTABLE})` : line];
}

const TYPED_PATCH_PREFIX = /^failed to create typed patch object \([^)]*\): /;
/** A path in structured-merge-diff's notation, in the characters Secret keys may use. */
const SMD_PATH = String.raw`\.[A-Za-z0-9._\-/[\]]*`;
const TYPE_MISMATCH = new RegExp(
  `^(${SMD_PATH}): (expected (?:string|boolean|map|list|numeric \\(int or float\\)|any scalar)), got `,
);
const UNDECLARED = new RegExp(`^(${SMD_PATH}): (field not declared in schema)$`);

/**
 * The field paths and expected types of a server-side apply type error, which has no causes and says
 * them only in its message: `failed to create typed patch object (ns/name; /v1, Kind=Secret):
 * .stringData.pin: expected string, got &value.valueUnstructured{Value:987654321}` (several errors
 * come as `errors:` and then one per line). A line is used only when it reads exactly as a path and
 * one of structured-merge-diff's fixed phrases; what follows `got` — the value — is always dropped.
 */
function typedPatchProblems(message: string): string[] {
  const prefix = TYPED_PATCH_PREFIX.exec(message);
  if (!prefix) return [];
  const lines = message
    .slice(prefix[0].length)
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && line !== 'errors:');
  const problems = lines.flatMap((line) => {
    const [, path, phrase] = TYPE_MISMATCH.exec(line) ?? UNDECLARED.exec(line) ?? [];
    return path && phrase ? [`${path}: ${phrase}`] : [];
  });
  // The server lists them in Go map order, which changes between calls: sorted, the same failure
  // always reads the same, so a status holding it is not rewritten for nothing.
  problems.sort();
  const unread = lines.length - problems.length;
  return unread > 0 && problems.length > 0 ? [...problems, `${unread} more withheld`] : problems;
}

const AUTHORIZATION_DENIAL =
  /^[a-z0-9.]+(?: "[^"\\]*")? is forbidden: (User "[^"\\]*" cannot [a-z]+ resource "[a-z0-9./-]*" in API group "[a-z0-9.-]*" (?:in the namespace "[a-z0-9-]*"|at the cluster scope))(?:: |$)/;

/**
 * Who was refused what, from an authorization denial (`secrets "db" is forbidden: User "bob" cannot
 * patch resource "secrets" in API group "" in the namespace "app"`): the request's attributes, which
 * the API server writes from a fixed template, and which tell an operator which identity (an app's
 * ServiceAccount, say) lacks which permission. An admission denial is Forbidden too, but its text is
 * free (a policy may print the object), so it does not match and stays withheld, as does any reason
 * an authorizer appends.
 */
function authorizationDenial(message: string): string[] {
  const denial = AUTHORIZATION_DENIAL.exec(message)?.[1];
  return denial === undefined ? [] : [denial];
}

/** The object name in `…/secrets/<name>` (undefined for a collection, as in a create). */
function secretNameInPath(path: string): string | undefined {
  const encoded = /\/secrets\/([^/]+)$/.exec(path)?.[1];
  if (encoded === undefined) return undefined;
  try {
    return decodeURIComponent(encoded);
  } catch {
    return undefined;
  }
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
