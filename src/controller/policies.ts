/**
 * The cluster's AccessPolicies, kept current by an informer and compiled once per change, so that a
 * reconcile asks "which policies bind this namespace?" without a request.
 *
 * It fails closed everywhere it could fail open:
 * - Until the first list has arrived, `forNamespace` throws a TransientError (the reconcile retries)
 *   rather than answering "no policy".
 * - A policy whose spec is invalid is reported through `onError` and kept as a policy that allows
 *   nothing in the namespaces it names (in every namespace when even those cannot be read).
 * - After a watch failure the informer keeps the last policies it saw until it reconnects.
 */
import { isDeepStrictEqual } from 'node:util';
import { accessPolicySpecSchema, GROUP, VERSION, type AccessPolicy } from '../api/v1alpha1.js';
import { TransientError, UserError } from '../core/errors.js';
import { startInformer, type ListerWatcher } from '../kube/index.js';
import {
  bindsNamespace,
  compilePolicy,
  effectivePolicyFor,
  invalidPolicy,
  type BoundPolicy,
  type EffectivePolicy,
} from '../plan/index.js';

export interface PolicyChange {
  /** The AccessPolicy added, changed or deleted. */
  readonly name: string;
  /** Whether the change may alter what is allowed in `namespace` (before or after it). */
  affects(namespace: string): boolean;
}

export interface PolicyIndexOptions {
  /** Stops the informer. */
  readonly signal: AbortSignal;
  /** After a policy's spec changed (not for the first list, which precedes every reconcile). */
  readonly onChange?: (change: PolicyChange) => void;
  /** Watch failures, and policies that are invalid (and so allow nothing where they bind). */
  readonly onError?: (error: unknown) => void;
}

export interface PolicyIndex {
  /** The policies binding `namespace`, or undefined when none does. Throws until synced. */
  forNamespace(namespace: string): EffectivePolicy | undefined;
  /** Resolves once the first list is in; rejects if stopped before that. */
  readonly synced: Promise<void>;
  readonly stopped: Promise<void>;
  readonly hasSynced: boolean;
}

export function startPolicyIndex(kube: ListerWatcher, options: PolicyIndexOptions): PolicyIndex {
  const policies = new Map<string, BoundPolicy>();

  const store = (object: AccessPolicy): BoundPolicy => {
    const policy = boundPolicyOf(object);
    policies.set(policy.name, policy);
    if (!policy.valid)
      options.onError?.(
        new UserError(
          `AccessPolicy ${policy.name} is invalid, so it allows nothing where it binds: ${policy.problem}`,
        ),
      );
    return policy;
  };
  const changed = (name: string, ...versions: BoundPolicy[]): void => {
    if (!informer.hasSynced) return;
    options.onChange?.({
      name,
      affects: (namespace) => versions.some((policy) => bindsNamespace(policy, namespace)),
    });
  };

  const informer = startInformer<AccessPolicy>(kube, {
    group: GROUP,
    version: VERSION,
    kind: 'AccessPolicy',
    // Cluster-scoped: no namespace, the informer lists and watches them all.
    signal: options.signal,
    onAdd: (object) => changed(object.metadata.name, store(object)),
    onUpdate: (previous, object) => {
      const before = policies.get(previous.metadata.name);
      const after = store(object);
      if (!isDeepStrictEqual(previous.spec, object.spec))
        changed(object.metadata.name, ...(before ? [before, after] : [after]));
    },
    onDelete: (object) => {
      const before = policies.get(object.metadata.name);
      policies.delete(object.metadata.name);
      if (before) changed(object.metadata.name, before);
    },
    ...(options.onError ? { onError: options.onError } : {}),
  });

  return {
    forNamespace(namespace) {
      if (!informer.hasSynced)
        throw new TransientError('AccessPolicies are not loaded yet; what is allowed is unknown');
      return effectivePolicyFor(policies.values(), namespace);
    },
    synced: informer.synced,
    stopped: informer.stopped,
    get hasSynced() {
      return informer.hasSynced;
    },
  };
}

/** The policy an AccessPolicy object stands for: compiled, or invalid (allowing nothing). */
export function boundPolicyOf(object: AccessPolicy): BoundPolicy {
  const name = object.metadata.name;
  const parsed = accessPolicySpecSchema.safeParse(object.spec);
  if (parsed.success) return compilePolicy(name, parsed.data);
  const problem = parsed.error.issues.map((i) => `spec.${i.path.join('.')}: ${i.message}`).join('; ');
  return invalidPolicy(name, problem, readableNamespaces(object.spec));
}

/** `spec.namespaces` when it is a non-empty list of strings, whatever else is wrong with the spec. */
function readableNamespaces(spec: unknown): string[] | undefined {
  const namespaces = (spec as { namespaces?: unknown } | null | undefined)?.namespaces;
  if (!Array.isArray(namespaces) || namespaces.length === 0) return undefined;
  return namespaces.every((n): n is string => typeof n === 'string') ? namespaces : undefined;
}
