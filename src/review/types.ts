/**
 * The plan of a change — "what would this pull request do to the cluster" — as data. It is the
 * JSON of `capstan plan -o json` and what the pull-request comment is written from, so its shape is
 * a contract: fields are added, never renamed or removed.
 *
 * Everything in it may come from a pull request (app paths, object names, render errors) and is
 * hostile to whoever displays it: markdown.ts escapes it; nothing secret is in it (the diffs are
 * masked by plan/diff.ts, the repository URL carries no credentials).
 */
import type { ObjectRef } from '../core/objects.js';
import type { PreviewObject } from '../engine/preview.js';

/** A side of the change: the ref asked for and the commit it resolved to. */
export interface PlanSide {
  /** As asked (`main`, `refs/pull/7/head`), or the SHA when a SHA was asked for. */
  readonly ref: string;
  readonly sha: string;
}

export type AppPlanResult = 'changes' | 'noChanges' | 'error';

export interface PlanCounts {
  readonly create: number;
  readonly update: number;
  readonly recreate: number;
  readonly prune: number;
  readonly failed: number;
}

export type PlanWarningKind =
  /** A Namespace would be deleted, and everything in it. */
  | 'prunesNamespace'
  /** A CustomResourceDefinition would be deleted, and every object of its kind. */
  | 'prunesDefinition'
  /** An object would be deleted and created again (an immutable field changes). */
  | 'recreate'
  /** The live object belongs to another app, or to none: the sync would be refused it. */
  | 'heldByOther'
  /** The change takes fields another field manager owns now (`kubectl edit`, an autoscaler). */
  | 'takesFields'
  /** An object would fail to apply. */
  | 'failed'
  /** Objects that left Git would not be pruned, and why. */
  | 'pruneSkipped'
  /** More objects change than the plan lists. */
  | 'objectsOmitted';

export interface PlanWarning {
  readonly kind: PlanWarningKind;
  /** For people; composed of names from the change, so escape it to display it. */
  readonly message: string;
  readonly object?: ObjectRef;
}

export interface AppPlan {
  readonly namespace: string;
  readonly name: string;
  /** The app's folder in the repository (`spec.path`). */
  readonly path: string;
  readonly result: AppPlanResult;
  /** Why the app could not be planned (a render error at head, a refused dry-run). */
  readonly error?: string;
  readonly counts: PlanCounts;
  /** What would change, in apply order then prune order (engine/preview.ts). */
  readonly objects: readonly PreviewObject[];
  readonly warnings: readonly PlanWarning[];
  /** Who computed the dry-run: `ServiceAccount team-a/deployer`, or the CLI's user. */
  readonly actor?: string;
  /** What a reader should know of the terms (computed with your own rights, …). */
  readonly notes: readonly string[];
}

export interface ChangePlan {
  /** The repository's URL for display: no user, password or token in it. */
  readonly repository: string;
  readonly base: PlanSide;
  readonly head: PlanSide;
  /** Apps the change touches (their render differs between base and head), sorted by namespace/name. */
  readonly apps: readonly AppPlan[];
  /** Apps of this repository and base branch that render the same at head: counted, not dry-run. */
  readonly untouched: number;
}

export const EMPTY_COUNTS: PlanCounts = { create: 0, update: 0, recreate: 0, prune: 0, failed: 0 };
