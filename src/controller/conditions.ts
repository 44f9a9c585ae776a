/**
 * kstatus-compatible conditions on Capstan's own objects: `Ready`, `Reconciling` and `Stalled`,
 * with reasons a person can act on. A condition's lastTransitionTime moves only when its status does,
 * so an unchanged status compares equal and is not written again.
 */
import type { Condition } from '../api/v1alpha1.js';

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface ConditionUpdate {
  readonly type: 'Ready' | 'Reconciling' | 'Stalled' | 'RollbackRecorded';
  readonly status: ConditionStatus;
  readonly reason: string;
  readonly message: string;
}

/** `conditions` with `update` applied; Reconciling and Stalled are removed when False, as kstatus prefers. */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  update: ConditionUpdate,
  generation: number | undefined,
  now: Date,
): Condition[] {
  const others = (conditions ?? []).filter((c) => c.type !== update.type);
  if ((update.type === 'Reconciling' || update.type === 'Stalled') && update.status === 'False')
    return others;
  const previous = conditions?.find((c) => c.type === update.type);
  const lastTransitionTime =
    previous && previous.status === update.status ? previous.lastTransitionTime : now.toISOString();
  const condition: Condition = {
    type: update.type,
    status: update.status,
    reason: update.reason,
    message: update.message.slice(0, 2048),
    lastTransitionTime,
    ...(generation === undefined ? {} : { observedGeneration: generation }),
  };
  return [...others, condition].sort((a, b) => order(a.type) - order(b.type));
}

/** The three conditions for one outcome: ready, progressing, or stuck until the spec changes. */
export function outcomeConditions(
  conditions: readonly Condition[] | undefined,
  outcome: {
    readonly state: 'ready' | 'progressing' | 'failed' | 'stalled';
    readonly reason: string;
    readonly message: string;
  },
  generation: number | undefined,
  now: Date,
): Condition[] {
  const ready: ConditionStatus = outcome.state === 'ready' ? 'True' : 'False';
  let next = setCondition(
    conditions,
    { type: 'Ready', status: ready, reason: outcome.reason, message: outcome.message },
    generation,
    now,
  );
  next = setCondition(
    next,
    {
      type: 'Reconciling',
      status: outcome.state === 'progressing' ? 'True' : 'False',
      reason: outcome.reason,
      message: outcome.message,
    },
    generation,
    now,
  );
  return setCondition(
    next,
    {
      type: 'Stalled',
      status: outcome.state === 'stalled' ? 'True' : 'False',
      reason: outcome.reason,
      message: outcome.message,
    },
    generation,
    now,
  );
}

export function conditionOf(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

function order(type: string): number {
  return ['Ready', 'Reconciling', 'Stalled', 'RollbackRecorded'].indexOf(type);
}
