/**
 * The Git host API client: pull requests (open, get, list), one marked comment per pull request
 * edited in place, commit statuses; on GitHub, GitLab and Gitea (Forgejo speaks Gitea's API).
 * Bounded, redacting, no redirects, aware of rate limits; every answer checked field by field.
 */
export { createForge, forgeApiFor, forgeTargetFor } from './create.js';
export { MAX_COMMENT_CHARS, MAX_DESCRIPTION_CHARS, commentBody } from './common.js';
export { gitlabState } from './gitlab.js';
export { MAX_RETRY_AFTER_MS } from './http.js';
export { ForgeError, MAX_LABELS, MAX_NAME_CHARS, MAX_REF_CHARS, MAX_TITLE_CHARS } from './types.js';
export type {
  CallOptions,
  CommentInput,
  CommitState,
  CommitStatusInput,
  Forge,
  ForgeApi,
  ForgeAuth,
  ForgeKind,
  ForgeOptions,
  ForgeTarget,
  ForgeTargetOptions,
  ListPullRequestsOptions,
  PullRequest,
  PullRequestInfo,
  PullRequestInput,
  UpsertedComment,
} from './types.js';
