/**
 * The REST API GitHub and Gitea share (Gitea copied GitHub's): `/repos/{owner}/{repo}/pulls`,
 * `/issues/{n}/comments`, `/issues/comments/{id}`, `/statuses/{sha}` and `/user`. A dialect says
 * where they differ (page parameters, filters, how a merge and a fork show).
 */
import { answer, labelObjects, pullRequestFrom, titleOf, type Answer } from './answers.js';
import {
  checkNumber,
  checkPullRequestInput,
  checkStatus,
  COMMENT_PAGE_SIZE,
  listBounds,
  ownUserIdOf,
  query,
  MAX_LIST_LIMIT,
  ownerRepoPath,
  upsertMarkedComment,
  type CommentApi,
  type CommentSummary,
} from './common.js';
import { abandonedOnAbort, type ApiResponse, type ForgeHttp } from './http.js';
import {
  ForgeError,
  type Forge,
  type PullRequest,
  type PullRequestInfo,
  type PullRequestInput,
} from './types.js';

/** Pages of open pull requests searched for one of the same head and base. */
const MAX_FIND_PAGES = 10;

export interface OwnerRepoDialect {
  readonly kind: 'github' | 'gitea';
  /** Items per page of pull requests (Gitea serves at most 50 by default). */
  readonly pageSize: number;
  /** The query of a page of `size` items. */
  pageQuery(page: number, size: number): Record<string, string>;
  /** The server-side filters of open pull requests of `input`'s head and base (also checked here). */
  findQuery(owner: string, input: PullRequestInput): Record<string, string>;
  /** The server-side filter of pull requests into `base` (also checked here). */
  baseQuery(base: string): Record<string, string>;
  /** The query of a page of comments, or undefined when the host lists them all at once. */
  commentPageQuery(page: number): Record<string, string> | undefined;
  /** Creating answered that an open one of the same head exists (opened meanwhile). */
  raced(http: ForgeHttp, response: ApiResponse): boolean;
  /** A closed pull request that was merged. */
  merged(pr: Answer): boolean;
  /** The head is in another repository than the base. */
  fork(pr: Answer): boolean;
}

/** At most this many comments in one answer of a host that does not page them. */
const MAX_UNPAGED_COMMENTS = 5000;

export function ownerRepoForge(http: ForgeHttp, dialect: OwnerRepoDialect): Forge {
  const ownUserId = ownUserIdOf(http);
  return {
    kind: dialect.kind,
    openPullRequest: (input) => openPullRequest(http, dialect, input),
    getPullRequest: (repo, number) => getPullRequest(http, dialect, repo, number),
    listOpenPullRequests: (repo, options) => listOpen(http, dialect, repo, options),
    upsertComment: (repo, number, comment, options) =>
      upsertMarkedComment(
        commentApi(http, dialect, repo, checkNumber(number), ownUserId, options?.signal),
        comment,
      ),
    setCommitStatus: (repo, sha, status, options) =>
      setCommitStatus(http, repo, sha, status, options?.signal),
    blockedUntil: () => http.blockedUntil(),
  };
}

/** A pull request as GitHub and Gitea describe it, checked field by field. */
export function pullRequestInfo(pr: Answer, dialect: OwnerRepoDialect): PullRequestInfo {
  const open = pr.field('state').oneOf(['open', 'closed']) === 'open';
  const head = pr.field('head');
  return {
    number: pr.field('number').positiveInteger(),
    url: pr.field('html_url').httpUrl(),
    title: titleOf(pr),
    state: open ? 'open' : dialect.merged(pr) ? 'merged' : 'closed',
    head: { ref: head.field('ref').ref(), sha: head.field('sha').sha(), fork: dialect.fork(pr) },
    base: { ref: pr.field('base').field('ref').ref() },
    author: pr.field('user').field('login').name(),
    labels: labelObjects(pr),
  };
}

async function getPullRequest(
  http: ForgeHttp,
  dialect: OwnerRepoDialect,
  repo: string,
  number: number,
): Promise<PullRequestInfo> {
  const what = `reading pull request #${checkNumber(number)} of ${repo}`;
  const response = await http.request('GET', `${ownerRepoPath(repo)}/pulls/${number}`);
  if (response.status === 404) {
    throw new ForgeError('notFound', `${what}: no such pull request on ${http.api.display} (404)`, {
      status: 404,
    });
  }
  if (response.status !== 200) throw http.failure(what, response);
  return pullRequestInfo(answer({ http, what }, response.body), dialect);
}

async function listOpen(
  http: ForgeHttp,
  dialect: OwnerRepoDialect,
  repo: string,
  options: Parameters<Forge['listOpenPullRequests']>[1],
): Promise<PullRequestInfo[]> {
  const { limit, base } = listBounds(options);
  const what = `listing open pull requests of ${repo}`;
  const path = `${ownerRepoPath(repo)}/pulls`;
  const found: PullRequestInfo[] = [];
  // Pages are counted before the base filter where the host cannot filter: go on to the cap.
  const pages = Math.ceil(MAX_LIST_LIMIT / dialect.pageSize);
  for (let page = 1; page <= pages && found.length < limit; page++) {
    const params = {
      state: 'open',
      ...(base === undefined ? {} : dialect.baseQuery(base)),
      ...dialect.pageQuery(page, dialect.pageSize),
    };
    const response = await http.request('GET', `${path}?${query(params)}`, { signal: options?.signal });
    if (response.status !== 200) throw http.failure(what, response);
    const items = answer({ http, what }, response.body).list(dialect.pageSize);
    for (const item of items) {
      const pr = pullRequestInfo(item, dialect);
      if (pr.state === 'open' && (base === undefined || pr.base.ref === base)) found.push(pr);
    }
    if (items.length < dialect.pageSize) break;
  }
  return found.slice(0, limit);
}

/** Reuses an open pull request of the same head and base, else opens one. */
async function openPullRequest(
  http: ForgeHttp,
  dialect: OwnerRepoDialect,
  input: PullRequestInput,
): Promise<PullRequest> {
  checkPullRequestInput(input);
  const path = ownerRepoPath(input.repo);
  const owner = input.repo.split('/')[0] ?? '';
  const what = `opening a pull request in ${input.repo}`;
  const existing = await findOpen(http, dialect, path, owner, input, what);
  if (existing) return existing;
  const response = await http.request('POST', `${path}/pulls`, {
    body: { title: input.title, head: input.head, base: input.base, body: input.body },
  });
  if (response.status === 201)
    return pullRequestFrom({ http, what }, response.body, { number: 'number', url: 'html_url' }, false);
  if (dialect.raced(http, response)) {
    const again = await findOpen(http, dialect, path, owner, input, what);
    if (again) return again;
  }
  throw http.failure(what, response);
}

async function findOpen(
  http: ForgeHttp,
  dialect: OwnerRepoDialect,
  path: string,
  owner: string,
  input: PullRequestInput,
  what: string,
): Promise<PullRequest | undefined> {
  const size = 50;
  for (let page = 1; page <= MAX_FIND_PAGES; page++) {
    const params = { state: 'open', ...dialect.findQuery(owner, input), ...dialect.pageQuery(page, size) };
    const response = await http.request('GET', `${path}/pulls?${query(params)}`);
    if (response.status !== 200) throw http.failure(what, response);
    const list: unknown[] = Array.isArray(response.body) ? response.body : [];
    // Matched loosely (a stranger's odd pull request must not stop ours); the match is checked.
    const match = list.find((item) => {
      const pr = item as { head?: { ref?: unknown }; base?: { ref?: unknown } } | null;
      return (
        pr?.head?.ref === input.head &&
        pr?.base?.ref === input.base &&
        !isFork(dialect, answer({ http, what }, item))
      );
    });
    if (match !== undefined)
      return pullRequestFrom({ http, what }, match, { number: 'number', url: 'html_url' }, true);
    if (list.length < size) return undefined;
  }
  return undefined;
}

/** A head whose repository cannot be told counts as a fork: never reused for our own branch. */
function isFork(dialect: OwnerRepoDialect, pr: Answer): boolean {
  try {
    return dialect.fork(pr);
  } catch {
    return true;
  }
}

function commentApi(
  http: ForgeHttp,
  dialect: OwnerRepoDialect,
  repo: string,
  number: number,
  ownUserId: () => Promise<number>,
  signal: AbortSignal | undefined,
): CommentApi {
  const path = ownerRepoPath(repo);
  const what = `commenting on pull request #${number} of ${repo}`;
  return {
    ownUserId: () => abandonedOnAbort(ownUserId, signal, what),
    async page(page) {
      const paging = dialect.commentPageQuery(page);
      const suffix = paging === undefined ? '' : `?${query(paging)}`;
      const response = await http.request('GET', `${path}/issues/${number}/comments${suffix}`, {
        large: true,
        signal,
      });
      if (response.status !== 200) throw http.failure(what, response);
      const items = answer({ http, what }, response.body).list(
        paging === undefined ? MAX_UNPAGED_COMMENTS : COMMENT_PAGE_SIZE,
      );
      const last = paging === undefined || items.length < COMMENT_PAGE_SIZE;
      return { comments: items.map(commentSummary), last };
    },
    async edit(id, body) {
      const response = await http.request('PATCH', `${path}/issues/comments/${id}`, {
        body: { body },
        signal,
      });
      if (![200, 201, 204].includes(response.status)) throw http.failure(what, response);
    },
    async create(body) {
      const response = await http.request('POST', `${path}/issues/${number}/comments`, {
        body: { body },
        signal,
      });
      if (response.status !== 201) throw http.failure(what, response);
      return answer({ http, what }, response.body).field('id').positiveInteger();
    },
  };
}

/** `{ id, user: { id }, body }`; a comment without a known author is nobody's (never edited). */
function commentSummary(comment: Answer): CommentSummary {
  const authorId = comment.has('user')
    ? comment.field('user').field('id').optionalPositiveInteger()
    : undefined;
  return {
    id: comment.field('id').positiveInteger(),
    authorId: authorId ?? 0,
    body: comment.field('body').text(),
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
  const response = await http.request('POST', `${ownerRepoPath(repo)}/statuses/${sha}`, {
    signal,
    body: {
      state: status.state,
      context: status.context,
      description: status.description,
      ...(status.targetUrl === undefined ? {} : { target_url: status.targetUrl }),
    },
  });
  if (response.status !== 201 && response.status !== 200) throw http.failure(what, response);
}
