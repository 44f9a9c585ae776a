/**
 * What a promotion says in Git and on the Git host: the commit (subject, body, trailers Capstan
 * recognises its promotions by), the pull request's branch, and the Markdown summary of the files
 * it changes. File paths come from the repository (hostile): control characters go, backticks
 * cannot close a code span, lengths are bounded.
 */
import { code } from '../review/markdown.js';
import { cleanLine } from '../source/writeback/message.js';

export const PROMOTED_FROM_TRAILER = 'Capstan-Promoted-From';
export const PROMOTED_REVISION_TRAILER = 'Capstan-Promoted-Revision';
export const APPLICATION_TRAILER = 'Capstan-Application';

export interface PromotionDescription {
  /** The app's name across environments (`web`). */
  readonly app: string;
  readonly namespace: string;
  readonly source: {
    readonly name: string;
    readonly branch: string;
    readonly path: string;
    readonly sha: string;
  };
  readonly target: { readonly name: string; readonly branch: string; readonly path: string };
}

/** One changed file, as `git diff-tree --name-status` has it (A, M, D, T). */
export interface ChangedFile {
  readonly status: string;
  readonly path: string;
}

const MAX_LISTED_FILES = 100;
const MAX_PATH_CHARS = 200;

export const short = (sha: string): string => sha.slice(0, 12);

export function promotionSubject(d: PromotionDescription): string {
  return `promote ${d.app}: ${d.source.branch}@${short(d.source.sha)} → ${d.target.branch}`;
}

export function promotionMessage(d: PromotionDescription): string {
  return [
    promotionSubject(d),
    '',
    `Makes ${folder(d.target.path)} on branch ${d.target.branch} equal to ${folder(d.source.path)}`,
    `at ${d.source.sha}, the last healthy revision of ${d.namespace}/${d.source.name}`,
    `(branch ${d.source.branch}). Nothing else in the branch changes.`,
    '',
    `${PROMOTED_FROM_TRAILER}: ${d.namespace}/${d.source.name}`,
    `${PROMOTED_REVISION_TRAILER}: ${d.source.sha}`,
    `${APPLICATION_TRAILER}: ${d.namespace}/${d.target.name}`,
    '',
  ].join('\n');
}

/**
 * The branch a pull request carries the promotion on: one per target Application, reused. The
 * namespace is part of it: two teams' Applications of the same name on one repository must not
 * share (and rewrite) each other's branch and pull request.
 */
export function promotionBranch(namespace: string, target: string): string {
  return `capstan/promote/${namespace}/${target}`;
}

/** The Markdown a pull request's body (or its comment) carries: what moves, and the files. */
export function promotionSummary(
  d: PromotionDescription,
  files: readonly ChangedFile[],
  more: { truncated: boolean },
): string {
  const listed = files.slice(0, MAX_LISTED_FILES);
  const rest = files.length - listed.length;
  return [
    `Promotes **${d.namespace}/${d.source.name}** at ${codeSpan(d.source.sha)} (its last healthy revision, branch ${codeSpan(d.source.branch)}) into **${d.namespace}/${d.target.name}** (branch ${codeSpan(d.target.branch)}).`,
    '',
    `Makes ${codeSpan(folder(d.target.path))} on ${codeSpan(d.target.branch)} equal to ${codeSpan(folder(d.source.path))} at ${codeSpan(short(d.source.sha))}; nothing else in the branch changes.`,
    '',
    `### Files changed (${files.length}${more.truncated ? '+' : ''})`,
    '',
    ...listed.map((f) => `- ${statusWord(f.status)} ${codeSpan(f.path)}`),
    ...(rest > 0 || more.truncated ? [`- … and ${rest > 0 ? rest : 'more'} more`] : []),
    '',
  ].join('\n');
}

function statusWord(status: string): string {
  switch (status[0]) {
    case 'A':
      return 'added';
    case 'D':
      return 'removed';
    case 'T':
      return 'type changed';
    default:
      return 'changed';
  }
}

/**
 * A path or branch (a tenant wrote it) shown verbatim in Markdown: one bounded line inside a code
 * span that no backtick in it can close, so it makes no link, tag or mention.
 */
function codeSpan(text: string): string {
  return code(cleanLine(text, MAX_PATH_CHARS));
}

function folder(path: string): string {
  return path === '' ? '/' : `${path}/`;
}
