/**
 * Reading `status.conditions` from objects of any kind, defensively: custom resources put whatever
 * they like there, and a malformed entry must not stop us from judging the rest.
 */
import type { KubeObject } from '../core/objects.js';

export interface Condition {
  readonly type: string;
  /** 'True', 'False' or 'Unknown'. */
  readonly status: string;
  readonly reason?: string;
  readonly message?: string;
  readonly lastTransitionTime?: string;
}

export function conditionsOf(object: KubeObject): Condition[] {
  const status = object.status;
  if (!isRecord(status) || !Array.isArray(status.conditions)) return [];
  return status.conditions.filter(
    (entry): entry is Condition =>
      isRecord(entry) && typeof entry.type === 'string' && typeof entry.status === 'string',
  );
}

/** The first condition of that type (kstatus reads the first one, too). */
export function findCondition(object: KubeObject, type: string): Condition | undefined {
  return conditionsOf(object).find((condition) => condition.type === type);
}

export function isConditionTrue(object: KubeObject, type: string): boolean {
  return findCondition(object, type)?.status === 'True';
}

/** "Reason: message", or whichever of the two is there: what the controller said about it. */
export function explain(condition: Condition): string {
  const { reason, message } = condition;
  if (reason && message) return `${reason}: ${message}`;
  return reason || message || `${condition.type}=${condition.status}`;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
