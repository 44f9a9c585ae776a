/**
 * GET /api/v1/apps/:ns/:name: everything the app page shows, read as the user. The Application,
 * its history ConfigMap, its Repository and its Events are each read with the user's own client,
 * so what they may not read is shown as such (`forbidden`), never fetched with the controller's
 * rights; the dependency graph comes from the shared cache, and only when the user may list the
 * namespace's Applications.
 */
import { GROUP, type Application, type Repository } from '../../api/v1alpha1.js';
import { ConfigMapHistoryStore } from '../../controller/history.js';
import { messageOf } from '../../core/errors.js';
import type { KubeObject } from '../../core/objects.js';
import { isKubeApiError, type KubeClient } from '../../kube/index.js';
import { redactText, redactUrl } from '../../source/redact.js';
import type { AppIndex } from './app-index.js';
import type { AppDetail, AppSummary, DependencyGraph, DependencyNode, KubeEventView } from './schema.js';
import { readyOf, summarize } from './summary.js';

const MAX_EVENTS = 50;
const MAX_GRAPH_NODES = 100;

export interface DetailInputs {
  /** Acts as the user. */
  readonly kube: KubeClient;
  readonly app: Application;
  readonly index: AppIndex;
  /** Whether the user may list Applications in the app's namespace. */
  readonly canList: boolean;
  readonly canPatch: boolean;
  readonly readOnly: boolean;
}

export async function appDetail(inputs: DetailInputs): Promise<AppDetail> {
  const { kube, app } = inputs;
  const status = app.status ?? {};
  const [history, repository, events] = await Promise.all([
    historyOf(kube, app),
    repositoryOf(kube, app),
    eventsOf(kube, app),
  ]);
  const detail: AppDetail = {
    app: summarize(app),
    spec: { ...(app.spec as Record<string, unknown>) },
    conditions: status.conditions ?? [],
    history,
    rollback: {
      rejectedRevisions: status.rejectedRevisions ?? [],
      ...(status.rollback ? { active: status.rollback } : {}),
      ...(status.lastHealthyRevision ? { lastHealthyRevision: status.lastHealthyRevision } : {}),
      ...(status.previousHealthyRevision ? { previousHealthyRevision: status.previousHealthyRevision } : {}),
    },
    repository,
    events: events.items,
    ...(events.error ? { eventsError: events.error } : {}),
    dependencies: dependencyGraph(app, inputs.index, inputs.canList),
    permissions: { patch: inputs.canPatch && !inputs.readOnly, readOnly: inputs.readOnly },
  };
  if (app.metadata.generation !== undefined) detail.generation = app.metadata.generation;
  if (status.observedGeneration !== undefined) detail.observedGeneration = status.observedGeneration;
  if (status.lastError) detail.lastError = status.lastError;
  if (status.lastAttemptedRevision) detail.lastAttemptedRevision = status.lastAttemptedRevision;
  if (status.lastHandledRequest) detail.lastHandledRequest = status.lastHandledRequest;
  if (status.rollout) detail.rollout = status.rollout;
  if (status.inventory) detail.inventory = status.inventory;
  return detail;
}

/** Why a read failed, in one word the page can show. */
export function failureWord(error: unknown): string {
  if (isKubeApiError(error)) {
    if (error.status === 403) return 'forbidden';
    if (error.status === 404) return 'not found';
    return `the API server answered ${error.status}`;
  }
  return redactText(messageOf(error)).slice(0, 200);
}

async function historyOf(kube: KubeClient, app: Application): Promise<AppDetail['history']> {
  const fromStatus = app.status?.history ?? [];
  try {
    const entries = await new ConfigMapHistoryStore(kube).read({
      namespace: app.metadata.namespace,
      name: app.metadata.name,
      uid: app.metadata.uid,
    });
    if (entries !== undefined) return { source: 'configMap', entries };
    return { source: 'status', entries: fromStatus, note: 'no history ConfigMap yet' };
  } catch (error) {
    return {
      source: 'status',
      entries: fromStatus,
      note: `the history ConfigMap could not be read (${failureWord(error)})`,
    };
  }
}

async function repositoryOf(kube: KubeClient, app: Application): Promise<AppDetail['repository']> {
  const name = app.spec.sourceRef?.name ?? '';
  let repository: Repository | undefined;
  try {
    repository = await kube.get<Repository>({
      group: GROUP,
      kind: 'Repository',
      namespace: app.metadata.namespace,
      name,
    });
  } catch (error) {
    if (isKubeApiError(error) && error.status === 403) return { name, state: 'forbidden' };
    throw error;
  }
  if (!repository) return { name, state: 'missing' };
  const ready = repository.status?.conditions?.find((c) => c.type === 'Ready');
  return {
    name,
    state: 'found',
    url: redactUrl(repository.spec.url),
    ...(repository.spec.interval ? { interval: repository.spec.interval } : {}),
    suspended: repository.spec.suspend === true,
    ready: readyOf(ready?.status),
    ...(ready?.reason ? { reason: ready.reason } : {}),
    ...(ready?.message ? { message: ready.message } : {}),
    ...(repository.status?.revisions ? { revisions: repository.status.revisions } : {}),
    ...(repository.status?.lastError ? { lastError: repository.status.lastError } : {}),
    conditions: repository.status?.conditions ?? [],
  };
}

interface KubeEvent extends KubeObject {
  involvedObject?: { apiVersion?: string; kind?: string; name?: string; uid?: string };
  type?: string;
  reason?: string;
  message?: string;
  count?: number;
  firstTimestamp?: string;
  lastTimestamp?: string;
  eventTime?: string;
  source?: { component?: string };
  reportingComponent?: string;
}

async function eventsOf(
  kube: KubeClient,
  app: Application,
): Promise<{ items: KubeEventView[]; error?: string }> {
  let items: KubeEvent[];
  try {
    ({ items } = await kube.listPage<KubeEvent>('', 'v1', 'Event', {
      namespace: app.metadata.namespace,
      fieldSelector: `involvedObject.name=${app.metadata.name},involvedObject.kind=Application`,
      limit: 500,
    }));
  } catch (error) {
    return { items: [], error: failureWord(error) };
  }
  const when = (e: KubeEvent): string => e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? '';
  return {
    items: items
      .filter(
        (e) =>
          (e.involvedObject?.apiVersion ?? '').startsWith(`${GROUP}/`) &&
          (!e.involvedObject?.uid || !app.metadata.uid || e.involvedObject.uid === app.metadata.uid),
      )
      .sort((a, b) => (when(a) < when(b) ? 1 : when(a) > when(b) ? -1 : 0))
      .slice(0, MAX_EVENTS)
      .map((e) => ({
        type: e.type ?? 'Normal',
        reason: e.reason ?? '',
        // Capstan's own Events are redacted when written; others' are redacted here.
        message: redactText(e.message ?? '').slice(0, 1024),
        count: e.count ?? 1,
        ...(e.firstTimestamp ? { firstTimestamp: e.firstTimestamp } : {}),
        ...(when(e) ? { lastTimestamp: when(e) } : {}),
        ...(e.source?.component || e.reportingComponent
          ? { source: e.source?.component ?? e.reportingComponent }
          : {}),
      })),
  };
}

function nodeOf(name: string, app: AppSummary | undefined): DependencyNode {
  if (app === undefined) return { name, found: false };
  return {
    name,
    found: true,
    ready: app.ready,
    ...(app.reason ? { reason: app.reason } : {}),
    ...(app.message ? { message: app.message } : {}),
    health: app.health,
    sync: app.sync,
    ...(app.revision ? { revision: app.revision.sha } : {}),
  };
}

/**
 * The app and what it depends on, transitively (dependsOn names Applications of the same
 * namespace), who depends on it, and the blocking path. Without the right to list the namespace's
 * Applications, only the names the app's own spec gives.
 */
export function dependencyGraph(app: Application, index: AppIndex, canList: boolean): DependencyGraph {
  const namespace = app.metadata.namespace;
  const own = (app.spec.dependsOn ?? []).map((d) => d.name);
  if (!canList) {
    return {
      visible: false,
      nodes: [{ name: app.metadata.name, found: true }, ...own.map((name) => ({ name, found: false }))],
      edges: own.map((to) => ({ from: app.metadata.name, to })),
      dependents: [],
      blockingPath: [],
      truncated: false,
    };
  }
  const self = summarize(app);
  const lookup = (name: string): AppSummary | undefined =>
    name === self.name ? self : index.get(namespace, name);
  const nodes = new Map<string, DependencyNode>();
  const edges: { from: string; to: string }[] = [];
  const queue = [self.name];
  let truncated = false;
  nodes.set(self.name, nodeOf(self.name, self));
  while (queue.length > 0) {
    const name = queue.shift()!;
    for (const to of lookup(name)?.dependsOn ?? []) {
      edges.push({ from: name, to });
      if (nodes.has(to)) continue;
      if (nodes.size >= MAX_GRAPH_NODES) {
        truncated = true;
        continue;
      }
      nodes.set(to, nodeOf(to, lookup(to)));
      queue.push(to);
    }
  }
  const dependents = index
    .inNamespace(namespace)
    .filter((other) => other.dependsOn.includes(self.name))
    .map((other) => nodeOf(other.name, other))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  return {
    visible: true,
    nodes: [...nodes.values()],
    edges,
    dependents,
    blockingPath: blockingPath(self.name, lookup),
    truncated,
  };
}

/**
 * From the app, follow the first dependency that is not Ready (or missing), until one whose own
 * dependencies are all Ready: that one is where the wait comes from. A cycle stops the walk.
 */
export function blockingPath(start: string, lookup: (name: string) => AppSummary | undefined): string[] {
  const path: string[] = [];
  const seen = new Set<string>([start]);
  let current = lookup(start);
  while (current !== undefined) {
    const next = current.dependsOn.find((name) => lookup(name)?.ready !== 'True');
    if (next === undefined || seen.has(next)) break;
    if (path.length === 0) path.push(start);
    path.push(next);
    seen.add(next);
    current = lookup(next);
  }
  return path;
}
