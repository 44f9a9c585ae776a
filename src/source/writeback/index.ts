/** Writing to Git: a rollback recorded as a revert commit, pushed or carried by a pull request. */
export { revertCommits } from './revert.js';
export type { NotNeededReason, RevertOptions, RevertRequest, RevertResult } from './revert.js';
export type {
  Forge,
  ForgeApi,
  ForgeAuth,
  ForgeKind,
  ForgeOptions,
  ForgeTarget,
  ForgeTargetOptions,
  PullRequest,
  PullRequestInput,
} from '../../forge/index.js';
export { ROLLBACK_TRAILER, rollbackBranch } from './message.js';
