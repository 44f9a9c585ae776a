/**
 * Reconciling one Application, as a list of steps: check it, choose the revision (the branch head,
 * or the revision a rollback holds), wait for dependencies, sync, judge from live health, roll a
 * failed revision back when asked to, and record — status written only when it changed, so an
 * idle cluster sees no writes.
 *
 * Health is never waited for here: the reconcile ends after the apply, and live health
 * (live-health.ts, `reconcileHealth` below) follows the objects from then on. A worker is never
 * parked on a slow rollout.
 */
import {
  GROUP,
  REQUESTED_AT_ANNOTATION,
  ROLLBACK_ANNOTATION,
  type Application,
  type ApplicationSpec,
  type ApplicationStatus,
  type Condition,
  type HistoryEntry,
  type RollbackStatus,
} from '../api/v1alpha1.js';
import { inventoryConfigMapName } from '../apply/index.js';
import { isCapstanError, messageOf, UserError } from '../core/errors.js';
import { parseDuration } from '../core/time.js';
import type { AppSpec } from '../engine/app.js';
import type { Engine, SyncMode, SyncResult } from '../engine/sync.js';
import type { AppHealth } from '../health/index.js';
import type { KubeClient } from '../kube/index.js';
import { PolicyViolationError } from '../plan/index.js';
import { redactText, type Revision } from '../source/index.js';
import { sourceRefOf } from '../source/artifacts/index.js';
import { checkApplication, type CheckDeps, type CheckedApplication } from './app-checks.js';
import { HEALTH_REASONS, healthDeadline, judge, short, summarize, type Outcome } from './app-judge.js';
import {
  appendHistory,
  applyLiveHealth,
  finish,
  healthStatus,
  resourceStatuses,
  revisionFromStatus,
  revisionStatus,
  type HistoryRecord,
  type SyncTrigger,
} from './app-status.js';
import {
  appendToStatus,
  historyEntry,
  queuedSyncTrigger,
  requestedByOf,
  type HistoryStore,
} from './history.js';
import { conditionOf } from './conditions.js';
import { ensureFinalizer, finalizeApplication, ownerOf } from './deletion.js';
import { dependencyGate, type DependencyDecision } from './dependencies.js';
import type { EventRecorder } from './events.js';
import type { AppHealthView } from './live-health.js';
import type { RepositoryAccess } from './repository.js';
import {
  autoRollback,
  chooseTarget,
  parseRollbackRequest,
  RollbackRefusedError,
  type RollbackRequest,
} from './rollback.js';
import { patchStatus } from './status.js';
import type { ServiceAccountRef } from './tenancy.js';

export { dependenciesOf } from './app-checks.js';

/** What happened to an Application that people (and notification targets) hear about. */
export interface AppNotice {
  readonly app: Application;
  readonly type:
    'SyncSucceeded' | 'SyncFailed' | 'HealthDegraded' | 'HealthRecovered' | 'RolledBack' | 'RollbackFailed';
  readonly revision: string;
  readonly message: string;
  readonly health?: string;
  readonly rolledBackFrom?: string;
}

export interface ApplicationReconcilerDeps extends CheckDeps {
  readonly kube: KubeClient;
  readonly applications: CheckDeps['applications'] & { list(): Application[] };
  /** Repository URL + credentials, and the revision its last fetch resolved for a ref. */
  readonly access: RepositoryAccess;
  /** An engine acting as the given ServiceAccount (impersonated: its RBAC decides what it may do). */
  readonly engineFor: (serviceAccount: ServiceAccountRef) => Engine;
  /** Live health: told each sync's objects, it follows them (see live-health.ts). */
  readonly health: {
    track(appKey: string, result: SyncResult): AppHealth;
    view(appKey: string): AppHealthView | undefined;
    published(appKey: string, health: AppHealth): void;
  };
  readonly recordEvent: EventRecorder;
  readonly notify?: (notice: AppNotice) => void;
  /** A rollback was recorded that asks for a Git revert. */
  readonly onRollback?: (app: Application, rollback: RollbackStatus) => void;
  /** Asks for a full reconcile soon (a live health update found a revision to roll back). */
  readonly requestReconcile?: (app: Application, trigger: SyncTrigger) => void;
  readonly now: () => Date;
  /** Full re-check of a Ready app this often, as a safety net under the event-driven triggers. */
  readonly resyncMs: number;
  /** Called with each sync's results, for metrics. */
  readonly onSynced?: (app: Application, result: SyncResult) => void;
  /** Called after each status write with the health and readiness it shows, for metrics. */
  readonly onHealth?: (app: Application, health: string, ready: boolean) => void;
  /** Called when a rollout fails its health (a failed sync, judged after its apply), for metrics. */
  readonly onRolloutFailed?: (app: Application) => void;
  /** How many reconciles of this Application failed in a row before this one (the queue knows). */
  readonly failedAttempts?: number;
  /** Why this reconcile runs, for history. */
  readonly trigger?: SyncTrigger;
  /** The longer record of syncs (a ConfigMap per Application); status keeps the last few. */
  readonly history?: HistoryStore;
  readonly onHistoryError?: (app: Application, error: unknown) => void;
}

export interface ReconcileOutcome {
  readonly requeueAfterMs?: number;
  /** Judge health again (without a sync) after this long: the health timeout of a rollout ends. */
  readonly healthCheckAfterMs?: number;
}

/** One reconcile's working state. */
interface Reconcile {
  readonly deps: ApplicationReconcilerDeps;
  readonly app: Application;
  readonly key: string;
  readonly status: ApplicationStatus;
  readonly checked: CheckedApplication;
  readonly spec: ApplicationSpec;
  readonly healthTimeoutMs: number;
  readonly request: { readonly sync?: string; readonly rollback?: RollbackRequest };
  /** A rollout became healthy during this reconcile (announced once status is written). */
  rolledOut?: boolean;
}

/** The revision a sync applies, and why. */
interface Target {
  readonly revision: Revision;
  readonly source: AppSpec['source'] & { type: 'git' };
  readonly gate: DependencyDecision;
  /** A revision other than the branch head is held (a rollback), and why. */
  readonly pinned?: string;
  /** The dependency wait this sync ends, if it was waiting. */
  readonly waited?: Condition;
  readonly isNew: boolean;
  readonly mode: SyncMode;
  readonly trigger: SyncTrigger;
}

type SyncRun = (
  { readonly ok: true; readonly result: SyncResult } | { readonly ok: false; readonly error: unknown }
) & {
  readonly started: Date;
};

export async function reconcileApplication(
  deps: ApplicationReconcilerDeps,
  namespace: string,
  name: string,
): Promise<ReconcileOutcome> {
  if (!deps.applications.get(name, namespace)) return {};
  // Read afresh rather than from the informer, which may not have the status a live health update
  // or a revert wrote a moment ago: a status computed from an older copy would put old fields back
  // (and, sent with its resourceVersion, be refused — losing this sync's Events).
  const app = await deps.kube.get<Application>({ group: GROUP, kind: 'Application', namespace, name });
  if (!app) return {};
  if (app.metadata.deletionTimestamp) return finalizeApplication(deps, app, deps.failedAttempts ?? 0);
  // Before anything is applied: an Application deleted from now on takes its objects with it.
  if (!(await ensureFinalizer(deps.kube, app))) return { requeueAfterMs: 1000 };
  const status: ApplicationStatus = structuredClone(app.status ?? {});

  const check = checkApplication(deps, app, status);
  if (!check.ok) {
    await finish(deps.kube, app, status, check.outcome, deps.now());
    return {};
  }
  const reconcile = await startReconcile(deps, app, status, check.checked);

  const target = await chooseRevision(reconcile);
  if ('stop' in target) return target.stop;
  let run = await runSync(reconcile, target);
  let outcome = judgeRun(reconcile, target, run);

  const rolledBack = run.ok
    ? autoRollback(reconcile.spec, status, { sha: target.revision.sha, ...outcome }, deps.now())
    : undefined;
  if (rolledBack) {
    await recordRun(reconcile, target, run, outcome, { rejected: true });
    const back = await rollbackTarget(reconcile, rolledBack.to);
    if ('stop' in back) return back.stop;
    run = await runSync(reconcile, back);
    outcome = judgeRun(reconcile, back, run);
    await recordRun(reconcile, back, run, outcome, { rollbackOf: rolledBack.from });
    announceRollback(reconcile, rolledBack, run, outcome);
    return nextCheck(reconcile, outcome);
  }
  await recordRun(reconcile, target, run, outcome, {});
  if (!run.ok) {
    // Only a change of Git or of the spec helps a user error; anything else is retried with backoff.
    if (isCapstanError(run.error) && run.error.kind === 'user') return { requeueAfterMs: deps.resyncMs };
    throw run.error;
  }
  return nextCheck(reconcile, outcome);
}

/** Reads the manual requests this reconcile answers (sync now, roll back). */
async function startReconcile(
  deps: ApplicationReconcilerDeps,
  app: Application,
  status: ApplicationStatus,
  checked: CheckedApplication,
): Promise<Reconcile> {
  const requested = app.metadata.annotations?.[REQUESTED_AT_ANNOTATION];
  const syncRequest =
    requested !== undefined && requested !== status.lastHandledRequest ? requested : undefined;
  const rollbackRequest = await rollbackRequestOf(deps, app, status);
  return {
    deps,
    app,
    key: `${app.metadata.namespace}/${app.metadata.name}`,
    status,
    checked,
    spec: checked.spec,
    healthTimeoutMs: parseDuration(checked.spec.healthTimeout),
    request: {
      ...(syncRequest ? { sync: syncRequest } : {}),
      ...(rollbackRequest ? { rollback: rollbackRequest } : {}),
    },
  };
}

/** An unhandled `capstan rollback` request, marked handled; an unreadable one is answered by an Event. */
async function rollbackRequestOf(
  deps: ApplicationReconcilerDeps,
  app: Application,
  status: ApplicationStatus,
): Promise<RollbackRequest | undefined> {
  const parsed = parseRollbackRequest(app.metadata.annotations?.[ROLLBACK_ANNOTATION]);
  if (!parsed) return undefined;
  const id = parsed.ok ? parsed.request.id : parsed.id;
  if (id === status.lastHandledRollback) return undefined;
  status.lastHandledRollback = id;
  if (parsed.ok) return parsed.request;
  await deps.recordEvent(app, 'Warning', 'RollbackRefused', parsed.message);
  return undefined;
}

/**
 * The branch head — unless it is rejected (a rollback holds another revision) or a dependency is
 * not Ready at it (the revision applied last stays, healed).
 */
async function chooseRevision(reconcile: Reconcile): Promise<Target | { stop: ReconcileOutcome }> {
  const { deps, app, status, checked, spec } = reconcile;
  let newest: Revision;
  let source: Target['source'];
  try {
    const repository = await deps.access.source(checked.repository);
    // A Helm repository's ref names the chart too (source/artifacts/revision.ts).
    newest = await deps.access.revision(checked.repository, sourceRefOf(checked.repository.spec.type, spec), {
      fresh: reconcile.request.sync !== undefined,
    });
    source = { type: 'git', repository, ref: spec.ref, path: spec.path, revision: newest };
  } catch (error) {
    return { stop: await stopWith(reconcile, failure(error, 'SourceUnavailable'), error) };
  }

  let decision: ReturnType<typeof chooseTarget>;
  try {
    decision = chooseTarget(status, newest.sha, reconcile.request.rollback, deps.now());
  } catch (error) {
    if (!(error instanceof RollbackRefusedError)) throw error;
    await deps.recordEvent(app, 'Warning', 'RollbackRefused', error.message);
    decision = chooseTarget(status, newest.sha, undefined, deps.now());
  }
  if (decision.kind === 'pinned') return pinnedTarget(reconcile, source, decision.sha, decision.message);
  return gatedTarget(reconcile, source, newest);
}

/** The head, through the dependency gate (dependencies.ts). */
async function gatedTarget(
  reconcile: Reconcile,
  source: Target['source'],
  newest: Revision,
): Promise<Target | { stop: ReconcileOutcome }> {
  const { deps, app, status, spec } = reconcile;
  const namespace = app.metadata.namespace;
  const generation = app.metadata.generation;
  const applied = status.lastAppliedRevision;
  const gate = await dependencyGate(app, status, spec, newest.sha, {
    application: (dependency) => deps.applications.get(dependency, namespace),
    newest: async (other) => {
      const repository = deps.repositories.get(other.repository, namespace);
      if (!repository) throw new UserError(`Repository ${namespace}/${other.repository} does not exist`);
      return (await deps.access.revision(repository, sourceRefOf(repository.spec.type, other))).sha;
    },
  });
  if (gate.action === 'wait') {
    await finish(
      deps.kube,
      app,
      status,
      { state: 'progressing', reason: 'DependencyNotReady', message: gate.message },
      deps.now(),
    );
    // Its status change wakes us up (controller.ts); the requeue is only a safety net.
    return { stop: { requeueAfterMs: 30_000 } };
  }
  const revision = gate.action === 'hold' && applied ? revisionFromStatus(applied, newest.ref) : newest;
  const wasWaiting = conditionOf(status.conditions, 'Reconciling');
  const waited = wasWaiting?.reason === 'DependencyNotReady' ? wasWaiting : undefined;
  // A spec change that waited for a dependency is still new, though the wait observed its generation.
  const isNew =
    revision.sha !== applied?.sha ||
    generation !== status.observedGeneration ||
    (waited !== undefined &&
      status.lastAppliedGeneration !== undefined &&
      generation !== status.lastAppliedGeneration);
  return {
    revision,
    source: { ...source, revision },
    gate,
    ...(waited ? { waited } : {}),
    isNew,
    mode: syncMode(reconcile, isNew),
    trigger: queuedSyncTrigger(reconcile.deps.trigger, reconcile.request.sync !== undefined),
  };
}

/** A revision other than the head: where a rollback went, or goes now. */
async function pinnedTarget(
  reconcile: Reconcile,
  source: Target['source'],
  sha: string,
  why: string,
): Promise<Target | { stop: ReconcileOutcome }> {
  const { deps, status, checked } = reconcile;
  let revision: Revision;
  try {
    revision =
      status.lastAppliedRevision?.sha === sha
        ? revisionFromStatus(status.lastAppliedRevision, source.revision?.ref ?? reconcile.spec.ref)
        : await deps.access.revision(checked.repository, sha);
  } catch (error) {
    return { stop: await stopWith(reconcile, failure(error, 'SourceUnavailable'), error) };
  }
  const isNew =
    revision.sha !== status.lastAppliedRevision?.sha ||
    reconcile.app.metadata.generation !== status.observedGeneration;
  return {
    revision,
    source: { ...source, revision },
    gate: { action: 'sync' },
    pinned: why,
    isNew,
    // Going back is what was asked for (or decided): applied even when auto-sync is off.
    mode: isNew ? 'apply' : syncMode(reconcile, isNew),
    trigger: isNew ? 'rollback' : (reconcile.deps.trigger ?? 'resync'),
  };
}

async function rollbackTarget(
  reconcile: Reconcile,
  to: string,
): Promise<Target | { stop: ReconcileOutcome }> {
  const { deps, checked, spec } = reconcile;
  const repository = await deps.access.source(checked.repository);
  const source: Target['source'] = { type: 'git', repository, ref: spec.ref, path: spec.path };
  return pinnedTarget(reconcile, source, to, `rolled back to ${short(to)}`);
}

/** Apply new revisions and spec changes when automated; drift only with self-heal; anything on request. */
function syncMode(reconcile: Reconcile, isNew: boolean): SyncMode {
  const { automated, selfHeal } = reconcile.spec.syncPolicy;
  // Later waves of a revision still to apply are part of applying it, self-heal or not.
  const unfinished = reconcile.status.sync?.status === 'Waiting';
  return reconcile.request.sync !== undefined || (automated && (isNew || unfinished || selfHeal))
    ? 'apply'
    : 'diff';
}

async function runSync(reconcile: Reconcile, target: Target): Promise<SyncRun> {
  const { deps, app, spec, checked } = reconcile;
  const started = deps.now();
  try {
    const appSpec = {
      ...toAppSpec(app, spec, target.source),
      ...(checked.policy ? { policy: checked.policy } : {}),
    };
    return {
      ok: true,
      started,
      result: await deps.engineFor(checked.serviceAccount).sync(appSpec, { mode: target.mode }),
    };
  } catch (error) {
    return { ok: false, started, error };
  }
}

/**
 * The outcome of a sync: its own failure, or what live health says of the objects it applied —
 * tracked from now on. A new rollout starts its health timeout here.
 */
function judgeRun(reconcile: Reconcile, target: Target, run: SyncRun): Outcome {
  const { deps, status } = reconcile;
  if (!run.ok) return failure(run.error, 'SyncFailed');
  const result = run.result;
  const health = deps.health.track(reconcile.key, result);
  if (result.mode === 'apply' && !result.failed && (target.isNew || result.changed))
    status.rollout = { revision: target.revision.sha, startedAt: deps.now().toISOString() };
  const judged = judge({
    sha: target.revision.sha,
    sync: result,
    health,
    status,
    healthTimeoutMs: reconcile.healthTimeoutMs,
    now: deps.now(),
  });
  return finalOutcome(status, judged, target.revision.sha, target);
}

/**
 * Held by a dependency, a healthy sync of the revision applied last is still a wait for the new
 * one; held by a rollback, a healthy sync says so.
 */
function finalOutcome(
  status: ApplicationStatus,
  judged: Outcome,
  sha: string,
  target?: Pick<Target, 'gate' | 'pinned'>,
): Outcome {
  if (judged.state !== 'ready') return judged;
  if (target?.gate.action === 'hold')
    return { state: 'progressing', reason: 'DependencyNotReady', message: target.gate.message };
  const rollback = status.rollback;
  if (rollback && sha === rollback.to)
    return {
      state: 'ready',
      reason: 'RolledBack',
      message: `${short(rollback.to)} applied and healthy, rolled back from ${short(rollback.from)} (${rollback.reason.split('\n')[0]!.slice(0, 200)}); ${rejectedNote(rollback.from)}`,
    };
  return judged;
}

function rejectedNote(from: string): string {
  return `${short(from)} is rejected until the branch moves past it or \`capstan rollback --clear\``;
}

/** Writes what the sync did and what was judged: status (once), history, Events, notices. */
async function recordRun(
  reconcile: Reconcile,
  target: Target,
  run: SyncRun,
  outcome: Outcome,
  options: { rejected?: boolean; rollbackOf?: string },
): Promise<void> {
  const { deps, app, status } = reconcile;
  const started = run.started;
  const sha = target.revision.sha;
  const history = (record: Parameters<typeof appendHistory>[3]) =>
    appendHistory(deps.history, app, status, record, (error) => deps.onHistoryError?.(app, error));
  const before = status.health?.status;
  status.lastAttemptedRevision = sha;
  if (reconcile.request.sync) status.lastHandledRequest = reconcile.request.sync;
  if (!run.ok) {
    await history(
      historyOf(reconcile, target, started, { result: 'Failed', message: redactText(messageOf(run.error)) }),
    );
    await finish(deps.kube, app, status, outcome, deps.now());
    await deps.recordEvent(app, 'Warning', outcome.reason, `${short(sha)}: ${outcome.message}`);
    deps.notify?.({ app, type: 'SyncFailed', revision: sha, message: outcome.message });
    return;
  }
  const result = run.result;
  recordSyncStatus(reconcile, target, result, outcome);
  const changed =
    result.changed ||
    target.isNew ||
    result.failed ||
    reconcile.request.sync !== undefined ||
    options.rejected === true;
  if (changed)
    await history(
      historyOf(reconcile, target, started, {
        ...(options.rejected
          ? { result: 'RolledBack' as const }
          : // A revision that applied but failed its judgement (e.g. health) failed; a diff that
            // found drift, with self-heal off, is OutOfSync (the default), not a failure.
            outcome.state === 'failed' && !result.failed && result.mode === 'apply'
            ? { result: 'Failed' as const }
            : {}),
        sync: result,
        message: options.rejected
          ? `rejected: ${outcome.message}`
          : result.failed
            ? outcome.message
            : summarize(result),
        ...(options.rollbackOf ? { rollbackOf: options.rollbackOf } : {}),
      }),
    );
  await finish(deps.kube, app, status, outcome, deps.now());
  const view = deps.health.view(reconcile.key);
  if (view) deps.health.published(reconcile.key, view.health);
  deps.onSynced?.(app, result);
  reportHealth(deps, app, status);
  // A failure is told even when nothing changed: the API server refusing an object changes nothing.
  if ((result.changed || result.failed) && result.mode === 'apply') {
    const message = `${short(sha)} (${firstLine(target.revision.message)}): ${result.failed ? outcome.message : summarize(result)}`;
    await deps.recordEvent(
      app,
      result.failed ? 'Warning' : 'Normal',
      result.failed ? 'SyncFailed' : 'Synced',
      message,
    );
    deps.notify?.({
      app,
      type: result.failed ? 'SyncFailed' : 'SyncSucceeded',
      revision: sha,
      message,
      ...(status.health?.status ? { health: status.health.status } : {}),
    });
  }
  if (reconcile.rolledOut) announceRolledOut(deps, app, status);
  else await announceHealthChange(deps, app, before, status, sha);
}

/** The sync's part of status: what was applied, where health stands, each object's summary. */
function recordSyncStatus(reconcile: Reconcile, target: Target, result: SyncResult, outcome: Outcome): void {
  const { deps, app, status } = reconcile;
  const view = deps.health.view(reconcile.key);
  status.sync = {
    status:
      result.mode === 'diff' && result.changed
        ? 'OutOfSync'
        : result.failed
          ? 'Unknown'
          : result.waitingFor
            ? 'Waiting'
            : 'Synced',
    revision: target.revision.sha,
  };
  if (view) status.health = healthStatus(view.health);
  status.inventory = {
    configMap: inventoryConfigMapName({ namespace: app.metadata.namespace, name: app.metadata.name }),
    entries: result.objects.filter((o) => o.action !== 'pruned').length,
  };
  status.resources = resourceStatuses(result.objects, view?.objects);
  if (result.mode === 'apply' && !result.failed) {
    status.lastAppliedRevision = revisionStatus(target.revision);
    if (app.metadata.generation !== undefined) status.lastAppliedGeneration = app.metadata.generation;
  }
  if (noteHealthy(status, outcome)) reconcile.rolledOut = true;
}

/**
 * Healthy at the revision applied: remember it (rollbacks go there), and its rollout is over.
 * Returns whether a rollout ended just now.
 */
function noteHealthy(status: ApplicationStatus, outcome: Outcome): boolean {
  const healthy = status.health?.status === 'Healthy' || status.health?.status === 'Suspended';
  if (!healthy || outcome.state !== 'ready' || !status.lastAppliedRevision) return false;
  const previous = status.lastHealthyRevision?.sha;
  if (previous && previous !== status.lastAppliedRevision.sha) status.previousHealthyRevision = previous;
  status.lastHealthyRevision = status.lastAppliedRevision;
  const ended = status.rollout !== undefined;
  delete status.rollout;
  return ended;
}

/** A rollout became healthy: commit statuses go from pending to success, chats hear it landed. */
function announceRolledOut(
  deps: ApplicationReconcilerDeps,
  app: Application,
  status: ApplicationStatus,
): void {
  const sha = status.lastAppliedRevision?.sha ?? '';
  deps.notify?.({
    app,
    type: 'HealthRecovered',
    revision: sha,
    message: `${short(sha)} rolled out and healthy: ${status.health?.message ?? ''}`,
    health: status.health?.status ?? 'Healthy',
  });
}

function historyOf(
  reconcile: Reconcile,
  target: Target,
  started: Date,
  extra: { result?: HistoryEntry['result']; sync?: SyncResult; message?: string; rollbackOf?: string },
): HistoryRecord {
  const trigger = extra.rollbackOf ? 'rollback' : target.trigger;
  const requestedBy =
    trigger === 'rollback'
      ? reconcile.request.rollback?.by
      : trigger === 'request'
        ? requestedByOf(reconcile.app)
        : undefined;
  return {
    revision: target.revision,
    trigger,
    ...(requestedBy ? { requestedBy } : {}),
    started,
    finished: reconcile.deps.now(),
    ...(reconcile.status.health?.status ? { health: reconcile.status.health.status } : {}),
    ...extra,
  };
}

function announceRollback(
  reconcile: Reconcile,
  rolledBack: { from: string; to: string },
  run: SyncRun,
  outcome: Outcome,
): void {
  const { deps, app, status } = reconcile;
  const ok = run.ok && !run.result.failed;
  const message = ok
    ? `rolled back from ${short(rolledBack.from)} to ${short(rolledBack.to)}: ${status.rollback?.reason ?? ''}`
    : `rolling back from ${short(rolledBack.from)} to ${short(rolledBack.to)} failed: ${outcome.message}`;
  void deps.recordEvent(
    app,
    ok ? 'Warning' : 'Warning',
    ok ? 'RolledBack' : 'RollbackFailed',
    message.slice(0, 1024),
  );
  deps.notify?.({
    app,
    type: ok ? 'RolledBack' : 'RollbackFailed',
    revision: rolledBack.to,
    rolledBackFrom: rolledBack.from,
    message,
  });
  if (ok && status.rollback?.gitRevert) deps.onRollback?.(app, status.rollback);
}

/** Events and notices when the Application's health crosses between healthy and not. */
async function announceHealthChange(
  deps: ApplicationReconcilerDeps,
  app: Application,
  before: string | undefined,
  status: ApplicationStatus,
  sha: string,
): Promise<void> {
  const after = status.health?.status;
  const message = `${short(sha)}: ${status.health?.message ?? ''}`;
  if (after === 'Degraded' && before !== 'Degraded') {
    await deps.recordEvent(app, 'Warning', 'HealthDegraded', message);
    deps.notify?.({ app, type: 'HealthDegraded', revision: sha, message, health: after });
  } else if (before === 'Degraded' && after === 'Healthy') {
    await deps.recordEvent(app, 'Normal', 'HealthRecovered', message);
    deps.notify?.({ app, type: 'HealthRecovered', revision: sha, message, health: after });
  }
}

/** When to look again: the resync, and the end of a rollout's health timeout. */
function nextCheck(reconcile: Reconcile, outcome: Outcome): ReconcileOutcome {
  const deadline = healthDeadline(reconcile.status, reconcile.healthTimeoutMs);
  const untilDeadline =
    deadline === undefined ? undefined : Math.max(0, deadline - reconcile.deps.now().getTime()) + 100;
  return {
    requeueAfterMs: reconcile.deps.resyncMs,
    ...(outcome.state === 'progressing' && untilDeadline !== undefined
      ? { healthCheckAfterMs: untilDeadline }
      : {}),
  };
}

async function stopWith(reconcile: Reconcile, outcome: Outcome, error: unknown): Promise<ReconcileOutcome> {
  const { deps, app, status } = reconcile;
  // The request was seen and answered (with this failure): `capstan sync` stops waiting.
  if (reconcile.request.sync) status.lastHandledRequest = reconcile.request.sync;
  await finish(deps.kube, app, status, outcome, deps.now());
  if (isCapstanError(error) && error.kind === 'user') return { requeueAfterMs: deps.resyncMs };
  throw error;
}

/**
 * A health update without a sync: live health changed for an Application whose status shows a
 * health verdict (not a failed sync or a wait): status.health and each object's state, and — when
 * the verdict changes — Ready. A revision that fails its health this way and asks for automatic
 * rollback gets a full reconcile, which rolls it back.
 */
export async function reconcileHealth(
  deps: ApplicationReconcilerDeps,
  namespace: string,
  name: string,
): Promise<ReconcileOutcome> {
  const stored = deps.applications.get(name, namespace);
  const key = `${namespace}/${name}`;
  const view = deps.health.view(key);
  if (!stored || stored.metadata.deletionTimestamp || !view) return {};
  const app = structuredClone(stored);
  const status: ApplicationStatus = structuredClone(app.status ?? {});
  const before = status.health?.status;
  applyLiveHealth(status, view);
  const check = checkApplication(deps, app, status);
  const ready = conditionOf(status.conditions, 'Ready');
  const applied = status.lastAppliedRevision?.sha;
  let result: ReconcileOutcome = {};
  let rolledOut = false;
  if (check.ok && applied && status.sync?.revision === applied && HEALTH_REASONS.has(ready?.reason ?? '')) {
    const healthTimeoutMs = parseDuration(check.checked.spec.healthTimeout);
    const judged = judge({ sha: applied, health: view.health, status, healthTimeoutMs, now: deps.now() });
    const outcome = finalOutcome(status, judged, applied);
    rolledOut = noteHealthy(status, outcome);
    const rollback = wantsRollback(check.checked.spec, status, applied, outcome);
    const failed =
      !rollback && rolloutFailedNow(status, applied, outcome)
        ? failedRollout(deps, status, outcome)
        : undefined;
    await finish(deps.kube, app, status, outcome, deps.now());
    if (failed) await announceFailedRollout(deps, app, failed, outcome);
    if (rollback) deps.requestReconcile?.(app, 'rollback');
    const deadline = healthDeadline(status, healthTimeoutMs);
    if (outcome.state === 'progressing' && deadline !== undefined)
      result = { healthCheckAfterMs: Math.max(0, deadline - deps.now().getTime()) + 100 };
  } else if (ready?.reason === 'WaitingForWave') {
    // The wave's objects changed (or its time is up): the next sync applies the waves after it.
    await patchStatus(deps.kube, app, status);
    deps.requestReconcile?.(app, 'resync');
  } else {
    await patchStatus(deps.kube, app, status);
  }
  deps.health.published(key, view.health);
  reportHealth(deps, app, status);
  if (rolledOut) announceRolledOut(deps, app, status);
  else await announceHealthChange(deps, app, before, status, applied ?? '');
  return result;
}

/** Verdicts that end a rollout as failed: not healthy within its health timeout, or an object failed. */
const ROLLOUT_FAILURES: ReadonlySet<string> = new Set(['HealthTimeout', 'HealthDegraded']);

/**
 * The rollout of `sha` failed just now, and is not recorded as failed yet (the newest history entry
 * of `sha` is still its apply). An automatic rollback records it itself, as RolledBack.
 */
function rolloutFailedNow(status: ApplicationStatus, sha: string, outcome: Outcome): boolean {
  if (status.rollout?.revision !== sha || !ROLLOUT_FAILURES.has(outcome.reason)) return false;
  return status.history?.find((h) => h.revision === sha)?.result !== 'Failed';
}

/**
 * A sync that did not become healthy is a failed sync: its history entry, put into `status` before
 * status is written (so a write that lost a race records nothing). The apply's own entry gives the
 * commit, trigger and requester; the entry lasts from the apply to the verdict.
 */
function failedRollout(
  deps: ApplicationReconcilerDeps,
  status: ApplicationStatus,
  outcome: Outcome,
): HistoryEntry {
  const sha = status.rollout!.revision;
  const applied = status.history?.find((h) => h.revision === sha);
  const entry = historyEntry({
    revision: sha,
    commit: applied?.commit,
    trigger: applied?.trigger ?? 'resync',
    requestedBy: applied?.requestedBy,
    started: new Date(status.rollout!.startedAt),
    finished: deps.now(),
    result: 'Failed',
    health: status.health?.status,
    message: outcome.message,
  });
  return appendToStatus(status, entry);
}

/** Once status says so: the longer record, a Warning Event, a SyncFailed notice (commit status failure), the metric. */
async function announceFailedRollout(
  deps: ApplicationReconcilerDeps,
  app: Application,
  entry: HistoryEntry,
  outcome: Outcome,
): Promise<void> {
  await deps.history?.append(app, entry).catch((error: unknown) => deps.onHistoryError?.(app, error));
  const message = `rollout failed: ${outcome.message}`;
  await deps.recordEvent(app, 'Warning', 'SyncFailed', message);
  deps.notify?.({
    app,
    type: 'SyncFailed',
    revision: entry.revision,
    message,
    ...(entry.health ? { health: entry.health } : {}),
  });
  deps.onRolloutFailed?.(app);
}

function reportHealth(deps: ApplicationReconcilerDeps, app: Application, status: ApplicationStatus): void {
  const ready = conditionOf(status.conditions, 'Ready')?.status === 'True';
  deps.onHealth?.(app, status.health?.status ?? 'Unknown', ready);
}

/** Whether a full reconcile would roll this back (the same test `autoRollback` makes, read-only). */
function wantsRollback(
  spec: ApplicationSpec,
  status: ApplicationStatus,
  sha: string,
  outcome: Outcome,
): boolean {
  return autoRollback(spec, structuredClone(status), { sha, ...outcome }, new Date(0)) !== undefined;
}

function failure(error: unknown, fallbackReason: string): Outcome {
  const message = redactText(messageOf(error)).slice(0, 2048);
  // Only a change of Git or of the policy helps; both wake the Application.
  if (error instanceof PolicyViolationError) return { state: 'stalled', reason: 'PolicyViolation', message };
  if (isCapstanError(error) && error.kind === 'transient')
    return {
      state: 'failed',
      reason: fallbackReason === 'SyncFailed' ? 'Unavailable' : fallbackReason,
      message,
    };
  if (isCapstanError(error) && error.kind === 'user')
    return {
      state: 'failed',
      reason: fallbackReason === 'SyncFailed' ? 'InvalidSource' : fallbackReason,
      message,
    };
  return { state: 'failed', reason: fallbackReason, message };
}

/** What the engine syncs for an Application (also what a preview of its sync renders). */
export function toAppSpec(app: Application, spec: ApplicationSpec, source: AppSpec['source']): AppSpec {
  const namespace = app.metadata.namespace;
  const owner = ownerOf(app);
  const helm = spec.render.helm;
  return {
    identity: { namespace, name: app.metadata.name },
    ...(owner ? { owner } : {}),
    source,
    render: {
      kind: spec.render.type,
      helm: helm
        ? {
            releaseName: helm.releaseName ?? app.metadata.name,
            namespace: spec.destination.namespace ?? namespace,
            valueFiles: helm.valueFiles,
            ...(helm.values ? { values: helm.values } : {}),
            includeCrds: helm.includeCrds,
          }
        : { releaseName: app.metadata.name, namespace: spec.destination.namespace ?? namespace },
    },
    destinationNamespace: spec.destination.namespace ?? namespace,
    ...(spec.destination.createNamespace ? { createNamespace: true } : {}),
    prune: spec.syncPolicy.prune,
    allowEmpty: spec.syncPolicy.allowEmpty,
    forceRecreate: spec.syncPolicy.forceRecreate,
    leaveFieldsToManagers: spec.syncPolicy.leaveFieldsToManagers,
    health: { wait: false, timeoutSeconds: parseDuration(spec.healthTimeout) / 1000 },
  };
}

function firstLine(text: string): string {
  return text.split('\n')[0]!.slice(0, 72);
}
