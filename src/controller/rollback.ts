/**
 * Rollback that composes with automation: which revision an Application runs when its branch head
 * is rejected, what a `capstan rollback` request does, and when a failed revision is rolled back by
 * itself. Pure: the reconcile applies what these decide.
 *
 * The rule that keeps it from flapping: auto-sync never applies a rejected revision. Rolling back
 * rejects the revision rolled back from; the Application then stays at the revision it went back
 * to until the branch moves to a commit that is not rejected (a fix, or the revert Capstan pushed)
 * or someone runs `capstan rollback --clear`.
 */
import { z } from 'zod';
import {
  MAX_REJECTED,
  type ApplicationSpec,
  type ApplicationStatus,
  type RejectedRevision,
  type RollbackStatus,
} from '../api/v1alpha1.js';

/** What `capstan rollback` asks, parsed from the annotation (a tenant writes it: bounded, checked). */
export interface RollbackRequest {
  readonly id: string;
  /** A revision the Application applied before (a unique prefix of at least 7 hex digits). */
  readonly to?: string;
  readonly clear?: boolean;
  readonly by?: string;
}

const MAX_REQUEST_LENGTH = 2048;

const requestSchema = z
  .object({
    id: z.string().min(1).max(64),
    to: z
      .string()
      .regex(/^[0-9a-f]{7,64}$/, 'must be a commit SHA (7 to 64 hex digits)')
      .optional(),
    clear: z.boolean().optional(),
    by: z.string().max(256).optional(),
  })
  .strict();

export type ParsedRollbackRequest =
  | { readonly ok: true; readonly request: RollbackRequest }
  | { readonly ok: false; readonly id: string; readonly message: string };

/** Undefined when there is no annotation; an unreadable one still gets an answer (its id if any). */
export function parseRollbackRequest(annotation: string | undefined): ParsedRollbackRequest | undefined {
  if (annotation === undefined) return undefined;
  const id = annotation.slice(0, 64);
  if (annotation.length > MAX_REQUEST_LENGTH)
    return { ok: false, id, message: `the rollback request is longer than ${MAX_REQUEST_LENGTH} characters` };
  let json: unknown;
  try {
    json = JSON.parse(annotation);
  } catch {
    return { ok: false, id, message: 'the rollback request is not JSON (use `capstan rollback`)' };
  }
  const parsed = requestSchema.safeParse(json);
  if (!parsed.success)
    return {
      ok: false,
      id: typeof (json as { id?: unknown })?.id === 'string' ? (json as { id: string }).id.slice(0, 64) : id,
      message: `the rollback request is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'request'}: ${i.message}`).join('; ')}`,
    };
  const { id: requestId, to, clear, by } = parsed.data;
  return {
    ok: true,
    request: { id: requestId, ...(to ? { to } : {}), ...(clear ? { clear } : {}), ...(by ? { by } : {}) },
  };
}

/** What the reconcile syncs. */
export type TargetDecision =
  /** The branch head, as always. */
  | { readonly kind: 'newest' }
  /** A revision other than the head: a rollback in force, or one starting now. */
  | { readonly kind: 'pinned'; readonly sha: string; readonly message: string };

export class RollbackRefusedError extends Error {
  override readonly name = 'RollbackRefusedError';
}

/**
 * The revision to sync, given the branch head and the rollback state in `status`. A rollback request
 * (`request`, not yet handled) changes `status` first: `clear` forgets every rejection; otherwise the
 * revision applied now is rejected and the Application goes to `request.to` (default: the last
 * healthy revision). Throws RollbackRefusedError when the request cannot be followed.
 */
export function chooseTarget(
  status: ApplicationStatus,
  newest: string,
  request: RollbackRequest | undefined,
  now: Date,
): TargetDecision {
  if (request?.clear) {
    delete status.rejectedRevisions;
    delete status.rollback;
  } else if (request) {
    startRollback(status, request, now);
  }
  const rollback = status.rollback;
  if (isRejected(status, newest)) {
    const stay = rollback?.to ?? status.lastAppliedRevision?.sha;
    if (stay && stay !== newest)
      return {
        kind: 'pinned',
        sha: stay,
        message: `${short(newest)} is rejected; staying at ${short(stay)} until the branch moves or \`capstan rollback --clear\``,
      };
  }
  // The head moved past the rejected revision (a fix, or the revert): the rollback is over.
  if (rollback) delete status.rollback;
  return { kind: 'newest' };
}

function startRollback(status: ApplicationStatus, request: RollbackRequest, now: Date): void {
  const from = status.lastAppliedRevision?.sha;
  const to = request.to ? knownRevision(status, request.to) : lastHealthyBefore(status, from);
  if (!to)
    throw new RollbackRefusedError(
      request.to
        ? `cannot roll back to ${request.to}: it is not a revision this Application applied (see \`capstan history\`)`
        : 'cannot roll back: this Application has not been healthy at an earlier revision',
    );
  if (!from || from === to)
    throw new RollbackRefusedError(`cannot roll back to ${short(to)}: it is the revision applied now`);
  reject(status, {
    sha: from,
    reason: `rolled back to ${short(to)}`,
    now,
    ...(request.by ? { by: request.by } : {}),
  });
  status.rollback = rollbackRecord({ from, to, now, automatic: false, request });
}

/** The last healthy revision that is not `current`: where a rollback goes by default. */
function lastHealthyBefore(status: ApplicationStatus, current: string | undefined): string | undefined {
  const last = status.lastHealthyRevision?.sha;
  return last && last !== current ? last : status.previousHealthyRevision;
}

/** The full SHA of a revision this Application is known to have applied, from a unique prefix. */
export function knownRevision(status: ApplicationStatus, prefix: string): string | undefined {
  const known = new Set<string>();
  for (const sha of [
    status.lastHealthyRevision?.sha,
    status.lastAppliedRevision?.sha,
    status.previousHealthyRevision,
    status.rollback?.to,
    ...(status.history ?? []).map((h) => h.revision),
  ])
    if (sha) known.add(sha);
  const matches = [...known].filter((sha) => sha.startsWith(prefix));
  return matches.length === 1 ? matches[0] : undefined;
}

export function isRejected(status: ApplicationStatus, sha: string): boolean {
  return (status.rejectedRevisions ?? []).some((r) => r.sha === sha);
}

function reject(
  status: ApplicationStatus,
  entry: { sha: string; reason: string; now: Date; by?: string },
): void {
  const rejected: RejectedRevision = {
    sha: entry.sha,
    reason: entry.reason.slice(0, 512),
    rejectedAt: entry.now.toISOString(),
    ...(entry.by ? { by: entry.by } : {}),
  };
  status.rejectedRevisions = [
    rejected,
    ...(status.rejectedRevisions ?? []).filter((r) => r.sha !== entry.sha),
  ].slice(0, MAX_REJECTED);
}

function rollbackRecord(options: {
  from: string;
  to: string;
  now: Date;
  automatic: boolean;
  request?: RollbackRequest;
  reason?: string;
}): RollbackStatus {
  const by = options.request?.by;
  return {
    from: options.from,
    to: options.to,
    at: options.now.toISOString(),
    automatic: options.automatic,
    ...(by ? { by } : {}),
    reason: (options.reason ?? (by ? `requested by ${by}` : 'requested')).slice(0, 1024),
  };
}

/** Reasons of a failed revision that an automatic rollback answers. */
const ROLLBACK_REASONS = new Set(['SyncFailed', 'HealthDegraded', 'HealthTimeout']);

/**
 * Whether the revision just judged failed should be rolled back by itself: the Application asks for
 * it, the revision never was healthy (a revision that degrades after it ran well is not to blame —
 * a node died), it is not already the revision a rollback went to (no loop), and there is a healthy
 * revision to go back to. When so, rejects it in `status` and records the rollback.
 */
export function autoRollback(
  spec: Pick<ApplicationSpec, 'rollback'>,
  status: ApplicationStatus,
  judged: { readonly sha: string; readonly state: string; readonly reason: string; readonly message: string },
  now: Date,
): { readonly from: string; readonly to: string } | undefined {
  if (!spec.rollback.automatic || judged.state !== 'failed' || !ROLLBACK_REASONS.has(judged.reason))
    return undefined;
  const to = status.lastHealthyRevision?.sha;
  if (!to || to === judged.sha || status.rollback?.to === judged.sha || isRejected(status, judged.sha))
    return undefined;
  reject(status, { sha: judged.sha, reason: judged.message, now });
  status.rollback = {
    ...rollbackRecord({ from: judged.sha, to, now, automatic: true, reason: judged.message }),
    ...(spec.rollback.gitRevert === 'none'
      ? {}
      : {
          gitRevert: {
            mode: spec.rollback.gitRevert,
            state: 'Pending' as const,
            message: `reverting ${short(judged.sha)} in Git`,
          },
        }),
  };
  return { from: judged.sha, to };
}

function short(sha: string): string {
  return sha.slice(0, 12);
}
