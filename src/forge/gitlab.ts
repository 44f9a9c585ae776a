/**
 * GitLab, `/api/v4`; a project is named by its full path, URL-encoded, as its id:
 * - merge requests: https://docs.gitlab.com/ee/api/merge_requests.html (`iid` is the number people
 *   know, `state` opened | closed | merged | locked, `sha` the head, `labels` a list of names)
 * - notes: https://docs.gitlab.com/ee/api/notes.html#merge-requests (`system` notes are GitLab's)
 * - commit statuses: https://docs.gitlab.com/ee/api/commits.html#set-the-pipeline-status-of-a-commit
 *   (state pending | running | success | failed | canceled; `name` is the context)
 * - the token's user: https://docs.gitlab.com/ee/api/users.html#list-current-user
 */
import { answer, pullRequestFrom, titleOf, type Answer } from './answers.js';
import {
  checkNumber,
  checkPullRequestInput,
  checkStatus,
  COMMENT_PAGE_SIZE,
  listBounds,
  ownUserIdOf,
  query,
  MAX_LIST_LIMIT,
  projectPath,
  upsertMarkedComment,
  type CommentApi,
} from './common.js';
import { abandonedOnAbort, type ForgeHttp } from './http.js';
import {
  ForgeError,
  MAX_LABELS,
  type CommitState,
  type Forge,
  type ListPullRequestsOptions,
  type PullRequest,
  type PullRequestInfo,
  type PullRequestInput,
} from './types.js';

const PAGE_SIZE = 100;

/** GitLab has no "error": a status that is not pending or success is failed. */
export function gitlabState(state: CommitState): 'pending' | 'success' | 'failed' {
  return state === 'pending' || state === 'success' ? state : 'failed';
}

export function gitlab(http: ForgeHttp): Forge {
  const ownUserId = ownUserIdOf(http);
  return {
    kind: 'gitlab',
    openPullRequest: (input) => openMergeRequest(http, input),
    getPullRequest: (repo, number) => getMergeRequest(http, repo, number),
    listOpenPullRequests: (repo, options) => listOpen(http, repo, options),
    upsertComment: (repo, number, comment, options) =>
      upsertMarkedComment(notesApi(http, repo, checkNumber(number), ownUserId, options?.signal), comment),
    setCommitStatus: (repo, sha, status, options) =>
      setCommitStatus(http, repo, sha, status, options?.signal),
    blockedUntil: () => http.blockedUntil(),
  };
}

/** A merge request as GitLab describes it, checked field by field. */
export function mergeRequestInfo(mr: Answer): PullRequestInfo {
  const state = mr.field('state').oneOf(['opened', 'closed', 'merged', 'locked']);
  // `locked` is the moment of merging: still open until GitLab says merged.
  const sourceProject = mr.field('source_project_id').optionalPositiveInteger();
  return {
    number: mr.field('iid').positiveInteger(),
    url: mr.field('web_url').httpUrl(),
    title: titleOf(mr),
    state: state === 'merged' ? 'merged' : state === 'closed' ? 'closed' : 'open',
    head: {
      ref: mr.field('source_branch').ref(),
      sha: mr.field('sha').sha(),
      fork:
        sourceProject === undefined ||
        sourceProject !== mr.field('target_project_id').optionalPositiveInteger(),
    },
    base: { ref: mr.field('target_branch').ref() },
    author: mr.field('author').field('username').name(),
    labels: mr.has('labels')
      ? mr
          .field('labels')
          .list(MAX_LABELS)
          .map((label) => label.name())
      : [],
  };
}

async function getMergeRequest(http: ForgeHttp, repo: string, number: number): Promise<PullRequestInfo> {
  const what = `reading merge request !${checkNumber(number)} of ${repo}`;
  const response = await http.request('GET', `${projectPath(repo)}/merge_requests/${number}`);
  if (response.status === 404) {
    throw new ForgeError('notFound', `${what}: no such merge request on ${http.api.display} (404)`, {
      status: 404,
    });
  }
  if (response.status !== 200) throw http.failure(what, response);
  return mergeRequestInfo(answer({ http, what }, response.body));
}

async function listOpen(
  http: ForgeHttp,
  repo: string,
  options: ListPullRequestsOptions | undefined,
): Promise<PullRequestInfo[]> {
  const { limit, base } = listBounds(options);
  const what = `listing open merge requests of ${repo}`;
  const found: PullRequestInfo[] = [];
  for (let page = 1; page <= MAX_LIST_LIMIT / PAGE_SIZE && found.length < limit; page++) {
    const params = {
      state: 'opened',
      ...(base === undefined ? {} : { target_branch: base }),
      order_by: 'created_at',
      sort: 'desc',
      per_page: String(PAGE_SIZE),
      page: String(page),
    };
    const response = await http.request('GET', `${projectPath(repo)}/merge_requests?${query(params)}`, {
      signal: options?.signal,
    });
    if (response.status !== 200) throw http.failure(what, response);
    const items = answer({ http, what }, response.body).list(PAGE_SIZE);
    for (const item of items) {
      const mr = mergeRequestInfo(item);
      if (mr.state === 'open' && (base === undefined || mr.base.ref === base)) found.push(mr);
    }
    if (items.length < PAGE_SIZE) break;
  }
  return found.slice(0, limit);
}

async function openMergeRequest(http: ForgeHttp, input: PullRequestInput): Promise<PullRequest> {
  checkPullRequestInput(input);
  const project = projectPath(input.repo);
  const what = `opening a merge request in ${input.repo}`;
  const existing = await findOpen(http, project, input, what);
  if (existing) return existing;
  const response = await http.request('POST', `${project}/merge_requests`, {
    body: {
      source_branch: input.head,
      target_branch: input.base,
      title: input.title,
      description: input.body,
      remove_source_branch: true,
    },
  });
  if (response.status === 201) {
    return pullRequestFrom({ http, what }, response.body, { number: 'iid', url: 'web_url' }, false);
  }
  // 409 "Another open merge request already exists for this source branch".
  if (response.status === 409) {
    const raced = await findOpen(http, project, input, what);
    if (raced) return raced;
  }
  throw http.failure(what, response);
}

async function findOpen(
  http: ForgeHttp,
  project: string,
  input: PullRequestInput,
  what: string,
): Promise<PullRequest | undefined> {
  const params = {
    state: 'opened',
    source_branch: input.head,
    target_branch: input.base,
    per_page: '10',
  };
  const response = await http.request('GET', `${project}/merge_requests?${query(params)}`);
  if (response.status !== 200) throw http.failure(what, response);
  const list: unknown[] = Array.isArray(response.body) ? response.body : [];
  const match = list.find((item) => {
    const mr = item as {
      source_branch?: unknown;
      target_branch?: unknown;
      source_project_id?: unknown;
      target_project_id?: unknown;
    } | null;
    return (
      mr?.source_branch === input.head &&
      mr?.target_branch === input.base &&
      mr?.source_project_id === mr?.target_project_id
    );
  });
  return match === undefined
    ? undefined
    : pullRequestFrom({ http, what }, match, { number: 'iid', url: 'web_url' }, true);
}

function notesApi(
  http: ForgeHttp,
  repo: string,
  number: number,
  ownUserId: () => Promise<number>,
  signal: AbortSignal | undefined,
): CommentApi {
  const path = `${projectPath(repo)}/merge_requests/${number}/notes`;
  const what = `commenting on merge request !${number} of ${repo}`;
  return {
    ownUserId: () => abandonedOnAbort(ownUserId, signal, what),
    async page(page) {
      const params = {
        sort: 'asc',
        order_by: 'created_at',
        per_page: String(COMMENT_PAGE_SIZE),
        page: String(page),
      };
      const response = await http.request('GET', `${path}?${query(params)}`, { large: true, signal });
      if (response.status !== 200) throw http.failure(what, response);
      const notes = answer({ http, what }, response.body).list(COMMENT_PAGE_SIZE);
      return {
        comments: notes.map((note) => ({
          id: note.field('id').positiveInteger(),
          // GitLab's own notes ("added 1 commit") carry a user too; they are nobody's to edit.
          authorId:
            (note.has('system') && note.field('system').boolean()) || !note.has('author')
              ? 0
              : (note.field('author').field('id').optionalPositiveInteger() ?? 0),
          body: note.field('body').text(),
        })),
        last: notes.length < COMMENT_PAGE_SIZE,
      };
    },
    async edit(id, body) {
      const response = await http.request('PUT', `${path}/${id}`, { body: { body }, signal });
      if (response.status !== 200) throw http.failure(what, response);
    },
    async create(body) {
      const response = await http.request('POST', path, { body: { body }, signal });
      if (response.status !== 201) throw http.failure(what, response);
      return answer({ http, what }, response.body).field('id').positiveInteger();
    },
  };
}

async function setCommitStatus(
  http: ForgeHttp,
  repo: string,
  sha: string,
  input: Parameters<Forge['setCommitStatus']>[2],
  signal: AbortSignal | undefined,
): Promise<void> {
  const status = checkStatus(sha, input);
  const what = `setting the commit status ${status.context} of ${sha.slice(0, 12)} in ${repo}`;
  const response = await http.request('POST', `${projectPath(repo)}/statuses/${sha}`, {
    signal,
    body: {
      state: gitlabState(status.state),
      name: status.context,
      description: status.description,
      ...(status.targetUrl === undefined ? {} : { target_url: status.targetUrl }),
    },
  });
  if (response.status === 201 || response.status === 200) return;
  // GitLab refuses a status that is already the commit's ("Cannot transition status via :enqueue
  // from :pending"): it is set.
  if (response.status === 400 && /cannot transition status/i.test(http.apiMessage(response.body))) return;
  throw http.failure(what, response);
}
