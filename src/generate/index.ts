/**
 * ApplicationGenerator: Applications made from a template, one per branch, folder, list entry or
 * open pull request (src/api/generator.ts has the API).
 */
export { startGenerators, type Generators, type GeneratorsOptions } from './component.js';
export { reconcileGenerator, type GeneratorDeps, type GeneratorOutcome } from './reconcile.js';
export {
  listElements,
  pullRequestRef,
  type Element,
  type ListingDeps,
  type OpenPullRequest,
} from './elements.js';
export { judgeDeletions, approvalCode, type GuardDecision } from './guard.js';
export { substitute, substituteDeep, slugify, applicationName, TemplateError } from './template.js';
export { PreviewComments, type PreviewCommentsDeps } from './comments.js';
export {
  environmentOf,
  environmentUrl,
  previewCommentBody,
  previewMarker,
  previewState,
  type PreviewEnvironment,
  type PreviewState,
} from './preview-comment.js';
