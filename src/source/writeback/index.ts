/** Writing to Git: a rollback recorded as a revert commit, pushed or carried by a pull request. */
export { revertCommits } from './revert.js';
export type { NotNeededReason, RevertOptions, RevertRequest, RevertResult } from './revert.js';
export { ROLLBACK_TRAILER, rollbackBranch } from './message.js';
