/**
 * The app's objects and what they own (Deployment → ReplicaSet → Pod), each with its health and
 * what the last sync did with it. Nested lists, so the shape reads the same to a screen reader; each
 * parent folds, and a filter keeps only what needs attention (with the parents that lead to it).
 */
import { useMemo, useState } from 'react';
import type { ResourceTree, TreeNode } from '../../../../src/server/dashboard/schema.js';
import { HealthBadge, SyncBadge } from '../../components/badges.js';
import { ago, fullTime, countOf } from '../../format.js';

/** Short kind marks, as kubectl's short names, so a long tree scans by shape. */
const KIND_MARK: Record<string, string> = {
  Deployment: 'deploy',
  ReplicaSet: 'rs',
  Pod: 'pod',
  StatefulSet: 'sts',
  DaemonSet: 'ds',
  Job: 'job',
  CronJob: 'cj',
  Service: 'svc',
  ConfigMap: 'cm',
  Secret: 'secret',
  Ingress: 'ing',
  ServiceAccount: 'sa',
  PersistentVolumeClaim: 'pvc',
  HorizontalPodAutoscaler: 'hpa',
  Namespace: 'ns',
  Role: 'role',
  RoleBinding: 'rb',
  ClusterRole: 'cr',
  ClusterRoleBinding: 'crb',
  CustomResourceDefinition: 'crd',
  NetworkPolicy: 'netpol',
};

const keyOf = (node: TreeNode, path: string): string =>
  `${path}/${node.group}/${node.kind}/${node.namespace ?? ''}/${node.name}`;

/** Needs attention: not healthy, not in sync, or not readable. */
function attention(node: TreeNode): boolean {
  return (
    node.state !== 'found' ||
    (node.health.state !== 'Healthy' && node.health.state !== 'Suspended') ||
    node.sync?.status === 'OutOfSync' ||
    node.sync?.status === 'Failed' ||
    node.childrenError !== undefined
  );
}

/** The tree with only the nodes that need attention and their ancestors. */
function onlyAttention(nodes: readonly TreeNode[]): TreeNode[] {
  const kept: TreeNode[] = [];
  for (const node of nodes) {
    const children = onlyAttention(node.children);
    if (attention(node) || children.length > 0) kept.push({ ...node, children });
  }
  return kept;
}

function countAttention(nodes: readonly TreeNode[]): number {
  let count = 0;
  for (const node of nodes) count += (attention(node) ? 1 : 0) + countAttention(node.children);
  return count;
}

function parentKeys(nodes: readonly TreeNode[], path = ''): string[] {
  return nodes.flatMap((node) =>
    node.children.length > 0
      ? [keyOf(node, path), ...parentKeys(node.children, keyOf(node, path))]
      : parentKeys(node.children, keyOf(node, path)),
  );
}

export function ResourceTreeView({ tree, namespace }: { tree: ResourceTree; namespace: string }) {
  const [filtered, setFiltered] = useState(false);
  const [collapsed, setCollapsed] = useState<ReadonlySet<string>>(new Set());
  const needing = useMemo(() => countAttention(tree.nodes), [tree.nodes]);
  const shown = useMemo(() => (filtered ? onlyAttention(tree.nodes) : tree.nodes), [filtered, tree.nodes]);
  const toggle = (key: string) =>
    setCollapsed((old) => {
      const next = new Set(old);
      if (next.has(key)) next.delete(key);
      else next.add(key);
      return next;
    });

  return (
    <section className="resource-tree" aria-labelledby="resources-title">
      <div className="panel-head">
        <h2 id="resources-title">Resources</h2>
        <p className="hint">
          {countOf(tree.nodes.length, 'object')} applied by Capstan, {countOf(tree.count, 'node')} in all
          (from {tree.source === 'inventory' ? 'the inventory' : 'status.resources'})
          {needing > 0 ? ` · ${needing} need attention` : ''}
        </p>
        <div className="panel-tools">
          <label className="check">
            <input
              type="checkbox"
              checked={filtered}
              onChange={(event) => setFiltered(event.target.checked)}
            />
            Only unhealthy or out of sync
          </label>
          <button type="button" onClick={() => setCollapsed(new Set())}>
            Expand all
          </button>
          <button type="button" onClick={() => setCollapsed(new Set(parentKeys(tree.nodes)))}>
            Collapse all
          </button>
        </div>
      </div>
      {tree.truncated && (
        <p className="notice warning" role="note">
          Some objects are left out: the tree shows at most {tree.limits.objects} of the app&apos;s objects,{' '}
          {tree.limits.childrenPerObject} children each and {tree.limits.nodes} nodes in all.
        </p>
      )}
      {tree.nodes.length === 0 ? (
        <p className="empty">No objects recorded for this application yet.</p>
      ) : shown.length === 0 ? (
        <p className="empty">Everything is healthy and in sync.</p>
      ) : (
        <ul className="tree" aria-label="Resources">
          {shown.map((node) => (
            <TreeItem
              key={keyOf(node, '')}
              node={node}
              path=""
              namespace={namespace}
              collapsed={collapsed}
              onToggle={toggle}
            />
          ))}
        </ul>
      )}
      <Legend />
    </section>
  );
}

function TreeItem(props: {
  node: TreeNode;
  path: string;
  /** The app's namespace: objects in it are named without it. */
  namespace: string;
  collapsed: ReadonlySet<string>;
  onToggle(key: string): void;
}) {
  const { node, collapsed, onToggle } = props;
  const key = keyOf(node, props.path);
  const open = !collapsed.has(key);
  const childCount = node.children.length;
  const childrenId = `children-${key.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  return (
    <li
      data-kind={node.kind}
      data-name={node.name}
      className={`tree-item ${attention(node) ? 'needs-attention' : ''}`}
    >
      <div className="node">
        {childCount > 0 ? (
          <button
            type="button"
            className="fold"
            aria-expanded={open}
            aria-controls={childrenId}
            aria-label={`${open ? 'Collapse' : 'Expand'} ${node.kind} ${node.name} (${countOf(childCount, 'child', 'children')})`}
            onClick={() => onToggle(key)}
          >
            <span aria-hidden="true">{open ? '▾' : '▸'}</span>
          </button>
        ) : (
          <span className="fold-space" aria-hidden="true" />
        )}
        <span className="kind-mark" aria-hidden="true" title={node.kind}>
          {KIND_MARK[node.kind] ?? node.kind.slice(0, 4).toLowerCase()}
        </span>
        <span className="node-id">
          <span className="node-kind">{node.kind}</span>{' '}
          <span className="node-name mono">
            {node.namespace && node.namespace !== props.namespace ? (
              <span className="muted">{node.namespace}/</span>
            ) : null}
            {node.name}
          </span>
        </span>
        <span className="node-states">
          {node.state === 'found' ? (
            <HealthBadge state={node.health.state} title={node.health.message || undefined} />
          ) : (
            <StateBadge state={node.state} />
          )}
          {node.sync && node.sync.status !== 'Unknown' && (
            <SyncBadge state={node.sync.status} title={node.sync.message} />
          )}
          {node.managed ? (
            <span className="tag" title="Applied by Capstan (in the app's inventory)">
              managed
            </span>
          ) : (
            <span className="tag subtle" title="Not applied by Capstan: owned by the object above">
              owned
            </span>
          )}
          {node.createdAt && (
            <span className="age" title={`Created ${fullTime(node.createdAt)}`}>
              {ago(node.createdAt)}
            </span>
          )}
        </span>
      </div>
      <NodeDetails node={node} />
      {childCount > 0 && open && (
        <ul id={childrenId} className="tree-children">
          {node.children.map((child) => (
            <TreeItem
              key={keyOf(child, key)}
              node={child}
              path={key}
              namespace={props.namespace}
              collapsed={collapsed}
              onToggle={onToggle}
            />
          ))}
        </ul>
      )}
    </li>
  );
}

/** The messages worth reading: why it is unhealthy, what the sync did, what could not be read. */
function NodeDetails({ node }: { node: TreeNode }) {
  const lines: { text: string; tone: 'danger' | 'warning' | 'muted' }[] = [];
  if (node.state === 'forbidden') lines.push({ text: 'You may not read this object.', tone: 'warning' });
  else if (node.state === 'missing')
    lines.push({ text: 'Not found in the cluster (deleted, or not created yet).', tone: 'danger' });
  else if (node.state === 'error')
    lines.push({ text: `Could not be read: ${node.health.message}`, tone: 'danger' });
  if (node.state === 'found' && node.health.message && node.health.state !== 'Healthy')
    lines.push({
      text: node.health.message,
      tone: node.health.state === 'Degraded' || node.health.state === 'Missing' ? 'danger' : 'muted',
    });
  const sync = node.sync;
  if (sync && (sync.message || (sync.action && sync.status !== 'Synced')))
    lines.push({
      text: `Last sync: ${sync.action ?? sync.status}${sync.message ? ` — ${sync.message}` : ''}`,
      tone: sync.status === 'Failed' ? 'danger' : 'muted',
    });
  if (node.childrenError)
    lines.push({ text: `Its children could not be listed: ${node.childrenError}`, tone: 'warning' });
  if (node.childrenOmitted)
    lines.push({
      text: `${countOf(node.childrenOmitted, 'older child', 'older children')} not shown`,
      tone: 'muted',
    });
  if (lines.length === 0) return null;
  return (
    <ul className="node-details">
      {lines.map((line, index) => (
        <li key={index} className={`tone-${line.tone}`}>
          {line.text}
        </li>
      ))}
    </ul>
  );
}

function StateBadge({ state }: { state: 'missing' | 'forbidden' | 'error' }) {
  const text = { missing: 'Missing', forbidden: 'Forbidden', error: 'Unreadable' }[state];
  const icon = { missing: '◌', forbidden: '⊘', error: '✖' }[state];
  return (
    <span className={`badge state-${state}`}>
      <span aria-hidden="true">{icon}</span> {text}
    </span>
  );
}

function Legend() {
  return (
    <p className="hint legend">
      <span className="tag">managed</span> applied by Capstan · <span className="tag subtle">owned</span>{' '}
      found by owner reference (created by a controller, e.g. a Deployment&apos;s ReplicaSets and Pods)
    </p>
  );
}
