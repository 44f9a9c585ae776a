/**
 * One source stage for every kind of Repository: Git repositories go to the Git source, Helm and OCI
 * repositories to the artifact source. What only Git has (branches, folders listed per commit,
 * diffs between commits) is refused for artifacts with a clear error, never guessed at.
 */
import { UserError } from '../../core/errors.js';
import { normaliseTreePath, type GitSource, type Repository } from '../git-source.js';
import { redactUrl } from '../redact.js';
import type { ArtifactSource } from './source.js';
import { isArtifactRepository, type ArtifactRepository } from './types.js';

export function routeSources(git: GitSource, artifacts: ArtifactSource): GitSource {
  const notGit = (repository: ArtifactRepository, what: string): UserError =>
    new UserError(
      `${what} needs a Git repository; ${redactUrl(repository.url)} is ${repository.kind === 'oci' ? 'an OCI' : 'a Helm'} repository`,
    );
  return {
    async resolve(repository, ref) {
      if (!isArtifactRepository(repository)) return git.resolve(repository, ref);
      if (typeof ref !== 'string') throw notGit(repository, `a ${ref.kind} ref`);
      return artifacts.resolve(repository, ref);
    },
    async treeId(repository, commit, path) {
      if (!isArtifactRepository(repository)) return git.treeId(repository, commit, path);
      // An artifact never changes under its digest: the revision and path are the whole key.
      return `${commit}:${normaliseTreePath(path)}`;
    },
    async checkout(repository, commit, dir) {
      if (!isArtifactRepository(repository)) return git.checkout(repository, commit, dir);
      return artifacts.checkout(repository, commit, dir);
    },
    async changedPaths(repository, from, to) {
      if (!isArtifactRepository(repository)) return git.changedPaths(repository, from, to);
      return undefined;
    },
    async listBranches(repository: Repository) {
      if (!isArtifactRepository(repository)) return git.listBranches(repository);
      throw notGit(repository, 'listing branches');
    },
    async listDirectories(repository, commit, options) {
      if (!isArtifactRepository(repository)) return git.listDirectories(repository, commit, options);
      throw notGit(repository, 'listing folders');
    },
  };
}
