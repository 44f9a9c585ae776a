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
import { DURATION_PATTERN } from '../core/time.js';
import type { API_VERSION } from './names.js';

export {
  API_VERSION,
  FINALIZER,
  GROUP,
  MAX_HISTORY,
  MAX_REJECTED,
  MAX_RESOURCES,
  REQUESTED_AT_ANNOTATION,
  PROMOTE_ANNOTATION,
  ROLLBACK_ANNOTATION,
  VERSION,
} from './names.js';

export { DURATION_PATTERN };

/** Go-style durations as Flux and Argo CD users write them: `30s`, `5m`, `1h30m`. */
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
  type: z
    .enum(['git', 'helm', 'oci'])
    .default('git')
    .describe(
      'git: a Git repository. helm: a Helm repository (an HTTP(S) server with an index.yaml); Applications name the chart in path and a version or semver range in ref. oci: an OCI registry repository (oci://host/path) holding a Helm chart or an artifact of manifests (flux push artifact, oras push of a tar); ref is a tag, a semver range over tags, or a sha256: digest.',
    ),
  url: z
    .string()
    .min(1)
    .max(2048)
    .describe(
      'Git URL: https://, http://, ssh://, or scp-like user@host:path. Helm: the repository URL (https://charts.example.com). OCI: oci://host[:port]/path.',
    ),
  plainHttp: z
    .boolean()
    .default(false)
    .describe('oci only: speak plain http:// to the registry (a local registry); https:// otherwise.'),
  secretRef: z
    .object({ name: localName })
    .optional()
    .describe(
      'Secret in the same namespace: `username` + `password` (or `token`) for HTTPS; `sshPrivateKey` + `knownHosts` (and optional `passphrase`) for SSH; for helm and oci also `ca.crt` (a PEM CA for https); for oci, `.dockerconfigjson`; for helm, `keyring` (OpenPGP public keys, armored or binary: every chart must then come with a `.prov` signed by one of them, as helm --verify checks). It must list this URL in its annotation capstan.dev/git-urls (URL prefixes it may be sent to; an oci:// URL is listed as https://host/path); plain http:// also needs capstan.dev/allow-insecure-http: "true" on it.',
    ),
  interval: duration(
    'How often to look for new commits (a cheap ls-remote; webhooks make it immediate).',
    '5m',
  ),
  timeout: duration('Timeout of one Git operation.', '60s'),
  suspend: z.boolean().default(false).describe('Stop polling this repository.'),
  forge: z
    .object({
      kind: z.enum(['gitea', 'github', 'gitlab']).describe('The Git host software (Forgejo: gitea).'),
      apiUrl: z
        .string()
        .min(1)
        .max(2048)
        // http(s), no user or password, no query or fragment; the rest is checked before use.
        .regex(
          /^https?:\/\/[^/?#@\s\\]+(\/[^?#\s\\]*)?$/,
          'must be an http(s) URL without credentials or query',
        )
        .optional()
        .describe(
          "The host's API root, e.g. https://ghe.example.com/api/v3 or https://git.example.com/gitea/api/v1; default derived from url (api.github.com for github.com, <origin>/api/v3 for GitHub Enterprise, /api/v4 GitLab, /api/v1 Gitea). On another host than url's, the Secret's capstan.dev/git-urls must cover it.",
        ),
    })
    .optional()
    .describe(
      "The Git host's API, for pull requests (Applications' rollback.gitRevert: pullRequest). The token is the Secret's `token`, else its password.",
    ),
  pullRequests: z
    .object({
      plan: z
        .boolean()
        .default(false)
        .describe(
          "Plan each open pull request into a branch this Repository's Applications follow: a commit status capstan/plan/<namespace> and one comment with what merging it would do (each app's dry-run as its ServiceAccount). Needs spec.forge and a token that may write statuses and comments.",
        ),
      forks: z
        .boolean()
        .default(false)
        .describe(
          'Plan pull requests from forks too. Off by default: the comment shows live cluster state (names, diffs) to whoever opened the pull request, and a fork can be opened by anyone who can read the repository.',
        ),
    })
    .optional()
    .describe('What Capstan does for pull (merge) requests on spec.forge.'),
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
    .describe(
      'Branch, tag, semver range over tags (">=1.2 <2") or commit SHA. Helm repositories: a chart version or semver range (main or * for the newest stable). OCI: a tag, a semver range over tags, or a sha256: digest.',
    ),
  path: z
    .string()
    .max(1024)
    .default('')
    .describe(
      'Folder inside the repository. Helm repositories: the chart name. OCI: a folder inside the artifact (a Helm chart artifact is at the root).',
    ),
  render: renderSpecSchema.default({ type: 'auto' }),
  destination: z
    .object({
      namespace: localName
        .optional()
        .describe('Namespace for namespaced objects that name none; default the Application namespace.'),
      createNamespace: z
        .boolean()
        .default(false)
        .describe(
          'Make the destination namespace part of the app: created before its objects, deleted with it when prune is on (as any object it applies, so the AccessPolicy must allow the Namespace kind and that name). A Namespace manifest of that name in Git wins; an existing namespace no app manages is refused, not taken over (adopt it with a manifest annotated capstan.dev/adopt).',
        ),
    })
    .default({ createNamespace: false }),
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
  rollback: z
    .object({
      automatic: z
        .boolean()
        .default(false)
        .describe(
          'When a new revision fails to apply or is not healthy within healthTimeout, re-apply the last healthy revision and reject the bad one.',
        ),
      gitRevert: z
        .enum(['commit', 'pullRequest', 'none'])
        .default('commit')
        .describe(
          'After an automatic rollback, record it in Git: a revert commit pushed to the branch, a pull request carrying it, or nothing.',
        ),
    })
    .default({ automatic: false, gitRevert: 'commit' }),
  promotion: z
    .object({
      from: z
        .object({ name: localName })
        .describe('The source Application (same namespace, same Git repository), e.g. web-staging.'),
      automatic: z
        .boolean()
        .default(false)
        .describe(
          'Promote by itself each new revision the source becomes Healthy at (one pull request, updated; never a rejected revision, never one twice).',
        ),
      mode: z
        .enum(['pullRequest', 'push'])
        .default('pullRequest')
        .describe(
          "pullRequest: a branch capstan/promote/<namespace>/<this Application> and a pull request on the Repository's spec.forge; push: a commit pushed to this Application's branch.",
        ),
    })
    .optional()
    .describe(
      "Promotion into this Application (an environment branch): make its path equal the source's path at the source's last healthy revision.",
    ),
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

/** What set a sync off, as the history records it (src/controller/history.ts decides). */
export const SYNC_TRIGGERS = [
  'commit',
  'webhook',
  'drift',
  'request',
  'rollback',
  'dependency',
  'spec',
  'resync',
] as const;
export type SyncTrigger = (typeof SYNC_TRIGGERS)[number];

/** How many objects a sync created, changed, … (or would have, for an OutOfSync entry). */
const historyChangesSchema = z.object({
  created: z.number().int(),
  configured: z.number().int(),
  recreated: z.number().int(),
  pruned: z.number().int(),
  failed: z.number().int(),
  unchanged: z.number().int(),
  skipped: z.number().int().optional(),
});
export type HistoryChanges = z.output<typeof historyChangesSchema>;

/**
 * One sync. Every field added since the first version is optional, so older statuses still parse;
 * lengths are bounded by the builder (history.ts), not here: a status the API server refused would
 * lose the whole write.
 */
export const historyEntrySchema = z.object({
  id: z.number().int().optional().describe('Increases by one with each sync recorded for this Application.'),
  revision: z.string(),
  commit: z
    .object({ message: z.string(), author: z.string() })
    .optional()
    .describe("The commit's first line (at most 200 characters) and author."),
  trigger: z.enum(SYNC_TRIGGERS).optional(),
  requestedBy: z
    .string()
    .optional()
    .describe('Who asked (capstan.dev/requested-by, as the requester claimed it), for requests.'),
  startedAt: z.string(),
  finishedAt: z.string(),
  durationSeconds: z.number(),
  result: z.enum(['Succeeded', 'Failed', 'RolledBack', 'OutOfSync']),
  health: z.string().optional(),
  changes: historyChangesSchema.optional(),
  message: z.string().optional(),
  rollbackOf: z.string().optional().describe('For a rollback: the SHA rolled back from.'),
});
export type HistoryEntry = z.output<typeof historyEntrySchema>;

/** A revision auto-sync will not apply again (it failed, or someone rolled back from it). */
export const rejectedRevisionSchema = z.object({
  sha: z.string(),
  reason: z.string(),
  rejectedAt: z.string(),
  /** Who rolled back from it; absent for an automatic rollback. */
  by: z.string().optional(),
});
export type RejectedRevision = z.output<typeof rejectedRevisionSchema>;

/** The rollback in force: the cluster runs `to` while the branch head is rejected. */
export const rollbackStatusSchema = z.object({
  from: z.string(),
  to: z.string(),
  at: z.string(),
  automatic: z.boolean(),
  by: z.string().optional(),
  reason: z.string(),
  /** Recording the rollback in Git (automatic rollbacks with spec.rollback.gitRevert). */
  gitRevert: z
    .object({
      mode: z.enum(['commit', 'pullRequest']),
      state: z.enum(['Pending', 'Pushed', 'PullRequestOpened', 'NotNeeded', 'Refused', 'Failed']),
      message: z.string(),
      /** The revert commit, once pushed. */
      sha: z.string().optional(),
      url: z.string().optional(),
      at: z.string().optional(),
    })
    .optional(),
});
export type RollbackStatus = z.output<typeof rollbackStatusSchema>;

export const PROMOTION_STATES = [
  'Pending',
  'PullRequestOpened',
  'Pushed',
  'UpToDate',
  'Refused',
  'Failed',
] as const;

/** A promotion's answer (src/promote/): never a credential in it. */
export const promotionStatusSchema = z.object({
  id: z.string(),
  /** The source Application. */
  from: z.string(),
  /** The source's revision promoted (its last healthy one), once known. */
  sourceRevision: z.string().optional(),
  mode: z.enum(['pullRequest', 'push']).optional(),
  automatic: z.boolean().optional(),
  by: z.string().optional(),
  state: z.enum(PROMOTION_STATES),
  message: z.string(),
  /** The pull request. */
  url: z.string().optional(),
  /** The commit pushed (to the target branch, or the pull request's branch). */
  sha: z.string().optional(),
  at: z.string(),
});
export type PromotionStatus = z.output<typeof promotionStatusSchema>;

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
  /**
   * The rollout whose health is still awaited: healthTimeout counts from `startedAt`. Gone once
   * the Application is healthy; a new revision starts a new one.
   */
  rollout: z.object({ revision: z.string(), startedAt: z.string() }).optional(),
  /** The last revision the Application was healthy at: where a rollback goes by default. */
  lastHealthyRevision: revisionSchema.optional(),
  /** The healthy revision before that one: where a rollback goes when the last healthy one runs now. */
  previousHealthyRevision: z.string().optional(),
  /** Newest first, at most MAX_REJECTED. */
  rejectedRevisions: z.array(rejectedRevisionSchema).optional(),
  rollback: rollbackStatusSchema.optional(),
  /** The id of the last `capstan.dev/rollback` request handled. */
  lastHandledRollback: z.string().optional(),
  /** The last promotion into this Application (`capstan promote`, or spec.promotion.automatic). */
  promotion: promotionStatusSchema.optional(),
  /** The id of the last `capstan.dev/promote` request handled. */
  lastHandledPromotion: z.string().optional(),
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

/** What a Notification can be told about (src/notify/types.ts says when each is emitted). */
export const NOTIFICATION_EVENT_TYPES = [
  'SyncSucceeded',
  'SyncFailed',
  'HealthDegraded',
  'HealthRecovered',
  'RolledBack',
  'RollbackFailed',
] as const;
export const NOTIFICATION_TARGET_TYPES = ['webhook', 'slack', 'github', 'gitlab', 'gitea'] as const;

/**
 * Where some Applications' events go: a JSON webhook (HMAC-signed), a Slack-compatible incoming
 * webhook, or commit statuses on the applied SHA. Namespaced: it only ever sees the Applications of
 * its own namespace, and reads its Secret from there.
 */
export const notificationSpecSchema = z.object({
  applications: z
    .array(
      z
        .string()
        .min(1)
        .max(253)
        .regex(/^(\*|[a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/, 'must be an Application name or *'),
    )
    .max(256)
    .default([])
    .describe('Applications (names in this namespace) whose events are sent; empty or ["*"]: all of them.'),
  events: z
    .array(z.enum(NOTIFICATION_EVENT_TYPES))
    .max(NOTIFICATION_EVENT_TYPES.length)
    .default([])
    .describe('The events to send; empty: all.'),
  target: z.object({
    type: z
      .enum(NOTIFICATION_TARGET_TYPES)
      .describe(
        "webhook: JSON POST; slack: a Slack-compatible incoming webhook; github, gitlab, gitea: a commit status on the applied SHA of the Application's Repository.",
      ),
    url: z
      .string()
      .min(1)
      .max(2048)
      .optional()
      .describe(
        "webhook/slack: the receiver's https:// URL (a `url` key in the Secret wins; Slack URLs are secrets, keep them there). github/gitlab/gitea: the API base URL, e.g. https://ghe.example.com/api/v3; default derived from the Repository URL.",
      ),
    secretRef: z
      .object({ name: localName })
      .optional()
      .describe(
        'Secret in this namespace: `url`, `hmacKey` (webhook), `token` (github/gitlab/gitea). A URL not taken from the Secret must be covered by its annotation capstan.dev/notification-urls; plain http:// needs capstan.dev/allow-insecure-http: "true" on it.',
      ),
  }),
  suspend: z.boolean().default(false).describe('Send nothing.'),
});

export type NotificationSpec = z.output<typeof notificationSpecSchema>;
export type NotificationEventType = (typeof NOTIFICATION_EVENT_TYPES)[number];
export type NotificationTargetType = (typeof NOTIFICATION_TARGET_TYPES)[number];

/** No status: deliveries are fire-and-forget; their outcome is in the controller's log and metrics. */
export interface Notification extends KubeObject {
  apiVersion: typeof API_VERSION;
  kind: 'Notification';
  metadata: NamespacedMeta;
  spec: z.input<typeof notificationSpecSchema>;
}
