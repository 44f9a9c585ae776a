/**
 * What a rollback commit says: a subject people can scan in `git log`, a body naming the app, the
 * health evidence and every reverted commit, and trailers Capstan recognises its own reverts by.
 * Everything from outside (evidence from the cluster, subjects of commits) is redacted, stripped
 * of control characters, bounded, and indented, so it can never pose as a trailer of ours.
 */
import { redactText } from '../redact.js';

/** The trailer naming the bad commit a revert rolls back; `^Capstan-Rollback: <sha>$` finds it. */
export const ROLLBACK_TRAILER = 'Capstan-Rollback';
export const ROLLBACK_TO_TRAILER = 'Capstan-Rollback-To';
export const APPLICATION_TRAILER = 'Capstan-Application';

export interface RevertedCommit {
  readonly sha: string;
  readonly subject: string;
}

export interface RevertMessageInput {
  readonly app: { readonly namespace: string; readonly name: string };
  readonly branch: string;
  readonly appPath: string;
  readonly good: string;
  readonly bad: string;
  readonly evidence: string;
  /** The commits of `good..bad` touching the app's path, newest first (possibly cut short). */
  readonly reverted: readonly RevertedCommit[];
  /** How many more there were than `reverted` lists. */
  readonly moreReverted: number;
}

const MAX_EVIDENCE_CHARS = 4000;
const MAX_EVIDENCE_LINES = 40;
const MAX_LINE_CHARS = 300;
const MAX_SUBJECT_CHARS = 100;

export const short = (sha: string): string => sha.slice(0, 12);

export function revertSubject(input: Pick<RevertMessageInput, 'app' | 'good' | 'bad'>): string {
  return `Revert ${input.app.namespace}/${input.app.name}: roll back ${short(input.bad)} to ${short(input.good)}`;
}

export function revertMessage(input: RevertMessageInput): string {
  const app = `${input.app.namespace}/${input.app.name}`;
  const where = input.appPath === '' ? 'the whole repository' : `the folder ${input.appPath}/`;
  const lines = [
    revertSubject(input),
    '',
    `Capstan rolled back the Application ${app} (branch ${input.branch}) after revision`,
    `${input.bad} failed, and re-applied ${input.good}.`,
    `This commit reverts ${where} to its content at ${short(input.good)}; changes elsewhere`,
    'in the repository are kept.',
    '',
    'Health evidence:',
    ...indented(cleanEvidence(input.evidence)),
    '',
    `Reverted commits (${short(input.good)}..${short(input.bad)}${input.appPath === '' ? '' : `, under ${input.appPath}/`}):`,
    ...(input.reverted.length === 0
      ? ['  (none listed: the history between them is not on the branch)']
      : input.reverted.map((commit) => `  ${commit.sha} ${cleanLine(commit.subject, MAX_SUBJECT_CHARS)}`)),
    ...(input.moreReverted > 0 ? [`  … and ${input.moreReverted} more`] : []),
    '',
    `${ROLLBACK_TRAILER}: ${input.bad}`,
    `${ROLLBACK_TO_TRAILER}: ${input.good}`,
    `${APPLICATION_TRAILER}: ${app}`,
    '',
  ];
  return lines.join('\n');
}

/** The evidence as lines: redacted, control characters gone, bounded in lines and characters. */
export function cleanEvidence(evidence: string): string[] {
  const text = redactText(typeof evidence === 'string' ? evidence : String(evidence));
  const cut = text.length > MAX_EVIDENCE_CHARS ? `${text.slice(0, MAX_EVIDENCE_CHARS)}…` : text;
  const lines = cut
    .split(/\r?\n/)
    .map((line) => cleanLine(line, MAX_LINE_CHARS))
    .filter((line, index, all) => line !== '' || (index > 0 && all[index - 1] !== ''));
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0) return ['(no health message)'];
  if (lines.length > MAX_EVIDENCE_LINES) {
    return [...lines.slice(0, MAX_EVIDENCE_LINES), `… ${lines.length - MAX_EVIDENCE_LINES} more lines`];
  }
  return lines;
}

/** One line with control characters (ANSI escapes included) turned into spaces, and cut short. */
export function cleanLine(line: string, max: number): string {
  // eslint-disable-next-line no-control-regex
  const clean = line.replace(/\u001b\[[0-9;]*[A-Za-z]/g, '').replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
  const trimmed = clean.trimEnd();
  return trimmed.length > max ? `${trimmed.slice(0, max)}…` : trimmed;
}

function indented(lines: readonly string[]): string[] {
  return lines.map((line) => (line === '' ? '' : `  ${line}`));
}

/** The branch a pull request carries the revert on: `capstan/rollback-<namespace>-<name>-<bad12>`. */
export function rollbackBranch(app: { namespace: string; name: string }, bad: string): string {
  return `capstan/rollback-${app.namespace}-${app.name}-${short(bad)}`;
}

/** A regular expression (git's basic syntax) matching our trailer for `bad` on a line of its own. */
export function rollbackTrailerPattern(bad: string): string {
  return `^${ROLLBACK_TRAILER}: ${bad}$`;
}
