/** Promotion between environments (branches of one repository): `capstan promote` and spec.promotion. */
export { reconcilePromotion, type PromotionDeps } from './controller.js';
export { promoteInGit, PROMOTION_COMMENT_MARKER } from './git.js';
export type { PromoteGitOptions, PromoteGitRequest, PromoteGitResult } from './git.js';
export { promotionBranch, PROMOTED_FROM_TRAILER, PROMOTED_REVISION_TRAILER } from './message.js';
export { parsePromotionRequest, type PromotionMode, type PromotionRequest } from './request.js';
export {
  automaticRevision,
  branchOf,
  branchOfApp,
  refusalOf,
  resolveEnvironment,
  sameGitRepository,
} from './rules.js';
