/** The source stage: Git repositories resolved to commits, tree ids and checkouts. */
export { createGitSource, normaliseTreePath } from './git-source.js';
export type { GitLogEntry, GitSource, GitSourceOptions, Repository, Revision } from './git-source.js';
export type { GitCredentials } from './credentials.js';
export { createProcessRunner } from './git.js';
export type { GitInvocation, GitOutput, GitRunner } from './git.js';
export { parseRef, validateGitRef, isFullSha } from './refs.js';
export type { GitRef } from './refs.js';
export { parseRepoUrl } from './url.js';
export type { RepoUrl, RepoScheme } from './url.js';
export { isPushedRepository, repositoryMatchKey } from './match-key.js';
export { redactText, redactUrl } from './redact.js';
export { revertCommits, ROLLBACK_TRAILER, rollbackBranch } from './writeback/index.js';
export type { RevertOptions, RevertRequest, RevertResult } from './writeback/index.js';
