/**
 * Answers of the hosts' APIs, shaped field for field as their published documents show them (the
 * examples there, trimmed of nested objects the client never reads), for the fake API:
 *
 * GitHub REST API 2022-11-28:
 * - https://docs.github.com/en/rest/pulls/pulls#get-a-pull-request (and list, create)
 * - https://docs.github.com/en/rest/issues/comments#list-issue-comments (and create, update)
 * - https://docs.github.com/en/rest/commits/statuses#create-a-commit-status
 * - https://docs.github.com/en/rest/users/users#get-the-authenticated-user
 * - https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api
 * GitLab REST API v4:
 * - https://docs.gitlab.com/ee/api/merge_requests.html#get-single-mr (and list, create)
 * - https://docs.gitlab.com/ee/api/notes.html#list-all-merge-request-notes (and create, modify)
 * - https://docs.gitlab.com/ee/api/commits.html#set-the-pipeline-status-of-a-commit
 * - https://docs.gitlab.com/ee/api/users.html#list-current-user
 * - https://docs.gitlab.com/ee/user/admin_area/settings/user_and_ip_rate_limits.html (headers)
 */

export const SHA = '6dcb09b5b57875f334f61aebed695e2e4193db5e';
export const OTHER_SHA = 'e5bd3914e2e596debea16f433f57875b5b90bcd6';

// ── GitHub ─────────────────────────────────────────────────────────────────────────────────────

export function githubUser(login: string, id: number) {
  return {
    login,
    id,
    node_id: 'MDQ6VXNlcjE=',
    avatar_url: 'https://github.com/images/error/octocat_happy.gif',
    gravatar_id: '',
    url: `https://api.github.com/users/${login}`,
    html_url: `https://github.com/${login}`,
    type: 'User',
    site_admin: false,
  };
}

function githubRepo(fullName: string, id: number) {
  const [owner = '', name = ''] = fullName.split('/');
  return {
    id,
    node_id: 'MDEwOlJlcG9zaXRvcnkxMjk2MjY5',
    name,
    full_name: fullName,
    owner: githubUser(owner, 1),
    private: false,
    html_url: `https://github.com/${fullName}`,
    default_branch: 'main',
  };
}

export interface GithubPullSeed {
  number?: number;
  state?: 'open' | 'closed';
  title?: string;
  head?: string;
  base?: string;
  sha?: string;
  mergedAt?: string | null;
  /** The head's repository: another one for a fork, null when the fork is gone. */
  headRepo?: string | null;
  labels?: string[];
  author?: string;
}

export function githubPull(seed: GithubPullSeed = {}) {
  const number = seed.number ?? 1347;
  const head = seed.head ?? 'new-topic';
  const base = seed.base ?? 'main';
  const headRepo = seed.headRepo === undefined ? 'octocat/Hello-World' : seed.headRepo;
  return {
    url: `https://api.github.com/repos/octocat/Hello-World/pulls/${number}`,
    id: 1,
    node_id: 'MDExOlB1bGxSZXF1ZXN0MQ==',
    html_url: `https://github.com/octocat/Hello-World/pull/${number}`,
    diff_url: `https://github.com/octocat/Hello-World/pull/${number}.diff`,
    issue_url: `https://api.github.com/repos/octocat/Hello-World/issues/${number}`,
    number,
    state: seed.state ?? 'open',
    locked: false,
    title: seed.title ?? 'Amazing new feature',
    user: githubUser(seed.author ?? 'octocat', 1),
    body: 'Please pull these awesome changes in!',
    labels: (seed.labels ?? ['bug']).map((name, i) => ({
      id: 208045946 + i,
      node_id: 'MDU6TGFiZWwyMDgwNDU5NDY=',
      url: `https://api.github.com/repos/octocat/Hello-World/labels/${name}`,
      name,
      description: "Something isn't working",
      color: 'f29513',
      default: true,
    })),
    milestone: null,
    active_lock_reason: null,
    created_at: '2011-01-26T19:01:12Z',
    updated_at: '2011-01-26T19:01:12Z',
    closed_at: seed.state === 'closed' ? '2011-01-26T19:01:12Z' : null,
    merged_at: seed.mergedAt ?? null,
    merge_commit_sha: OTHER_SHA,
    assignee: null,
    draft: false,
    head: {
      label: `octocat:${head}`,
      ref: head,
      sha: seed.sha ?? SHA,
      user: githubUser('octocat', 1),
      repo: headRepo === null ? null : githubRepo(headRepo, headRepo === 'octocat/Hello-World' ? 1296269 : 7),
    },
    base: {
      label: `octocat:${base}`,
      ref: base,
      sha: OTHER_SHA,
      user: githubUser('octocat', 1),
      repo: githubRepo('octocat/Hello-World', 1296269),
    },
    author_association: 'OWNER',
    auto_merge: null,
  };
}

export function githubComment(id: number, body: string, login: string, userId: number) {
  return {
    id,
    node_id: 'MDEyOklzc3VlQ29tbWVudDE=',
    url: `https://api.github.com/repos/octocat/Hello-World/issues/comments/${id}`,
    html_url: `https://github.com/octocat/Hello-World/issues/1347#issuecomment-${id}`,
    body,
    user: githubUser(login, userId),
    created_at: '2011-04-14T16:00:49Z',
    updated_at: '2011-04-14T16:00:49Z',
    issue_url: 'https://api.github.com/repos/octocat/Hello-World/issues/1347',
    author_association: 'COLLABORATOR',
  };
}

export function githubStatus(state: string, context: string, description: string) {
  return {
    url: `https://api.github.com/repos/octocat/Hello-World/statuses/${SHA}`,
    avatar_url: 'https://github.com/images/error/hubot_happy.gif',
    id: 1,
    node_id: 'MDY6U3RhdHVzMQ==',
    state,
    description,
    target_url: 'https://ci.example.com/1000/output',
    context,
    created_at: '2012-07-20T01:19:13Z',
    updated_at: '2012-07-20T01:19:13Z',
    creator: githubUser('octocat', 1),
  };
}

// ── GitLab ─────────────────────────────────────────────────────────────────────────────────────

export function gitlabUser(username: string, id: number) {
  return {
    id,
    username,
    name: username,
    state: 'active',
    avatar_url: null,
    web_url: `https://gitlab.example.com/${username}`,
  };
}

export interface GitlabMergeRequestSeed {
  iid?: number;
  state?: 'opened' | 'closed' | 'merged' | 'locked';
  title?: string;
  source?: string;
  target?: string;
  sha?: string;
  sourceProjectId?: number;
  labels?: string[];
  author?: string;
}

export function gitlabMergeRequest(seed: GitlabMergeRequestSeed = {}) {
  const iid = seed.iid ?? 1;
  return {
    id: 1000 + iid,
    iid,
    project_id: 3,
    title: seed.title ?? 'test1',
    description: 'fixed login page css paddings',
    state: seed.state ?? 'opened',
    created_at: '2017-04-29T08:46:00Z',
    updated_at: '2017-04-29T08:46:00Z',
    merged_by: null,
    merged_at: seed.state === 'merged' ? '2018-09-07T11:16:17.520Z' : null,
    closed_by: null,
    closed_at: null,
    target_branch: seed.target ?? 'main',
    source_branch: seed.source ?? 'test1',
    upvotes: 0,
    downvotes: 0,
    author: gitlabUser(seed.author ?? 'admin', 1),
    assignee: null,
    source_project_id: seed.sourceProjectId ?? 3,
    target_project_id: 3,
    labels: seed.labels ?? ['Community contribution', 'Manage'],
    draft: false,
    work_in_progress: false,
    milestone: null,
    merge_when_pipeline_succeeds: false,
    merge_status: 'can_be_merged',
    detailed_merge_status: 'mergeable',
    sha: seed.sha ?? SHA,
    merge_commit_sha: null,
    squash_commit_sha: null,
    user_notes_count: 1,
    discussion_locked: null,
    should_remove_source_branch: true,
    force_remove_source_branch: false,
    web_url: `https://gitlab.example.com/g/sub/apps/-/merge_requests/${iid}`,
    references: { short: `!${iid}`, relative: `!${iid}`, full: `g/sub/apps!${iid}` },
    squash: false,
  };
}

export function gitlabNote(id: number, body: string, username: string, userId: number, system = false) {
  return {
    id,
    type: null,
    body,
    attachment: null,
    author: gitlabUser(username, userId),
    created_at: '2013-10-02T09:22:45Z',
    updated_at: '2013-10-02T10:22:45Z',
    system,
    noteable_id: 377,
    noteable_type: 'MergeRequest',
    project_id: 5,
    noteable_iid: 1,
    resolvable: false,
    confidential: false,
    internal: false,
  };
}

export function gitlabStatus(status: string, name: string, description: string) {
  return {
    author: gitlabUser('john_smith', 7),
    name,
    sha: SHA,
    status,
    coverage: null,
    description,
    id: 93,
    target_url: null,
    ref: null,
    started_at: null,
    created_at: '2016-01-19T09:05:50.355Z',
    allow_failure: false,
    finished_at: null,
  };
}

// ── Gitea (its swagger: https://gitea.com/api/swagger, PullRequest) ──────────────────────────────

export function giteaPull(seed: { number?: number; head?: string; base?: string; headRepoId?: number } = {}) {
  const number = seed.number ?? 1;
  const branch = (ref: string, repoId: number) => ({
    label: ref,
    ref,
    sha: SHA,
    repo_id: repoId,
    repo: { id: repoId, full_name: 'team-a/apps' },
  });
  return {
    id: 100 + number,
    url: `http://gitea.local/team-a/apps/pulls/${number}`,
    number,
    user: { id: 1, login: 'team-a' },
    title: 'A change',
    body: '',
    labels: [],
    milestone: null,
    assignee: null,
    assignees: null,
    state: 'open',
    is_locked: false,
    comments: 0,
    html_url: `http://gitea.local/team-a/apps/pulls/${number}`,
    diff_url: `http://gitea.local/team-a/apps/pulls/${number}.diff`,
    patch_url: `http://gitea.local/team-a/apps/pulls/${number}.patch`,
    mergeable: true,
    merged: false,
    merged_at: null,
    merge_commit_sha: null,
    merged_by: null,
    base: branch(seed.base ?? 'main', 7),
    head: branch(seed.head ?? 'feature', seed.headRepoId ?? 7),
    merge_base: OTHER_SHA,
    created_at: '2026-12-01T10:00:00Z',
    updated_at: '2026-12-01T10:00:00Z',
    closed_at: null,
  };
}
