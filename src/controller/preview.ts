/**
 * What a sync of an Application would change now, changing nothing: the dashboard's GET …/diff.
 * It is a diff-mode sync on the terms of a real one:
 * - the revision the next reconcile would apply — the branch head as the Repository last fetched
 *   it, unless a rollback pins another or a dependency holds the one applied last — chosen by the
 *   same pure functions the reconcile uses (chooseTarget, dependencyGate), with none of its writes;
 * - the same identity: `prepare` says who computes it. In the controller that is the engine the
 *   app's syncs use, impersonating the ServiceAccount checkApplication chose (tenancy and
 *   AccessPolicies included) — never the controller's own client, which may read every Secret. On a
 *   laptop (`capstan dashboard`) it is the kubeconfig user, whose own rights decide;
 * - the same engine, field manager, checkouts and render cache, so a preview costs what a
 *   diff-mode sync costs (and warms the cache for the next sync).
 */
import { applicationSpecSchema, GROUP, type Application, type ApplicationSpec } from '../api/v1alpha1.js';
import type { Repository } from '../api/v1alpha1.js';
import { CapstanError, UserError } from '../core/errors.js';
import type { AppSource } from '../engine/app.js';
import { previewOf, type PreviewLimits, type SyncPreview } from '../engine/preview.js';
import type { Engine } from '../engine/sync.js';
import { isKubeApiError, type KubeClient } from '../kube/index.js';
import type { EffectivePolicy } from '../plan/index.js';
import type { Revision } from '../source/index.js';
import { checkApplication, type CheckDeps } from './app-checks.js';
import { revisionFromStatus } from './app-status.js';
import { toAppSpec } from './application.js';
import { dependencyGate, type SourceRef } from './dependencies.js';
import type { RepositoryAccess } from './repository.js';
import { chooseTarget } from './rollback.js';
import type { ServiceAccountRef } from './tenancy.js';

/** No preview can be made of this Application here, and why (said to the person asking). */
export class PreviewUnavailableError extends CapstanError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('user', message, options);
  }
}

/** Who computes a preview: the engine a sync of the app would use, and a client of the same identity. */
export interface PreviewActor {
  readonly engine: Engine;
  /** Reads the objects shown, for their field owners. */
  readonly live: Pick<KubeClient, 'get'>;
  /** For people: `ServiceAccount team-a/deployer`. */
  readonly name: string;
}

/** An Application checked for a preview, and who computes it. */
export interface PreviewSubject {
  readonly spec: ApplicationSpec;
  readonly repository: Repository;
  readonly policy?: EffectivePolicy | undefined;
  readonly actor: PreviewActor;
  /** What a reader should know of these terms (reconciliation is suspended, …). */
  readonly notes: readonly string[];
}

export interface PreviewDeps {
  /** Checks the Application and says who computes its preview; throws PreviewUnavailableError. */
  prepare(app: Application): Promise<PreviewSubject>;
  /** The Repository's URL and credentials, and the revisions its refs resolve to. */
  readonly access: RepositoryAccess;
  /** Another Application of the namespace (a dependency); undefined when absent or unreadable. */
  application(namespace: string, name: string): Promise<Application | undefined>;
  repository(namespace: string, name: string): Promise<Repository | undefined>;
  /** Resolve refs now instead of using the last fetch (nothing polls on a laptop). Default false. */
  readonly freshRevisions?: boolean;
  readonly now: () => Date;
  readonly limits?: Partial<PreviewLimits>;
}

export interface ApplicationPreview extends SyncPreview {
  /** Who computed it (PreviewActor.name). */
  readonly actor: string;
  /** What a reader should know: a rollback pins the revision, prune is off, … */
  readonly notes: readonly string[];
}

/**
 * `revision`: preview that commit instead of the one the next reconcile would apply — a pull
 * request's head, planned against what the app's branch applied (src/review). Who computes it is
 * unchanged: the identity rules of `prepare` hold for any revision.
 */
export async function previewApplication(
  deps: PreviewDeps,
  app: Application,
  signal?: AbortSignal,
  options: { readonly revision?: Revision } = {},
): Promise<ApplicationPreview> {
  const subject = await deps.prepare(app);
  const target = options.revision
    ? await explicitTarget(deps, subject, options.revision)
    : await targetOf(deps, app, subject);
  const result = await subject.actor.engine.sync(
    {
      ...toAppSpec(app, subject.spec, target.source),
      ...(subject.policy ? { policy: subject.policy } : {}),
    },
    { mode: 'diff', ...(signal ? { signal } : {}) },
  );
  const preview = await previewOf(result, subject.actor.live, {
    ...(deps.limits ? { limits: deps.limits } : {}),
    ...(signal ? { signal } : {}),
  });
  return {
    ...preview,
    actor: subject.actor.name,
    notes: [
      ...subject.notes,
      ...target.notes,
      ...(preview.pruneSkipped ? [`A sync would not prune: ${preview.pruneSkipped}.`] : []),
    ],
  };
}

interface PreviewTarget {
  readonly source: AppSource & { readonly type: 'git' };
  readonly notes: readonly string[];
}

/** A revision the caller chose: no rollback pin or dependency gate applies to a what-if. */
async function explicitTarget(
  deps: PreviewDeps,
  subject: PreviewSubject,
  revision: Revision,
): Promise<PreviewTarget> {
  const { spec, repository } = subject;
  return {
    source: {
      type: 'git',
      repository: await deps.access.source(repository),
      ref: spec.ref,
      path: spec.path,
      revision,
    },
    notes: [],
  };
}

/** The revision the next reconcile would sync (see application.ts chooseRevision), without its writes. */
async function targetOf(
  deps: PreviewDeps,
  app: Application,
  subject: PreviewSubject,
): Promise<PreviewTarget> {
  const { spec, repository } = subject;
  const fresh = deps.freshRevisions ?? false;
  // chooseTarget edits the status it is given (a rollback over, say): give it a copy.
  const status = structuredClone(app.status ?? {});
  const source = {
    type: 'git' as const,
    repository: await deps.access.source(repository),
    ref: spec.ref,
    path: spec.path,
  };
  const head = await deps.access.revision(repository, spec.ref, { fresh });
  const decision = chooseTarget(status, head.sha, undefined, deps.now());
  if (decision.kind === 'pinned') {
    const applied = status.lastAppliedRevision;
    const revision =
      applied?.sha === decision.sha
        ? revisionFromStatus(applied, head.ref)
        : await deps.access.revision(repository, decision.sha);
    return { source: { ...source, revision }, notes: [`${decision.message}.`] };
  }
  const gate = await dependencyGate(app, status, spec, head.sha, await gateLookup(deps, app, spec, fresh));
  if (gate.action === 'hold' && status.lastAppliedRevision)
    return {
      source: { ...source, revision: revisionFromStatus(status.lastAppliedRevision, head.ref) },
      notes: [`${gate.message}.`],
    };
  if (gate.action === 'wait')
    return {
      source: { ...source, revision: head },
      notes: [
        `${gate.message}: a sync would apply nothing yet; this is what ${head.sha.slice(0, 12)} would change.`,
      ],
    };
  return { source: { ...source, revision: head }, notes: [] };
}

/** The dependency gate's reads, done up front (the gate itself asks synchronously). */
async function gateLookup(
  deps: PreviewDeps,
  app: Application,
  spec: ApplicationSpec,
  fresh: boolean,
): Promise<Parameters<typeof dependencyGate>[4]> {
  const namespace = app.metadata.namespace;
  const dependencies = new Map(
    await Promise.all(
      spec.dependsOn.map(async ({ name }) => [name, await deps.application(namespace, name)] as const),
    ),
  );
  return {
    application: (name) => dependencies.get(name),
    newest: async (other: SourceRef) => {
      const repository = await deps.repository(namespace, other.repository);
      if (!repository) throw new UserError(`Repository ${namespace}/${other.repository} does not exist`);
      return (await deps.access.revision(repository, other.ref, { fresh })).sha;
    },
  };
}

/**
 * The controller's terms: the checks a reconcile makes (a suspended app is previewed as if resumed:
 * what resuming would do), and the engine of the ServiceAccount its syncs impersonate.
 */
export function controllerPreparer(deps: {
  readonly checks: CheckDeps;
  /** Whether this controller reconciles the Application (its namespace and label selector). */
  readonly manages: (app: Application) => boolean;
  readonly engineFor: (serviceAccount: ServiceAccountRef) => Engine;
  /** The client `engineFor`'s engine acts through (the same impersonation). */
  readonly clientFor: (serviceAccount: ServiceAccountRef) => KubeClient;
}): (app: Application) => Promise<PreviewSubject> {
  return async (app) => {
    if (!deps.manages(app))
      throw new PreviewUnavailableError('this controller does not reconcile this Application');
    const suspended = app.spec.suspend === true;
    const checked = checkApplication(
      deps.checks,
      suspended ? { ...app, spec: { ...app.spec, suspend: false } } : app,
      app.status ?? {},
    );
    if (!checked.ok)
      throw new PreviewUnavailableError(`${checked.outcome.reason}: ${checked.outcome.message}`);
    const { spec, repository, policy, serviceAccount } = checked.checked;
    return {
      spec,
      repository,
      policy,
      actor: {
        engine: deps.engineFor(serviceAccount),
        live: deps.clientFor(serviceAccount),
        name: `ServiceAccount ${serviceAccount.namespace}/${serviceAccount.name}`,
      },
      notes: suspended ? [SUSPENDED_NOTE] : [],
    };
  };
}

/**
 * `capstan dashboard`'s terms: the kubeconfig user's own client and engine, so a laptop shows what
 * its user's rights let them compute — their RBAC, not the ServiceAccount's, decides. Their client
 * reads the Repository (and its credentials' Secret, through `access`), or the preview fails.
 */
export function userPreparer(deps: {
  readonly kube: KubeClient;
  readonly engine: Engine;
  readonly name: string;
}): (app: Application) => Promise<PreviewSubject> {
  return async (app) => {
    const parsed = applicationSpecSchema.safeParse(app.spec);
    if (!parsed.success) throw new PreviewUnavailableError('the Application has an invalid spec');
    const spec = parsed.data;
    const namespace = app.metadata.namespace;
    const repository = await deps.kube.get<Repository>({
      group: GROUP,
      kind: 'Repository',
      namespace,
      name: spec.sourceRef.name,
    });
    if (!repository)
      throw new PreviewUnavailableError(`Repository ${namespace}/${spec.sourceRef.name} does not exist`);
    return {
      spec,
      repository,
      actor: { engine: deps.engine, live: deps.kube, name: deps.name },
      notes: [
        'Computed with your own rights, not those of the ServiceAccount the controller applies as; AccessPolicies are not checked here.',
        ...(spec.suspend ? [SUSPENDED_NOTE] : []),
      ],
    };
  };
}

/** A read as someone who may not read everything: what they may not read counts as absent. */
export async function readableOrUndefined<T>(read: () => Promise<T | undefined>): Promise<T | undefined> {
  try {
    return await read();
  } catch (error) {
    if (isKubeApiError(error) && error.status === 403) return undefined;
    throw error;
  }
}

const SUSPENDED_NOTE = 'Reconciliation is suspended: this is what resuming it would change.';
