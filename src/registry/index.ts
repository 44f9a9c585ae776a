/**
 * Container registries (the OCI distribution API): image names, docker-config credentials, and a
 * client that lists tags, resolves and reads manifests and fetches blobs from a registry that may
 * be hostile. See client.ts for the request pipeline and auth.ts for where credentials may go.
 */
export {
  DOCKER_HUB,
  DOCKER_HUB_API_HOST,
  apiHostOf,
  formatImageName,
  parseImageName,
  type ImageName,
} from './names.js';
export { MAX_DOCKER_CONFIG_BYTES, authFromDockerConfig, type RegistryAuth } from './docker-config.js';
export { RegistryError, isRegistryError, type RegistryErrorKind } from './errors.js';
export { MANIFEST_MEDIA_TYPES, isDigest, type ManifestInfo } from './content.js';
export {
  DEFAULT_LIMITS,
  DEFAULT_TIMEOUT_MS,
  createRegistryClient,
  type RegistryClient,
  type RegistryClientOptions,
  type RegistryLimits,
  type RequestOptions,
} from './client.js';
