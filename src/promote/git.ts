/**
 * A promotion in Git, on objects alone (no working tree, as the rollback's revert): the target
 * branch's head with the target path replaced by the source path's tree at the promoted commit,
 * as one commit — files added, changed and removed under the target path, nothing else touched.
 * Pushed to the target branch (fast-forward; a branch that moved is rebuilt on its new head), or
 * to `capstan/promote/<namespace>/<target>` (force-updated with a lease: one pull request per target, reused).
 */
import { UserError } from '../core/errors.js';
import type { GitCredentials } from '../source/credentials.js';
import { normaliseTreePath } from '../source/git-source.js';
import { quote } from '../source/redact.js';
import { checkSha, refNameProblem } from '../source/refs.js';
import { ForgeError, type ForgeTarget } from '../forge/index.js';
import type { PushRefusal } from '../source/writeback/push.js';
import {
  DEFAULT_AUTHOR,
  advertisedCommits,
  commitOf,
  fetchFailure,
  hasCommit,
  isCommitOf,
  pushCommit,
  refusalMessage,
  writeCommit,
  type Refusal,
} from '../source/writeback/remote.js';
import { entryAt, graft, sameEntry } from '../source/writeback/tree.js';
import { WorkRepo, type WorkRepoOptions } from '../source/writeback/work-repo.js';
import {
  promotionBranch,
  promotionMessage,
  promotionSubject,
  promotionSummary,
  short,
  type ChangedFile,
  type PromotionDescription,
} from './message.js';

export interface PromoteGitRequest {
  /** The target's Repository as the source stage gets it: URL, credentials, timeout. */
  readonly repository: {
    readonly url: string;
    readonly credentials?: GitCredentials;
    readonly timeoutMs?: number;
  };
  readonly description: PromotionDescription;
  readonly mode: 'pullRequest' | 'push';
  /** Required for `pullRequest`. */
  readonly forge?: ForgeTarget;
  /** Author and committer; default `Capstan <capstan@localhost>`. */
  readonly author?: { readonly name: string; readonly email: string };
  /**
   * The plan of the pull request's commit (Markdown: what merging it would do to the cluster),
   * once the commit is on the server; undefined when there is none. The file summary stands alone
   * without it.
   */
  readonly plan?: (commit: string) => Promise<string | undefined>;
}

export type PromoteGitResult =
  | { readonly outcome: 'upToDate'; readonly message: string }
  | {
      readonly outcome: 'pushed';
      readonly sha: string;
      readonly files: readonly ChangedFile[];
      readonly message: string;
    }
  | {
      readonly outcome: 'pullRequest';
      readonly sha: string;
      readonly number: number;
      readonly url: string;
      readonly reused: boolean;
      readonly files: readonly ChangedFile[];
      readonly message: string;
    }
  | { readonly outcome: 'branchMoved'; readonly message: string }
  | { readonly outcome: 'refused'; readonly reason: PushRefusal; readonly message: string };

export interface PromoteGitOptions extends WorkRepoOptions {
  /** Attempts when a branch moves between fetch and push; default 4. */
  readonly maxAttempts?: number;
  /** The commit dates. */
  readonly now?: () => Date;
}

const DEFAULT_MAX_ATTEMPTS = 4;
const SOURCE_DEPTH = 50;
const MAX_DIFF_BYTES = 1024 * 1024;
const TARGET_REF = 'refs/capstan/target';
const SOURCE_REF = 'refs/capstan/source';
const PROMOTED_REF = 'refs/capstan/promoted';
const PR_REF = 'refs/capstan/pull-request';
/** The marker of the one comment a reused pull request gets, updated in place. */
export const PROMOTION_COMMENT_MARKER = '<!-- capstan:promotion -->';

interface Checked {
  readonly d: PromotionDescription;
  readonly mode: 'pullRequest' | 'push';
  readonly forge?: ForgeTarget;
  readonly author: { readonly name: string; readonly email: string };
  readonly prBranch: string;
  readonly plan?: (commit: string) => Promise<string | undefined>;
}

/**
 * Makes the target path of the target branch equal to the source path at the promoted commit, as
 * `request.mode` says. Returns an outcome for every answer a server can give; throws (a
 * CapstanError, secrets redacted) only for bad input, an unreachable server or a bug.
 */
export async function promoteInGit(
  request: PromoteGitRequest,
  options: PromoteGitOptions = {},
): Promise<PromoteGitResult> {
  const c = checkRequest(request);
  const maxAttempts = Math.max(1, options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS);
  return WorkRepo.with(request.repository, options, async (repo) => {
    await fetchSource(repo, c);
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const result = await attemptPromotion(repo, c, options.now ?? (() => new Date()));
      if (result !== 'moved') return result;
    }
    return {
      outcome: 'branchMoved',
      message: `cannot promote ${c.d.source.name} into ${c.d.target.name}: branch ${quote(c.d.target.branch)} of ${repo.url.display} moved during each of ${maxAttempts} attempts`,
    };
  });
}

function checkRequest(request: PromoteGitRequest): Checked {
  const d = request.description;
  for (const branch of [d.source.branch, d.target.branch]) {
    const problem = refNameProblem(branch);
    if (problem !== undefined || branch.startsWith('refs/'))
      throw new UserError(`branch ${quote(branch)} is not valid: ${problem ?? 'give its short name'}`);
  }
  const prBranch = promotionBranch(d.namespace, d.target.name);
  const prProblem = refNameProblem(prBranch);
  if (prProblem !== undefined) throw new UserError(`branch ${quote(prBranch)} is not valid: ${prProblem}`);
  if (request.mode === 'pullRequest' && request.forge === undefined)
    throw new UserError('a promotion by pull request needs a forge to open it with');
  return {
    d: {
      ...d,
      source: { ...d.source, sha: checkSha(d.source.sha), path: normaliseTreePath(d.source.path) },
      target: { ...d.target, path: normaliseTreePath(d.target.path) },
    },
    mode: request.mode,
    ...(request.forge ? { forge: request.forge } : {}),
    author: request.author ?? DEFAULT_AUTHOR,
    prBranch,
    ...(request.plan ? { plan: request.plan } : {}),
  };
}

/** The promoted commit: from its branch (recent history), else asked for by id. */
async function fetchSource(repo: WorkRepo, c: Checked): Promise<void> {
  const sha = c.d.source.sha;
  const fromBranch = await fetchFailure(
    repo,
    [`+refs/heads/${c.d.source.branch}:${SOURCE_REF}`],
    [`--depth=${SOURCE_DEPTH}`],
  );
  if (!fromBranch && (await hasCommit(repo, sha))) return;
  const byId = await fetchFailure(repo, [`+${sha}:${PROMOTED_REF}`], ['--depth=1']);
  // Unreachable or timed out (retried), credentials refused: that, not a missing commit, is the answer.
  if (byId?.kind === 'transient') throw byId;
  if (fromBranch?.kind === 'user') throw fromBranch;
  if (byId || !(await hasCommit(repo, sha)))
    throw new UserError(
      `cannot promote ${short(sha)}: it is not in the recent history of branch ${quote(c.d.source.branch)} of ${repo.url.display}, and the server would not send it`,
      byId ? { cause: byId } : undefined,
    );
}

async function attemptPromotion(
  repo: WorkRepo,
  c: Checked,
  now: () => Date,
): Promise<PromoteGitResult | 'moved'> {
  const what = `${c.d.source.name}@${short(c.d.source.sha)} into ${c.d.target.name}`;
  const targetRef = `refs/heads/${c.d.target.branch}`;
  const prRef = `refs/heads/${c.prBranch}`;
  const advertised = await advertisedCommits(repo, [targetRef, prRef]);
  if ('refused' in advertised) return refused(repo, c, advertised.refused, c.d.target.branch);
  const head = advertised.get(targetRef);
  if (head === undefined)
    throw new UserError(
      `cannot promote ${what}: branch ${quote(c.d.target.branch)} does not exist in ${repo.url.display}`,
    );
  await repo.fetch([`+${targetRef}:${TARGET_REF}`], ['--depth=1']);

  const [promoted, current] = await Promise.all([
    entryAt(repo, c.d.source.sha, c.d.source.path),
    entryAt(repo, head, c.d.target.path),
  ]);
  if (promoted === undefined || promoted.type !== 'tree')
    throw new UserError(
      `cannot promote ${what}: ${c.d.source.path || 'the repository root'} is not a folder at ${short(c.d.source.sha)}`,
    );
  if (sameEntry(promoted, current))
    return {
      outcome: 'upToDate',
      message: `${c.d.target.path || 'the repository root'} on ${quote(c.d.target.branch)} already equals ${c.d.source.name} at ${short(c.d.source.sha)}: nothing to promote`,
    };

  const tree = await graft(repo, head, c.d.target.path, promoted);
  const sha = await writeCommit(repo, {
    tree,
    parent: head,
    message: promotionMessage(c.d),
    author: c.author,
    date: now(),
  });
  const files = await changedFiles(repo, head, sha, c.d.target.path);

  if (c.mode === 'push') {
    const pushed = await pushCommit(repo, sha, c.d.target.branch);
    if (pushed !== 'pushed')
      return pushed === 'moved' ? 'moved' : refused(repo, c, pushed, c.d.target.branch);
    return {
      outcome: 'pushed',
      sha,
      files: files.list,
      message: `promoted ${what}: commit ${short(sha)} pushed to ${quote(c.d.target.branch)} (${files.list.length} files changed)`,
    };
  }
  return pullRequest(repo, c, { head, tree, sha, existing: advertised.get(prRef), files });
}

/** Pushes the promotion to its own branch (unless it holds the same change) and opens or finds its pull request. */
async function pullRequest(
  repo: WorkRepo,
  c: Checked,
  change: {
    head: string;
    tree: string;
    sha: string;
    existing: string | undefined;
    files: { list: ChangedFile[]; truncated: boolean };
  },
): Promise<PromoteGitResult | 'moved'> {
  let carried = change.sha;
  if (
    change.existing !== undefined &&
    (await holdsSameChange(repo, c.prBranch, {
      existing: change.existing,
      head: change.head,
      tree: change.tree,
    }))
  ) {
    carried = change.existing;
  } else {
    const pushed = await pushCommit(repo, change.sha, c.prBranch, { lease: { expected: change.existing } });
    if (pushed !== 'pushed') return pushed === 'moved' ? 'moved' : refused(repo, c, pushed, c.prBranch);
  }
  const forge = c.forge!;
  const summary = promotionSummary(c.d, change.files.list, { truncated: change.files.truncated });
  const plan = await c.plan?.(carried);
  const body = plan ? `${summary}\n${plan}` : summary;
  try {
    const pr = await forge.forge.openPullRequest({
      repo: forge.repo,
      head: c.prBranch,
      base: c.d.target.branch,
      title: promotionSubject(c.d),
      body,
    });
    // A reused pull request's body tells of an older revision: one comment, updated, tells of this one.
    const commented = pr.reused ? await commentOn(forge, pr.number, body) : '';
    return {
      outcome: 'pullRequest',
      sha: carried,
      number: pr.number,
      url: pr.url,
      reused: pr.reused,
      files: change.files.list,
      message: `${pr.reused ? 'updated' : 'opened'} pull request #${pr.number} promoting ${c.d.source.name}@${short(c.d.source.sha)} into ${c.d.target.name}: ${pr.url}${commented}`,
    };
  } catch (error) {
    if (error instanceof ForgeError && (error.status === 401 || error.status === 403 || error.status === 404))
      return {
        outcome: 'refused',
        reason: error.status === 401 ? 'auth' : 'permission',
        message: `pushed the promotion to branch ${quote(c.prBranch)}, but cannot open a pull request: ${error.message}`,
      };
    throw error;
  }
}

/**
 * One comment on the pull request, found by its marker and edited in place. Best effort: the
 * branch already carries the promotion; a token that may not comment costs the comment only.
 * Returns what to add to the outcome's message.
 */
async function commentOn(forge: ForgeTarget, number: number, body: string): Promise<string> {
  try {
    await forge.forge.upsertComment(forge.repo, number, {
      marker: PROMOTION_COMMENT_MARKER,
      body: `This pull request now carries:\n\n${body}`,
    });
    return '';
  } catch (error) {
    if (!(error instanceof ForgeError)) throw error;
    return ` (its description tells of an earlier revision: cannot update its comment: ${error.message})`;
  }
}

/** Whether the pull request's branch tip is this very change: same tree, on the same target head. */
async function holdsSameChange(
  repo: WorkRepo,
  branch: string,
  change: { existing: string; head: string; tree: string },
): Promise<boolean> {
  await repo.fetch([`+refs/heads/${branch}:${PR_REF}`], ['--depth=1']);
  const tip = await commitOf(repo, PR_REF);
  if (tip !== change.existing) return false;
  return isCommitOf(repo, tip, { parent: change.head, tree: change.tree });
}

/** The files a commit changes under `path`, as `git diff-tree` lists them (bounded). */
async function changedFiles(
  repo: WorkRepo,
  from: string,
  to: string,
  path: string,
): Promise<{ list: ChangedFile[]; truncated: boolean }> {
  const out = await repo.bytes(
    'diff-tree',
    [
      '--literal-pathspecs',
      'diff-tree',
      '-r',
      '-z',
      '--no-renames',
      '--name-status',
      '--end-of-options',
      from,
      to,
      '--',
      ...(path === '' ? [] : [path]),
    ],
    MAX_DIFF_BYTES,
  );
  if (out === undefined || out.exitCode !== 0) return { list: [], truncated: true };
  const fields = out.stdout.toString('utf8').split('\0');
  const list: ChangedFile[] = [];
  for (let i = 0; i + 1 < fields.length; i += 2) list.push({ status: fields[i]!, path: fields[i + 1]! });
  return { list, truncated: false };
}

function refused(repo: WorkRepo, c: Checked, refusal: Refusal, branch: string): PromoteGitResult {
  const message = refusalMessage(repo, refusal, {
    failed: `cannot promote ${c.d.source.name} into ${c.d.target.name} in ${repo.url.display}`,
    branch,
    ...(c.mode === 'push' ? { alternative: 'a pull request can carry the promotion' } : {}),
  });
  return { outcome: 'refused', reason: refusal.reason, message };
}
