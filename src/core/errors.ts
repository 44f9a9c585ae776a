/**
 * Errors are values with a kind. The kind decides what a front end does with them:
 * - `user`: the input is wrong (a spec, a flag, a manifest, a repository); surface it, do not retry.
 * - `environment`: the machine is not fit to run this (a tool missing, a folder not writable).
 * - `notFound` / `conflict`: the API said so; callers often branch on these.
 * - `transient`: the network or a server was unavailable; retry with backoff.
 * - `internal`: a bug or an unexpected answer; surface it with its cause.
 *
 * Messages must never carry a secret: callers redact before they construct an error.
 */
export type ErrorKind = 'user' | 'environment' | 'notFound' | 'conflict' | 'transient' | 'internal';

export class CapstanError extends Error {
  readonly kind: ErrorKind;

  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
    this.name = new.target.name;
  }
}

/** The input (spec, flag, manifest, repository content) is wrong; retrying will not help. */
export class UserError extends CapstanError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('user', message, options);
  }
}

/** The machine lacks something Capstan needs (a tool, a writable folder, a free port). */
export class EnvironmentError extends CapstanError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('environment', message, options);
  }
}

/** A dependency (Git server, API server) was unreachable or overloaded; worth retrying. */
export class TransientError extends CapstanError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('transient', message, options);
  }
}

export function isCapstanError(error: unknown): error is CapstanError {
  return error instanceof CapstanError;
}

/** The message of anything thrown, without assuming it is an Error. */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** The message followed by its chain of causes, one per line, for people reading a terminal or a log. */
export function describeError(error: unknown): string {
  const lines: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 8; depth++) {
    const message = messageOf(current);
    if (!lines.includes(message)) lines.push(depth === 0 ? message : `caused by: ${message}`);
    current = current instanceof Error ? current.cause : undefined;
  }
  return lines.join('\n');
}
