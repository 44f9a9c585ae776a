/**
 * The plan of a change: what merging a pull request would do to the cluster, app by app, and the
 * same as a safe Markdown comment. See plan.ts for the steps, types.ts for the JSON.
 */
export { planChange } from './plan.js';
export type { PlanRequest, ReviewDeps } from './plan.js';
export { formatPlanMarkdown, escapeText, escapeHtml, fenceFor, code } from './markdown.js';
export type { MarkdownOptions } from './markdown.js';
export { createRenderAt, touchOf } from './touched.js';
export type { RenderAt, Touch } from './touched.js';
export { appsOnBranch, branchName, sameRepositoryKey } from './candidates.js';
export type { CandidateApp, CandidateLookup } from './candidates.js';
export { userReviewDeps } from './user.js';
export { countsOf, warningsOf } from './warnings.js';
export { EMPTY_COUNTS } from './types.js';
export type {
  AppPlan,
  AppPlanResult,
  ChangePlan,
  PlanCounts,
  PlanSide,
  PlanWarning,
  PlanWarningKind,
} from './types.js';
