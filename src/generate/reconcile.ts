/**
 * One reconcile of an ApplicationGenerator, as named steps: check the spec, list the elements,
 * render an Application per element, leave alone those someone else owns, apply the rest, delete
 * the Applications whose element is gone (behind the deletion guard), and write the status.
 *
 * Whatever goes wrong before the desired set is known (an invalid spec or template, a failed Git or
 * forge listing) stops the reconcile before anything is applied or deleted.
 */
import { isDeepStrictEqual } from 'node:util';
import {
  APPROVE_DELETIONS_ANNOTATION,
  applicationGeneratorSpecSchema,
  GENERATOR_FIELD_MANAGER,
  MAX_HELD_LISTED,
  MAX_STATUS_APPLICATIONS,
  type ApplicationGenerator,
  type ApplicationGeneratorSpec,
  type ApplicationGeneratorStatus,
} from '../api/generator.js';
import { GROUP, type Application, type Repository } from '../api/v1alpha1.js';
import { isCapstanError, messageOf } from '../core/errors.js';
import { pollInterval } from '../core/time.js';
import { isNotFound, type KubeClient } from '../kube/index.js';
import { redactText } from '../source/index.js';
import { outcomeConditions } from '../controller/conditions.js';
import type { EventRecorder } from '../controller/events.js';
import { patchStatus } from '../controller/status.js';
import { generatorKindOf, listElements, type ListingDeps } from './elements.js';
import { judgeDeletions, type GuardDecision } from './guard.js';
import { renderApplications, type DesiredApplication } from './render.js';

export interface GeneratorDeps {
  readonly kube: KubeClient;
  readonly generators: { get(name: string, namespace: string): ApplicationGenerator | undefined };
  /** The Applications carrying a generator label in a namespace (an informer's view). */
  readonly labelled: { list(namespace: string, generator: string): Application[] };
  readonly repositories: { get(name: string, namespace: string): Repository | undefined };
  readonly listing: ListingDeps;
  readonly recordEvent: EventRecorder;
  readonly now: () => Date;
}

export interface GeneratorOutcome {
  readonly requeueAfterMs?: number;
}

/** Labels carry the generator's name, and label values stop at 63 characters. */
const MAX_GENERATOR_NAME = 63;

type Outcome = Parameters<typeof outcomeConditions>[1];

export async function reconcileGenerator(
  deps: GeneratorDeps,
  namespace: string,
  name: string,
): Promise<GeneratorOutcome> {
  const cached = deps.generators.get(name, namespace);
  // A copy: writing the status updates the object it was computed from, never the informer's.
  const generator = cached && structuredClone(cached);
  // Deleted: Kubernetes' garbage collector deletes the Applications it owns (and their finalizers prune).
  if (!generator || generator.metadata.deletionTimestamp) return {};
  const parsed = checkSpec(generator);
  if (!parsed.ok) {
    await writeStatus(deps, generator, { state: 'stalled', reason: 'InvalidSpec', message: parsed.message });
    return {};
  }
  const spec = parsed.spec;
  const every = { requeueAfterMs: pollInterval(spec.interval) };
  if (spec.suspend) {
    await writeStatus(deps, generator, {
      state: 'failed',
      reason: 'Suspended',
      message: 'spec.suspend is true',
    });
    return {};
  }
  const repository = deps.repositories.get(spec.sourceRef.name, namespace);
  if (!repository) {
    const message = `the Repository ${spec.sourceRef.name} does not exist in ${namespace}`;
    await writeStatus(
      deps,
      generator,
      { state: 'failed', reason: 'SourceNotFound', message },
      {},
      { applied: false },
    );
    return every;
  }
  const desired = await desiredApplications(deps, generator, spec, repository);
  if (!desired.ok) {
    // A failed listing applied nothing: the template's generation is still to be rolled out.
    await writeStatus(
      deps,
      generator,
      desired.outcome,
      { lastError: desired.outcome.message },
      { applied: desired.outcome.reason !== 'ListFailed' },
    );
    if (desired.retry) throw desired.error;
    return every;
  }
  return { ...every, ...(await converge(deps, generator, spec, desired.applications)) };
}

function checkSpec(
  generator: ApplicationGenerator,
): { ok: true; spec: ApplicationGeneratorSpec } | { ok: false; message: string } {
  if (generator.metadata.name.length > MAX_GENERATOR_NAME)
    return {
      ok: false,
      message: `the name must be at most ${MAX_GENERATOR_NAME} characters (it labels the Applications)`,
    };
  const checked = applicationGeneratorSpecSchema.safeParse(generator.spec);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    return {
      ok: false,
      message: `invalid spec: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`,
    };
  }
  try {
    generatorKindOf(checked.data);
  } catch (error) {
    return { ok: false, message: messageOf(error) };
  }
  return { ok: true, spec: checked.data };
}

type DesiredResult =
  | { ok: true; applications: DesiredApplication[] }
  | { ok: false; outcome: Outcome; retry: boolean; error: unknown };

/** The listing, then the template: either failing means nothing is applied nor deleted. */
async function desiredApplications(
  deps: GeneratorDeps,
  generator: ApplicationGenerator,
  spec: ApplicationGeneratorSpec,
  repository: Repository,
): Promise<DesiredResult> {
  let elements;
  try {
    elements = await listElements(deps.listing, spec, repository);
  } catch (error) {
    const message = `listing failed, so nothing was created or deleted: ${safeMessage(error)}`;
    const transient = !isCapstanError(error) || error.kind === 'transient';
    return {
      ok: false,
      outcome: { state: 'failed', reason: 'ListFailed', message },
      retry: transient,
      error,
    };
  }
  try {
    return { ok: true, applications: renderApplications(generator, spec, elements) };
  } catch (error) {
    const message = `${safeMessage(error)}; nothing was created or deleted`;
    return {
      ok: false,
      outcome: { state: 'stalled', reason: 'InvalidTemplate', message },
      retry: false,
      error,
    };
  }
}

/** Applies the desired Applications, deletes the orphaned ones the guard lets through, writes status. */
async function converge(
  deps: GeneratorDeps,
  generator: ApplicationGenerator,
  spec: ApplicationGeneratorSpec,
  desired: readonly DesiredApplication[],
): Promise<GeneratorOutcome> {
  const owned = ownedApplications(deps, generator);
  const refused = await notOwned(deps, generator, desired, owned);
  const failures: string[] = [];
  await applyDesired(deps, generator, desired, owned, refused, failures);
  const victims = orphans(owned, desired);
  const decision = judgeDeletions(
    victims,
    spec.deletionGuard.maxDeletions,
    generator.metadata.annotations?.[APPROVE_DELETIONS_ANNOTATION],
  );
  if (decision.allowed) await deleteApplications(deps, generator, victims, decision, failures);
  else await announceHeld(deps, generator, victims, decision.approval);
  const held = decision.allowed ? undefined : { victims, approval: decision.approval };
  await writeStatus(deps, generator, outcomeOf(generator, refused, failures, held), {
    applications: desired.map((app) => ({ name: app.name, element: app.element.slice(0, 256) })),
    ...(held
      ? {
          deletionHeld: {
            count: held.victims.length,
            applications: held.victims.slice(0, MAX_HELD_LISTED).map((victim) => victim.name),
            approval: held.approval,
          },
        }
      : {}),
    ...(failures.length > 0 ? { lastError: failures.join('; ').slice(0, 2048) } : {}),
  });
  // A failed apply is retried soon, not at the next interval.
  return failures.length > 0 ? { requeueAfterMs: 10_000 } : {};
}

/**
 * Server-side applies of what changed, as the generator's field manager: a hand edit of a templated
 * field is put back, fields others set stay theirs. After a change of the generator's spec every
 * Application is applied (fields the template no longer sets are then dropped); otherwise only
 * those whose live copy differs from the template's fields.
 */
async function applyDesired(
  deps: GeneratorDeps,
  generator: ApplicationGenerator,
  desired: readonly DesiredApplication[],
  owned: ReadonlyMap<string, Application>,
  refused: readonly string[],
  failures: string[],
): Promise<void> {
  const templateChanged = generator.status?.observedGeneration !== generator.metadata.generation;
  for (const app of desired) {
    if (refused.includes(app.name)) continue;
    const live = owned.get(app.name);
    if (live && !templateChanged && isSubset(app.object, live)) continue;
    try {
      await deps.kube.apply(app.object, { fieldManager: GENERATOR_FIELD_MANAGER, force: true });
    } catch (error) {
      failures.push(`${app.name}: ${safeMessage(error)}`);
    }
  }
}

/** The generator's Applications whose element is gone (those already being deleted aside). */
function orphans(
  owned: ReadonlyMap<string, Application>,
  desired: readonly DesiredApplication[],
): { name: string; uid: string }[] {
  const wanted = new Set(desired.map((app) => app.name));
  return [...owned.values()]
    .filter((app) => !wanted.has(app.metadata.name) && !app.metadata.deletionTimestamp)
    .map((app) => ({ name: app.metadata.name, uid: app.metadata.uid ?? '' }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** Applications this generator made: its label, and an owner reference with its uid. */
function ownedApplications(deps: GeneratorDeps, generator: ApplicationGenerator): Map<string, Application> {
  const owned = new Map<string, Application>();
  for (const app of deps.labelled.list(generator.metadata.namespace, generator.metadata.name))
    if (isOwnedBy(app, generator)) owned.set(app.metadata.name, app);
  return owned;
}

function isOwnedBy(app: Application, generator: ApplicationGenerator): boolean {
  return (app.metadata.ownerReferences ?? []).some(
    (ref) => ref.controller === true && ref.uid === generator.metadata.uid,
  );
}

/** Names of desired Applications that exist and are not this generator's: never taken over. */
async function notOwned(
  deps: GeneratorDeps,
  generator: ApplicationGenerator,
  desired: readonly DesiredApplication[],
  owned: ReadonlyMap<string, Application>,
): Promise<string[]> {
  const refused: string[] = [];
  for (const app of desired) {
    if (owned.has(app.name)) continue;
    const existing = await deps.kube.get<Application>({
      group: GROUP,
      kind: 'Application',
      namespace: generator.metadata.namespace,
      name: app.name,
    });
    if (existing && !isOwnedBy(existing, generator)) refused.push(app.name);
  }
  return refused;
}

async function deleteApplications(
  deps: GeneratorDeps,
  generator: ApplicationGenerator,
  victims: readonly { name: string; uid: string }[],
  decision: Extract<GuardDecision, { allowed: true }>,
  failures: string[],
): Promise<void> {
  if (victims.length === 0) return;
  if (decision.approved)
    await deps.recordEvent(
      generator,
      'Normal',
      'DeletionApproved',
      `deleting ${victims.length} Applications, as approved: ${victims.map((v) => v.name).join(', ')}`,
    );
  for (const victim of victims) {
    try {
      // The uid: a same-named Application made anew since the listing is not this one.
      await deps.kube.delete(
        { group: GROUP, kind: 'Application', namespace: generator.metadata.namespace, name: victim.name },
        { preconditions: { uid: victim.uid } },
      );
      await deps.recordEvent(
        generator,
        'Normal',
        'ApplicationDeleted',
        `deleted ${victim.name}: its element is gone`,
      );
    } catch (error) {
      if (!isNotFound(error)) failures.push(`deleting ${victim.name}: ${safeMessage(error)}`);
    }
  }
}

/** An Event when a deletion is first held (not at every reconcile while it stays held). */
async function announceHeld(
  deps: GeneratorDeps,
  generator: ApplicationGenerator,
  victims: readonly { name: string }[],
  approval: string,
): Promise<void> {
  if (generator.status?.deletionHeld?.approval === approval) return;
  await deps.recordEvent(generator, 'Warning', 'DeletionHeld', heldMessage(generator, victims, approval));
}

function heldMessage(
  generator: ApplicationGenerator,
  victims: readonly { name: string }[],
  approval: string,
): string {
  const listed = victims.slice(0, MAX_HELD_LISTED).map((victim) => victim.name);
  const more = victims.length > listed.length ? ` and ${victims.length - listed.length} more` : '';
  return (
    `${victims.length} Applications would be deleted at once (${listed.join(', ')}${more}), more than spec.deletionGuard.maxDeletions allows; nothing was deleted. ` +
    `Raise the limit, or approve these deletions once: kubectl annotate applicationgenerator ${generator.metadata.name} ${APPROVE_DELETIONS_ANNOTATION}=${approval} --overwrite`
  );
}

function outcomeOf(
  generator: ApplicationGenerator,
  refused: readonly string[],
  failures: readonly string[],
  held: { victims: readonly { name: string }[]; approval: string } | undefined,
): Outcome {
  if (held)
    return {
      state: 'failed',
      reason: 'DeletionHeld',
      message: heldMessage(generator, held.victims, held.approval),
    };
  if (refused.length > 0)
    return {
      state: 'failed',
      reason: 'ApplicationNotOwned',
      message: `Applications ${refused.slice(0, MAX_HELD_LISTED).join(', ')} exist and were not made by this generator: they are left alone (delete or rename them, or change the template's name)`,
    };
  if (failures.length > 0) return { state: 'failed', reason: 'ApplyFailed', message: failures.join('; ') };
  return { state: 'ready', reason: 'Generated', message: 'every element has its Application' };
}

async function writeStatus(
  deps: GeneratorDeps,
  generator: ApplicationGenerator,
  outcome: Outcome,
  fields: Omit<ApplicationGeneratorStatus, 'conditions' | 'observedGeneration'> = {},
  options: { applied: boolean } = { applied: true },
): Promise<void> {
  const previous = generator.status ?? {};
  // observedGeneration also says which template every Application was applied from (see converge).
  const observed = options.applied ? (generator.metadata.generation ?? 0) : previous.observedGeneration;
  const status: ApplicationGeneratorStatus = {
    ...fields,
    // A failed listing keeps the last known list: the Applications are still there.
    ...(fields.applications === undefined && previous.applications
      ? { applications: previous.applications }
      : {}),
    ...(observed === undefined ? {} : { observedGeneration: observed }),
    conditions: outcomeConditions(previous.conditions, outcome, generator.metadata.generation, deps.now()),
  };
  if (status.applications) status.applications = status.applications.slice(0, MAX_STATUS_APPLICATIONS);
  await patchStatus(deps.kube, generator, status);
}

/** Whether every field of `desired` has the same value in `live` (what the API server added aside). */
export function isSubset(desired: unknown, live: unknown): boolean {
  if (Array.isArray(desired))
    return (
      Array.isArray(live) &&
      desired.length === live.length &&
      desired.every((item, i) => isSubset(item, live[i]))
    );
  if (desired !== null && typeof desired === 'object') {
    if (live === null || typeof live !== 'object' || Array.isArray(live)) return false;
    return Object.entries(desired).every(([key, value]) =>
      isSubset(value, (live as Record<string, unknown>)[key]),
    );
  }
  return isDeepStrictEqual(desired, live);
}

/** Messages go into status and Events: no credential a URL carried may be in them. */
function safeMessage(error: unknown): string {
  return redactText(messageOf(error)).slice(0, 1024);
}
