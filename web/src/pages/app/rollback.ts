/** Where a rollback can go, as the controller decides it (src/controller: lastHealthyRevision & co). */
import type { AppDetail } from '../../../../src/server/dashboard/schema.js';

export interface RollbackTarget {
  sha: string;
  message?: string | undefined;
  /** When it was last applied (the newest history entry of it). */
  at?: string | undefined;
}

/**
 * Where "roll back" goes without a revision: the last healthy revision, or the healthy one before
 * it when the last healthy one is what runs now. Undefined when none is known (a new app).
 */
export function defaultRollbackTarget(detail: AppDetail): RollbackTarget | undefined {
  const running = detail.app.revision?.sha;
  const last = detail.rollback.lastHealthyRevision;
  if (last && last.sha !== running) return { sha: last.sha, message: last.message };
  const previous = detail.rollback.previousHealthyRevision;
  if (!previous) return undefined;
  const entry = detail.history.entries.find((e) => e.revision === previous);
  return { sha: previous, message: entry?.commit?.message, at: entry?.finishedAt };
}

/** Revisions known to have run healthy (the controller's own record, or the entry's health). */
function healthyShas(detail: AppDetail): Set<string> {
  const shas = new Set<string>();
  if (detail.rollback.lastHealthyRevision) shas.add(detail.rollback.lastHealthyRevision.sha);
  if (detail.rollback.previousHealthyRevision) shas.add(detail.rollback.previousHealthyRevision);
  for (const entry of detail.history.entries)
    if (entry.result === 'Succeeded' && entry.health === 'Healthy') shas.add(entry.revision);
  return shas;
}

/**
 * Past revisions one may roll back to, newest first, once each: applied successfully and healthy,
 * not the one running, not rejected (the controller would refuse it).
 */
export function rollbackCandidates(detail: AppDetail): RollbackTarget[] {
  const running = detail.app.revision?.sha;
  const rejected = new Set(detail.rollback.rejectedRevisions.map((r) => r.sha));
  const healthy = healthyShas(detail);
  const seen = new Set<string>();
  const out: RollbackTarget[] = [];
  for (const entry of detail.history.entries) {
    const sha = entry.revision;
    if (seen.has(sha) || sha === running || rejected.has(sha) || !healthy.has(sha)) continue;
    if (entry.result !== 'Succeeded') continue;
    seen.add(sha);
    out.push({ sha, message: entry.commit?.message, at: entry.finishedAt });
  }
  return out;
}
