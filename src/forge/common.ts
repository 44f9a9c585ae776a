/**
 * What the three hosts' clients share: checking what a caller asks for (repository names, numbers,
 * statuses, comment bodies) before anything is sent, and the upsert of a marked comment, written
 * once over each host's comment API.
 */
import { quote } from '../source/redact.js';
import { answer } from './answers.js';
import type { ForgeHttp } from './http.js';
import {
  ForgeError,
  type CommentInput,
  type CommitStatusInput,
  type ListPullRequestsOptions,
  type PullRequestInput,
  type UpsertedComment,
} from './types.js';

/** GitHub refuses longer comments (65,536); the hosts' pages stay readable below that. */
export const MAX_COMMENT_CHARS = 60_000;
/** GitHub refuses longer status descriptions; GitLab and Gitea get the same. */
export const MAX_DESCRIPTION_CHARS = 140;
export const DEFAULT_LIST_LIMIT = 100;
export const MAX_LIST_LIMIT = 1000;
/** Pages of comments searched for the marked one: 20 × 50 comments. */
export const MAX_COMMENT_PAGES = 20;
export const COMMENT_PAGE_SIZE = 50;

const MAX_MARKER_CHARS = 200;
const MAX_CONTEXT_CHARS = 255;
const MAX_TARGET_URL_CHARS = 2048;
const SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

/** The repository's path segments, refused when one could change the API path. */
export function segmentsOf(repo: string, exact: number | undefined): string[] {
  const segments = typeof repo === 'string' ? repo.split('/') : [];
  if (
    segments.length < 2 ||
    (exact !== undefined && segments.length !== exact) ||
    segments.some((s) => s === '' || s === '.' || s === '..' || /[\s\\?#%]/.test(s))
  ) {
    throw new ForgeError('user', `${quote(String(repo))} is not a repository name the forge API accepts`);
  }
  return segments;
}

/** `owner/name`, each part URL-encoded (GitHub, Gitea). */
export function ownerRepoPath(repo: string): string {
  return `/repos/${segmentsOf(repo, 2).map(encodeURIComponent).join('/')}`;
}

/** The project's full path, URL-encoded, is its id (`group%2Fsub%2Fname`): GitLab. */
export function projectPath(repo: string): string {
  return `/projects/${encodeURIComponent(segmentsOf(repo, undefined).join('/'))}`;
}

export function checkPullRequestInput(input: PullRequestInput): void {
  for (const field of ['head', 'base', 'title'] as const) {
    if (typeof input[field] !== 'string' || input[field] === '') {
      throw new ForgeError('user', `pull request ${field} is missing`);
    }
  }
}

export function checkNumber(number: number): number {
  if (typeof number !== 'number' || !Number.isSafeInteger(number) || number <= 0) {
    throw new ForgeError('user', `${quote(String(number))} is not a pull request number`);
  }
  return number;
}

/** The limit asked for, within [1, 1000]; and the base filter, when given. */
export function listBounds(options: ListPullRequestsOptions = {}): { limit: number; base?: string } {
  const limit = options.limit ?? DEFAULT_LIST_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new ForgeError('user', `the limit of pull requests listed must be a positive integer`);
  }
  if (options.base !== undefined && (typeof options.base !== 'string' || options.base === '')) {
    throw new ForgeError('user', 'the base branch to list pull requests of is empty');
  }
  return {
    limit: Math.min(limit, MAX_LIST_LIMIT),
    ...(options.base === undefined ? {} : { base: options.base }),
  };
}

/** A status with its description cut to 140 characters; a bad sha, context or URL is a user error. */
export function checkStatus(sha: string, status: CommitStatusInput): CommitStatusInput {
  if (typeof sha !== 'string' || !SHA.test(sha)) {
    throw new ForgeError('user', `a commit status needs a full commit id, not ${quote(String(sha))}`);
  }
  if (!['pending', 'success', 'failure', 'error'].includes(status.state)) {
    throw new ForgeError('user', `${quote(String(status.state))} is not a commit state`);
  }
  if (
    typeof status.context !== 'string' ||
    status.context === '' ||
    status.context.length > MAX_CONTEXT_CHARS ||
    // eslint-disable-next-line no-control-regex
    /[\u0000-\u001f\u007f]/.test(status.context)
  ) {
    throw new ForgeError(
      'user',
      `the commit status context ${quote(String(status.context))} is not a short line`,
    );
  }
  const description = cutDescription(typeof status.description === 'string' ? status.description : '');
  if (status.targetUrl === undefined) return { state: status.state, context: status.context, description };
  return {
    state: status.state,
    context: status.context,
    description,
    targetUrl: checkTargetUrl(status.targetUrl),
  };
}

function cutDescription(text: string): string {
  // eslint-disable-next-line no-control-regex
  const line = text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').trim();
  const chars = Array.from(line);
  return chars.length <= MAX_DESCRIPTION_CHARS
    ? line
    : `${chars.slice(0, MAX_DESCRIPTION_CHARS - 1).join('')}…`;
}

function checkTargetUrl(raw: string): string {
  let url: URL | undefined;
  try {
    url = typeof raw === 'string' && raw.length <= MAX_TARGET_URL_CHARS ? new URL(raw) : undefined;
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    throw new ForgeError(
      'user',
      `a commit status target URL must be an http(s) URL, not ${quote(String(raw))}`,
    );
  }
  return url.href;
}

// ── Comments ──────────────────────────────────────────────────────────────────────────────────

const TRUNCATED = '\n\n---\n*(Capstan cut this comment here: it was longer than the forge shows.)*';

/**
 * The body as posted: carrying the marker (prepended when missing), at most MAX_COMMENT_CHARS, a cut
 * one ending in a visible note.
 */
export function commentBody(comment: CommentInput): string {
  const { marker, body } = comment;
  if (
    typeof marker !== 'string' ||
    marker.trim() === '' ||
    marker.length > MAX_MARKER_CHARS ||
    /[\r\n]/.test(marker)
  ) {
    throw new ForgeError('user', 'a comment marker must be one non-empty line of at most 200 characters');
  }
  if (typeof body !== 'string') throw new ForgeError('user', 'a comment body must be text');
  // The marker is the first line, always: a body may quote anything (a plan quotes a pull request's
  // diff), so a marker anywhere else would let a pull request's author name another comment.
  const marked = isMarkedWith(body, marker) ? body : `${marker}\n${body}`;
  if (marked.length <= MAX_COMMENT_CHARS) return marked;
  return `${cutAt(marked, MAX_COMMENT_CHARS - TRUNCATED.length)}${TRUNCATED}`;
}

/** Whether `body`'s first line is `marker` (the only place a marker counts; see commentBody). */
export function isMarkedWith(body: string, marker: string): boolean {
  if (!body.startsWith(marker)) return false;
  const next = body.charAt(marker.length);
  return next === '' || next === '\n' || next === '\r';
}

/** The first `length` UTF-16 units, without half a surrogate pair at the end. */
function cutAt(text: string, length: number): string {
  const cut = text.slice(0, length);
  const last = cut.charCodeAt(cut.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? cut.slice(0, -1) : cut;
}

/** A comment as far as the upsert goes. */
export interface CommentSummary {
  readonly id: number;
  readonly authorId: number;
  readonly body: string;
}

/** One host's comment API on one pull request. */
export interface CommentApi {
  /** The id of the token's own user (cached per client). */
  ownUserId(): Promise<number>;
  /** One page (1-based) of its comments, oldest first; `last` when no page follows. */
  page(page: number): Promise<{ readonly comments: readonly CommentSummary[]; readonly last: boolean }>;
  edit(id: number, body: string): Promise<void>;
  /** Creates one; its id. */
  create(body: string): Promise<number>;
}

/**
 * Edits the comment of the token's own user that carries the marker, else creates one. Only the
 * first MAX_COMMENT_PAGES pages are searched: past them a second comment is created rather than the
 * scan going on without end.
 */
export async function upsertMarkedComment(api: CommentApi, comment: CommentInput): Promise<UpsertedComment> {
  const body = commentBody(comment);
  const self = await api.ownUserId();
  for (let page = 1; page <= MAX_COMMENT_PAGES; page++) {
    const { comments, last } = await api.page(page);
    const mine = comments.find((c) => c.authorId === self && isMarkedWith(c.body, comment.marker));
    if (mine !== undefined) {
      await api.edit(mine.id, body);
      return { id: mine.id, created: false };
    }
    if (last) break;
  }
  return { id: await api.create(body), created: true };
}

/** `load()` once; a failure is not kept, so the next call asks again. */
export function cachedOnce<T>(load: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () => {
    value ??= load().catch((error: unknown) => {
      value = undefined;
      throw error;
    });
    return value;
  };
}

/** The id of the token's own user (`GET /user` on all three hosts), asked once per client. */
export function ownUserIdOf(http: ForgeHttp): () => Promise<number> {
  return cachedOnce(async () => {
    const what = `reading the token's own user on ${http.api.display}`;
    const response = await http.request('GET', '/user');
    if (response.status !== 200) throw http.failure(what, response);
    return answer({ http, what }, response.body).field('id').positiveInteger();
  });
}

export function query(params: Record<string, string>): string {
  return new URLSearchParams(params).toString();
}
