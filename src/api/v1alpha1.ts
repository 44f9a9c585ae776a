/**
 * Capstan's API, `capstan.dev/v1alpha1`: `Repository` (where desired state lives),
 * `Application` (a path of a repository at a ref, rendered and kept applied) and `AccessPolicy`
 * (cluster-scoped: what the Applications and Repositories of some namespaces may do).
 *
 * The zod schemas are the single source: they validate specs at run time (an invalid spec marks
 * that object alone Stalled), give the TypeScript types, and generate the CRDs' OpenAPI schemas
 * (crds.ts), so the API server refuses most invalid specs before Capstan sees them.
 */
import { z } from 'zod';
import type { KubeObject, ObjectMeta } from '../core/objects.js';
import type { API_VERSION } from './names.js';

export {
  API_VERSION,
  FINALIZER,
  GROUP,
  MAX_HISTORY,
  MAX_RESOURCES,
  REQUESTED_AT_ANNOTATION,
  VERSION,
} from './names.js';

/** Go-style durations as Flux and Argo CD users write them: `30s`, `5m`, `1h30m`. */
export const DURATION_PATTERN = '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$';
const duration = (description: string, fallback: string) =>
  z
    .string()
    .regex(new RegExp(DURATION_PATTERN), 'must be a duration such as 30s, 5m or 1h')
    .default(fallback)
    .describe(description);

const localName = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a lowercase DNS name');

export const repositorySpecSchema = z.object({
  url: z
    .string()
    .min(1)
    .max(2048)
    .describe('Git URL: https://, http://, ssh://, or scp-like user@host:path.'),
  secretRef: z
    .object({ name: localName })
    .optional()
    .describe(
      'Secret in the same namespace: `username` + `password` (or `token`) for HTTPS; `sshPrivateKey` + `knownHosts` (and optional `passphrase`) for SSH. It must list this URL in its annotation capstan.dev/git-urls (URL prefixes it may be sent to); plain http:// also needs capstan.dev/allow-insecure-http: "true" on it.',
    ),
  interval: duration(
    'How often to look for new commits (a cheap ls-remote; webhooks make it immediate).',
    '5m',
  ),
  timeout: duration('Timeout of one Git operation.', '60s'),
  suspend: z.boolean().default(false).describe('Stop polling this repository.'),
});

export const renderSpecSchema = z.object({
  type: z
    .enum(['auto', 'plain', 'kustomize', 'helm'])
    .default('auto')
    .describe('How to render the path; auto detects Helm and Kustomize.'),
  helm: z
    .object({
      releaseName: localName.optional().describe('Default: the Application name.'),
      valueFiles: z
        .array(z.string().min(1))
        .max(32)
        .default([])
        .describe('Values files, relative to the chart, inside the repository.'),
      values: z
        .record(z.string(), z.unknown())
        .optional()
        .describe('Inline values, applied after the files.'),
      includeCrds: z.boolean().default(true),
    })
    .optional(),
});

export const applicationSpecSchema = z.object({
  sourceRef: z.object({ name: localName }).describe('The Repository (same namespace).'),
  ref: z
    .string()
    .min(1)
    .max(255)
    .default('main')
    .describe('Branch, tag, semver range over tags (">=1.2 <2") or commit SHA.'),
  path: z.string().max(1024).default('').describe('Folder inside the repository.'),
  render: renderSpecSchema.default({ type: 'auto' }),
  destination: z
    .object({
      namespace: localName
        .optional()
        .describe('Namespace for namespaced objects that name none; default the Application namespace.'),
    })
    .default({}),
  syncPolicy: z
    .object({
      automated: z.boolean().default(true).describe('Apply new revisions without being asked.'),
      prune: z
        .boolean()
        .default(true)
        .describe('Delete objects that left Git, and everything the Application applied when it is deleted.'),
      selfHeal: z
        .boolean()
        .default(true)
        .describe('Re-apply when someone changes or deletes a managed object.'),
      allowEmpty: z
        .boolean()
        .default(false)
        .describe('Allow prune to delete everything when the render is empty.'),
      forceRecreate: z
        .boolean()
        .default(false)
        .describe('Re-create objects whose change hits an immutable field.'),
      leaveFieldsToManagers: z
        .array(z.string().min(1))
        .max(32)
        .default([])
        .describe('Field managers whose fields Capstan never overwrites.'),
    })
    .default({
      automated: true,
      prune: true,
      selfHeal: true,
      allowEmpty: false,
      forceRecreate: false,
      leaveFieldsToManagers: [],
    }),
  dependsOn: z
    .array(z.object({ name: localName }))
    .max(64)
    .default([])
    .describe(
      'Applications (same namespace) that must be Ready at their newest revision before this one applies a new revision or spec.',
    ),
  healthTimeout: duration('How long to wait for applied objects to become healthy.', '5m'),
  serviceAccountName: localName
    .optional()
    .describe(
      "Apply, read, prune and delete the objects as this ServiceAccount (same namespace). Without it the controller's --default-service-account is used, or the Application is refused (never the controller's own rights).",
    ),
  suspend: z.boolean().default(false).describe('Stop reconciling.'),
});

/** A namespace name, or a glob over names where `*` stands for any run of characters. */
const namespacePattern = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9*]([-a-z0-9*]*[a-z0-9*])?$/, 'must be a namespace name, optionally with * wildcards');

const groupKind = z.object({
  group: z
    .string()
    .max(253)
    .regex(/^[a-z0-9.*-]*$/, 'must be an API group ("" for the core group), optionally with * wildcards')
    .describe('API group: "" for the core group (ConfigMap, Namespace, …); * wildcards allowed.'),
  kind: z
    .string()
    .min(1)
    .max(63)
    .regex(/^[A-Za-z0-9*]+$/, 'must be a kind such as ClusterRole, optionally with * wildcards')
    .describe('Kind, e.g. ClusterRole; * wildcards allowed.'),
});

/**
 * What the Applications and Repositories of some namespaces may do, checked before anything is
 * applied: a second wall behind the RBAC of the ServiceAccount an Application applies as.
 */
export const accessPolicySpecSchema = z.object({
  namespaces: z
    .array(namespacePattern)
    .min(1)
    .max(256)
    .describe(
      'Namespaces (names or * globs) whose Applications and Repositories this policy binds. Every policy that binds a namespace applies: an object must be allowed by all of them.',
    ),
  destinationNamespaces: z
    .array(namespacePattern)
    .max(256)
    .default([])
    .describe(
      "Namespaces (names or * globs) that namespaced objects may land in, besides the Application's own namespace (always allowed). Also limits which Namespace objects may be applied.",
    ),
  clusterResources: z
    .array(groupKind)
    .max(256)
    .default([])
    .describe(
      'Cluster-scoped kinds that may be applied; default none. Namespace is cluster-scoped: applying one needs it listed here (and its name must be an allowed destination).',
    ),
  namespacedResources: z
    .object({
      allow: z
        .array(groupKind)
        .max(256)
        .optional()
        .describe('Namespaced kinds that may be applied; absent means every kind, [] means none.'),
      deny: z
        .array(groupKind)
        .max(256)
        .default([])
        .describe('Namespaced kinds that may not be applied; wins over allow.'),
    })
    .default({ deny: [] })
    .describe('Which namespaced kinds may be applied.'),
  sourceUrls: z
    .array(z.string().min(1).max(2048))
    .max(256)
    .default([])
    .describe(
      'URL prefixes the Repositories may use; default any. Matched on the parsed URL: same scheme, host and port, then whole leading path segments (https://git.example.com/team-a allows .../team-a/app, not .../team-a-other/app nor http://...); a prefix ending in .git allows that repository alone; an ssh user, when named, must match. No wildcards.',
    ),
  serviceAccounts: z
    .array(
      z
        .string()
        .min(1)
        .max(317)
        .regex(
          /^([a-z0-9*][-a-z0-9*]*\/)?[a-z0-9*][-a-z0-9.*]*$/,
          'must be NAME or NAMESPACE/NAME (globs with *)',
        ),
    )
    .max(256)
    .default([])
    .describe(
      "ServiceAccounts the Applications may be applied as (their serviceAccountName, or the controller's --default-service-account): NAME in the Application's namespace, or NAMESPACE/NAME; * globs. Default: any ServiceAccount of the Application's own namespace, and no other.",
    ),
});

export type RepositorySpec = z.output<typeof repositorySpecSchema>;
export type ApplicationSpec = z.output<typeof applicationSpecSchema>;
export type AccessPolicySpec = z.output<typeof accessPolicySpecSchema>;
export type GroupKindPattern = z.output<typeof groupKind>;

/** A kstatus condition (`Ready`, `Reconciling`, `Stalled`). */
export const conditionSchema = z.object({
  type: z.string(),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string(),
  message: z.string(),
  lastTransitionTime: z.string(),
  observedGeneration: z.number().int().optional(),
});
export type Condition = z.output<typeof conditionSchema>;

const revisionSchema = z.object({
  sha: z.string(),
  ref: z.string().optional(),
  message: z.string().optional(),
  author: z.string().optional(),
  date: z.string().optional(),
});
export type RevisionStatus = z.output<typeof revisionSchema>;

export const repositoryStatusSchema = z.object({
  observedGeneration: z.number().int().optional(),
  conditions: z.array(conditionSchema).optional(),
  /** The last revision fetched for each ref an Application uses. */
  revisions: z.array(z.object({ ref: z.string(), sha: z.string(), fetchedAt: z.string() })).optional(),
  lastError: z.string().optional(),
});
export type RepositoryStatus = z.output<typeof repositoryStatusSchema>;

export const resourceStatusSchema = z.object({
  group: z.string(),
  kind: z.string(),
  namespace: z.string().optional(),
  name: z.string(),
  sync: z.string(),
  health: z.string().optional(),
  message: z.string().optional(),
});
export type ResourceStatus = z.output<typeof resourceStatusSchema>;

export const historyEntrySchema = z.object({
  revision: z.string(),
  startedAt: z.string(),
  finishedAt: z.string(),
  durationSeconds: z.number(),
  result: z.enum(['Succeeded', 'Failed']),
  health: z.string().optional(),
  message: z.string().optional(),
});
export type HistoryEntry = z.output<typeof historyEntrySchema>;

export const applicationStatusSchema = z.object({
  observedGeneration: z.number().int().optional(),
  conditions: z.array(conditionSchema).optional(),
  /** Synced | OutOfSync | Unknown */
  sync: z.object({ status: z.string(), revision: z.string().optional() }).optional(),
  health: z.object({ status: z.string(), message: z.string().optional() }).optional(),
  lastAppliedRevision: revisionSchema.optional(),
  /** The spec generation `lastAppliedRevision` was applied with: what tells a new spec from self-heal. */
  lastAppliedGeneration: z.number().int().optional(),
  lastAttemptedRevision: z.string().optional(),
  inventory: z.object({ configMap: z.string(), entries: z.number().int() }).optional(),
  resources: z.array(resourceStatusSchema).optional(),
  history: z.array(historyEntrySchema).optional(),
  lastError: z.string().optional(),
  /** The last `capstan.dev/requested-at` annotation value handled (a manual sync request). */
  lastHandledRequest: z.string().optional(),
});
export type ApplicationStatus = z.output<typeof applicationStatusSchema>;

/** Capstan's objects always have a name and a namespace. */
type NamespacedMeta = ObjectMeta & { name: string; namespace: string };

export interface Repository extends KubeObject {
  apiVersion: typeof API_VERSION;
  kind: 'Repository';
  metadata: NamespacedMeta;
  spec: z.input<typeof repositorySpecSchema>;
  status?: RepositoryStatus;
}

export interface Application extends KubeObject {
  apiVersion: typeof API_VERSION;
  kind: 'Application';
  metadata: NamespacedMeta;
  spec: z.input<typeof applicationSpecSchema>;
  status?: ApplicationStatus;
}

/**
 * Cluster-scoped, so that a tenant with every right in its own namespaces can neither edit nor delete
 * the policy that binds it. No status: the controller only reads policies; problems show where they
 * bite, in the status of the Applications and Repositories they bind.
 */
export interface AccessPolicy extends KubeObject {
  apiVersion: typeof API_VERSION;
  kind: 'AccessPolicy';
  metadata: ObjectMeta & { name: string };
  spec: z.input<typeof accessPolicySpecSchema>;
}
