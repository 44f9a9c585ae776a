/**
 * Writing bootstrap's files to Git with the writers' plumbing (source/writeback, as the image
 * automation and the promotion do: objects only, no working tree, Capstan as author): the branch
 * head fetched, the files grafted into its tree, and — only when that changes the tree — one
 * commit pushed as a fast-forward. A branch that moved meanwhile is fetched again and the files
 * written on its new head; nothing is ever force-pushed. Credentials are redacted from everything
 * git or the server says.
 */
import { TransientError, UserError } from '../core/errors.js';
import type { GitCredentials } from '../source/credentials.js';
import { quote } from '../source/redact.js';
import { refNameProblem } from '../source/refs.js';
import {
  DEFAULT_AUTHOR,
  advertisedCommits,
  pushCommit,
  refusalMessage,
  writeCommit,
  type CommitIdentity,
} from '../source/writeback/remote.js';
import { graft, listFilesBelow, rootTree, writeBlob } from '../source/writeback/tree.js';
import { WorkRepo, type WorkRepoOptions } from '../source/writeback/work-repo.js';
import type { BootstrapFile } from './bootstrap-files.js';

export interface FilesCommitRequest {
  readonly repository: { readonly url: string; readonly credentials?: GitCredentials };
  readonly branch: string;
  readonly files: readonly BootstrapFile[];
  readonly message: string;
  readonly author?: CommitIdentity;
  /**
   * Looks at every file path on the branch head (a listing bounded by MAX_LISTING_BYTES; not
   * called for a larger one) and says why the files must not go there, or undefined.
   */
  readonly refuseTree?: (paths: readonly string[]) => string | undefined;
}

export type FilesCommitResult =
  | { readonly outcome: 'upToDate'; readonly head: string }
  | { readonly outcome: 'pushed'; readonly commit: string };

const MAX_ATTEMPTS = 5;
/** Bound of the branch's file listing for refuseTree (~100,000 paths). */
const MAX_LISTING_BYTES = 8 * 1024 * 1024;
const TARGET_REF = 'refs/capstan/target';

/** Puts `files` on `branch` in one commit, or none when they are already there. */
export async function commitFiles(
  request: FilesCommitRequest,
  options: WorkRepoOptions = {},
): Promise<FilesCommitResult> {
  const problem = refNameProblem(request.branch);
  if (problem !== undefined || request.branch.startsWith('refs/'))
    throw new UserError(
      `--branch ${quote(request.branch)} is not valid: ${problem ?? 'give its short name'}`,
    );
  return WorkRepo.with(request.repository, options, async (repo) => {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const result = await attemptCommit(repo, request);
      if (result !== 'moved') return result;
    }
    throw new TransientError(
      `cannot write to ${repo.url.display}: branch ${quote(request.branch)} moved during each of ${MAX_ATTEMPTS} attempts`,
    );
  });
}

async function attemptCommit(
  repo: WorkRepo,
  request: FilesCommitRequest,
): Promise<FilesCommitResult | 'moved'> {
  const ref = `refs/heads/${request.branch}`;
  const advertised = await advertisedCommits(repo, [ref]);
  if ('refused' in advertised)
    throw new UserError(
      refusalMessage(repo, advertised.refused, {
        failed: `cannot read ${repo.url.display}`,
        branch: request.branch,
      }),
    );
  const head = advertised.get(ref);
  if (head === undefined)
    throw new UserError(
      `branch ${quote(request.branch)} does not exist in ${repo.url.display}: create it (one commit is enough), or name another with --branch`,
    );
  await repo.fetch([`+${ref}:${TARGET_REF}`], ['--depth=1']);
  if (request.refuseTree) {
    const listed = await listFilesBelow(repo, head, MAX_LISTING_BYTES);
    const refused = listed && request.refuseTree(listed.map((file) => file.path));
    if (refused) throw new UserError(refused);
  }
  const before = await rootTree(repo, head);
  let tree = before;
  for (const file of request.files) {
    const blob = await writeBlob(repo, file.text);
    tree = await graft(repo, tree, file.path, { mode: '100644', type: 'blob', sha: blob });
  }
  if (tree === before) return { outcome: 'upToDate', head };
  const commit = await writeCommit(repo, {
    tree,
    parent: head,
    message: request.message,
    author: request.author ?? DEFAULT_AUTHOR,
    date: new Date(),
  });
  const pushed = await pushCommit(repo, commit, request.branch);
  if (pushed === 'moved') return 'moved';
  if (pushed !== 'pushed')
    throw new UserError(
      refusalMessage(repo, pushed, { failed: `cannot push to ${repo.url.display}`, branch: request.branch }),
    );
  return { outcome: 'pushed', commit };
}
