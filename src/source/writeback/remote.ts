/**
 * What writing to Git asks of the work repository, in one place for every writer (the rollback's
 * revert, the promotion): the commits the server advertises, a fetch whose failure the caller
 * weighs, a commit written from a tree (no working tree, no hooks, no signing), and the push of
 * one commit to one branch, read as landed, moved (retry on top of it) or refused (an outcome,
 * never a throw). Every text that comes from git or the server is redacted of the credentials.
 */
import { CapstanError } from '../../core/errors.js';
import { classifyGitFailure } from '../git.js';
import { quote, redactText } from '../redact.js';
import { AdvertisementReader } from '../refs.js';
import { classifyPush, complaint, remoteLines, type PushRefusal } from './push.js';
import type { WorkRepo } from './work-repo.js';

/** Who a commit is by: author and committer alike. */
export interface CommitIdentity {
  readonly name: string;
  readonly email: string;
}

/** The identity of Capstan's commits when the request names none. */
export const DEFAULT_AUTHOR: CommitIdentity = { name: 'Capstan', email: 'capstan@localhost' };

/** Why the server turned a read or a push away, in its words as far as they are safe to show. */
export interface Refusal {
  readonly reason: PushRefusal;
  /** git's or the server's reason, redacted and short. */
  readonly detail: string;
  /** What the server said (`remote:` lines), redacted and bounded. */
  readonly remote: readonly string[];
}

/**
 * The commits the server advertises for `refs` (full names, `refs/heads/main`), absent ones left
 * out; or, when the server turns the credentials away (read access is checked before any write),
 * why. Any other failure (unreachable, timed out) throws the source stage's error.
 */
export async function advertisedCommits(
  repo: WorkRepo,
  refs: readonly string[],
): Promise<Map<string, string> | { readonly refused: Refusal }> {
  const reader = new AdvertisementReader(`repository ${repo.url.display}`);
  const { output, error } = await repo.remote('ls-remote', ['ls-remote', '--', repo.url.url, ...refs], {
    onStdout: (chunk) => reader.push(chunk),
  });
  if (error) {
    if (!output.timedOut && classifyGitFailure(output.stderr) === 'auth') {
      return {
        refused: {
          reason: 'auth',
          detail: complaint(output.stderr, repo.secrets),
          remote: remoteLines(output.stderr, repo.secrets),
        },
      };
    }
    throw error;
  }
  const all = reader.end().refs;
  return new Map(refs.flatMap((ref) => (all.has(ref) ? [[ref, all.get(ref)!] as const] : [])));
}

/**
 * `git fetch` of `refspecs` with `extra` flags (depth), returning what failed instead of throwing
 * it (`WorkRepo.fetch` throws): a fetch by commit id may be refused where the branch's is not, and
 * only the caller knows which failure answers its question.
 */
export async function fetchFailure(
  repo: WorkRepo,
  refspecs: readonly string[],
  extra: readonly string[],
): Promise<CapstanError | undefined> {
  const { error } = await repo.remote('fetch', [
    'fetch',
    '--quiet',
    '--no-tags',
    '--no-write-fetch-head',
    '--no-recurse-submodules',
    ...extra,
    '--',
    repo.url.url,
    ...refspecs,
  ]);
  return error;
}

/**
 * Whether commit `sha` is exactly one commit on `parent` with root tree `tree`: a branch already
 * carrying this change, so pushing it again would only make a duplicate. Read from the raw object:
 * a shallow fetch hides the parent from rev-parse, not from the commit itself.
 */
export async function isCommitOf(
  repo: WorkRepo,
  sha: string,
  expected: { readonly parent: string; readonly tree: string },
): Promise<boolean> {
  // Capstan's own commits are small; a longer one (a message someone pushed) is not one of them.
  const raw = await repo.bytes('cat-file', ['cat-file', 'commit', sha], 256 * 1024);
  if (raw === undefined || raw.exitCode !== 0) return false;
  const header = raw.stdout.toString('latin1').split('\n\n')[0] ?? '';
  const parents = [...header.matchAll(/^parent ([0-9a-f]+)$/gm)].map((m) => m[1]);
  const tree = /^tree ([0-9a-f]+)$/m.exec(header)?.[1];
  return parents.length === 1 && parents[0] === expected.parent && tree === expected.tree;
}

/** Whether the work repository holds commit `sha` (a shallow fetch may not have brought it). */
export function hasCommit(repo: WorkRepo, sha: string): Promise<boolean> {
  return repo.succeeds('cat-file', ['cat-file', '-e', `${sha}^{commit}`]);
}

/** The commit `ref` points at; an internal error when it points at none (we wrote the ref). */
export async function commitOf(repo: WorkRepo, ref: string): Promise<string> {
  return (
    await repo.local('rev-parse', ['rev-parse', '--verify', '--end-of-options', `${ref}^{commit}`])
  ).trim();
}

export interface CommitInput {
  readonly tree: string;
  readonly parent: string;
  /** The whole message: subject, body, trailers. */
  readonly message: string;
  readonly author: CommitIdentity;
  /** Author and committer date (to the second, UTC). */
  readonly date: Date;
}

/**
 * Writes one commit of `tree` on `parent` and returns its id. The identity and date come from the
 * environment, not from any configuration (the work repository has none), and it is never signed:
 * a signing key set up for people must not be asked for, nor block, a controller.
 */
export async function writeCommit(repo: WorkRepo, input: CommitInput): Promise<string> {
  const date = `${Math.floor(input.date.getTime() / 1000)} +0000`;
  const env = {
    GIT_AUTHOR_NAME: input.author.name,
    GIT_AUTHOR_EMAIL: input.author.email,
    GIT_AUTHOR_DATE: date,
    GIT_COMMITTER_NAME: input.author.name,
    GIT_COMMITTER_EMAIL: input.author.email,
    GIT_COMMITTER_DATE: date,
  };
  const sha = await repo.local(
    'commit-tree',
    ['-c', 'commit.gpgSign=false', 'commit-tree', '--no-gpg-sign', input.tree, '-p', input.parent],
    { env, stdin: input.message },
  );
  return sha.trim();
}

export interface PushOptions {
  /**
   * Replace the branch whatever it holds, but only if it still points at `expected` as last seen
   * (undefined: only if it does not exist yet). Without a lease the push must fast-forward.
   */
  readonly lease?: { readonly expected: string | undefined };
}

/** `pushed` (or already there), `moved` (the branch or the lease moved since we looked), or refused. */
export type PushOutcome = 'pushed' | 'moved' | Refusal;

/**
 * Pushes commit `sha` to `branch` (short name), without hooks, tags or signing. A failure that is
 * no answer of the server's (unreachable, timed out) throws the source stage's error.
 */
export async function pushCommit(
  repo: WorkRepo,
  sha: string,
  branch: string,
  options: PushOptions = {},
): Promise<PushOutcome> {
  const ref = `refs/heads/${branch}`;
  const lease =
    options.lease === undefined ? [] : [`--force-with-lease=${ref}:${options.lease.expected ?? ''}`];
  const { output, error } = await repo.remote('push', [
    'push',
    '--porcelain',
    '--no-verify',
    '--no-follow-tags',
    '--no-signed',
    ...lease,
    '--',
    repo.url.url,
    `${sha}:${ref}`,
  ]);
  const verdict = classifyPush(output, ref, repo.secrets);
  switch (verdict.kind) {
    case 'pushed':
    case 'upToDate':
      return 'pushed';
    case 'moved':
      return 'moved';
    case 'refused':
      return verdict;
    default:
      throw error ?? new CapstanError('internal', `git push to ${repo.url.display} did not update ${ref}`);
  }
}

export interface RefusalContext {
  /** How the message begins: what could not be done, and where (`cannot promote a into b in <url>`). */
  readonly failed: string;
  /** The branch the push was for (short name). */
  readonly branch: string;
  /** For a push the server declined: what could carry the change instead, if anything (`a pull request can carry the revert`). */
  readonly alternative?: string;
}

/** The sentence a refusal becomes in an outcome: what was refused, why, and what the server said; redacted. */
export function refusalMessage(repo: WorkRepo, refusal: Refusal, context: RefusalContext): string {
  const server = refusal.remote.length > 0 ? `; the server said: ${refusal.remote.join(' / ')}` : '';
  const branch = quote(context.branch);
  let message: string;
  switch (refusal.reason) {
    case 'auth':
      message = `${context.failed}: the server did not accept ${repo.secrets.length > 0 ? "the Repository's credentials" : 'access without credentials'} (${refusal.detail})${server}`;
      break;
    case 'permission':
      message = `${context.failed}: the Repository's credentials may not push to branch ${branch} (read-only credentials, or a token without write access: ${refusal.detail})${server}`;
      break;
    case 'protected':
      message = `${context.failed}: the server refused the push to branch ${branch} (${refusal.detail})${server}; the branch may be protected${context.alternative === undefined ? '' : `, in which case ${context.alternative}`}`;
      break;
  }
  return redactText(message, repo.secrets);
}
