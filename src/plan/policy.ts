/**
 * AccessPolicy evaluation: may this app apply these objects, may this Repository use this URL?
 * Pure; the engine asks before it applies anything, the controller before it fetches.
 *
 * The rules, per policy:
 * - A namespaced object must land in the Application's own namespace or in one of
 *   `destinationNamespaces`; its kind must not match `namespacedResources.deny` and, when `allow`
 *   is given, must match it (deny wins).
 * - A cluster-scoped object's kind must match `clusterResources` (none by default). A Namespace is
 *   cluster-scoped like any other: allowed only through `clusterResources`, and only with a name
 *   the policy would allow as a destination — a tenant creates only namespaces it may deploy into.
 * - A Repository's URL must lie under one of `sourceUrls` (any URL when there are none), matched
 *   exactly as a credentials Secret's `capstan.dev/git-urls` are (source/credential-scope.ts): same
 *   scheme, host and port, whole leading path segments, a user only if the prefix names one, a
 *   prefix ending in `.git` covering that repository alone; URLs two parsers could read differently
 *   are refused. No wildcards: a prefix already covers everything below it.
 *
 * Every policy binding the namespace applies, and all must allow: adding a policy can only narrow.
 * A policy that could not be read allows nothing (fail closed): a typo must never open the door.
 */
import type { AccessPolicySpec, GroupKindPattern } from '../api/v1alpha1.js';
import { CapstanError, messageOf } from '../core/errors.js';
import { matchGlob } from '../core/glob.js';
import { refOf, type KubeObject, type ObjectRef } from '../core/objects.js';
import { covers, parseLocation, type Location } from '../source/credential-scope.js';
import { quote, redactUrl } from '../source/redact.js';
import { parseRepoUrl, type RepoUrl } from '../source/url.js';

/** One AccessPolicy ready to evaluate, or one that could not be read (which allows nothing). */
export type BoundPolicy = ValidPolicy | InvalidPolicy;

export interface ValidPolicy {
  readonly name: string;
  readonly valid: true;
  readonly spec: AccessPolicySpec;
  /** `spec.sourceUrls`, parsed. */
  readonly sourcePrefixes: readonly SourcePrefix[];
}

export interface InvalidPolicy {
  readonly name: string;
  readonly valid: false;
  /** What is wrong, for people: shown in every refusal it causes. */
  readonly problem: string;
  /** The namespaces it names, when readable; absent, it binds every namespace. */
  readonly namespaces?: readonly string[];
}

/** The AccessPolicies binding one namespace, by name. An object must be allowed by all of them. */
export interface EffectivePolicy {
  readonly policies: readonly BoundPolicy[];
}

export type PolicyRule =
  | 'destinationNamespaces'
  | 'clusterResources'
  | 'namespacedResources.allow'
  | 'namespacedResources.deny'
  | 'sourceUrls'
  | 'serviceAccounts'
  | 'invalid';

export interface PolicyViolation {
  /** The AccessPolicy that refused. */
  readonly policy: string;
  readonly rule: PolicyRule;
  /** The object refused; absent when a repository URL was. */
  readonly object?: ObjectRef;
  /** `<object>: <why> by AccessPolicy <name> (<rule>)`, for people. */
  readonly message: string;
}

/** A `sourceUrls` entry: as written (redacted) for messages, and parsed for matching. */
export interface SourcePrefix {
  readonly display: string;
  readonly location: Location;
}

/** At most this many violations are spelled out in an error message; the count says the rest. */
const MAX_LISTED = 10;

/** Some object (or the repository URL) is not allowed: nothing is applied, nothing pruned. */
export class PolicyViolationError extends CapstanError {
  readonly violations: readonly PolicyViolation[];

  constructor(violations: readonly PolicyViolation[], options?: { cause?: unknown }) {
    const listed = violations.slice(0, MAX_LISTED).map((v) => v.message);
    const more = violations.length - listed.length;
    super(
      'user',
      `${violations.length} AccessPolicy violation(s): ${listed.join('; ')}${more > 0 ? `; and ${more} more` : ''}`,
      options,
    );
    this.violations = violations;
  }
}

/** A policy from its (schema-valid) spec; invalid when a `sourceUrls` entry is not a usable prefix. */
export function compilePolicy(name: string, spec: AccessPolicySpec): BoundPolicy {
  const sourcePrefixes: SourcePrefix[] = [];
  for (const [index, text] of spec.sourceUrls.entries()) {
    const display = quote(redactUrl(text));
    const location = prefixOf(text);
    if (typeof location === 'string') {
      const problem = `spec.sourceUrls[${index}]: ${display} is not a URL prefix: ${location}`;
      return invalidPolicy(name, problem, spec.namespaces);
    }
    sourcePrefixes.push({ display, location });
  }
  return { name, valid: true, spec, sourcePrefixes };
}

/** A policy that allows nothing where it binds: every namespace, unless `namespaces` is known. */
export function invalidPolicy(name: string, problem: string, namespaces?: readonly string[]): BoundPolicy {
  return { name, valid: false, problem, ...(namespaces ? { namespaces } : {}) };
}

export function bindsNamespace(policy: BoundPolicy, namespace: string): boolean {
  const patterns = policy.valid ? policy.spec.namespaces : policy.namespaces;
  // An unreadable policy's reach is unknown: it binds everything rather than nothing.
  if (patterns === undefined) return true;
  return patterns.some((pattern) => matchGlob(pattern, namespace));
}

/** The policies binding `namespace`; undefined when none does (then only RBAC applies). */
export function effectivePolicyFor(
  policies: Iterable<BoundPolicy>,
  namespace: string,
): EffectivePolicy | undefined {
  const binding = [...policies]
    .filter((policy) => bindsNamespace(policy, namespace))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return binding.length > 0 ? { policies: binding } : undefined;
}

/**
 * Every way `objects` break `policy`: per object, the first rule each policy finds broken.
 * Objects already carry their final namespace: a namespaced object has `metadata.namespace`, a
 * cluster-scoped one has none.
 */
export function checkObjects(
  policy: EffectivePolicy,
  appNamespace: string,
  objects: readonly KubeObject[],
): PolicyViolation[] {
  const violations: PolicyViolation[] = [];
  for (const object of objects) {
    const ref = refOf(object);
    for (const bound of policy.policies) {
      const violation = checkObject(bound, appNamespace, ref);
      if (violation) violations.push(violation);
    }
  }
  return violations;
}

/** Throws a PolicyViolationError when any object is not allowed. */
export function assertObjectsAllowed(
  policy: EffectivePolicy,
  appNamespace: string,
  objects: readonly KubeObject[],
): void {
  const violations = checkObjects(policy, appNamespace, objects);
  if (violations.length > 0) throw new PolicyViolationError(violations);
}

/** Why a repository at `url` may not be used, or undefined when every policy allows it. */
export function checkSourceUrl(policy: EffectivePolicy, url: string | RepoUrl): PolicyViolation | undefined {
  const raw = typeof url === 'string' ? url : url.url;
  const display = quote(typeof url === 'string' ? redactUrl(url) : url.display);
  let target: Location | string | undefined;
  for (const bound of policy.policies) {
    const refuse = (rule: PolicyRule, why: string): PolicyViolation => ({
      policy: bound.name,
      rule,
      message: `repository URL ${display}: ${why}`,
    });
    if (!bound.valid) return refuse('invalid', invalidReason(bound));
    if (bound.sourcePrefixes.length === 0) continue;
    target ??= locationOf(raw);
    if (typeof target === 'string')
      return refuse('sourceUrls', `AccessPolicy ${bound.name} cannot check it against sourceUrls: ${target}`);
    const location = target;
    if (!bound.sourcePrefixes.some((prefix) => covers(prefix.location, location)))
      return refuse(
        'sourceUrls',
        `not under ${listOf(bound.sourcePrefixes.map((p) => p.display))}, as AccessPolicy ${bound.name} requires (sourceUrls)`,
      );
  }
  return undefined;
}

/** A `sourceUrls` entry, parsed; or why it cannot be. */
function prefixOf(text: string): Location | string {
  // Argo CD's sourceRepos take globs; here a prefix covers what is below it, and a `*` would
  // silently match only a segment literally named `*`.
  if (text.includes('*')) return 'no wildcards: a prefix covers everything below it (https://host/team-a/)';
  try {
    return parseLocation(text, 'prefix');
  } catch (error) {
    return messageOf(error);
  }
}

/** Where a repository URL points, for matching; or why that cannot be said. */
function locationOf(raw: string): Location | string {
  try {
    // Whether file:// URLs may be used at all is the source layer's call, not the policy's: parse
    // as it does, and say plainly that such a URL cannot be matched.
    const repository = parseRepoUrl(raw, { allowFileUrls: true });
    if (repository.scheme === 'file') return 'file:// URLs never match a prefix';
    const location = parseLocation(raw, 'url');
    // The source stage and the matcher must see the same server, or the URL is read two ways.
    if (location.host !== repository.host) return 'its host reads differently to different parsers';
    return location;
  } catch (error) {
    return messageOf(error);
  }
}

/**
 * Why an Application of `appNamespace` may not be applied as `serviceAccount`, or undefined when
 * every policy allows it. Without a `serviceAccounts` list, only its own namespace's are allowed:
 * a policy-bound tenant never runs as another namespace's ServiceAccount by default.
 */
export function checkServiceAccount(
  policy: EffectivePolicy,
  appNamespace: string,
  serviceAccount: { readonly namespace: string; readonly name: string },
): PolicyViolation | undefined {
  const qualified = `${serviceAccount.namespace}/${serviceAccount.name}`;
  for (const bound of policy.policies) {
    const refuse = (rule: PolicyRule, why: string): PolicyViolation => ({
      policy: bound.name,
      rule,
      message: `ServiceAccount ${qualified}: ${why}`,
    });
    if (!bound.valid) return refuse('invalid', invalidReason(bound));
    const allowed =
      bound.spec.serviceAccounts.length === 0
        ? serviceAccount.namespace === appNamespace
        : bound.spec.serviceAccounts.some((pattern) =>
            pattern.includes('/')
              ? matchGlob(pattern, qualified)
              : serviceAccount.namespace === appNamespace && matchGlob(pattern, serviceAccount.name),
          );
    if (!allowed)
      return refuse(
        'serviceAccounts',
        `not allowed by AccessPolicy ${bound.name} (serviceAccounts${bound.spec.serviceAccounts.length === 0 ? ": default, the Application's own namespace only" : ''})`,
      );
  }
  return undefined;
}

/** Throws a PolicyViolationError when the repository at `url` may not be used. */
export function assertSourceAllowed(policy: EffectivePolicy, url: string | RepoUrl): void {
  const violation = checkSourceUrl(policy, url);
  if (violation) throw new PolicyViolationError([violation]);
}

/** The first rule of one policy that the object `ref` breaks. */
function checkObject(policy: BoundPolicy, appNamespace: string, ref: ObjectRef): PolicyViolation | undefined {
  const refuse = (rule: PolicyRule, why: string): PolicyViolation => ({
    policy: policy.name,
    rule,
    object: ref,
    message: `${describeObject(ref)}: ${why}`,
  });
  const notAllowed = (what: string, rule: PolicyRule, verb = 'not allowed'): PolicyViolation =>
    refuse(rule, `${what} is ${verb} by AccessPolicy ${policy.name} (${rule})`);
  if (!policy.valid) return refuse('invalid', invalidReason(policy));

  const { spec } = policy;
  const isDestination = (namespace: string): boolean =>
    namespace === appNamespace || spec.destinationNamespaces.some((p) => matchGlob(p, namespace));

  if (ref.namespace === undefined) {
    if (!spec.clusterResources.some((pattern) => matchesKind(pattern, ref)))
      return spec.clusterResources.length === 0
        ? refuse('clusterResources', `cluster-scoped kinds are not allowed by AccessPolicy ${policy.name}`)
        : notAllowed(`cluster-scoped kind ${kindName(ref)}`, 'clusterResources');
    if (isNamespace(ref) && !isDestination(ref.name))
      return notAllowed(`namespace ${ref.name}`, 'destinationNamespaces');
    return undefined;
  }

  if (!isDestination(ref.namespace)) return notAllowed(`namespace ${ref.namespace}`, 'destinationNamespaces');
  const { allow, deny } = spec.namespacedResources;
  if (deny.some((pattern) => matchesKind(pattern, ref)))
    return notAllowed(`kind ${kindName(ref)}`, 'namespacedResources.deny', 'denied');
  if (allow && !allow.some((pattern) => matchesKind(pattern, ref)))
    return notAllowed(`kind ${kindName(ref)}`, 'namespacedResources.allow');
  return undefined;
}

function invalidReason(policy: InvalidPolicy): string {
  return `AccessPolicy ${policy.name} is invalid and allows nothing until it is fixed (${policy.problem})`;
}

function matchesKind(pattern: GroupKindPattern, ref: ObjectRef): boolean {
  return matchGlob(pattern.group, ref.group) && matchGlob(pattern.kind, ref.kind);
}

/** The core Namespace, not a custom resource that happens to be called so. */
function isNamespace(ref: ObjectRef): boolean {
  return ref.group === '' && ref.kind === 'Namespace';
}

/** `ConfigMap/x in team-a`, or `ClusterRole/x` when cluster-scoped. */
function describeObject(ref: ObjectRef): string {
  return ref.namespace ? `${ref.kind}/${ref.name} in ${ref.namespace}` : `${ref.kind}/${ref.name}`;
}

/** `rbac.authorization.k8s.io/ClusterRole`, or `ConfigMap` for the core group: as a policy lists it. */
function kindName(ref: ObjectRef): string {
  return ref.group ? `${ref.group}/${ref.kind}` : ref.kind;
}

function listOf(items: readonly string[], max = 3): string {
  const shown = items.slice(0, max).join(', ');
  return items.length > max ? `${shown}, … (${items.length} in all)` : shown;
}
