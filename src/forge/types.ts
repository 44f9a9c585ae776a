/**
 * The Git host API client's vocabulary: what callers ask a forge (GitHub, GitLab, Gitea) for and what
 * they get back. Everything that comes back was checked field by field (answers.ts): callers may
 * trust the types and the bounds written here, never the host.
 */
import { CapstanError, type ErrorKind } from '../core/errors.js';
import type { Clock } from '../core/time.js';

export type ForgeKind = 'github' | 'gitlab' | 'gitea';

export interface PullRequestInput {
  /** `owner/name` (GitHub, Gitea) or the project's full path `group/sub/name` (GitLab). */
  readonly repo: string;
  /** The branch carrying the change. */
  readonly head: string;
  /** The branch it is to be merged into. */
  readonly base: string;
  readonly title: string;
  readonly body: string;
}

export interface PullRequest {
  /** The number people know it by (GitLab's `iid`, `!12`). */
  readonly number: number;
  /** Its web page. */
  readonly url: string;
  /** An open one for the same head and base already existed, and is returned instead of a new one. */
  readonly reused: boolean;
}

/** The longest ref, title, user name and label a forge answer may carry; longer is a malformed answer. */
export const MAX_REF_CHARS = 255;
export const MAX_TITLE_CHARS = 1024;
export const MAX_NAME_CHARS = 255;
/** GitHub allows 100 labels on an issue; more is a malformed answer. */
export const MAX_LABELS = 100;

export interface PullRequestInfo {
  /** A positive integer (GitLab's `iid`). */
  readonly number: number;
  /** Its web page: http(s), at most 2048 characters. */
  readonly url: string;
  /** At most MAX_TITLE_CHARS; control characters replaced by spaces. Still the author's words: escape it. */
  readonly title: string;
  readonly state: 'open' | 'closed' | 'merged';
  readonly head: {
    /** A branch name (no whitespace or control characters), at most MAX_REF_CHARS. */
    readonly ref: string;
    /** The full commit id, lowercase hex (40 or 64). */
    readonly sha: string;
    /** The head is in another repository (a fork, or one the host no longer knows). */
    readonly fork: boolean;
  };
  readonly base: { readonly ref: string };
  /** The author's user name. */
  readonly author: string;
  /** At most MAX_LABELS names. */
  readonly labels: readonly string[];
}

/** What any call may carry: a signal that abandons it (its request is aborted; it rejects). */
export interface CallOptions {
  readonly signal?: AbortSignal;
}

export interface ListPullRequestsOptions extends CallOptions {
  /** Only pull requests into this branch. */
  readonly base?: string;
  /** At most this many (default 100, at most 1000), newest first as the host lists them. */
  readonly limit?: number;
}

export interface CommentInput {
  /**
   * What tells this comment apart from every other on the pull request (an HTML comment such as
   * `<!-- capstan:plan -->` is invisible when rendered). Put in the body when the body lacks it.
   */
  readonly marker: string;
  /** Markdown; cut at MAX_COMMENT_CHARS with a visible note. */
  readonly body: string;
}

export interface UpsertedComment {
  readonly id: number;
  /** No comment of the token's user carried the marker, so one was created. */
  readonly created: boolean;
}

/** GitHub's words; GitLab's `failed` stands for both failure and error. */
export type CommitState = 'pending' | 'success' | 'failure' | 'error';

export interface CommitStatusInput {
  readonly state: CommitState;
  /** Tells this status apart from CI's and from other ones of Capstan (`capstan/plan`). */
  readonly context: string;
  /** Cut at 140 characters (GitHub refuses longer). */
  readonly description: string;
  /** Where "Details" links to: http(s) only. */
  readonly targetUrl?: string;
}

export interface Forge {
  readonly kind: ForgeKind;
  /** Opens a pull request, or returns the open one for the same head and base (idempotent). */
  openPullRequest(input: PullRequestInput): Promise<PullRequest>;
  /** One pull request by number; a ForgeError of kind `notFound` when there is none. */
  getPullRequest(repo: string, number: number): Promise<PullRequestInfo>;
  /** Open pull requests, newest first, bounded by `limit` (default 100). */
  listOpenPullRequests(repo: string, options?: ListPullRequestsOptions): Promise<PullRequestInfo[]>;
  /**
   * Finds the comment of the token's own user containing `marker` and edits it, or creates one.
   * Comments by anybody else are never edited, whatever they contain.
   */
  upsertComment(
    repo: string,
    number: number,
    comment: CommentInput,
    options?: CallOptions,
  ): Promise<UpsertedComment>;
  /** Sets the commit's status for `context` (a later one for the same context replaces it). */
  setCommitStatus(repo: string, sha: string, status: CommitStatusInput, options?: CallOptions): Promise<void>;
  /**
   * Until when the host's rate limit blocks calls (each fails fast with a transient ForgeError
   * carrying `retryAfterMs`); undefined when not blocked. Optional so that fakes may leave it out.
   */
  blockedUntil?(): Date | undefined;
}

export type ForgeAuth =
  /** An API token (GitHub PAT or app token, GitLab personal/project token, Gitea access token). */
  | { readonly kind: 'token'; readonly token: string }
  /** User name and password (or token as password): Basic auth on GitHub and Gitea; GitLab takes the password as its token. */
  | { readonly kind: 'basic'; readonly username: string; readonly password: string };

export interface ForgeOptions {
  readonly kind: ForgeKind;
  /**
   * The API root: `https://api.github.com` (or `https://ghe.example.com/api/v3`),
   * `https://gitlab.example.com/api/v4`, `https://gitea.example.com/api/v1`.
   */
  readonly apiUrl: string;
  readonly auth: ForgeAuth;
  /** The token's owner accepts that it goes over plain http:// (as `capstan.dev/allow-insecure-http`). */
  readonly allowInsecureHttp?: boolean;
  /** Per request; default 30 s. A call's own `signal` (CallOptions) can end it sooner. */
  readonly timeoutMs?: number;
  /** Bytes of a response body read at most; default 1 MiB (comment pages: 16 times that). */
  readonly maxResponseBytes?: number;
  /** For the rate limit's "blocked until"; default the system clock. */
  readonly clock?: Clock;
}

/** Where the pull request goes, and the client that opens it: what `revertCommits` takes. */
export interface ForgeTarget {
  readonly forge: Forge;
  /** The repository as the forge's API names it (see PullRequestInput.repo). */
  readonly repo: string;
}

export interface ForgeTargetOptions {
  readonly kind: ForgeKind;
  readonly auth: ForgeAuth;
  /** An API root of the repository's own host (for installations under a sub-path); derived otherwise. */
  readonly apiUrl?: string;
  /**
   * The token's owner allows `apiUrl` although it is on another host than the repository's (the
   * caller checked it against the credential's scope, as for a Repository's Secret).
   */
  readonly apiUrlOnOtherHost?: boolean;
  readonly allowInsecureHttp?: boolean;
  readonly timeoutMs?: number;
  readonly clock?: Clock;
}

/** A repository's API root on its own host, and its name there (see forgeTargetFor). */
export interface ForgeApi {
  readonly apiUrl: string;
  readonly repo: string;
}

/**
 * A forge API call that failed. `status` is the HTTP status when there was an answer;
 * `retryAfterMs` is set when the host's rate limit said how long to wait (kind `transient`).
 */
export class ForgeError extends CapstanError {
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(
    kind: ErrorKind,
    message: string,
    options: { status?: number; cause?: unknown; retryAfterMs?: number } = {},
  ) {
    super(kind, message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
  }
}
