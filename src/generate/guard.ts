/**
 * The deletion guard: like prune's refusal of an empty render, a generator whose listing suddenly
 * lacks many elements (a glob typo, a force-push that dropped branches, a token that lost its scope
 * and lists no pull request) must not delete many environments at once. Past
 * `spec.deletionGuard.maxDeletions`, nothing is deleted until someone raises the limit or approves
 * these very deletions.
 *
 * An approval names what it approves: a code made of the count and a hash of the uids of the
 * Applications to delete. An approval given for one set of deletions therefore cannot let a
 * different (or bigger) one through later, nor the same names after they were created anew.
 */
import { createHash } from 'node:crypto';

export interface Deletable {
  readonly name: string;
  readonly uid: string;
}

export type GuardDecision =
  | { readonly allowed: true; readonly approved: boolean }
  | { readonly allowed: false; readonly approval: string };

/** Whether deleting `victims` may go ahead under `maxDeletions`, given the approval annotation. */
export function judgeDeletions(
  victims: readonly Deletable[],
  maxDeletions: number,
  approvalGiven: string | undefined,
): GuardDecision {
  if (victims.length <= maxDeletions) return { allowed: true, approved: false };
  const approval = approvalCode(victims);
  if (approvalGiven !== undefined && approvalGiven.trim() === approval)
    return { allowed: true, approved: true };
  return { allowed: false, approval };
}

/** `<count>-<12 hex digits>`: the count a person checks, and the uids it stands for. */
export function approvalCode(victims: readonly Deletable[]): string {
  const uids = victims.map((victim) => victim.uid).sort();
  const hash = createHash('sha256').update(uids.join('\n')).digest('hex').slice(0, 12);
  return `${victims.length}-${hash}`;
}
