/**
 * Reconciling one Application: validate, wait for dependencies, sync the revision its Repository
 * resolved (apply, or diff when only drift is known and self-heal is off), judge health from the
 * objects themselves, and write status — only when it changed, so an idle cluster sees no writes.
 *
 * Health is not waited for here: the reconcile ends after the apply, and the objects' own watch
 * events bring it back (see drift.ts) until they are Current, Failed, or past the health timeout.
 * A worker is never parked on a slow rollout.
 */
import {
  applicationSpecSchema,
  MAX_HISTORY,
  MAX_RESOURCES,
  REQUESTED_AT_ANNOTATION,
  type Application,
  type ApplicationSpec,
  type ApplicationStatus,
  type Condition,
  type HistoryEntry,
  type Repository,
  type ResourceStatus,
  type RevisionStatus,
} from '../api/v1alpha1.js';
import { inventoryConfigMapName, type ObjectResult } from '../apply/index.js';
import { isCapstanError, messageOf, UserError } from '../core/errors.js';
import type { AppSpec } from '../engine/app.js';
import type { Engine, SyncResult } from '../engine/sync.js';
import { computeStatus, type HealthStatus } from '../health/index.js';
import { checkServiceAccount, PolicyViolationError, type EffectivePolicy } from '../plan/index.js';
import type { KubeClient } from '../kube/index.js';
import { redactText } from '../source/index.js';
import type { Revision } from '../source/index.js';
import { conditionOf, outcomeConditions } from './conditions.js';
import { ensureFinalizer, finalizeApplication, ownerOf } from './deletion.js';
import {
  decideDependencies,
  dependencyStates,
  findCycle,
  type DependencyDecision,
  type DependentState,
} from './dependencies.js';
import type { EventRecorder } from './events.js';
import { parseDurationMs, type RepositoryAccess } from './repository.js';
import { patchStatus } from './status.js';
import { applyIdentityOf, type ServiceAccountRef, type TenancyOptions } from './tenancy.js';

export interface ApplicationReconcilerDeps {
  readonly kube: KubeClient;
  readonly applications: {
    get(name: string, namespace: string): Application | undefined;
    list(): Application[];
  };
  readonly repositories: { get(name: string, namespace: string): Repository | undefined };
  /** Repository URL + credentials, and the revision its last fetch resolved for a ref. */
  readonly access: RepositoryAccess;
  /** An engine acting as the given ServiceAccount (impersonated: its RBAC decides what it may do). */
  readonly engineFor: (serviceAccount: ServiceAccountRef) => Engine;
  /** Who applies Applications that name no ServiceAccount. */
  readonly tenancy: TenancyOptions;
  /** The AccessPolicies binding a namespace (undefined: none does). */
  readonly policyFor?: (namespace: string) => EffectivePolicy | undefined;
  readonly recordEvent: EventRecorder;
  readonly now: () => Date;
  /** Full re-check of a Ready app this often, as a safety net under the event-driven triggers. */
  readonly resyncMs: number;
  /** Called with each sync's results, for drift watches and metrics. */
  readonly onSynced?: (app: Application, result: SyncResult, health: HealthStatus) => void;
  /** How many reconciles of this Application failed in a row before this one (the queue knows). */
  readonly failedAttempts?: number;
}

export interface ReconcileOutcome {
  readonly requeueAfterMs?: number;
}

type Outcome = { state: 'ready' | 'progressing' | 'failed' | 'stalled'; reason: string; message: string };

export async function reconcileApplication(
  deps: ApplicationReconcilerDeps,
  namespace: string,
  name: string,
): Promise<ReconcileOutcome> {
  const stored = deps.applications.get(name, namespace);
  if (!stored) return {};
  // Our own copy: the informer's store must keep the state the next watch event is compared with.
  const app = structuredClone(stored);
  if (app.metadata.deletionTimestamp) return finalizeApplication(deps, app, deps.failedAttempts ?? 0);
  // Before anything is applied: an Application deleted from now on takes its objects with it.
  if (!(await ensureFinalizer(deps.kube, app))) return { requeueAfterMs: 1000 };
  const status: ApplicationStatus = structuredClone(app.status ?? {});
  const generation = app.metadata.generation;

  const parsed = applicationSpecSchema.safeParse(app.spec);
  if (!parsed.success) {
    const message = parsed.error.issues.map((i) => `spec.${i.path.join('.')}: ${i.message}`).join('; ');
    await finish(deps, app, status, { state: 'stalled', reason: 'InvalidSpec', message });
    return {};
  }
  const spec = parsed.data;
  if (spec.suspend) {
    await finish(deps, app, status, {
      state: conditionOf(status.conditions, 'Ready')?.status === 'True' ? 'ready' : 'failed',
      reason: 'Suspended',
      message: 'reconciliation is suspended',
    });
    return {};
  }

  const identity = applyIdentityOf(namespace, spec.serviceAccountName, deps.tenancy);
  if (!identity.allowed) {
    await finish(deps, app, status, { state: 'stalled', reason: identity.reason, message: identity.message });
    return {};
  }
  const policy = deps.policyFor?.(namespace);
  const refusedIdentity = policy && checkServiceAccount(policy, namespace, identity.serviceAccount);
  if (refusedIdentity) {
    const message = `AccessPolicy violation: ${refusedIdentity.message}`;
    await finish(deps, app, status, { state: 'stalled', reason: 'PolicyViolation', message });
    return {};
  }

  const repository = deps.repositories.get(spec.sourceRef.name, namespace);
  if (!repository) {
    await finish(deps, app, status, {
      state: 'stalled',
      reason: 'SourceNotFound',
      message: `Repository ${namespace}/${spec.sourceRef.name} does not exist`,
    });
    return {};
  }

  const cycle = findCycle({ namespace, name }, (ref) =>
    dependenciesOf(deps.applications.get(ref.name, ref.namespace)),
  );
  if (cycle) {
    await finish(deps, app, status, {
      state: 'stalled',
      reason: 'DependencyCycle',
      message: `dependsOn forms a cycle: ${cycle.join(' → ')}`,
    });
    return {};
  }

  const requested = app.metadata.annotations?.[REQUESTED_AT_ANNOTATION];
  const isRequest = requested !== undefined && requested !== status.lastHandledRequest;
  let revision: Revision;
  let repoSpec: AppSpec['source'] & { type: 'git' };
  try {
    const source = await deps.access.source(repository);
    revision = await deps.access.revision(repository, spec.ref, { fresh: isRequest });
    repoSpec = { type: 'git', repository: source, ref: spec.ref, path: spec.path, revision };
  } catch (error) {
    // The request was seen and answered (with this failure): `capstan sync` stops waiting.
    if (isRequest) status.lastHandledRequest = requested;
    await finish(deps, app, status, failure(error, 'SourceUnavailable'));
    if (isCapstanError(error) && error.kind === 'user') return { requeueAfterMs: deps.resyncMs };
    throw error;
  }

  // dependsOn, by revision (dependencies.ts): a new revision or spec waits until each dependency is
  // Ready at its own newest revision; meanwhile the revision applied last with this spec stays
  // applied and healed, so a slow or failed dependency never blocks self-heal.
  const gate = decideDependencies(
    { target: revision.sha, generation, ...appliedOf(status) },
    await dependencyStates({ repository: spec.sourceRef.name, ref: spec.ref }, spec.dependsOn, {
      application: (dependency) => deps.applications.get(dependency, namespace),
      newest: async (source) => {
        const other = deps.repositories.get(source.repository, namespace);
        if (!other) throw new UserError(`Repository ${namespace}/${source.repository} does not exist`);
        return (await deps.access.revision(other, source.ref)).sha;
      },
    }),
  );
  if (gate.action === 'wait') {
    await finish(deps, app, status, {
      state: 'progressing',
      reason: 'DependencyNotReady',
      message: gate.message,
    });
    // Its status change wakes us up (controller.ts); the requeue is only a safety net.
    return { requeueAfterMs: 30_000 };
  }
  if (gate.action === 'hold' && status.lastAppliedRevision) {
    revision = revisionApplied(status.lastAppliedRevision, revision);
    repoSpec = { ...repoSpec, revision };
  }
  // Waiting is not rolling out: judge's health clock (Reconciling's transition) starts with this sync.
  const waited = conditionOf(status.conditions, 'Reconciling');
  const waiting = waited?.reason === 'DependencyNotReady' ? waited : undefined;
  if (waiting) status.conditions = status.conditions?.filter((c) => c !== waiting);

  // Apply new revisions and spec changes when automated; drift only with self-heal; anything on request.
  // A spec change that waited for a dependency is still new, though the wait observed its generation.
  const isNew =
    revision.sha !== status.lastAppliedRevision?.sha ||
    generation !== status.observedGeneration ||
    (waiting !== undefined &&
      status.lastAppliedGeneration !== undefined &&
      generation !== status.lastAppliedGeneration);
  const mode =
    isRequest || (spec.syncPolicy.automated && (isNew || spec.syncPolicy.selfHeal)) ? 'apply' : 'diff';
  const started = deps.now();
  // No "applying …" status before the sync: on a busy branch that is one more write per app per
  // commit (bench/README.md); the result below is written once.

  let result: SyncResult;
  try {
    result = await deps
      .engineFor(identity.serviceAccount)
      .sync({ ...toAppSpec(app, spec, repoSpec), ...(policy ? { policy } : {}) }, { mode });
  } catch (error) {
    status.lastAttemptedRevision = revision.sha;
    appendHistory(status, {
      revision: revision.sha,
      started,
      finished: deps.now(),
      result: 'Failed',
      message: redactText(messageOf(error)),
    });
    if (isRequest) status.lastHandledRequest = requested;
    const outcome = failure(error, 'SyncFailed');
    await finish(deps, app, status, outcome);
    await deps.recordEvent(
      app,
      'Warning',
      outcome.reason,
      `${revision.sha.slice(0, 12)}: ${outcome.message}`,
    );
    if (isCapstanError(error) && error.kind === 'user') return { requeueAfterMs: deps.resyncMs };
    throw error;
  }

  const health = overallHealth(result.objects);
  const healthTimeoutMs = parseDurationMs(spec.healthTimeout);
  const outcome = heldOutcome(
    judge(result, health, status, revision, healthTimeoutMs, deps.now()),
    gate,
    status,
    waiting,
  );
  const changed = result.changed || isNew || result.failed;
  status.lastAttemptedRevision = revision.sha;
  status.sync = {
    status: result.mode === 'diff' && result.changed ? 'OutOfSync' : result.failed ? 'Unknown' : 'Synced',
    revision: revision.sha,
  };
  status.health = { status: health.status, ...(health.message ? { message: health.message } : {}) };
  status.inventory = {
    configMap: inventoryConfigMapName({ namespace, name }),
    entries: result.objects.filter((o) => o.action !== 'pruned').length,
  };
  status.resources = result.objects.slice(0, MAX_RESOURCES).map(resourceStatus);
  if (isRequest) status.lastHandledRequest = requested;
  if (result.mode === 'apply' && !result.failed) {
    status.lastAppliedRevision = {
      sha: revision.sha,
      ref: revision.ref,
      message: revision.message.slice(0, 1024),
      author: `${revision.author.name} <${revision.author.email}>`,
      date: revision.date,
    };
    if (generation !== undefined) status.lastAppliedGeneration = generation;
  }
  if (changed) {
    appendHistory(status, {
      revision: revision.sha,
      started,
      finished: deps.now(),
      result: result.failed ? 'Failed' : 'Succeeded',
      health: health.status,
      message: summarize(result),
    });
  }
  await finish(deps, app, status, outcome);
  deps.onSynced?.(app, result, health.status);

  if (result.changed && result.mode === 'apply') {
    await deps.recordEvent(
      app,
      result.failed ? 'Warning' : 'Normal',
      result.failed ? 'SyncFailed' : 'Synced',
      `${revision.sha.slice(0, 12)} (${firstLine(revision.message)}): ${summarize(result)}`,
    );
  }
  if (outcome.state === 'progressing') {
    // Objects' events bring us back sooner; this bounds the wait by the health timeout.
    return { requeueAfterMs: Math.min(healthTimeoutMs, deps.resyncMs) };
  }
  return { requeueAfterMs: deps.resyncMs };
}

function judge(
  result: SyncResult,
  health: { status: HealthStatus; message: string },
  status: ApplicationStatus,
  revision: Revision,
  healthTimeoutMs: number,
  now: Date,
): Outcome {
  const at = revision.sha.slice(0, 12);
  if (result.failed) {
    const failures = result.objects
      .filter((o) => o.action === 'failed')
      .map((o) => `${o.ref.kind}/${o.ref.name}: ${o.reason}`);
    // No object failed: a wave did not become healthy, and the ones after it were not applied.
    const notApplied = result.objects.find(
      (o) => o.action === 'skipped' && o.reason?.startsWith('not applied'),
    );
    if (failures.length === 0 && notApplied?.reason) failures.push(notApplied.reason);
    return {
      state: 'failed',
      reason: 'SyncFailed',
      message: `${at}: ${failures.slice(0, 3).join('; ') || 'sync failed'}`,
    };
  }
  if (result.mode === 'diff' && result.changed) {
    return {
      state: 'failed',
      reason: 'OutOfSync',
      message: `${at}: the cluster differs from Git (${summarize(result)}); self-heal is off`,
    };
  }
  if (health.status === 'Failed')
    return { state: 'failed', reason: 'HealthFailed', message: `${at}: ${health.message}` };
  if (health.status !== 'Current') {
    const since = Date.parse(
      conditionOf(status.conditions, 'Reconciling')?.lastTransitionTime ?? now.toISOString(),
    );
    if (now.getTime() - since > healthTimeoutMs)
      return {
        state: 'failed',
        reason: 'HealthTimeout',
        message: `${at}: not healthy after ${healthTimeoutMs / 1000} s: ${health.message}`,
      };
    return { state: 'progressing', reason: 'Progressing', message: `${at}: ${health.message}` };
  }
  return {
    state: 'ready',
    reason: 'Synced',
    message: `${at} applied and healthy (${result.objects.length} objects)`,
  };
}

/** The worst status among the objects, with the first message that explains it. */
function overallHealth(objects: readonly ObjectResult[]): { status: HealthStatus; message: string } {
  const rank: Record<HealthStatus, number> = {
    Failed: 5,
    Terminating: 4,
    InProgress: 3,
    NotFound: 3,
    Unknown: 2,
    Current: 0,
  };
  let worst: { status: HealthStatus; message: string } = { status: 'Current', message: '' };
  for (const object of objects) {
    if (!object.applied || object.action === 'pruned') continue;
    const health = computeStatus(object.applied);
    if (rank[health.status] > rank[worst.status])
      worst = { status: health.status, message: `${object.ref.kind}/${object.ref.name}: ${health.message}` };
  }
  return worst;
}

function resourceStatus(object: ObjectResult): ResourceStatus {
  const health = object.applied && object.action !== 'pruned' ? computeStatus(object.applied) : undefined;
  return {
    group: object.ref.group,
    kind: object.ref.kind,
    ...(object.ref.namespace ? { namespace: object.ref.namespace } : {}),
    name: object.ref.name,
    sync: object.action,
    ...(health ? { health: health.status } : {}),
    ...(object.reason ? { message: object.reason.slice(0, 512) } : {}),
  };
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

function appendHistory(
  status: ApplicationStatus,
  entry: {
    revision: string;
    started: Date;
    finished: Date;
    result: 'Succeeded' | 'Failed';
    health?: string;
    message?: string;
  },
): void {
  const record: HistoryEntry = {
    revision: entry.revision,
    startedAt: entry.started.toISOString(),
    finishedAt: entry.finished.toISOString(),
    durationSeconds: Math.round((entry.finished.getTime() - entry.started.getTime()) / 10) / 100,
    result: entry.result,
    ...(entry.health ? { health: entry.health } : {}),
    ...(entry.message ? { message: entry.message.slice(0, 512) } : {}),
  };
  status.history = [record, ...(status.history ?? [])].slice(0, MAX_HISTORY);
}

async function finish(
  deps: ApplicationReconcilerDeps,
  app: Application,
  status: ApplicationStatus,
  outcome: Outcome,
): Promise<void> {
  status.observedGeneration = app.metadata.generation;
  status.conditions = outcomeConditions(status.conditions, outcome, app.metadata.generation, deps.now());
  if (outcome.state !== 'ready' && outcome.state !== 'progressing') status.lastError = outcome.message;
  else delete status.lastError;
  await patchStatus(deps.kube, app, status);
}

function toAppSpec(app: Application, spec: ApplicationSpec, source: AppSpec['source']): AppSpec {
  const namespace = app.metadata.namespace;
  const owner = ownerOf(app);
  return {
    identity: { namespace, name: app.metadata.name },
    ...(owner ? { owner } : {}),
    source,
    render: {
      kind: spec.render.type,
      ...(spec.render.helm
        ? {
            helm: {
              releaseName: spec.render.helm.releaseName ?? app.metadata.name,
              namespace: spec.destination.namespace ?? namespace,
              valueFiles: spec.render.helm.valueFiles,
              ...(spec.render.helm.values ? { values: spec.render.helm.values } : {}),
              includeCrds: spec.render.helm.includeCrds,
            },
          }
        : { helm: { releaseName: app.metadata.name, namespace: spec.destination.namespace ?? namespace } }),
    },
    destinationNamespace: spec.destination.namespace ?? namespace,
    prune: spec.syncPolicy.prune,
    allowEmpty: spec.syncPolicy.allowEmpty,
    forceRecreate: spec.syncPolicy.forceRecreate,
    leaveFieldsToManagers: spec.syncPolicy.leaveFieldsToManagers,
    health: { wait: false, timeoutSeconds: parseDurationMs(spec.healthTimeout) / 1000 },
  };
}

/**
 * What the Application applied last, and with which spec generation (status from before
 * `lastAppliedGeneration` existed: the generation it last observed).
 */
function appliedOf(status: ApplicationStatus): Pick<DependentState, 'applied'> {
  const applied = status.lastAppliedRevision;
  if (!applied) return {};
  return {
    applied: { sha: applied.sha, generation: status.lastAppliedGeneration ?? status.observedGeneration },
  };
}

/** The revision applied last, as status recorded it, for syncing it again (held by a dependency). */
function revisionApplied(applied: RevisionStatus, newest: Revision): Revision {
  const author = applied.author ?? '';
  const open = author.lastIndexOf(' <');
  return {
    sha: applied.sha,
    ref: applied.ref ?? newest.ref,
    message: applied.message ?? '',
    author:
      open >= 0 && author.endsWith('>')
        ? { name: author.slice(0, open), email: author.slice(open + 2, -1) }
        : { name: author, email: '' },
    date: applied.date ?? '',
  };
}

/**
 * Held by a dependency, a healthy sync of the revision applied last is still a wait for the new one
 * (Ready stays False, DependencyNotReady), and the wait keeps its start (`waiting`, the Reconciling
 * condition set aside so that judge's health clock started with this sync). Anything else the sync
 * found (a failure, objects still progressing) is reported as it is.
 */
function heldOutcome(
  judged: Outcome,
  gate: DependencyDecision,
  status: ApplicationStatus,
  waiting: Condition | undefined,
): Outcome {
  if (gate.action !== 'hold' || judged.state !== 'ready') return judged;
  if (waiting) status.conditions = [...(status.conditions ?? []), waiting];
  return { state: 'progressing', reason: 'DependencyNotReady', message: gate.message };
}

export function dependenciesOf(app: Application | undefined): { namespace: string; name: string }[] {
  const parsed = app ? applicationSpecSchema.safeParse(app.spec) : undefined;
  if (!app || !parsed?.success) return [];
  return parsed.data.dependsOn.map((d) => ({ namespace: app.metadata.namespace, name: d.name }));
}

function summarize(result: SyncResult): string {
  const counts = new Map<string, number>();
  for (const o of result.objects) counts.set(o.action, (counts.get(o.action) ?? 0) + 1);
  return [...counts].map(([action, n]) => `${n} ${action}`).join(', ') || 'no objects';
}

function firstLine(text: string): string {
  return text.split('\n')[0]!.slice(0, 72);
}
