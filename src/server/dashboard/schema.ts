/**
 * The dashboard's HTTP API, `/api/v1`: one zod schema per request and response. The server checks
 * every response against these in its tests, and the front-end imports this module (and nothing
 * else of the server) to type and check what it receives, so the two cannot drift apart.
 *
 * Pure: zod and the CRD schemas only, no Node APIs, so a browser bundle can import it.
 *
 *   POST   /api/v1/session                        log in (body SessionRequest) → Session
 *   GET    /api/v1/session                        who am I → Session
 *   DELETE /api/v1/session                        log out → Ok
 *   GET    /api/v1/apps?…                         AppListQuery → AppList
 *   GET    /api/v1/apps/:ns/:name                 → AppDetail
 *   GET    /api/v1/apps/:ns/:name/tree            → ResourceTree
 *   GET    /api/v1/apps/:ns/:name/diff            → AppDiff
 *   POST   /api/v1/apps/:ns/:name/sync            (body {}) → ActionResult
 *   POST   /api/v1/apps/:ns/:name/suspend         (body {}) → ActionResult
 *   POST   /api/v1/apps/:ns/:name/resume          (body {}) → ActionResult
 *   POST   /api/v1/apps/:ns/:name/rollback        (body RollbackRequest) → ActionResult
 *   GET    /api/v1/events                         text/event-stream: `app` events (AppEvent)
 * Errors: ApiError with the HTTP status (400 bad input, 401 no or expired session, 403 forbidden by
 * Kubernetes RBAC or read-only mode or a failed CSRF/origin check, 404, 409, 413, 415, 429, 502).
 */
import { z } from 'zod';
import {
  conditionSchema,
  historyEntrySchema,
  rejectedRevisionSchema,
  rollbackStatusSchema,
} from '../../api/v1alpha1.js';

/** Same list and order as src/health/app-health.ts (a unit test keeps them equal). */
export const HEALTH_STATES = [
  'Healthy',
  'Progressing',
  'Degraded',
  'Missing',
  'Suspended',
  'Unknown',
] as const;
export type HealthState = (typeof HEALTH_STATES)[number];

/** `status.sync.status` as the controller writes it; anything else reads as Unknown. */
export const SYNC_STATES = ['Synced', 'OutOfSync', 'Waiting', 'Unknown'] as const;
export type SyncState = (typeof SYNC_STATES)[number];

export const SORT_FIELDS = ['name', 'health', 'sync', 'lastSync'] as const;
export type SortField = (typeof SORT_FIELDS)[number];

/** The header that carries the session's CSRF token on every POST and DELETE. */
export const CSRF_HEADER = 'x-capstan-csrf';

export const API_PREFIX = '/api/v1';

// ── shared pieces ───────────────────────────────────────────────────────────────────────────────

export const apiErrorSchema = z.object({
  /** A stable code: `bad_request`, `unauthorized`, `forbidden`, `read_only`, `csrf`, `not_found`, … */
  error: z.string(),
  /** For people; redacted (no token, no Secret value). */
  message: z.string(),
});
export type ApiError = z.infer<typeof apiErrorSchema>;

export const okSchema = z.object({ ok: z.literal(true) });

const revisionSchema = z.object({
  sha: z.string(),
  ref: z.string().optional(),
  /** The commit message's first line. */
  message: z.string().optional(),
  author: z.string().optional(),
  date: z.string().optional(),
});

// ── session ─────────────────────────────────────────────────────────────────────────────────────

/**
 * Controller mode: a Kubernetes bearer token (a ServiceAccount token, an OIDC id token). `capstan
 * dashboard` mode: the access token printed in the URL. Never stored by the browser: the answer
 * sets an HttpOnly session cookie.
 */
export const sessionRequestSchema = z.object({
  token: z
    .string()
    .min(1)
    .max(16 * 1024),
});
export type SessionRequest = z.infer<typeof sessionRequestSchema>;

export const sessionSchema = z.object({
  user: z.object({ username: z.string(), groups: z.array(z.string()) }),
  /** `controller`: served by the controller, each person logs in; `local`: `capstan dashboard`. */
  mode: z.enum(['controller', 'local']),
  /** Every action is refused (--dashboard-read-only / --read-only). */
  readOnly: z.boolean(),
  /** Send it back in the `x-capstan-csrf` header of every POST and DELETE. */
  csrfToken: z.string(),
  expiresAt: z.string(),
});
export type Session = z.infer<typeof sessionSchema>;

// ── the list ────────────────────────────────────────────────────────────────────────────────────

/** A comma-separated list in a query string (`health=Degraded,Missing`), or the key repeated. */
const listParam = <T extends string>(item: z.ZodType<T, string>) =>
  z
    .union([z.string(), z.array(z.string())])
    .transform((value) =>
      (Array.isArray(value) ? value : [value])
        .flatMap((part) => part.split(','))
        .map((part) => part.trim())
        .filter((part) => part !== ''),
    )
    .pipe(z.array(item).max(64));

export const appListQuerySchema = z
  .object({
    /** Page size, 1–500 (default 50). */
    limit: z.coerce.number().int().min(1).max(500).default(50),
    /** The `continue` of the previous page: stable while apps change (keyset, not offset). */
    continue: z.string().max(2048).optional(),
    /** 1-based page number (offset paging), for "page 3 of 20"; not with `continue`. */
    page: z.coerce.number().int().min(1).max(1_000_000).optional(),
    sort: z.enum(SORT_FIELDS).default('name'),
    /** `asc` (default): names A→Z, worst health first, out-of-sync first, latest sync first. */
    order: z.enum(['asc', 'desc']).default('asc'),
    health: listParam(z.enum(HEALTH_STATES)).optional(),
    sync: listParam(z.enum(SYNC_STATES)).optional(),
    namespace: listParam(z.string().max(63)).optional(),
    /** The Repository's name (spec.sourceRef.name). */
    repository: z.string().max(253).optional(),
    /** spec.ref, exactly (a branch, tag, range or SHA). */
    ref: z.string().max(255).optional(),
    /** `key=value`, `key!=value`, `key` or `!key`; several are ANDed. */
    label: z
      .union([z.string().max(317), z.array(z.string().max(317)).max(16)])
      .transform((value) => (Array.isArray(value) ? value : [value]))
      .optional(),
    /** Case-insensitive substring of namespace/name, repository, ref, path, revision and its message. */
    q: z.string().max(200).optional(),
  })
  .refine((query) => query.page === undefined || query.continue === undefined, {
    message: 'give page or continue, not both',
  });
export type AppListQuery = z.output<typeof appListQuerySchema>;

/** One row of the list, and what the event stream sends when an app changes. */
export const appSummarySchema = z.object({
  namespace: z.string(),
  name: z.string(),
  uid: z.string().optional(),
  /** spec.sourceRef.name: a Repository of the same namespace. */
  repository: z.string(),
  ref: z.string(),
  path: z.string(),
  suspended: z.boolean(),
  health: z.enum(HEALTH_STATES),
  healthMessage: z.string().optional(),
  sync: z.enum(SYNC_STATES),
  /** The Ready condition: `True`, `False` or `Unknown` (no condition yet). */
  ready: z.enum(['True', 'False', 'Unknown']),
  reason: z.string().optional(),
  /** The Ready condition's message (at most 512 characters). */
  message: z.string().optional(),
  reconciling: z.boolean(),
  stalled: z.boolean(),
  /** The revision applied last. */
  revision: revisionSchema.optional(),
  /** The newest history entry's end, and its result. */
  lastSyncAt: z.string().optional(),
  lastSyncResult: z.enum(['Succeeded', 'Failed', 'RolledBack', 'OutOfSync']).optional(),
  /** A rollback is in force (status.rollback). */
  rolledBack: z.boolean(),
  dependsOn: z.array(z.string()),
  labels: z.record(z.string(), z.string()),
  resourceVersion: z.string().optional(),
});
export type AppSummary = z.infer<typeof appSummarySchema>;

const countsOf = <T extends readonly [string, ...string[]]>(states: T) =>
  z.record(z.enum(states), z.number().int().min(0));

export const appListSchema = z.object({
  items: z.array(appSummarySchema),
  /** How many apps match the filter (all pages). */
  total: z.number().int().min(0),
  /**
   * Over every app that matches the filter, not just this page; faceted: the health counts ignore
   * the health filter and the sync counts the sync filter, so each tells what choosing that state
   * too would show.
   */
  counts: z.object({ health: countsOf(HEALTH_STATES), sync: countsOf(SYNC_STATES) }),
  limit: z.number().int(),
  /** 1-based number of this page (also when paging by `continue`). */
  page: z.number().int().min(1),
  pages: z.number().int().min(0),
  /** Present when there are more pages: pass it as `continue`. */
  continue: z.string().optional(),
  /** Namespaces holding apps that this user may list (at most 1000, sorted): the filter's choices. */
  namespaces: z.array(z.string()),
  /** False until the server's cache of Applications has been filled. */
  synced: z.boolean(),
});
export type AppList = z.infer<typeof appListSchema>;

// ── one app ─────────────────────────────────────────────────────────────────────────────────────

const dependencyNodeSchema = z.object({
  name: z.string(),
  /** False when there is no such Application (or this user may not list the namespace's apps). */
  found: z.boolean(),
  ready: z.enum(['True', 'False', 'Unknown']).optional(),
  reason: z.string().optional(),
  message: z.string().optional(),
  health: z.enum(HEALTH_STATES).optional(),
  sync: z.enum(SYNC_STATES).optional(),
  revision: z.string().optional(),
});
export type DependencyNode = z.infer<typeof dependencyNodeSchema>;

export const dependencyGraphSchema = z.object({
  /** Whether this user may list the namespace's Applications (else only names are shown). */
  visible: z.boolean(),
  /** The app itself and everything it depends on, transitively (at most 100 nodes). */
  nodes: z.array(dependencyNodeSchema),
  /** `from` depends on `to`. */
  edges: z.array(z.object({ from: z.string(), to: z.string() })),
  /** Apps that depend on this one directly. */
  dependents: z.array(dependencyNodeSchema),
  /**
   * Why the app waits: from the app down its first dependency that is not Ready, to the first one
   * whose own dependencies are all Ready (the one to look at). Empty when nothing blocks.
   */
  blockingPath: z.array(z.string()),
  truncated: z.boolean(),
});
export type DependencyGraph = z.infer<typeof dependencyGraphSchema>;

export const repositoryStateSchema = z.object({
  name: z.string(),
  /** `forbidden`: this user may not read it; `missing`: no such Repository. */
  state: z.enum(['found', 'missing', 'forbidden']),
  /** Credentials removed. */
  url: z.string().optional(),
  interval: z.string().optional(),
  suspended: z.boolean().optional(),
  ready: z.enum(['True', 'False', 'Unknown']).optional(),
  reason: z.string().optional(),
  message: z.string().optional(),
  revisions: z.array(z.object({ ref: z.string(), sha: z.string(), fetchedAt: z.string() })).optional(),
  lastError: z.string().optional(),
  conditions: z.array(conditionSchema).optional(),
});

export const kubeEventSchema = z.object({
  type: z.string(),
  reason: z.string(),
  message: z.string(),
  count: z.number().int(),
  firstTimestamp: z.string().optional(),
  lastTimestamp: z.string().optional(),
  source: z.string().optional(),
});
export type KubeEventView = z.infer<typeof kubeEventSchema>;

export const appDetailSchema = z.object({
  app: appSummarySchema,
  /** The spec as stored (the API server applied the CRD's defaults). */
  spec: z.record(z.string(), z.unknown()),
  generation: z.number().int().optional(),
  observedGeneration: z.number().int().optional(),
  conditions: z.array(conditionSchema),
  lastError: z.string().optional(),
  lastAttemptedRevision: z.string().optional(),
  lastHandledRequest: z.string().optional(),
  rollout: z.object({ revision: z.string(), startedAt: z.string() }).optional(),
  inventory: z.object({ configMap: z.string(), entries: z.number().int() }).optional(),
  history: z.object({
    /** `configMap`: capstan-history-<app> (up to 100); `status`: the last 10 in status.history. */
    source: z.enum(['configMap', 'status']),
    entries: z.array(historyEntrySchema),
    /** Why the ConfigMap was not used, when it was not. */
    note: z.string().optional(),
  }),
  rollback: z.object({
    active: rollbackStatusSchema.optional(),
    rejectedRevisions: z.array(rejectedRevisionSchema),
    lastHealthyRevision: revisionSchema.optional(),
    previousHealthyRevision: z.string().optional(),
  }),
  repository: repositoryStateSchema,
  /** Events about this Application, newest first (at most 50). */
  events: z.array(kubeEventSchema),
  /** Set when the events could not be read (e.g. `forbidden`). */
  eventsError: z.string().optional(),
  dependencies: dependencyGraphSchema,
  /** What this user may do here (the server checks again on each action). */
  permissions: z.object({ patch: z.boolean(), readOnly: z.boolean() }),
});
export type AppDetail = z.infer<typeof appDetailSchema>;

// ── the resource tree ───────────────────────────────────────────────────────────────────────────

export interface TreeNode {
  group: string;
  kind: string;
  namespace?: string | undefined;
  name: string;
  uid?: string | undefined;
  /** In the app's inventory (applied by Capstan), not found by owner references. */
  managed: boolean;
  /** Whether the object exists, is unreadable for this user, or could not be read. */
  state: 'found' | 'missing' | 'forbidden' | 'error';
  health: { state: HealthState; message: string };
  /** For managed objects: what the last sync did with it (`status.resources[].sync`). */
  sync?:
    | {
        status: 'Synced' | 'OutOfSync' | 'Failed' | 'Skipped' | 'Unknown';
        action?: string | undefined;
        message?: string | undefined;
      }
    | undefined;
  createdAt?: string | undefined;
  children: TreeNode[];
  /** Children left out by the per-object cap. */
  childrenOmitted?: number | undefined;
  /** Why children could not be listed (`forbidden`, …). */
  childrenError?: string | undefined;
}

export const treeNodeSchema: z.ZodType<TreeNode> = z.lazy(() =>
  z.object({
    group: z.string(),
    kind: z.string(),
    namespace: z.string().optional(),
    name: z.string(),
    uid: z.string().optional(),
    managed: z.boolean(),
    state: z.enum(['found', 'missing', 'forbidden', 'error']),
    health: z.object({ state: z.enum(HEALTH_STATES), message: z.string() }),
    sync: z
      .object({
        status: z.enum(['Synced', 'OutOfSync', 'Failed', 'Skipped', 'Unknown']),
        action: z.string().optional(),
        message: z.string().optional(),
      })
      .optional(),
    createdAt: z.string().optional(),
    children: z.array(treeNodeSchema),
    childrenOmitted: z.number().int().optional(),
    childrenError: z.string().optional(),
  }),
);

export const resourceTreeSchema = z.object({
  /** The app's objects, each with its children by owner reference (Deployment → ReplicaSet → Pod). */
  nodes: z.array(treeNodeSchema),
  /** `inventory`: the inventory ConfigMap (every object); `status`: status.resources (first 200). */
  source: z.enum(['inventory', 'status']),
  /** Nodes in the answer. */
  count: z.number().int(),
  /** Something was left out by a cap (see limits). */
  truncated: z.boolean(),
  limits: z.object({
    objects: z.number().int(),
    childrenPerObject: z.number().int(),
    nodes: z.number().int(),
  }),
});
export type ResourceTree = z.infer<typeof resourceTreeSchema>;

// ── drift ───────────────────────────────────────────────────────────────────────────────────────

export const fieldOwnerSchema = z.object({
  manager: z.string(),
  operation: z.string().optional(),
  time: z.string().optional(),
  subresource: z.string().optional(),
  /** JSON pointers of the fields this manager owns (at most 200). */
  fields: z.array(z.string()),
  fieldsOmitted: z.number().int().optional(),
});

export const fieldChangeSchema = z.object({
  /** JSON pointer of a field a sync would change (`/spec/replicas`). */
  path: z.string(),
  op: z.enum(['add', 'remove', 'replace']),
  /**
   * Who owns that field (or its nearest owned parent) on the live object now: the "why" of the
   * difference (`kubectl-edit` changed it, an autoscaler owns it, …). Empty: nobody, or no live object.
   */
  managers: z.array(z.string()),
});
export type FieldChange = z.infer<typeof fieldChangeSchema>;

export const driftObjectSchema = z.object({
  group: z.string(),
  kind: z.string(),
  namespace: z.string().optional(),
  name: z.string(),
  /**
   * `dryRun` mode: what a sync would do now (`create`, `update`, `recreate`, `prune`, `failed`,
   * `skipped`), or `hidden` when `state` is `forbidden`.
   * `live` mode: what the last sync found (`configured`, `created`, `failed`, …).
   */
  action: z.string(),
  message: z.string().optional(),
  /** `forbidden`: this user may not get the object, so nothing of it is shown. */
  state: z.enum(['found', 'missing', 'forbidden', 'error']),
  /** `live` mode: the live object without managedFields; Secrets: metadata only; values masked. */
  live: z.record(z.string(), z.unknown()).optional(),
  /** `dryRun` mode: `--- live` / `+++ desired` YAML, 3 lines of context, Secret values masked. */
  unifiedDiff: z.string().optional(),
  /** `dryRun` mode: the diff was longer than 64 KiB and was cut at a line end. */
  unifiedDiffTruncated: z.boolean().optional(),
  /** `dryRun` mode: each changed field with its current owners (at most 200). */
  changes: z.array(fieldChangeSchema).optional(),
  /** `dryRun` mode: changed fields left out by the cap. */
  changesOmitted: z.number().int().optional(),
  /** Who owns which field of the live object. */
  owners: z.array(fieldOwnerSchema),
});
export type DriftObject = z.infer<typeof driftObjectSchema>;

export const appDiffSchema = z.object({
  /**
   * `dryRun`: the app's source rendered at `revision` and applied with a server-side dry-run
   * against the live objects, exactly as a sync would (what would change, and who owns those
   * fields now). `live`: the dry-run could not be made (`note` says why): the objects the last
   * sync found out of sync, as they are now, with their field owners.
   */
  mode: z.enum(['dryRun', 'live']),
  sync: z.enum(SYNC_STATES),
  revision: z.string().optional(),
  /** Objects a sync would change (dryRun) or found out of sync (live); at most 50. */
  objects: z.array(driftObjectSchema),
  /** Objects left out by the cap. */
  omitted: z.number().int(),
  /** dryRun: objects that are already as desired. */
  unchanged: z.number().int().optional(),
  computedAt: z.string().optional(),
  note: z.string(),
});
export type AppDiff = z.infer<typeof appDiffSchema>;

// ── actions ─────────────────────────────────────────────────────────────────────────────────────

export const ACTIONS = ['sync', 'suspend', 'resume', 'rollback'] as const;
export type DashboardAction = (typeof ACTIONS)[number];

export const emptyBodySchema = z.object({}).strict();

export const rollbackRequestSchema = z.union([
  z
    .object({
      /** A SHA (or 7+ hex digits) the app applied before; absent: the healthy revision before this one. */
      revision: z
        .string()
        .regex(/^[0-9a-f]{7,64}$/, 'must be a commit SHA or a prefix of at least 7 hex digits')
        .optional(),
    })
    .strict(),
  z.object({ clear: z.literal(true) }).strict(),
]);
export type RollbackRequest = z.infer<typeof rollbackRequestSchema>;

export const actionResultSchema = z.object({
  ok: z.literal(true),
  action: z.enum(ACTIONS),
  message: z.string(),
  app: appSummarySchema,
});
export type ActionResult = z.infer<typeof actionResultSchema>;

// ── the event stream ────────────────────────────────────────────────────────────────────────────

/** `event: app` of GET /api/v1/events. Only apps of namespaces this user may list are sent. */
export const appEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('added'), app: appSummarySchema }),
  z.object({ type: z.literal('updated'), app: appSummarySchema }),
  z.object({ type: z.literal('deleted'), namespace: z.string(), name: z.string() }),
]);
export type AppEvent = z.infer<typeof appEventSchema>;

/**
 * `event: ready`, first on every connection: from here on every change is sent. A client that
 * reconnects (EventSource does by itself) reloads what it shows, since changes made while it was
 * away are not replayed.
 */
export const streamReadySchema = z.object({ synced: z.boolean() });
