/** Helm repositories and OCI artifacts as sources (see source.ts); `routeSources` joins them to Git. */
export { artifactRepository, checkArtifactUrl, scopeUrlOf } from './access.js';
export type { ArtifactRepositorySpec, ArtifactSecret } from './access.js';
export { isArtifactRevision, parseArtifactRevision, shortRevision, sourceRefOf } from './revision.js';
export { routeSources } from './route.js';
export { createArtifactSource } from './source.js';
export type { ArtifactSource, ArtifactSourceOptions } from './source.js';
export { isArtifactRepository } from './types.js';
export type { ArtifactAccess, ArtifactKind, ArtifactRepository } from './types.js';
export { unpackArchive, UnsafeArchiveError, DEFAULT_UNPACK_LIMITS } from './unpack.js';
export type { UnpackLimits } from './unpack.js';
