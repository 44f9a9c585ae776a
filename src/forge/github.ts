/**
 * GitHub and GitHub Enterprise Server, REST API version 2022-11-28:
 * - pulls: https://docs.github.com/en/rest/pulls/pulls (list, get, create; `merged_at` tells a
 *   merged pull request from a closed one; `head.repo` is null when the fork is gone)
 * - comments: https://docs.github.com/en/rest/issues/comments (every pull request is an issue)
 * - statuses: https://docs.github.com/en/rest/commits/statuses
 * - the token's user: https://docs.github.com/en/rest/users/users#get-the-authenticated-user
 */
import type { ForgeHttp } from './http.js';
import { ownerRepoForge, type OwnerRepoDialect } from './owner-repo.js';
import type { Forge } from './types.js';

export const githubDialect: OwnerRepoDialect = {
  kind: 'github',
  pageSize: 100,
  pageQuery: (page, size) => ({ per_page: String(size), page: String(page) }),
  findQuery: (owner, input) => ({ head: `${owner}:${input.head}`, base: input.base }),
  baseQuery: (base) => ({ base }),
  commentPageQuery: (page) => ({ per_page: '50', page: String(page) }),
  // 422 "A pull request already exists for owner:branch": opened meanwhile.
  raced: (http, response) =>
    response.status === 422 && /already exists/i.test(http.apiMessage(response.body)),
  merged: (pr) => pr.has('merged_at') && pr.field('merged_at').string(64) !== '',
  fork: (pr) => {
    const head = pr.field('head');
    if (!head.has('repo')) return true;
    const headId = head.field('repo').field('id').positiveInteger();
    return headId !== pr.field('base').field('repo').field('id').positiveInteger();
  },
};

export function github(http: ForgeHttp): Forge {
  return ownerRepoForge(http, githubDialect);
}
