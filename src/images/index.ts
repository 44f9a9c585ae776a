/** Image automation (src/images/): ImagePolicies choose image tags and write them into Git. */
export { startImagePolicies, imageMatches, RECONCILE_TIMEOUT_MS } from './component.js';
export type { ImagePolicies, ImagePoliciesOptions } from './component.js';
export { IMAGE_REGISTRIES_ANNOTATION } from './registry-access.js';
