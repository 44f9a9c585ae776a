/**
 * The order in which a sync applies objects, and the reverse order in which it prunes them.
 *
 * How stages and waves combine:
 * 1. **Definitions** (one phase): every CustomResourceDefinition and Namespace, whatever its wave.
 *    Nothing else can be applied before them (custom resources need their CRD to be Established and
 *    discovery refreshed; namespaced objects need their Namespace), and they depend on nothing we
 *    apply, so holding them back for a wave could only break a sync, never help one. A wave
 *    annotation on them is still validated, so a typo fails the same way everywhere.
 * 2. **Waves** (one phase each): the other objects grouped by `capstan.dev/wave` (default 0,
 *    negative allowed), in ascending order. Within a wave, objects are sorted by kind priority, ties
 *    broken by namespace then name, so the same input always gives the same order. Waves are for
 *    dependencies kind priority cannot know (a database before the app that migrates it); the
 *    engine is expected to wait for a wave to become healthy before starting the next.
 *
 * Kinds are matched by group as well as name: a custom resource whose kind is `Service` or
 * `Namespace` is not a built-in and is ordered (and staged) like any other custom resource.
 */
import { UserError } from '../core/errors.js';
import { formatRef, refOf, type KubeObject, type ObjectRef } from '../core/objects.js';

export const WAVE_ANNOTATION = 'capstan.dev/wave';

/** A built-in kind and the API groups that serve it (several kinds moved group over the years). */
interface BuiltInKind {
  readonly kind: string;
  readonly groups: readonly string[];
}

const core = (kind: string): BuiltInKind => ({ kind, groups: [''] });
const inGroups = (kind: string, ...groups: string[]): BuiltInKind => ({ kind, groups });

/**
 * Built-in kinds in apply order (the order kustomize, Flux and Helm converge on): things other
 * objects refer to come before the objects that refer to them. Kinds not listed here, custom
 * resources included, come after all of these.
 */
const APPLY_ORDER: readonly BuiltInKind[] = [
  core('Namespace'),
  core('ResourceQuota'),
  inGroups('StorageClass', 'storage.k8s.io'),
  inGroups('CustomResourceDefinition', 'apiextensions.k8s.io'),
  core('ServiceAccount'),
  inGroups('PodSecurityPolicy', 'policy', 'extensions'),
  inGroups('Role', 'rbac.authorization.k8s.io'),
  inGroups('ClusterRole', 'rbac.authorization.k8s.io'),
  inGroups('RoleBinding', 'rbac.authorization.k8s.io'),
  inGroups('ClusterRoleBinding', 'rbac.authorization.k8s.io'),
  core('ConfigMap'),
  core('Secret'),
  core('Endpoints'),
  inGroups('EndpointSlice', 'discovery.k8s.io'),
  core('Service'),
  core('LimitRange'),
  // Admission enforces network policies and runtime classes when pods start: put them before workloads.
  inGroups('NetworkPolicy', 'networking.k8s.io', 'extensions'),
  inGroups('PriorityClass', 'scheduling.k8s.io'),
  inGroups('RuntimeClass', 'node.k8s.io'),
  core('PersistentVolume'),
  core('PersistentVolumeClaim'),
  inGroups('Deployment', 'apps', 'extensions'),
  inGroups('StatefulSet', 'apps'),
  inGroups('DaemonSet', 'apps', 'extensions'),
  inGroups('ReplicaSet', 'apps', 'extensions'),
  core('ReplicationController'),
  core('PodTemplate'),
  core('Pod'),
  inGroups('Job', 'batch'),
  inGroups('CronJob', 'batch'),
  inGroups('PodDisruptionBudget', 'policy'),
  inGroups('HorizontalPodAutoscaler', 'autoscaling'),
  inGroups('IngressClass', 'networking.k8s.io'),
  inGroups('Ingress', 'networking.k8s.io', 'extensions'),
  inGroups('APIService', 'apiregistration.k8s.io'),
];

/**
 * Applied after everything, custom resources included: a webhook registered before its backing
 * Service and Deployment are ready would reject (or fail closed on) the rest of the sync.
 */
const APPLY_LAST: readonly BuiltInKind[] = [
  inGroups('MutatingWebhookConfiguration', 'admissionregistration.k8s.io'),
  inGroups('ValidatingWebhookConfiguration', 'admissionregistration.k8s.io'),
];

/** Kinds applied in the definitions phase, before any wave. */
const DEFINITION_KINDS: readonly BuiltInKind[] = [
  core('Namespace'),
  inGroups('CustomResourceDefinition', 'apiextensions.k8s.io'),
];

const groupKind = (group: string, kind: string): string => `${group}/${kind}`;

function rankTable(): ReadonlyMap<string, number> {
  const ranks = new Map<string, number>();
  const unknownRank = APPLY_ORDER.length;
  APPLY_ORDER.forEach(({ kind, groups }, index) =>
    groups.forEach((g) => ranks.set(groupKind(g, kind), index)),
  );
  APPLY_LAST.forEach(({ kind, groups }, index) =>
    groups.forEach((g) => ranks.set(groupKind(g, kind), unknownRank + 1 + index)),
  );
  return ranks;
}

const RANK_BY_GROUP_KIND = rankTable();
const UNKNOWN_KIND_RANK = APPLY_ORDER.length;
const DEFINITIONS = new Set(
  DEFINITION_KINDS.flatMap(({ kind, groups }) => groups.map((g) => groupKind(g, kind))),
);

/** Lower applies earlier. Unknown kinds (custom resources) share one rank after the built-ins. */
export function kindPriority(ref: Pick<ObjectRef, 'group' | 'kind'>): number {
  return RANK_BY_GROUP_KIND.get(groupKind(ref.group, ref.kind)) ?? UNKNOWN_KIND_RANK;
}

/** CRDs and Namespaces: applied (and waited for) before everything else. */
export function isDefinition(ref: Pick<ObjectRef, 'group' | 'kind'>): boolean {
  return DEFINITIONS.has(groupKind(ref.group, ref.kind));
}

/**
 * Apply order of two objects regardless of waves: kind priority, then group and kind (so custom
 * resources of one kind stay together), then namespace (cluster-scoped first), then name.
 */
export function compareForApply(a: ObjectRef, b: ObjectRef): number {
  return kindPriority(a) - kindPriority(b) || compareIdentity(a, b);
}

function compareIdentity(a: ObjectRef, b: ObjectRef): number {
  return (
    compareStrings(a.group, b.group) ||
    compareStrings(a.kind, b.kind) ||
    compareStrings(a.namespace ?? '', b.namespace ?? '') ||
    compareStrings(a.name, b.name)
  );
}

/** Code-unit order, not locale order: the same on every machine. */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The wave an object asked for: `capstan.dev/wave: "<integer>"`, 0 when absent.
 * Throws a UserError naming the object when the value is not an integer.
 */
export function waveOf(object: KubeObject): number {
  const value: unknown = object.metadata.annotations?.[WAVE_ANNOTATION];
  if (value === undefined) return 0;
  const where = `${formatRef(refOf(object))}: annotation ${WAVE_ANNOTATION}`;
  if (typeof value !== 'string') {
    // YAML `capstan.dev/wave: 1` is a number; Kubernetes only accepts string annotation values.
    throw new UserError(
      `${where} must be a string such as "1" (quote it in YAML), not ${JSON.stringify(value)}`,
    );
  }
  const wave = /^[+-]?\d{1,15}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(wave)) {
    throw new UserError(`${where} must be an integer such as "-1", "0" or "2", not ${JSON.stringify(value)}`);
  }
  // Normalise "-0" so it does not print as a wave of its own.
  return wave === 0 ? 0 : wave;
}

interface PhaseBase {
  /** For progress output: "definitions (CustomResourceDefinitions, Namespaces)", "wave -1", … */
  readonly label: string;
  /** In apply order. */
  readonly objects: readonly KubeObject[];
}

/** CRDs and Namespaces: after applying, wait for CRDs to be Established and refresh discovery. */
export interface DefinitionsPhase extends PhaseBase {
  readonly stage: 'definitions';
}

/** Every other object of one wave. */
export interface WavePhase extends PhaseBase {
  readonly stage: 'wave';
  readonly wave: number;
}

export type ApplyPhase = DefinitionsPhase | WavePhase;

const DEFINITIONS_LABEL = 'definitions (CustomResourceDefinitions, Namespaces)';

/**
 * Splits the objects into the phases a sync applies one after another (see the file comment).
 * Empty phases are left out. Throws a UserError when a wave annotation is invalid; every object's
 * annotation is checked before any phase is built, so a bad one fails the plan, not half an apply.
 */
export function sortForApply(objects: readonly KubeObject[]): ApplyPhase[] {
  const definitions: Sortable[] = [];
  const byWave = new Map<number, Sortable[]>();
  for (const object of objects) {
    const entry: Sortable = { object, ref: refOf(object) };
    const wave = waveOf(object);
    if (isDefinition(entry.ref)) {
      definitions.push(entry);
    } else {
      const members = byWave.get(wave) ?? [];
      members.push(entry);
      byWave.set(wave, members);
    }
  }

  const phases: ApplyPhase[] = [];
  if (definitions.length > 0) {
    phases.push({ stage: 'definitions', label: DEFINITIONS_LABEL, objects: sorted(definitions) });
  }
  const waves = [...byWave.keys()].sort((a, b) => a - b);
  for (const wave of waves) {
    phases.push({ stage: 'wave', wave, label: `wave ${wave}`, objects: sorted(byWave.get(wave) ?? []) });
  }
  return phases;
}

/** The objects of all phases, flattened, in the order they are applied. */
export function applyOrder(phases: readonly ApplyPhase[]): KubeObject[] {
  return phases.flatMap((phase) => phase.objects);
}

interface Sortable {
  readonly object: KubeObject;
  readonly ref: ObjectRef;
}

function sorted(entries: Sortable[]): KubeObject[] {
  return [...entries].sort((a, b) => compareForApply(a.ref, b.ref)).map((entry) => entry.object);
}

/**
 * Prune order: kind priority reversed, so webhooks go first and Namespaces and CRDs go last (deleting
 * a Namespace or a CRD deletes what lives in it; their contents should be gone already). Ties stay
 * in ascending namespace and name order, which reads better than a fully reversed list.
 * Waves are not considered: an inventory keeps references, not annotations.
 */
export function sortForPrune(refs: readonly ObjectRef[]): ObjectRef[] {
  return [...refs].sort(
    (a, b) =>
      Number(isDefinition(a)) - Number(isDefinition(b)) ||
      kindPriority(b) - kindPriority(a) ||
      compareIdentity(a, b),
  );
}

/** Deletion batches: one per kind priority in prune order, so a batch is deleted in parallel. */
export function pruneBatches(refs: readonly ObjectRef[]): ObjectRef[][] {
  const batches: ObjectRef[][] = [];
  let current: ObjectRef[] = [];
  let currentKey: string | undefined;
  for (const ref of sortForPrune(refs)) {
    const key = `${isDefinition(ref)}|${kindPriority(ref)}`;
    if (key !== currentKey && current.length > 0) {
      batches.push(current);
      current = [];
    }
    currentKey = key;
    current.push(ref);
  }
  if (current.length > 0) batches.push(current);
  return batches;
}
