/**
 * The checks an Application passes before anything is fetched or applied: a valid spec, not
 * suspended, an identity to apply as that its AccessPolicy allows, its Repository, no dependency
 * cycle. Each refusal is an outcome for status, never an exception.
 */
import {
  applicationSpecSchema,
  type Application,
  type ApplicationSpec,
  type ApplicationStatus,
  type Repository,
} from '../api/v1alpha1.js';
import { checkServiceAccount, type EffectivePolicy } from '../plan/index.js';
import type { Outcome } from './app-judge.js';
import { conditionOf } from './conditions.js';
import { findCycle } from './dependencies.js';
import { applyIdentityOf, type ServiceAccountRef, type TenancyOptions } from './tenancy.js';

export interface CheckDeps {
  readonly applications: { get(name: string, namespace: string): Application | undefined };
  readonly repositories: { get(name: string, namespace: string): Repository | undefined };
  readonly tenancy: TenancyOptions;
  readonly policyFor?: (namespace: string) => EffectivePolicy | undefined;
}

export interface CheckedApplication {
  readonly spec: ApplicationSpec;
  readonly serviceAccount: ServiceAccountRef;
  readonly policy: EffectivePolicy | undefined;
  readonly repository: Repository;
}

export type CheckResult =
  | { readonly ok: true; readonly checked: CheckedApplication }
  | { readonly ok: false; readonly outcome: Outcome };

export function checkApplication(deps: CheckDeps, app: Application, status: ApplicationStatus): CheckResult {
  const namespace = app.metadata.namespace;
  const parsed = applicationSpecSchema.safeParse(app.spec);
  if (!parsed.success) {
    const message = parsed.error.issues.map((i) => `spec.${i.path.join('.')}: ${i.message}`).join('; ');
    return stop('stalled', 'InvalidSpec', message);
  }
  const spec = parsed.data;
  if (spec.suspend) {
    const wasReady = conditionOf(status.conditions, 'Ready')?.status === 'True';
    return stop(wasReady ? 'ready' : 'failed', 'Suspended', 'reconciliation is suspended');
  }

  const identity = applyIdentityOf(namespace, spec.serviceAccountName, deps.tenancy);
  if (!identity.allowed) return stop('stalled', identity.reason, identity.message);
  const policy = deps.policyFor?.(namespace);
  const refusedIdentity = policy && checkServiceAccount(policy, namespace, identity.serviceAccount);
  if (refusedIdentity)
    return stop('stalled', 'PolicyViolation', `AccessPolicy violation: ${refusedIdentity.message}`);

  const repository = deps.repositories.get(spec.sourceRef.name, namespace);
  if (!repository)
    return stop('stalled', 'SourceNotFound', `Repository ${namespace}/${spec.sourceRef.name} does not exist`);

  // Helm and OCI repositories have no commits to promote or revert: promotion is refused, and an
  // automatic rollback is recorded in status only (gitRevert: none).
  const sourceType = repository.spec.type ?? 'git';
  if (sourceType !== 'git' && spec.promotion)
    return stop(
      'stalled',
      'InvalidSpec',
      `spec.promotion needs a Git repository; Repository ${spec.sourceRef.name} is of type ${sourceType}`,
    );
  const effective =
    sourceType === 'git' ? spec : { ...spec, rollback: { ...spec.rollback, gitRevert: 'none' as const } };

  const cycle = findCycle({ namespace, name: app.metadata.name }, (ref) =>
    dependenciesOf(deps.applications.get(ref.name, ref.namespace)),
  );
  if (cycle) return stop('stalled', 'DependencyCycle', `dependsOn forms a cycle: ${cycle.join(' → ')}`);

  return {
    ok: true,
    checked: { spec: effective, serviceAccount: identity.serviceAccount, policy, repository },
  };
}

export function dependenciesOf(app: Application | undefined): { namespace: string; name: string }[] {
  const parsed = app ? applicationSpecSchema.safeParse(app.spec) : undefined;
  if (!app || !parsed?.success) return [];
  return parsed.data.dependsOn.map((d) => ({ namespace: app.metadata.namespace, name: d.name }));
}

function stop(state: Outcome['state'], reason: string, message: string): CheckResult {
  return { ok: false, outcome: { state, reason, message } };
}
