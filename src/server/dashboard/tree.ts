/**
 * GET /api/v1/apps/:ns/:name/tree: the app's objects (its inventory ConfigMap, else the first 200 of
 * status.resources), each with its health (src/health, judged on the live object) and what the
 * last sync did with it, and below each the objects it owns by owner reference: Deployment →
 * ReplicaSet → Pod, StatefulSet/DaemonSet/Job → Pod, CronJob → Job → Pod.
 *
 * Everything is read as the user: an object they may not read shows as `forbidden`, children they
 * may not list as `childrenError: forbidden`.
 *
 * Bounded in work and size: at most `objects` of the app's objects are read (8 requests at a time);
 * children are found with one list per parent, narrowed by the parent's selector and capped at a
 * page of 500; each parent keeps its `childrenPerObject` newest children (`childrenOmitted` counts
 * the rest) and the whole tree stops growing at `nodes` nodes (`truncated`).
 */
import pLimit from 'p-limit';
import type { Application, ResourceStatus } from '../../api/v1alpha1.js';
import { entryRef, ConfigMapInventoryStore } from '../../apply/inventory.js';
import { refKey, splitApiVersion, type KubeObject, type ObjectRef } from '../../core/objects.js';
import { objectHealthState } from '../../health/index.js';
import { isKubeApiError, type KubeClient } from '../../kube/index.js';
import { failureWord } from './details.js';
import type { ResourceTree, TreeNode } from './schema.js';

export interface TreeLimits {
  /** The app's own objects read (default 300). */
  readonly objects: number;
  /** Children kept per object, newest first (default 50). */
  readonly childrenPerObject: number;
  /** Nodes in the whole tree (default 1000). */
  readonly nodes: number;
}

export const DEFAULT_TREE_LIMITS: TreeLimits = { objects: 300, childrenPerObject: 50, nodes: 1000 };

/** Which kinds own which (by the owner's controller reference), keyed by `group/Kind`. */
const CHILD_KINDS: Readonly<Record<string, readonly { group: string; version: string; kind: string }[]>> = {
  'apps/Deployment': [{ group: 'apps', version: 'v1', kind: 'ReplicaSet' }],
  'apps/ReplicaSet': [{ group: '', version: 'v1', kind: 'Pod' }],
  'apps/StatefulSet': [{ group: '', version: 'v1', kind: 'Pod' }],
  'apps/DaemonSet': [{ group: '', version: 'v1', kind: 'Pod' }],
  'batch/Job': [{ group: '', version: 'v1', kind: 'Pod' }],
  'batch/CronJob': [{ group: 'batch', version: 'v1', kind: 'Job' }],
};

const CHILD_LIST_PAGE = 500;

export async function resourceTree(
  kube: KubeClient,
  app: Application,
  limits: TreeLimits = DEFAULT_TREE_LIMITS,
  now: Date = new Date(),
): Promise<ResourceTree> {
  const statuses = new Map<string, ResourceStatus>();
  for (const resource of app.status?.resources ?? []) statuses.set(refKey(resource), resource);

  let source: ResourceTree['source'] = 'status';
  let refs: ObjectRef[] = (app.status?.resources ?? [])
    .filter((r) => r.sync !== 'pruned')
    .map((r) => ({
      group: r.group,
      kind: r.kind,
      name: r.name,
      ...(r.namespace ? { namespace: r.namespace } : {}),
    }));
  try {
    const inventory = await new ConfigMapInventoryStore(kube).read(app.metadata);
    if (inventory) {
      refs = inventory.entries.map(entryRef);
      source = 'inventory';
    }
  } catch {
    // Not readable for this user (or damaged): status.resources is what they get.
  }
  refs.sort((a, b) => (refKey(a) < refKey(b) ? -1 : 1));
  let truncated = refs.length > limits.objects;
  refs = refs.slice(0, limits.objects);

  const budget = { left: limits.nodes - refs.length };
  const limit = pLimit(8);
  const nodes = await Promise.all(
    refs.map((ref) =>
      limit(async () => {
        const { node, object } = await readNode(kube, ref, true, now);
        const status = statuses.get(refKey(ref));
        node.sync = syncOf(status, app.status?.sync?.status);
        return { node, object };
      }),
    ),
  );
  // Children after every top-level node is in, so the budget goes to the app's objects first.
  for (const { node, object } of nodes) {
    if (object) truncated = (await addChildren(kube, node, object, limits, budget, now, 0)) || truncated;
  }
  const result = nodes.map((n) => n.node);
  return {
    nodes: result,
    source,
    count: countNodes(result),
    truncated,
    limits: { ...limits },
  };
}

function countNodes(nodes: readonly TreeNode[]): number {
  let count = 0;
  for (const node of nodes) count += 1 + countNodes(node.children);
  return count;
}

function syncOf(status: ResourceStatus | undefined, appSync: string | undefined): TreeNode['sync'] {
  if (status === undefined) return { status: 'Unknown' };
  const action = status.sync;
  const pending = appSync === 'OutOfSync';
  const state =
    action === 'failed'
      ? 'Failed'
      : action === 'skipped'
        ? 'Skipped'
        : action === 'unchanged'
          ? 'Synced'
          : ['created', 'configured', 'recreated'].includes(action)
            ? pending
              ? 'OutOfSync'
              : 'Synced'
            : 'Unknown';
  return { status: state, action, ...(status.message ? { message: status.message } : {}) };
}

async function readNode(
  kube: KubeClient,
  ref: ObjectRef,
  managed: boolean,
  now: Date,
): Promise<{ node: TreeNode; object?: KubeObject }> {
  const base = {
    group: ref.group,
    kind: ref.kind,
    ...(ref.namespace ? { namespace: ref.namespace } : {}),
    name: ref.name,
    managed,
    children: [],
  };
  try {
    const object = await kube.get(ref);
    if (object === undefined)
      return { node: { ...base, state: 'missing', health: objectHealthState(undefined, now) } };
    return { node: nodeFromObject(object, managed, now), object };
  } catch (error) {
    const forbidden = isKubeApiError(error) && error.status === 403;
    return {
      node: {
        ...base,
        state: forbidden ? 'forbidden' : 'error',
        health: { state: 'Unknown', message: forbidden ? 'not readable for you' : failureWord(error) },
      },
    };
  }
}

/** A node from a live object: its name and health, nothing of its content (Secrets included). */
function nodeFromObject(object: KubeObject, managed: boolean, now: Date): TreeNode {
  const { group } = splitApiVersion(object.apiVersion);
  return {
    group,
    kind: object.kind,
    ...(object.metadata.namespace ? { namespace: object.metadata.namespace } : {}),
    name: object.metadata.name ?? '',
    ...(object.metadata.uid ? { uid: object.metadata.uid } : {}),
    managed,
    state: 'found',
    health: objectHealthState(object, now),
    ...(object.metadata.creationTimestamp ? { createdAt: object.metadata.creationTimestamp } : {}),
    children: [],
  };
}

/** Adds `object`'s children (and theirs); true when something was left out. */
async function addChildren(
  kube: KubeClient,
  node: TreeNode,
  object: KubeObject,
  limits: TreeLimits,
  budget: { left: number },
  now: Date,
  depth: number,
): Promise<boolean> {
  const { group } = splitApiVersion(object.apiVersion);
  const kinds = CHILD_KINDS[`${group}/${object.kind}`];
  const uid = object.metadata.uid;
  const namespace = object.metadata.namespace;
  if (!kinds || !uid || !namespace || depth > 3) return false;
  let truncated = false;
  for (const kind of kinds) {
    if (budget.left <= 0) return true;
    let items: KubeObject[];
    let more = false;
    try {
      const selector = labelSelectorOf(object);
      const page = await kube.listPage(kind.group, kind.version, kind.kind, {
        namespace,
        ...(selector ? { labelSelector: selector } : {}),
        limit: CHILD_LIST_PAGE,
      });
      items = page.items;
      more = page.continue !== undefined;
    } catch (error) {
      node.childrenError = failureWord(error);
      continue;
    }
    const owned = items
      .filter((item) => item.metadata.ownerReferences?.some((owner) => owner.uid === uid && owner.controller))
      .sort((a, b) => newestFirst(a, b));
    const room = Math.min(limits.childrenPerObject, budget.left);
    const kept = owned.slice(0, room);
    const omitted = owned.length - kept.length;
    if (omitted > 0 || more) {
      node.childrenOmitted = (node.childrenOmitted ?? 0) + omitted;
      truncated = true;
    }
    budget.left -= kept.length;
    for (const child of kept) {
      const childNode = nodeFromObject(child, false, now);
      node.children.push(childNode);
      truncated = (await addChildren(kube, childNode, child, limits, budget, now, depth + 1)) || truncated;
    }
  }
  return truncated;
}

function newestFirst(a: KubeObject, b: KubeObject): number {
  const x = a.metadata.creationTimestamp ?? '';
  const y = b.metadata.creationTimestamp ?? '';
  if (x !== y) return x < y ? 1 : -1;
  return (a.metadata.name ?? '') < (b.metadata.name ?? '') ? -1 : 1;
}

interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/**
 * The parent's `spec.selector` as a label selector string, to narrow the list of its children.
 * Owner references still decide; a selector we cannot express just means an unnarrowed list.
 */
export function labelSelectorOf(object: KubeObject): string | undefined {
  const selector = (object.spec as { selector?: LabelSelector } | undefined)?.selector;
  if (!selector || typeof selector !== 'object') return undefined;
  const parts: string[] = [];
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) parts.push(`${key}=${value}`);
  for (const expression of selector.matchExpressions ?? []) {
    const values = (expression.values ?? []).join(',');
    switch (expression.operator) {
      case 'In':
        parts.push(`${expression.key} in (${values})`);
        break;
      case 'NotIn':
        parts.push(`${expression.key} notin (${values})`);
        break;
      case 'Exists':
        parts.push(expression.key);
        break;
      case 'DoesNotExist':
        parts.push(`!${expression.key}`);
        break;
      default:
        return undefined;
    }
  }
  return parts.length > 0 ? parts.join(',') : undefined;
}
