/**
 * Decoding an authenticated webhook body and reading fields out of it without trusting its shape.
 */
import { UserError } from '../../core/errors.js';
import type { PullRequestAction, PullRequestChange, WebhookHeaders } from './types.js';

/** URLs longer than this are not repository URLs (the source layer refuses them too). */
const MAX_URL_LENGTH = 2048;
/** Git refs have no hard limit, but nothing legitimate comes close to this. */
const MAX_REF_LENGTH = 1024;

/** A single-valued header; a repeated one is ambiguous and counts as absent. */
export function header(headers: WebhookHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return typeof value === 'string' ? value : undefined;
}

/**
 * The JSON document inside a body: the body itself, or for `application/x-www-form-urlencoded` (which
 * GitHub sends when a hook's content type is "form") the `payload` field.
 */
export function decodeBody(rawBody: Buffer, contentType: string | undefined): unknown {
  let json = rawBody.toString('utf8');
  if (contentType?.toLowerCase().startsWith('application/x-www-form-urlencoded')) {
    const payload = new URLSearchParams(json).get('payload');
    if (payload === null) throw new UserError('form-encoded payload has no "payload" field');
    json = payload;
  }
  try {
    return JSON.parse(json) as unknown;
  } catch {
    // The parser's message quotes the payload; keep it out of responses and logs.
    throw new UserError('payload is not valid JSON');
  }
}

/** The value at `path` inside nested objects, or undefined when any step is missing or not an object. */
export function field(value: unknown, ...path: string[]): unknown {
  let current = value;
  for (const key of path) {
    if (typeof current !== 'object' || current === null || Array.isArray(current)) return undefined;
    if (!Object.hasOwn(current, key)) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

/** A non-empty URL-sized string at `path`, or undefined. */
export function urlField(value: unknown, ...path: string[]): string | undefined {
  const found = field(value, ...path);
  return typeof found === 'string' && found !== '' && found.length <= MAX_URL_LENGTH ? found : undefined;
}

/** A ref-sized string at `path`, or undefined. */
export function refField(value: unknown, ...path: string[]): string | undefined {
  const found = field(value, ...path);
  return typeof found === 'string' && found !== '' && found.length <= MAX_REF_LENGTH ? found : undefined;
}

/** The distinct defined values, in first-seen order. */
export function distinct(values: readonly (string | undefined)[]): string[] {
  return [...new Set(values.filter((value): value is string => value !== undefined))];
}

/** Refuses a push that names no repository: there is nothing to reconcile, and it is not what hosts send. */
export function requireUrls(urls: string[], event: string): string[] {
  if (urls.length === 0) throw new UserError(`${event} payload names no repository URL`);
  return urls;
}

/** A commit id: SHA-1 or SHA-256, as hosts send it (lower-case hex). */
const COMMIT_SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
/**
 * A branch name as Git allows it (git-check-ref-format): no whitespace or control characters, none
 * of `~^:?*[\`. `..` and a leading `-` are refused separately; the class is linear.
 */
// eslint-disable-next-line no-control-regex
const BRANCH_NAME = /^[^\s\u0000-\u001f\u007f~^:?*[\\]+$/;
/** Pull-request numbers are small positive integers on every host; beyond this a payload is lying. */
const MAX_PULL_REQUEST_NUMBER = 2 ** 31 - 1;

/** What a host's parser read out of a pull-request payload, before validation. */
export interface PullRequestFields {
  readonly action: PullRequestAction;
  readonly number: unknown;
  readonly headSha: unknown;
  readonly headRef: unknown;
  readonly baseRef: unknown;
  readonly merged: unknown;
  readonly fork: boolean;
}

/**
 * The validated pull request of an authenticated payload; throws `UserError` naming the first field
 * that is not what the hosts send (the value itself is not quoted: it may be anything).
 */
export function pullRequestChange(fields: PullRequestFields, event: string): PullRequestChange {
  const refuse = (what: string): never => {
    throw new UserError(`${event} payload: ${what}`);
  };
  const { number } = fields;
  if (
    typeof number !== 'number' ||
    !Number.isSafeInteger(number) ||
    number < 1 ||
    number > MAX_PULL_REQUEST_NUMBER
  )
    refuse('the pull request number is not a positive integer');
  const headSha = typeof fields.headSha === 'string' ? fields.headSha.toLowerCase() : '';
  if (!COMMIT_SHA.test(headSha)) refuse('the head commit is not a 40 or 64 digit hex SHA');
  const headRef = branchName(fields.headRef) ?? refuse('the head branch is not a branch name');
  const baseRef = branchName(fields.baseRef) ?? refuse('the base branch is not a branch name');
  return {
    action: fields.action,
    number: number as number,
    headSha,
    headRef,
    baseRef,
    merged: fields.merged === true,
    fork: fields.fork,
  };
}

function branchName(value: unknown): string | undefined {
  const name = typeof value === 'string' && value.startsWith('refs/heads/') ? value.slice(11) : value;
  if (typeof name !== 'string' || name === '' || name.length > MAX_REF_LENGTH) return undefined;
  if (!BRANCH_NAME.test(name) || name.startsWith('-') || name.includes('..')) return undefined;
  return name;
}
