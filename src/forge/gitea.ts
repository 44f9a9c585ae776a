/**
 * Gitea (and Forgejo, which speaks its API), `/api/v1`: GitHub's shapes with its own page
 * parameters (`limit`, at most 50 by default), no branch filter on the pull request list, all of an
 * issue's comments in one answer, a `merged` flag, and `repo_id` on each side of a pull request
 * (https://gitea.com/api/swagger: repoListPullRequests, repoGetPullRequest, issueGetComments,
 * issueEditComment, repoCreateStatus, userGetCurrent).
 */
import type { ForgeHttp } from './http.js';
import { ownerRepoForge, type OwnerRepoDialect } from './owner-repo.js';
import type { Forge } from './types.js';

export const giteaDialect: OwnerRepoDialect = {
  kind: 'gitea',
  pageSize: 50,
  pageQuery: (page, size) => ({ limit: String(size), page: String(page) }),
  findQuery: () => ({}),
  baseQuery: () => ({}),
  commentPageQuery: () => undefined,
  // 409 "pull request already exists for these targets": opened meanwhile.
  raced: (_http, response) => response.status === 409,
  merged: (pr) =>
    (pr.has('merged') && pr.field('merged').boolean()) ||
    (pr.has('merged_at') && pr.field('merged_at').string(64) !== ''),
  fork: (pr) => {
    const headId = pr.field('head').field('repo_id').optionalPositiveInteger();
    return headId === undefined || headId !== pr.field('base').field('repo_id').optionalPositiveInteger();
  },
};

export function gitea(http: ForgeHttp): Forge {
  return ownerRepoForge(http, giteaDialect);
}
