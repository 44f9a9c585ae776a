/**
 * The one in-memory fake of the forge client (src/forge) for tests of what uses it: pull requests,
 * comments with their authors, commit statuses, all kept in plain arrays a test can read and seed.
 * It keeps the real client's rules that callers rely on: an open pull request of the same head and
 * base is reused, a marked comment is edited only when the fake's own user wrote it, bodies are
 * marked and cut as the real client does (commentBody), statuses are replaced per context.
 *
 *   const forge = new FakeForge();
 *   forge.addPullRequest('team-a/apps', { number: 3, head: { ref: 'feature', sha }, base: { ref: 'main' } });
 *   … code under test …
 *   expect(forge.comments).toHaveLength(1);
 *   expect(forge.statusOf('team-a/apps', sha, 'capstan/plan')?.state).toBe('success');
 */
import {
  commentBody,
  ForgeError,
  type CommentInput,
  type CommitStatusInput,
  type Forge,
  type ForgeKind,
  type ListPullRequestsOptions,
  type PullRequest,
  type PullRequestInfo,
  type PullRequestInput,
  type UpsertedComment,
} from '../../src/forge/index.js';

export interface FakeComment {
  readonly repo: string;
  readonly number: number;
  readonly id: number;
  readonly author: string;
  body: string;
}

export interface FakeStatus extends CommitStatusInput {
  readonly repo: string;
  readonly sha: string;
}

export interface FakePullRequest extends PullRequestInfo {
  readonly repo: string;
  readonly body: string;
}

/** A seed: what is not given is made up. */
export interface PullRequestSeed {
  readonly number?: number;
  readonly title?: string;
  readonly state?: PullRequestInfo['state'];
  readonly head?: { readonly ref?: string; readonly sha?: string; readonly fork?: boolean };
  readonly base?: { readonly ref?: string };
  readonly author?: string;
  readonly labels?: readonly string[];
}

export class FakeForge implements Forge {
  readonly kind: ForgeKind;
  /** The token's own user: the author of the comments this fake writes. */
  readonly self: string;
  readonly pullRequests: FakePullRequest[] = [];
  readonly comments: FakeComment[] = [];
  /** Every status set, in order (statusOf gives the current one). */
  readonly statuses: FakeStatus[] = [];
  /** Every openPullRequest input, in order. */
  readonly opened: PullRequestInput[] = [];
  /** When set, every call fails with it (a host down, a rate limit). */
  failWith: Error | undefined;
  private nextComment = 1;

  constructor(options: { kind?: ForgeKind; self?: string } = {}) {
    this.kind = options.kind ?? 'gitea';
    this.self = options.self ?? 'capstan-bot';
  }

  addPullRequest(repo: string, seed: PullRequestSeed = {}): FakePullRequest {
    const number = seed.number ?? this.pullRequests.length + 1;
    const pr: FakePullRequest = {
      repo,
      number,
      url: `https://forge.example/${repo}/pulls/${number}`,
      title: seed.title ?? `Pull request ${number}`,
      body: '',
      state: seed.state ?? 'open',
      head: {
        ref: seed.head?.ref ?? `feature-${number}`,
        sha: seed.head?.sha ?? number.toString(16).padStart(40, '0'),
        fork: seed.head?.fork ?? false,
      },
      base: { ref: seed.base?.ref ?? 'main' },
      author: seed.author ?? 'someone',
      labels: seed.labels ?? [],
    };
    this.pullRequests.push(pr);
    return pr;
  }

  /** A comment by `author` (another user than `self` unless given). */
  addComment(repo: string, number: number, body: string, author = 'someone'): FakeComment {
    const comment = { repo, number, id: this.nextComment++, author, body };
    this.comments.push(comment);
    return comment;
  }

  statusOf(repo: string, sha: string, context: string): FakeStatus | undefined {
    return this.statuses.findLast((s) => s.repo === repo && s.sha === sha && s.context === context);
  }

  private check(): void {
    if (this.failWith) throw this.failWith;
  }

  async openPullRequest(input: PullRequestInput): Promise<PullRequest> {
    this.check();
    this.opened.push(input);
    const existing = this.pullRequests.find(
      (pr) =>
        pr.repo === input.repo &&
        pr.state === 'open' &&
        pr.head.ref === input.head &&
        pr.base.ref === input.base,
    );
    if (existing) return { number: existing.number, url: existing.url, reused: true };
    const pr = this.addPullRequest(input.repo, {
      title: input.title,
      head: { ref: input.head },
      base: { ref: input.base },
      author: this.self,
    });
    Object.assign(pr, { body: input.body });
    return { number: pr.number, url: pr.url, reused: false };
  }

  async getPullRequest(repo: string, number: number): Promise<PullRequestInfo> {
    this.check();
    const pr = this.pullRequests.find((p) => p.repo === repo && p.number === number);
    if (!pr) throw new ForgeError('notFound', `no pull request #${number} in ${repo}`, { status: 404 });
    return pr;
  }

  async listOpenPullRequests(
    repo: string,
    options: ListPullRequestsOptions = {},
  ): Promise<PullRequestInfo[]> {
    this.check();
    return this.pullRequests
      .filter((p) => p.repo === repo && p.state === 'open')
      .filter((p) => options.base === undefined || p.base.ref === options.base)
      .slice(0, options.limit ?? 100);
  }

  async upsertComment(repo: string, number: number, comment: CommentInput): Promise<UpsertedComment> {
    this.check();
    const body = commentBody(comment);
    const mine = this.comments.find(
      (c) =>
        c.repo === repo && c.number === number && c.author === this.self && c.body.includes(comment.marker),
    );
    if (mine) {
      mine.body = body;
      return { id: mine.id, created: false };
    }
    return { id: this.addComment(repo, number, body, this.self).id, created: true };
  }

  async setCommitStatus(repo: string, sha: string, status: CommitStatusInput): Promise<void> {
    this.check();
    this.statuses.push({ repo, sha, ...status });
  }

  blockedUntil(): Date | undefined {
    return undefined;
  }
}
