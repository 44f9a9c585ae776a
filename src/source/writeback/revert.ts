/**
 * Recording a rollback in Git: one revert commit of what `good..bad` changed under the app's path,
 * on top of the branch as it is now, pushed to the branch (never forced) or to a branch of its own
 * with a pull request. What the server refuses comes back as an outcome with a message for a
 * condition; the cluster's rollback never depends on it.
 */
import { join } from 'node:path';
import { UserError } from '../../core/errors.js';
import type { GitCredentials } from '../credentials.js';
import { normaliseTreePath } from '../git-source.js';
import { quote } from '../redact.js';
import { checkSha, refNameProblem } from '../refs.js';
import { ForgeError, type ForgeTarget } from '../../forge/index.js';
import {
  revertMessage,
  revertSubject,
  rollbackBranch,
  rollbackTrailerPattern,
  short,
  type RevertedCommit,
} from './message.js';
import type { PushRefusal } from './push.js';
import {
  DEFAULT_AUTHOR,
  advertisedCommits,
  commitOf,
  fetchFailure,
  hasCommit,
  pushCommit,
  refusalMessage,
  writeCommit,
  type Refusal,
} from './remote.js';
import { entryAt, graft, mergeTrees, rootTree, sameEntry } from './tree.js';
import { WorkRepo, type WorkRepoOptions } from './work-repo.js';

export interface RevertRequest {
  /** The Repository as the source stage gets it: URL, credentials (from its Secret), timeout. */
  readonly repository: {
    readonly url: string;
    readonly credentials?: GitCredentials;
    readonly timeoutMs?: number;
  };
  /** The branch the app follows (short name, `main`). */
  readonly branch: string;
  /** The last healthy commit, re-applied by the rollback. */
  readonly good: string;
  /** The commit that failed. */
  readonly bad: string;
  /** The app's folder in the repository (`''` or `.` for the root): only its changes are reverted. */
  readonly appPath: string;
  readonly app: { readonly namespace: string; readonly name: string };
  /** Why it failed (the health message), quoted in the commit message. */
  readonly evidence: string;
  /** Author and committer; default `Capstan <capstan@localhost>`. */
  readonly author?: { readonly name: string; readonly email: string };
  /** `commit`: push the revert to the branch. `pullRequest`: push it to a branch of its own and open a pull request. */
  readonly mode: 'commit' | 'pullRequest';
  /** Required for `pullRequest`. */
  readonly forge?: ForgeTarget;
}

export type NotNeededReason =
  /** A Capstan revert of `bad` is already on the branch (or its pull request's branch). */
  | 'alreadyReverted'
  /** The app's folder on the branch already equals `good`. */
  | 'alreadyGood'
  /** `bad` changed nothing under the app's folder since `good`. */
  | 'nothingToRevert'
  /** The branch no longer contains `bad` (force-pushed away), or no longer exists. */
  | 'notOnBranch';

export type RevertResult =
  | {
      readonly outcome: 'pushed';
      /** The revert commit, now the branch's head. */
      readonly sha: string;
      readonly branch: string;
      readonly reverted: readonly string[];
      readonly message: string;
    }
  | {
      readonly outcome: 'pullRequest';
      readonly sha: string;
      /** The branch carrying the revert. */
      readonly branch: string;
      readonly number: number;
      readonly url: string;
      /** The pull request (or the pushed branch) already existed. */
      readonly reused: boolean;
      readonly reverted: readonly string[];
      readonly message: string;
    }
  | {
      readonly outcome: 'notNeeded';
      readonly reason: NotNeededReason;
      /** For `alreadyReverted`: the revert found. */
      readonly sha?: string;
      readonly message: string;
    }
  | {
      readonly outcome: 'conflict';
      /** Paths changed on the branch since `bad` in ways the revert cannot merge with (first ten). */
      readonly paths: readonly string[];
      readonly message: string;
    }
  | { readonly outcome: 'branchMoved'; readonly attempts: number; readonly message: string }
  | {
      readonly outcome: 'refused';
      /** `auth`: credentials not accepted; `permission`: they may not write; `protected`: the server declined the push. */
      readonly reason: PushRefusal;
      readonly message: string;
    };

export interface RevertOptions extends WorkRepoOptions {
  /** Attempts when the branch moves between fetch and push; default 3. */
  readonly maxAttempts?: number;
  /** Commits of the branch fetched, at most, looking for `bad` and `good`; default 10,000. */
  readonly maxDepth?: number;
  /** The commit dates. */
  readonly now?: () => Date;
}

const FIRST_DEPTH = 50;
const DEFAULT_MAX_DEPTH = 10_000;
const DEFAULT_MAX_ATTEMPTS = 3;
/** Reverted commits named in the message, at most. */
const MAX_LISTED_COMMITS = 50;
const MAX_LOG_BYTES = 256 * 1024;
const HEAD_REF = 'refs/capstan/head';
const ROLLBACK_REF = 'refs/capstan/rollback';
const GOOD_REF = 'refs/capstan/good';
// DNS-1123 subdomain (Application and namespace names).
const K8S_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

interface Checked {
  readonly branch: string;
  readonly good: string;
  readonly bad: string;
  readonly appPath: string;
  readonly app: { readonly namespace: string; readonly name: string };
  readonly evidence: string;
  readonly author: { readonly name: string; readonly email: string };
  readonly mode: 'commit' | 'pullRequest';
  readonly forge?: ForgeTarget;
  /** The pull request's branch. */
  readonly rollbackBranch: string;
}

/**
 * Reverts, in one commit on top of `branch`, what `good..bad` changed under `appPath`, and records
 * it as `mode` says. Returns an outcome for every answer a server can give; throws (a CapstanError
 * with a cause, secrets redacted) only for bad input, an unreachable server or a bug.
 */
export async function revertCommits(
  request: RevertRequest,
  options: RevertOptions = {},
): Promise<RevertResult> {
  const checked = checkRequest(request);
  const maxAttempts = Math.max(1, options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS);
  return WorkRepo.with(request.repository, options, async (repo) => {
    const fetched = { depth: 0 };
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const result = await attemptRevert(repo, checked, attempt, fetched, options);
      if (result !== 'moved') return result;
    }
    return {
      outcome: 'branchMoved',
      attempts: maxAttempts,
      message: `cannot record the rollback of ${appName(checked)} in ${repo.url.display}: branch ${quote(checked.branch)} moved during each of ${maxAttempts} attempts to push the revert; the next rollback tries again`,
    };
  });
}

function checkRequest(request: RevertRequest): Checked {
  if (request === null || typeof request !== 'object') throw new UserError('revert request is missing');
  const problem = refNameProblem(request.branch);
  if (problem !== undefined || request.branch.startsWith('refs/')) {
    throw new UserError(
      `branch ${quote(String(request.branch))} is not valid: ${problem ?? 'give its short name'}`,
    );
  }
  const app = request.app ?? { namespace: '', name: '' };
  for (const [field, value] of [
    ['app.namespace', app.namespace],
    ['app.name', app.name],
  ] as const) {
    if (typeof value !== 'string' || value.length > 253 || !K8S_NAME.test(value)) {
      throw new UserError(`${field} ${quote(String(value))} is not a Kubernetes name`);
    }
  }
  const good = checkSha(request.good);
  const bad = checkSha(request.bad);
  if (good === bad) throw new UserError(`good and bad are the same commit ${good}`);
  const author = request.author ?? DEFAULT_AUTHOR;
  for (const [field, value] of [
    ['author.name', author.name],
    ['author.email', author.email],
  ] as const) {
    if (
      typeof value !== 'string' ||
      value.trim() === '' ||
      value.length > 256 ||
      // eslint-disable-next-line no-control-regex
      /[<>\u0000-\u001f\u007f]/.test(value)
    ) {
      throw new UserError(`${field} ${quote(String(value))} is not valid`);
    }
  }
  if (request.mode !== 'commit' && request.mode !== 'pullRequest') {
    throw new UserError(`mode ${quote(String(request.mode))} is not "commit" or "pullRequest"`);
  }
  if (request.mode === 'pullRequest' && request.forge === undefined) {
    throw new UserError('mode "pullRequest" needs a forge to open the pull request with');
  }
  const branchForPr = rollbackBranch(app, bad);
  const prProblem = refNameProblem(branchForPr);
  if (prProblem !== undefined) throw new UserError(`branch ${quote(branchForPr)} is not valid: ${prProblem}`);
  return {
    branch: request.branch,
    good,
    bad,
    appPath: normaliseTreePath(request.appPath ?? ''),
    app: { namespace: app.namespace, name: app.name },
    evidence: typeof request.evidence === 'string' ? request.evidence : '',
    author: { name: author.name.trim(), email: author.email.trim() },
    mode: request.mode,
    ...(request.forge === undefined ? {} : { forge: request.forge }),
    rollbackBranch: branchForPr,
  };
}

const appName = (c: Checked) => `${c.app.namespace}/${c.app.name}`;

async function attemptRevert(
  repo: WorkRepo,
  c: Checked,
  attempt: number,
  fetched: { depth: number },
  options: RevertOptions,
): Promise<RevertResult | 'moved'> {
  const what = `the rollback of ${appName(c)} (${short(c.bad)} → ${short(c.good)})`;
  const advertised = await advertisedCommits(repo, [
    `refs/heads/${c.branch}`,
    `refs/heads/${c.rollbackBranch}`,
  ]);
  if ('refused' in advertised) return refused(repo, c, advertised.refused, c.branch);
  if (!advertised.has(`refs/heads/${c.branch}`)) {
    return {
      outcome: 'notNeeded',
      reason: 'notOnBranch',
      message: `${what} is not recorded in Git: branch ${quote(c.branch)} no longer exists in ${repo.url.display}`,
    };
  }
  const history = await fetchHistory(repo, c, fetched, options.maxDepth ?? DEFAULT_MAX_DEPTH);
  if (history === 'badNotOnBranch') {
    return {
      outcome: 'notNeeded',
      reason: 'notOnBranch',
      message: `${what} is not recorded in Git: branch ${quote(c.branch)} no longer contains ${short(c.bad)} (it was force-pushed, or ${short(c.bad)} lies too far back)`,
    };
  }
  const head = history.head;

  const earlier = await findRevert(repo, c.bad, `${c.bad}..${head}`);
  if (earlier !== undefined) {
    return {
      outcome: 'notNeeded',
      reason: 'alreadyReverted',
      sha: earlier,
      message: `${what} is already recorded in Git: commit ${short(earlier)} on ${quote(c.branch)} reverts ${short(c.bad)}`,
    };
  }

  const [goodEntry, badEntry, headEntry] = await Promise.all([
    entryAt(repo, c.good, c.appPath),
    entryAt(repo, c.bad, c.appPath),
    entryAt(repo, head, c.appPath),
  ]);
  const where = c.appPath === '' ? 'the repository' : `${c.appPath}/`;
  if (goodEntry === undefined) {
    throw new UserError(`cannot revert to ${short(c.good)}: it has no ${where} in ${repo.url.display}`);
  }
  if (sameEntry(goodEntry, badEntry)) {
    return {
      outcome: 'notNeeded',
      reason: 'nothingToRevert',
      message: `${what} is not recorded in Git: ${short(c.bad)} changed nothing under ${where} since ${short(c.good)} (what broke the app lies outside its folder)`,
    };
  }
  if (sameEntry(goodEntry, headEntry)) {
    return {
      outcome: 'notNeeded',
      reason: 'alreadyGood',
      message: `${what} is not recorded in Git: ${where} on ${quote(c.branch)} already equals ${short(c.good)}`,
    };
  }

  // The three-way merge, in a private index inside the work repository's folder.
  const scratch = (name: string) => join(repo.folder, `capstan-${name}`);
  const theirs = await graft(repo, c.bad, c.appPath, goodEntry);
  const [base, ours] = await Promise.all([rootTree(repo, c.bad), rootTree(repo, head)]);
  const merged = await mergeTrees(repo, { base, ours, theirs }, scratch(`index-${attempt}`), scratch);
  if (!merged.clean) {
    const more = merged.more > 0 ? ` and ${merged.more} more` : '';
    return {
      outcome: 'conflict',
      paths: merged.paths,
      message: `cannot record ${what} in Git: the revert conflicts with changes made on ${quote(c.branch)} since ${short(c.bad)} in ${merged.paths.join(', ')}${more}; revert it by hand`,
    };
  }
  if (merged.tree === ours) {
    return {
      outcome: 'notNeeded',
      reason: 'alreadyGood',
      message: `${what} is not recorded in Git: reverting it on ${quote(c.branch)} changes nothing`,
    };
  }

  const { listed, more } = await revertedCommits(repo, c);
  const message = revertMessage({
    app: c.app,
    branch: c.branch,
    appPath: c.appPath,
    good: c.good,
    bad: c.bad,
    evidence: c.evidence,
    reverted: listed,
    moreReverted: more,
  });
  const sha = await writeCommit(repo, {
    tree: merged.tree,
    parent: head,
    message,
    author: c.author,
    date: (options.now ?? (() => new Date()))(),
  });
  const reverted = listed.map((commit) => commit.sha);

  if (c.mode === 'commit') {
    const pushed = await pushCommit(repo, sha, c.branch);
    if (pushed === 'moved') return 'moved';
    if (pushed !== 'pushed') return refused(repo, c, pushed, c.branch);
    return {
      outcome: 'pushed',
      sha,
      branch: c.branch,
      reverted,
      message: `recorded ${what} in Git: commit ${short(sha)} on ${quote(c.branch)} in ${repo.url.display}`,
    };
  }

  // Pull request: a branch of its own (ours to overwrite with a lease), unless it already holds
  // a revert of `bad` (an earlier attempt), which the pull request then carries.
  const existing = advertised.get(`refs/heads/${c.rollbackBranch}`);
  let carried = sha;
  let reused = false;
  if (existing !== undefined && (await rollbackBranchHolds(repo, c, existing))) {
    carried = existing;
    reused = true;
  } else {
    const pushed = await pushCommit(repo, sha, c.rollbackBranch, { lease: { expected: existing } });
    if (pushed === 'moved') return 'moved';
    if (pushed !== 'pushed') return refused(repo, c, pushed, c.rollbackBranch);
  }
  const forge = c.forge!;
  let pr;
  try {
    pr = await forge.forge.openPullRequest({
      repo: forge.repo,
      head: c.rollbackBranch,
      base: c.branch,
      title: revertSubject(c),
      body: message.split('\n').slice(2).join('\n'),
    });
  } catch (error) {
    if (
      error instanceof ForgeError &&
      (error.status === 401 || error.status === 403 || error.status === 404)
    ) {
      return {
        outcome: 'refused',
        reason: error.status === 401 ? 'auth' : 'permission',
        message: `pushed the revert of ${appName(c)} to branch ${quote(c.rollbackBranch)}, but cannot open a pull request: ${error.message}`,
      };
    }
    throw error;
  }
  return {
    outcome: 'pullRequest',
    sha: carried,
    branch: c.rollbackBranch,
    number: pr.number,
    url: pr.url,
    reused: reused || pr.reused,
    reverted,
    message: `${pr.reused ? 'found' : 'opened'} pull request #${pr.number} recording ${what}: ${pr.url}`,
  };
}

/**
 * Fetches the branch deep enough to hold `bad` (and, normally, `good` behind it): 50 commits, then
 * four times as many each round, up to `maxDepth` (`state.depth` is how deep it is so far).
 */
async function fetchHistory(
  repo: WorkRepo,
  c: Checked,
  state: { depth: number },
  maxDepth: number,
): Promise<{ head: string } | 'badNotOnBranch'> {
  const refspec = `+refs/heads/${c.branch}:${HEAD_REF}`;
  if (state.depth === 0) {
    state.depth = Math.min(FIRST_DEPTH, maxDepth);
    await repo.fetch([refspec], [`--depth=${state.depth}`]);
  } else {
    // A later attempt: what the branch gained since, down to the commits already here.
    await repo.fetch([refspec], []);
  }
  let head = await commitOf(repo, HEAD_REF);
  for (;;) {
    const hasBad = (await hasCommit(repo, c.bad)) && (await isAncestor(repo, c.bad, head));
    const hasGood = await hasCommit(repo, c.good);
    if (hasBad && hasGood) return { head };
    const shallow =
      (await repo.local('rev-parse', ['rev-parse', '--is-shallow-repository'])).trim() === 'true';
    if (!shallow || state.depth >= maxDepth) {
      if (!hasBad) return 'badNotOnBranch';
      break;
    }
    const next = Math.min(state.depth * 4, maxDepth);
    await repo.fetch([refspec], [`--deepen=${next - state.depth}`]);
    state.depth = next;
    head = await commitOf(repo, HEAD_REF);
  }
  // `good` is not behind `bad` on the branch (history rewritten between them): ask for it by id.
  const error = await fetchFailure(repo, [`+${c.good}:${GOOD_REF}`], ['--depth=1']);
  if (error || !(await hasCommit(repo, c.good))) {
    throw new UserError(
      `cannot revert to ${short(c.good)}: it is not on branch ${quote(c.branch)} of ${repo.url.display}, and the server would not send it`,
      error ? { cause: error } : undefined,
    );
  }
  return { head };
}

function isAncestor(repo: WorkRepo, ancestor: string, of: string): Promise<boolean> {
  return repo.succeeds('merge-base', ['merge-base', '--is-ancestor', ancestor, of]);
}

/** The newest commit in `range` whose message carries our trailer for `bad`. */
async function findRevert(repo: WorkRepo, bad: string, range: string): Promise<string | undefined> {
  const out = await repo.local('log', [
    'log',
    '-n',
    '1',
    '--format=%H',
    '--no-show-signature',
    `--grep=${rollbackTrailerPattern(bad)}`,
    '--end-of-options',
    range,
    '--',
  ]);
  const sha = out.trim();
  return sha === '' ? undefined : sha;
}

/** Whether the existing pull-request branch's tip is a Capstan revert of `bad`. */
async function rollbackBranchHolds(repo: WorkRepo, c: Checked, tip: string): Promise<boolean> {
  await repo.fetch([`+refs/heads/${c.rollbackBranch}:${ROLLBACK_REF}`], ['--depth=1']);
  if ((await commitOf(repo, ROLLBACK_REF)) !== tip) return false;
  return (await findRevert(repo, c.bad, `${tip}^!`)) === tip;
}

/** The commits of `good..bad` touching the app's path, newest first, as many as a message names. */
async function revertedCommits(
  repo: WorkRepo,
  c: Checked,
): Promise<{ listed: RevertedCommit[]; more: number }> {
  const out = await repo.bytes(
    'log',
    [
      '--literal-pathspecs',
      'log',
      '-z',
      '--no-show-signature',
      '--format=%H %s',
      '-n',
      '1000',
      '--end-of-options',
      `${c.good}..${c.bad}`,
      '--',
      ...(c.appPath === '' ? [] : [c.appPath]),
    ],
    MAX_LOG_BYTES,
  );
  if (out === undefined || out.exitCode !== 0) return { listed: [], more: 0 };
  const commits = out.stdout
    .toString('utf8')
    .split('\0')
    .filter((record) => /^[0-9a-f]{40,64} /.test(record))
    .map((record) => {
      const space = record.indexOf(' ');
      return { sha: record.slice(0, space), subject: record.slice(space + 1) };
    });
  return {
    listed: commits.slice(0, MAX_LISTED_COMMITS),
    more: Math.max(0, commits.length - MAX_LISTED_COMMITS),
  };
}

function refused(repo: WorkRepo, c: Checked, refusal: Refusal, branch: string): RevertResult {
  const message = refusalMessage(repo, refusal, {
    failed: `cannot record the rollback of ${appName(c)} in ${repo.url.display}`,
    branch,
    ...(c.mode === 'commit' ? { alternative: 'a pull request can carry the revert' } : {}),
  });
  return { outcome: 'refused', reason: refusal.reason, message };
}
