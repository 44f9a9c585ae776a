/**
 * The ImagePolicy component of the controller: an informer on policies, a work queue keyed
 * `namespace/name` fair across tenants (one namespace's never-answering registry holds its own
 * slot only), a scan per policy every `spec.interval`, and `wake` for registry webhooks. Each
 * reconcile's registry and Git work share a deadline, after which it is abandoned and retried.
 *
 * Started by Controller.run, so it runs only on the leading replica.
 */
import { REQUESTED_AT_ANNOTATION } from '../api/names.js';
import { IMAGE_POLICY_KIND, imagePolicySpecSchema, type ImagePolicy } from '../api/image-policy.js';
import { GROUP, VERSION, type Application, type Repository } from '../api/v1alpha1.js';
import { abandonOnAbort } from '../core/abort.js';
import { TransientError, messageOf } from '../core/errors.js';
import { startInformer, type Informer, type KubeClient } from '../kube/index.js';
import type { ControllerLog } from '../controller/controller.js';
import type { EventRecorder } from '../controller/events.js';
import type { RepositoryAccess } from '../controller/repository.js';
import { repositoryForge, type ForgePurpose } from '../controller/repository-forge.js';
import { StatusConflictError } from '../controller/status.js';
import { TenantQueues } from '../controller/tenant-queue.js';
import { parseImageName, type RegistryClient, type RegistryClientOptions } from '../registry/index.js';
import { commitImageUpdates, type ImageCommitOptions } from './git.js';
import { reconcileImagePolicy, type ImagePolicyDeps } from './reconcile.js';
import { registryAccess } from './registry-access.js';

export interface ImagePolicies {
  /** Resolves once the informer has listed. */
  readonly synced: Promise<void>;
  /**
   * Starts scanning: every policy now, and each new one as it comes. Called once the controller's
   * Applications and Repositories are known too — a scan before would find none of them.
   */
  start(): void;
  /**
   * Scans now the policies of an image that was pushed (a registry webhook): `repository` is its
   * path in the registry (`team/web`). A policy woken less than MIN_WAKE_SPACING_MS before scans
   * when that has passed. Returns how many.
   */
  wake(image: { readonly repository: string }): number;
  close(): Promise<void>;
}

export interface ImagePoliciesOptions {
  readonly signal: AbortSignal;
  readonly log: ControllerLog;
  readonly access: RepositoryAccess;
  readonly applications: { get(name: string, namespace: string): Application | undefined };
  readonly repositories: { get(name: string, namespace: string): Repository | undefined };
  readonly recordEvent: EventRecorder;
  readonly now: () => Date;
  /** A commit landed on a Repository's branch. */
  readonly onPushed: (repository: Repository) => void;
  readonly namespace?: string;
  readonly labelSelector?: string;
  readonly concurrency?: number;
  readonly namespaceConcurrency?: number;
  /** The deadline of one reconcile (registry and Git). Default RECONCILE_TIMEOUT_MS. */
  readonly timeoutMs?: number;
  /** Tests: a registry client of their own, private registry addresses, Git options. */
  readonly createRegistryClient?: (options: RegistryClientOptions) => RegistryClient;
  readonly allowPrivateRegistries?: boolean;
  readonly git?: ImageCommitOptions;
}

export const RECONCILE_TIMEOUT_MS = 5 * 60_000;

/**
 * Registry notifications wake a policy at most this often. They name image paths, not hosts (see
 * imageMatches), and any registry given the webhook secret may send them: without a spacing, one
 * sender repeating a notification had every matching policy of every tenant list its registry's
 * tags back to back, with that tenant's credentials, into the registry's rate limits.
 */
export const MIN_WAKE_SPACING_MS = 10_000;

const PULL_REQUEST_PURPOSE: ForgePurpose = {
  feature: 'an ImagePolicy with update.mode: pullRequest',
  otherwise: 'or use update.mode: push',
};

export function startImagePolicies(kube: KubeClient, options: ImagePoliciesOptions): ImagePolicies {
  const { log } = options;
  const keyOf = (policy: ImagePolicy) => `${policy.metadata.namespace}/${policy.metadata.name}`;
  const memory = new Map<string, string>();
  /** Whether start() was called: before it, the informer's first listing queues nothing. */
  let started = false;
  /** When each policy's last wake by a registry notification runs (now, or later when spaced). */
  const lastWake = new Map<string, number>();
  const queue = new TenantQueues({
    concurrency: options.concurrency ?? 4,
    namespaceConcurrency: options.namespaceConcurrency ?? 1,
    namespaceOf: (key) => key.slice(0, key.indexOf('/')),
    handler: (key, signal) => reconcileWithin(deps, key, signal, options),
  });
  /** At most one wake per policy every MIN_WAKE_SPACING_MS; those in between become one, later. */
  const spacedWake = (key: string): void => {
    const now = options.now().getTime();
    const last = lastWake.get(key);
    const at = last === undefined ? now : Math.max(now, last + MIN_WAKE_SPACING_MS);
    if (at === now) queue.add(key, { urgent: true });
    else queue.addAfter(key, at - now);
    lastWake.set(key, at);
  };
  const policies: Informer<ImagePolicy> = startInformer<ImagePolicy>(kube, {
    group: GROUP,
    version: VERSION,
    kind: IMAGE_POLICY_KIND,
    ...(options.namespace ? { namespace: options.namespace } : {}),
    ...(options.labelSelector ? { labelSelector: options.labelSelector } : {}),
    signal: options.signal,
    onAdd: (policy) => {
      if (started) queue.add(keyOf(policy));
    },
    onUpdate: (previous, policy) => {
      if (!started) return; // start() queues every policy anyway
      const wanted = wantsReconcile(previous, policy);
      // A request alone (the annotation a standby replica sets for a registry notification) is a wake.
      if (wanted === 'request') spacedWake(keyOf(policy));
      else if (wanted) queue.add(keyOf(policy), { urgent: true });
    },
    onDelete: (policy) => {
      queue.forget(keyOf(policy));
      lastWake.delete(keyOf(policy));
      for (const key of memory.keys()) if (key.startsWith(`${keyOf(policy)}\n`)) memory.delete(key);
    },
    onError: (error) => log.warn({ err: messageOf(error) }, 'ImagePolicy watch error'),
  });
  const deps = policyDeps(kube, options, policies, memory);

  return {
    synced: policies.synced,
    start() {
      started = true;
      for (const policy of policies.list()) queue.add(keyOf(policy));
    },
    wake(image) {
      let woken = 0;
      for (const policy of policies.list()) {
        if (!imageMatches(policy, image)) continue;
        spacedWake(keyOf(policy));
        woken++;
      }
      return woken;
    },
    close: () => queue.shutdown({ drain: false }),
  };
}

/**
 * One reconcile, abandoned at its deadline (RECONCILE_TIMEOUT_MS): a registry or Git host that does
 * not answer holds its tenant's slot no longer.
 */
async function reconcileWithin(
  deps: ImagePolicyDeps,
  key: string,
  signal: AbortSignal,
  options: Pick<ImagePoliciesOptions, 'timeoutMs' | 'log'>,
): Promise<{ requeueAfterMs?: number }> {
  const [namespace = '', name = ''] = key.split('/');
  const deadline = AbortSignal.any([signal, AbortSignal.timeout(options.timeoutMs ?? RECONCILE_TIMEOUT_MS)]);
  try {
    return await abandonOnAbort(
      reconcileImagePolicy(deps, namespace, name, deadline),
      deadline,
      () =>
        new TransientError(
          'the scan took too long and was abandoned (the registry or Git host does not answer in time)',
        ),
    );
  } catch (error) {
    // A status computed from a copy someone else's write overtook: computed again at once, not news.
    const level = error instanceof StatusConflictError ? 'debug' : 'warn';
    options.log[level]({ imagePolicy: key, err: messageOf(error) }, 'ImagePolicy reconcile failed; retrying');
    throw error;
  }
}

/** What a reconcile reaches — the cluster, the registry, Git, the forge — as this controller does. */
function policyDeps(
  kube: KubeClient,
  options: ImagePoliciesOptions,
  policies: Informer<ImagePolicy>,
  memory: Map<string, string>,
): ImagePolicyDeps {
  return {
    kube,
    policies: { get: (name, namespace) => policies.get(name, namespace) },
    lookup: { applications: options.applications, repositories: options.repositories },
    registry: (policy) =>
      registryAccess(
        {
          kube,
          ...(options.createRegistryClient ? { createClient: options.createRegistryClient } : {}),
          ...(options.allowPrivateRegistries ? { allowPrivateAddresses: true } : {}),
        },
        policy,
      ),
    gitSource: async (repository) => {
      const source = await options.access.source(repository);
      // Work abandoned at the deadline goes on until git's own timeout: the Repository's (its
      // owner's choice, unbounded) would let hung writes pile up, one more per retry.
      const bound = options.timeoutMs ?? RECONCILE_TIMEOUT_MS;
      return { ...source, timeoutMs: Math.min(source.timeoutMs ?? bound, bound) };
    },
    forgeOf: async (repository) => repositoryForge(kube)(repository, PULL_REQUEST_PURPOSE),
    commit: (request) => commitImageUpdates(request, options.git ?? {}),
    headOf: (repository, branch) => {
      for (const [ref, known] of options.access.known(repository)) {
        if (ref === branch || known.revision.ref === `refs/heads/${branch}`) return known.revision.sha;
      }
      return undefined;
    },
    onPushed: options.onPushed,
    recordEvent: options.recordEvent,
    now: options.now,
    memory,
  };
}

/**
 * A spec change or a deletion (true), or only a request (annotation): our own status writes change
 * none of these.
 */
function wantsReconcile(previous: ImagePolicy, current: ImagePolicy): boolean | 'request' {
  if (
    previous.metadata.generation !== current.metadata.generation ||
    previous.metadata.deletionTimestamp !== current.metadata.deletionTimestamp
  )
    return true;
  return previous.metadata.annotations?.[REQUESTED_AT_ANNOTATION] !==
    current.metadata.annotations?.[REQUESTED_AT_ANNOTATION]
    ? 'request'
    : false;
}

/**
 * Whether a pushed image may be this policy's. The image's path decides, not its host: a webhook is
 * only a hint to scan now (the scan asks the registry itself, so a wrong wake costs one tag list),
 * and a registry behind a proxy or a load balancer reports the host it was reached by, not the one
 * policies name.
 */
export function imageMatches(policy: ImagePolicy, pushed: { readonly repository: string }): boolean {
  const parsed = imagePolicySpecSchema.safeParse(policy.spec);
  if (!parsed.success) return false;
  try {
    return parseImageName(parsed.data.image).repository === pushed.repository.toLowerCase();
  } catch {
    return false;
  }
}
