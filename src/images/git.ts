/**
 * Image updates written to Git, on objects alone (no working tree, as the promotion and the
 * rollback's revert): the YAML files under the allowed paths of a branch's head are read, edited by
 * the caller's `edit` (the setters), and the changed ones committed as one commit authored by
 * Capstan. Pushed to the branch (fast-forward only: a branch that moved meanwhile is fetched again
 * and the edits are redone on its new head, so nobody's commit is lost and a value already there
 * makes no second commit), or to a branch of the policy's own with a pull request (force-updated
 * with a lease, the pull request reused).
 *
 * Everything the repository holds is hostile: paths are checked and never leave the allowed
 * folders, symlinks and submodules are skipped, files and listings are bounded, and what the server
 * says comes back redacted of the credentials.
 */
import { TransientError, UserError } from '../core/errors.js';
import { backoffDelay, sleep, systemClock, type BackoffPolicy, type Clock } from '../core/time.js';
import { ForgeError, type ForgeTarget } from '../forge/index.js';
import type { GitCredentials } from '../source/credentials.js';
import { normaliseTreePath, type GitLogEntry } from '../source/git-source.js';
import { KeyedMutex } from '../source/lock.js';
import { quote } from '../source/redact.js';
import { refNameProblem } from '../source/refs.js';
import { parseRepoUrl } from '../source/url.js';
import { cleanLine } from '../source/writeback/message.js';
import {
  DEFAULT_AUTHOR,
  advertisedCommits,
  isCommitOf,
  pushCommit,
  refusalMessage,
  writeCommit,
  type CommitIdentity,
  type Refusal,
} from '../source/writeback/remote.js';
import {
  entryAt,
  graft,
  listFilesBelow,
  readBlobs,
  writeBlob,
  type ListedFile,
} from '../source/writeback/tree.js';
import { WorkRepo, type WorkRepoOptions } from '../source/writeback/work-repo.js';
import { defaultPullRequestText, IMAGES_COMMENT_MARKER } from './message.js';
import type { YamlChange } from './setters.js';

export interface ImageCommitRequest {
  /** The Repository as the source stage gets it: URL, credentials (from its Secret), timeout. */
  readonly repository: {
    readonly url: string;
    readonly credentials?: GitCredentials;
    readonly timeoutMs?: number;
  };
  /** Where the change must land (push) or be based (pull request); short name. */
  readonly branch: string;
  /** Folders (or files) that may be edited, relative to the repository root; never outside them. */
  readonly paths: readonly string[];
  /**
   * The setters, bound by the caller: the file's new text and what changed, or undefined for none.
   * May be async (the controller's is: it parses in slices, giving the event loop turns).
   */
  readonly edit: (file: string, text: string) => EditResult | undefined | Promise<EditResult | undefined>;
  /** The commit message from what changed. */
  readonly message: (changes: readonly FileChanges[]) => string;
  readonly mode: 'push' | 'pullRequest';
  /** For `pullRequest`: the branch carrying the change, e.g. `capstan/images/<ns>/<policy>`. */
  readonly pullRequestBranch?: string;
  /** For `pullRequest`: where to open it. */
  readonly forge?: ForgeTarget;
  /** Author and committer; default `Capstan <capstan@localhost>`. */
  readonly author?: CommitIdentity;
  /**
   * The pull request's title and Markdown body (message.ts `imagePullRequestText`); default: the
   * commit's subject, and its message in a code block.
   */
  readonly pullRequestText?: (changes: readonly FileChanges[]) => { title: string; body: string };
}

/** What `edit` made of one file. */
export interface EditResult {
  readonly text: string;
  readonly changes: readonly YamlChange[];
}

/** A file left alone, and why (too large, a symlink, not UTF-8, the setters refused it). */
export interface SkippedFile {
  readonly file: string;
  readonly reason: string;
}

export type ImageCommitResult =
  | { readonly outcome: 'upToDate'; readonly head: string; readonly skipped?: readonly SkippedFile[] }
  | {
      readonly outcome: 'pushed';
      readonly commit: string;
      readonly files: readonly FileChanges[];
      readonly skipped?: readonly SkippedFile[];
    }
  | {
      readonly outcome: 'pullRequest';
      readonly commit: string;
      readonly url: string;
      readonly number: number;
      readonly files: readonly FileChanges[];
      readonly skipped?: readonly SkippedFile[];
    }
  | { readonly outcome: 'refused'; readonly message: string };

export interface FileChanges {
  readonly file: string;
  readonly changes: readonly YamlChange[];
}

export interface ImageCommitOptions extends WorkRepoOptions {
  /** Attempts when the branch moves between fetch and push; default 5. */
  readonly maxAttempts?: number;
  /** The commit dates and the waits between attempts. */
  readonly clock?: Clock;
  /** For the jitter of the waits, in [0, 1). */
  readonly random?: () => number;
}

/** What is read of a repository, at most. */
export const IMAGE_FILE_LIMITS = Object.freeze({
  /** YAML files under the allowed paths; more is an error naming the paths. */
  maxFiles: 5_000,
  /** Bytes per file; larger ones are skipped and reported. */
  maxFileBytes: 1024 * 1024,
  /** Allowed paths per request. */
  maxPaths: 100,
  /** The recursive listing of one path (all files, not only YAML). */
  maxListingBytes: 64 * 1024 * 1024,
  /** Bytes read with one `cat-file --batch`. */
  batchBytes: 8 * 1024 * 1024,
  /**
   * Bytes of YAML handed to `edit` per attempt (the setters parse about a MiB a second): bounds the
   * CPU one policy costs. The files past it are skipped and reported.
   */
  maxEditedBytes: 32 * 1024 * 1024,
  /** Skipped files reported, at most (the rest are counted in the last entry). */
  maxSkippedListed: 50,
});

const DEFAULT_MAX_ATTEMPTS = 5;
const RETRY_BACKOFF: BackoffPolicy = { initialMs: 200, maxMs: 3_000, jitter: 0.5 };
const TARGET_REF = 'refs/capstan/target';
const PR_REF = 'refs/capstan/pull-request';
const MAX_IDENTITY_CHARS = 256;

/** Writers of one branch of one repository in this process take turns (the lease covers other processes). */
const writers = new KeyedMutex();

interface Checked {
  readonly branch: string;
  readonly paths: readonly string[];
  readonly edit: ImageCommitRequest['edit'];
  readonly message: ImageCommitRequest['message'];
  readonly author: CommitIdentity;
  readonly log: (entry: GitLogEntry) => void;
  readonly pullRequest?: {
    readonly branch: string;
    readonly forge: ForgeTarget;
    readonly text: (changes: readonly FileChanges[], message: string) => { title: string; body: string };
  };
}

/** A commit's worth of edits on one head: the new root tree and what changed. */
interface Edited {
  readonly tree: string | undefined;
  readonly files: readonly FileChanges[];
  readonly skipped: readonly SkippedFile[];
}

/**
 * Writes the images `request.edit` sets into `request.branch` as `request.mode` says. Returns an
 * outcome for every answer a server can give; throws (a CapstanError, secrets redacted) for bad
 * input, an unreachable server, a branch that keeps moving, or a bug.
 */
export async function commitImageUpdates(
  request: ImageCommitRequest,
  options: ImageCommitOptions = {},
): Promise<ImageCommitResult> {
  const c = checkRequest(request, options.log ?? (() => {}));
  const written = c.pullRequest?.branch ?? c.branch;
  return writers.run(writerKey(request.repository.url, written), () =>
    WorkRepo.with(request.repository, options, (repo) => withRetries(repo, c, options)),
  );
}

/**
 * Whose turn it is: the repository's whole identity (scheme, host, port, path) and the branch. Not
 * the webhooks' looser match key, which drops the port and scheme: with it, a tenant naming another
 * team's repository path on another port of the same host (blackholed, or a never-answering server
 * of its own) took that team's turn for as long as its Repository's timeout.
 */
function writerKey(url: string, branch: string): string {
  let identity = url;
  try {
    identity = parseRepoUrl(url, { allowFileUrls: true }).identity;
  } catch {
    // Refused again, with the reason, when the work repository is opened.
  }
  return `${identity}\0${branch}`;
}

function checkRequest(request: ImageCommitRequest, log: Checked['log']): Checked {
  checkBranch(request.branch);
  if (!Array.isArray(request.paths) || request.paths.length === 0)
    throw new UserError('name at least one path that image updates may edit');
  if (request.paths.length > IMAGE_FILE_LIMITS.maxPaths)
    throw new UserError(`at most ${IMAGE_FILE_LIMITS.maxPaths} paths may be named for image updates`);
  const paths = [...new Set(request.paths.map((path) => normaliseTreePath(path)))];
  const author = request.author ?? DEFAULT_AUTHOR;
  checkIdentity(author);
  const checked = {
    branch: request.branch,
    paths,
    edit: request.edit,
    message: request.message,
    author,
    log,
  };
  if (request.mode === 'push') return checked;
  if (request.mode !== 'pullRequest') throw new UserError(`unknown mode ${quote(String(request.mode))}`);
  const branch = request.pullRequestBranch;
  if (branch === undefined) throw new UserError('image updates by pull request need a branch to carry them');
  checkBranch(branch);
  if (branch === request.branch)
    throw new UserError(
      `the pull request's branch ${quote(branch)} must differ from the branch it is based on`,
    );
  if (request.forge === undefined)
    throw new UserError('image updates by pull request need a forge to open the pull request with');
  const text = request.pullRequestText;
  return {
    ...checked,
    pullRequest: {
      branch,
      forge: request.forge,
      text: (files, message) => (text ? text(files) : defaultPullRequestText(message)),
    },
  };
}

function checkBranch(branch: string): void {
  const problem = refNameProblem(branch);
  if (problem !== undefined || branch.startsWith('refs/'))
    throw new UserError(`branch ${quote(branch)} is not valid: ${problem ?? 'give its short name'}`);
}

function checkIdentity(identity: CommitIdentity): void {
  for (const [what, value] of [
    ['name', identity.name],
    ['email', identity.email],
  ] as const) {
    // git would refuse these, or read `<`/`>` as the end of the email.
    // eslint-disable-next-line no-control-regex
    if (typeof value !== 'string' || value.trim() === '' || /[\u0000-\u001f\u007f<>]/.test(value))
      throw new UserError(`the commit author's ${what} ${quote(String(value))} is not valid`);
    if (value.length > MAX_IDENTITY_CHARS)
      throw new UserError(`the commit author's ${what} is longer than ${MAX_IDENTITY_CHARS} characters`);
  }
}

/** Attempts until one is not undone by a branch that moved; waits a little, jittered, in between. */
async function withRetries(
  repo: WorkRepo,
  c: Checked,
  options: ImageCommitOptions,
): Promise<ImageCommitResult> {
  const clock = options.clock ?? systemClock;
  const maxAttempts = Math.max(1, options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS);
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    if (attempt > 0) await sleep(backoffDelay(attempt - 1, RETRY_BACKOFF, options.random), { clock });
    const result = c.pullRequest
      ? await attemptPullRequest(repo, c, c.pullRequest, clock)
      : await attemptPush(repo, c, clock);
    if (result !== 'moved') return result;
  }
  const branch = c.pullRequest?.branch ?? c.branch;
  throw new TransientError(
    `cannot write image updates to ${repo.url.display}: branch ${quote(branch)} moved during each of ${maxAttempts} attempts`,
  );
}

/** One fast-forward onto the branch: its head fetched, edited, committed and pushed. */
async function attemptPush(repo: WorkRepo, c: Checked, clock: Clock): Promise<ImageCommitResult | 'moved'> {
  const ref = `refs/heads/${c.branch}`;
  const advertised = await advertisedCommits(repo, [ref]);
  if ('refused' in advertised) return refused(repo, advertised.refused, c.branch, 'push');
  const head = existingHead(repo, advertised, c.branch);
  await repo.fetch([`+${ref}:${TARGET_REF}`], ['--depth=1']);
  const edited = await editFiles(repo, c, head);
  if (edited.tree === undefined) return { outcome: 'upToDate', head, ...skippedOf(edited) };
  const commit = await commitEdits(repo, c, head, edited, clock);
  const pushed = await pushCommit(repo, commit, c.branch);
  if (pushed === 'moved') return 'moved';
  if (pushed !== 'pushed') return refused(repo, pushed, c.branch, 'push');
  return { outcome: 'pushed', commit, files: edited.files, ...skippedOf(edited) };
}

/**
 * The edits on the base branch's head, carried by the pull request's branch (force-updated with a
 * lease unless it already holds this very change) and its pull request, opened or reused.
 */
async function attemptPullRequest(
  repo: WorkRepo,
  c: Checked,
  pr: NonNullable<Checked['pullRequest']>,
  clock: Clock,
): Promise<ImageCommitResult | 'moved'> {
  const baseRef = `refs/heads/${c.branch}`;
  const prRef = `refs/heads/${pr.branch}`;
  const advertised = await advertisedCommits(repo, [baseRef, prRef]);
  if ('refused' in advertised) return refused(repo, advertised.refused, c.branch, 'pullRequest');
  const head = existingHead(repo, advertised, c.branch);
  await repo.fetch([`+${baseRef}:${TARGET_REF}`], ['--depth=1']);
  const edited = await editFiles(repo, c, head);
  // The base already holds these values: nothing to propose.
  if (edited.tree === undefined) return { outcome: 'upToDate', head, ...skippedOf(edited) };

  const existing = advertised.get(prRef);
  let commit: string;
  let carried = false;
  if (
    existing !== undefined &&
    (await carries(repo, pr.branch, existing, { parent: head, tree: edited.tree }))
  ) {
    commit = existing;
    carried = true;
  } else {
    commit = await commitEdits(repo, c, head, edited, clock);
    const pushed = await pushCommit(repo, commit, pr.branch, { lease: { expected: existing } });
    if (pushed === 'moved') return 'moved';
    if (pushed !== 'pushed') return refused(repo, pushed, pr.branch, 'pullRequest');
  }
  const opened = await openPullRequest(repo, c, pr, { files: edited.files, commit, carried });
  if ('refused' in opened) return { outcome: 'refused', message: opened.refused };
  // Same change, same pull request: a rerun makes nothing new.
  if (carried && opened.reused) return { outcome: 'upToDate', head: existing!, ...skippedOf(edited) };
  return {
    outcome: 'pullRequest',
    commit,
    url: opened.url,
    number: opened.number,
    files: edited.files,
    ...skippedOf(edited),
  };
}

function existingHead(repo: WorkRepo, advertised: Map<string, string>, branch: string): string {
  const head = advertised.get(`refs/heads/${branch}`);
  if (head === undefined)
    throw new UserError(
      `cannot write image updates: branch ${quote(branch)} does not exist in ${repo.url.display}`,
    );
  return head;
}

/** Whether the pull request's branch tip `existing` is this very change on this very base. */
async function carries(
  repo: WorkRepo,
  branch: string,
  existing: string,
  change: { parent: string; tree: string },
): Promise<boolean> {
  await repo.fetch([`+refs/heads/${branch}:${PR_REF}`], ['--depth=1']);
  return isCommitOf(repo, existing, change);
}

/**
 * Opens the pull request, or finds the open one of the branch (the forge's call is idempotent: a
 * branch pushed by an earlier run whose pull request was never opened gets one now). A reused
 * pull request given a new commit gets one comment, edited in place, saying what it now carries.
 */
async function openPullRequest(
  repo: WorkRepo,
  c: Checked,
  pr: NonNullable<Checked['pullRequest']>,
  change: { files: readonly FileChanges[]; commit: string; carried: boolean },
): Promise<{ number: number; url: string; reused: boolean } | { refused: string }> {
  const text = pr.text(change.files, c.message(change.files));
  try {
    const opened = await pr.forge.forge.openPullRequest({
      repo: pr.forge.repo,
      head: pr.branch,
      base: c.branch,
      title: text.title,
      body: text.body,
    });
    if (opened.reused && !change.carried) await commentOn(repo, c, opened.number, text.body);
    return opened;
  } catch (error) {
    if (error instanceof ForgeError && (error.status === 401 || error.status === 403 || error.status === 404))
      return {
        refused: `pushed the image updates to branch ${quote(pr.branch)} of ${repo.url.display}, but cannot open a pull request: ${error.message}`,
      };
    throw error;
  }
}

/** Best effort: the branch already carries the change; a token that may not comment costs the comment only. */
async function commentOn(repo: WorkRepo, c: Checked, number: number, body: string): Promise<void> {
  const forge = c.pullRequest!.forge;
  try {
    await forge.forge.upsertComment(forge.repo, number, {
      marker: IMAGES_COMMENT_MARKER,
      body: `This pull request now carries:\n\n${body}`,
    });
  } catch (error) {
    if (!(error instanceof ForgeError)) throw error;
    c.log({
      level: 'warn',
      message: `pull request #${number} carries new image updates, but its comment could not be updated: ${error.message}`,
      repo: repo.url.display,
    });
  }
}

async function commitEdits(
  repo: WorkRepo,
  c: Checked,
  head: string,
  edited: Edited,
  clock: Clock,
): Promise<string> {
  return writeCommit(repo, {
    tree: edited.tree!,
    parent: head,
    message: c.message(edited.files),
    author: c.author,
    date: clock.now(),
  });
}

function refused(
  repo: WorkRepo,
  refusal: Refusal,
  branch: string,
  mode: 'push' | 'pullRequest',
): ImageCommitResult {
  const message = refusalMessage(repo, refusal, {
    failed: `cannot write image updates to ${repo.url.display}`,
    branch,
    ...(mode === 'push' ? { alternative: 'a pull request can carry the image updates' } : {}),
  });
  return { outcome: 'refused', message };
}

function skippedOf(edited: Edited): { skipped?: readonly SkippedFile[] } {
  return edited.skipped.length > 0 ? { skipped: edited.skipped } : {};
}

// ── Reading and editing the files ────────────────────────────────────────────────────────────────

/** A regular file to edit: its path from the repository root, mode and blob. */
interface Candidate {
  readonly file: string;
  readonly mode: string;
  readonly sha: string;
  readonly size: number;
}

/** The YAML files under the allowed paths of `head`, edited; the tree with the changed ones, if any. */
async function editFiles(repo: WorkRepo, c: Checked, head: string): Promise<Edited> {
  const skipped = new SkippedList();
  const candidates = await collectFiles(repo, head, c.paths, skipped);
  const changed: { candidate: Candidate; text: Buffer; changes: readonly YamlChange[] }[] = [];
  for (const batch of batches(withinEditBudget(candidates, skipped))) {
    const blobs = await readBlobs(
      repo,
      batch.map((f) => f.sha),
      batch.reduce((sum, f) => sum + f.size, 0),
    );
    for (const candidate of batch) {
      const result = await editOne(c, candidate, blobs.get(candidate.sha)!, skipped);
      if (result) changed.push({ candidate, ...result });
      // A turn for the event loop between files, whatever `edit` does.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  if (changed.length === 0) return { tree: undefined, files: [], skipped: skipped.list() };
  let tree = head;
  for (const { candidate, text } of changed) {
    const blob = await writeBlob(repo, text);
    tree = await graft(repo, tree, candidate.file, { mode: candidate.mode, type: 'blob', sha: blob });
  }
  return {
    tree,
    files: changed.map(({ candidate, changes }) => ({ file: candidate.file, changes })),
    skipped: skipped.list(),
  };
}

/**
 * The candidates, in order, up to `maxEditedBytes` in all; the rest are skipped and reported
 * (deterministically: the same files are left out on every attempt).
 */
function withinEditBudget(candidates: readonly Candidate[], skipped: SkippedList): Candidate[] {
  const kept: Candidate[] = [];
  let bytes = 0;
  for (const candidate of candidates) {
    bytes += candidate.size;
    if (bytes <= IMAGE_FILE_LIMITS.maxEditedBytes) kept.push(candidate);
    else
      skipped.add(
        candidate.file,
        `not read: image updates read at most ${IMAGE_FILE_LIMITS.maxEditedBytes} bytes of YAML per attempt (name narrower paths)`,
      );
  }
  return kept;
}

/** One file through `edit`: its new bytes and changes, or undefined when it stays as it is. */
async function editOne(
  c: Checked,
  candidate: Candidate,
  content: Buffer,
  skipped: SkippedList,
): Promise<{ text: Buffer; changes: readonly YamlChange[] } | undefined> {
  let text: string;
  try {
    // The byte-order mark kept: a file unchanged but for the image must stay byte-identical.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(content);
  } catch {
    skipped.add(candidate.file, 'not UTF-8 text');
    return undefined;
  }
  let result: EditResult | undefined;
  try {
    result = await c.edit(candidate.file, text);
  } catch (error) {
    // One file the setters cannot read (hostile, malformed) must not hold back the others.
    if (!(error instanceof UserError)) throw error;
    skipped.add(candidate.file, error.message);
    return undefined;
  }
  if (result === undefined || result.text === text) return undefined;
  const bytes = Buffer.from(result.text, 'utf8');
  if (bytes.length > 2 * IMAGE_FILE_LIMITS.maxFileBytes) {
    skipped.add(candidate.file, 'the edited file would be larger than Capstan writes');
    return undefined;
  }
  return { text: bytes, changes: result.changes };
}

/** Files read together: at most `batchBytes` (one file larger than that alone). */
function* batches(candidates: readonly Candidate[]): Generator<Candidate[]> {
  let batch: Candidate[] = [];
  let bytes = 0;
  for (const candidate of candidates) {
    if (batch.length > 0 && bytes + candidate.size > IMAGE_FILE_LIMITS.batchBytes) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    batch.push(candidate);
    bytes += candidate.size;
  }
  if (batch.length > 0) yield batch;
}

/**
 * The regular YAML files under `paths` (each named file, and the `.yaml`/`.yml`/`Kustomization`
 * files below each named folder), each once, in path order. A path that is missing, a symlink or
 * passes through one is skipped: a folder is only ever entered as a tree of this commit.
 */
async function collectFiles(
  repo: WorkRepo,
  head: string,
  paths: readonly string[],
  skipped: SkippedList,
): Promise<Candidate[]> {
  const found = new Map<string, Candidate>();
  for (const path of paths) {
    const entry = await entryAt(repo, head, path);
    const shown = path === '' ? '/' : path;
    if (entry === undefined) {
      skipped.add(shown, 'no such file or folder on the branch (or it lies behind a symlink)');
    } else if (entry.type === 'tree') {
      const listed = await listFilesBelow(repo, entry.sha, IMAGE_FILE_LIMITS.maxListingBytes);
      if (listed === undefined)
        throw new UserError(
          `the folder ${quote(shown)} of ${repo.url.display} lists more files than Capstan reads for image updates: name narrower paths`,
        );
      for (const file of listed) {
        if (!isYamlName(file.path)) continue;
        const full = path === '' ? file.path : `${path}/${file.path}`;
        admit(found, skipped, full, file);
      }
    } else {
      admit(found, skipped, path, {
        path,
        utf8: true,
        mode: entry.mode,
        type: entry.type === 'commit' ? 'commit' : 'blob',
        sha: entry.sha,
        size: undefined,
      });
    }
    if (found.size > IMAGE_FILE_LIMITS.maxFiles)
      throw new UserError(
        `the paths allowed for image updates in ${repo.url.display} hold more than ${IMAGE_FILE_LIMITS.maxFiles} YAML files: name narrower paths`,
      );
  }
  const candidates = [...found.values()].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  return sizeUnknown(candidates) ? await withSizes(repo, candidates, skipped) : candidates;
}

/** Adds `file` when it is a regular file of a sane name and size; otherwise says why not. */
function admit(found: Map<string, Candidate>, skipped: SkippedList, file: string, entry: ListedFile): void {
  if (found.has(file)) return;
  if (entry.type === 'commit') return skipped.add(file, 'a submodule');
  if (entry.mode === '120000') return skipped.add(file, 'a symlink');
  if (entry.mode !== '100644' && entry.mode !== '100755') return skipped.add(file, 'not a regular file');
  // A crafted tree may hold names git never checks out; nothing of them is grafted back.
  if (!entry.utf8 || file.split('/').some((s) => s === '' || s === '.' || s === '..' || /^\.git$/i.test(s)))
    return skipped.add(file, 'a name Capstan does not edit');
  if (entry.size !== undefined && entry.size > IMAGE_FILE_LIMITS.maxFileBytes)
    return skipped.add(file, `larger than ${IMAGE_FILE_LIMITS.maxFileBytes} bytes (${entry.size})`);
  found.set(file, { file, mode: entry.mode, sha: entry.sha, size: entry.size ?? -1 });
}

function sizeUnknown(candidates: readonly Candidate[]): boolean {
  return candidates.some((c) => c.size < 0);
}

/** Files named directly come without a size: ask git for it before reading them. */
async function withSizes(
  repo: WorkRepo,
  candidates: Candidate[],
  skipped: SkippedList,
): Promise<Candidate[]> {
  const kept: Candidate[] = [];
  for (const candidate of candidates) {
    if (candidate.size >= 0) {
      kept.push(candidate);
      continue;
    }
    const size = Number((await repo.local('cat-file', ['cat-file', '-s', candidate.sha])).trim());
    if (size > IMAGE_FILE_LIMITS.maxFileBytes)
      skipped.add(candidate.file, `larger than ${IMAGE_FILE_LIMITS.maxFileBytes} bytes (${size})`);
    else kept.push({ ...candidate, size });
  }
  return kept;
}

/** `.yaml`, `.yml`, and kustomize's extension-less `Kustomization`. */
function isYamlName(path: string): boolean {
  const name = path.slice(path.lastIndexOf('/') + 1);
  return /\.ya?ml$/i.test(name) || name === 'Kustomization';
}

/** The files left alone, bounded: the first ones named, the rest counted. */
class SkippedList {
  readonly #entries: SkippedFile[] = [];
  #more = 0;

  add(file: string, reason: string): void {
    if (this.#entries.length < IMAGE_FILE_LIMITS.maxSkippedListed)
      this.#entries.push({ file: cleanLine(file, 300), reason: cleanLine(reason, 300) });
    else this.#more++;
  }

  list(): SkippedFile[] {
    return this.#more === 0
      ? [...this.#entries]
      : [...this.#entries, { file: '…', reason: `${this.#more} more files skipped` }];
  }
}
