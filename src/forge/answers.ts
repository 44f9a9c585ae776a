/**
 * Checking a forge's answers field by field. A host (or whatever answers in its name) controls every
 * byte it sends: each value taken from an answer is checked for type and bounds here, and anything
 * else is a malformed answer (an internal ForgeError), never a crash or an unbounded value.
 */
import type { ForgeHttp } from './http.js';
import type { ForgeError } from './types.js';
import { MAX_LABELS, MAX_NAME_CHARS, MAX_REF_CHARS, MAX_TITLE_CHARS, type PullRequest } from './types.js';

const MAX_URL_CHARS = 2048;
/** Full SHA-1 or SHA-256 object names. */
const SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
/** What a branch name can never hold (git check-ref-format): whitespace, controls, `~^:?*[\`. */
// eslint-disable-next-line no-control-regex
const NOT_IN_REF = /[\u0000-\u0020\u007f~^:?*[\\]/;

/** The answer's context: which call, and the client to word the error. */
export interface AnswerContext {
  readonly http: ForgeHttp;
  readonly what: string;
}

export type Fields = Readonly<Record<string, unknown>>;

/** Reads an answer: each accessor throws a malformed-answer error naming the field. */
export class Answer {
  constructor(
    private readonly context: AnswerContext,
    private readonly value: unknown,
    private readonly path = 'answer',
  ) {}

  private fail(detail: string): ForgeError {
    return this.context.http.malformed(this.context.what, `${this.path} ${detail}`);
  }

  private record(): Fields {
    if (this.value === null || typeof this.value !== 'object' || Array.isArray(this.value)) {
      throw this.fail('is not an object');
    }
    return this.value as Fields;
  }

  field(name: string): Answer {
    return new Answer(this.context, this.record()[name], `${this.path}.${name}`);
  }

  has(name: string): boolean {
    const value = this.record()[name];
    return value !== undefined && value !== null;
  }

  /** The elements, at most `max` of them (more is malformed). */
  list(max: number): Answer[] {
    if (!Array.isArray(this.value)) throw this.fail('is not a list');
    if (this.value.length > max) throw this.fail(`has more than ${max} items`);
    return this.value.map((item, index) => new Answer(this.context, item, `${this.path}[${index}]`));
  }

  positiveInteger(): number {
    const value = this.value;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
      throw this.fail('is not a positive integer');
    }
    return value;
  }

  /** A positive integer, or undefined for anything else (an id a host may leave out, as for a deleted user). */
  optionalPositiveInteger(): number | undefined {
    const value = this.value;
    return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? value : undefined;
  }

  string(maxChars: number): string {
    if (typeof this.value !== 'string') throw this.fail('is not a string');
    if (this.value.length > maxChars) throw this.fail(`is longer than ${maxChars} characters`);
    return this.value;
  }

  /** Any string, for searching in (a comment body): bounded by the answer's own byte bound. */
  text(): string {
    if (typeof this.value !== 'string') throw this.fail('is not a string');
    return this.value;
  }

  /** A string of at most `maxChars`, its control characters made spaces. */
  line(maxChars: number): string {
    // eslint-disable-next-line no-control-regex
    return this.string(maxChars).replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
  }

  boolean(): boolean {
    if (typeof this.value !== 'boolean') throw this.fail('is not true or false');
    return this.value;
  }

  ref(): string {
    const ref = this.string(MAX_REF_CHARS);
    if (ref === '' || NOT_IN_REF.test(ref)) throw this.fail('is not a branch name');
    return ref;
  }

  sha(): string {
    const sha = this.string(64);
    if (!SHA.test(sha)) throw this.fail('is not a full commit id');
    return sha;
  }

  httpUrl(): string {
    const url = this.string(MAX_URL_CHARS);
    if (!/^https?:\/\/[^\s]+$/.test(url)) throw this.fail('is not an http(s) URL');
    return url;
  }

  /** A user name or label. */
  name(): string {
    const name = this.line(MAX_NAME_CHARS);
    if (name === '') throw this.fail('is empty');
    return name;
  }

  oneOf<T extends string>(allowed: readonly T[]): T {
    const value = this.string(32);
    if (!(allowed as readonly string[]).includes(value))
      throw this.fail(`is not one of ${allowed.join(', ')}`);
    return value as T;
  }
}

export function answer(context: AnswerContext, body: unknown): Answer {
  return new Answer(context, body);
}

/** A pull request's number and web page from a create or find answer. */
export function pullRequestFrom(
  context: AnswerContext,
  body: unknown,
  fields: { number: string; url: string },
  reused: boolean,
): PullRequest {
  const pr = answer(context, body);
  return { number: pr.field(fields.number).positiveInteger(), url: pr.field(fields.url).httpUrl(), reused };
}

/** The title, at most MAX_TITLE_CHARS, without control characters. */
export function titleOf(pr: Answer): string {
  return pr.field('title').line(MAX_TITLE_CHARS);
}

/** GitHub's and Gitea's labels: `[{ name }]`. */
export function labelObjects(pr: Answer): string[] {
  if (!pr.has('labels')) return [];
  return pr
    .field('labels')
    .list(MAX_LABELS)
    .map((label) => label.field('name').name());
}
