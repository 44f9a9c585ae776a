/**
 * The dependsOn graph as an indented tree (no graph library: a tree reads fine at the sizes
 * dependsOn has), what depends on this app, and — the question people come with — what it waits
 * for: the blocking path, from this app to the one to look at.
 */
import { Link } from 'wouter';
import type { DependencyGraph, DependencyNode } from '../../../../src/server/dashboard/schema.js';
import { HealthBadge, SyncBadge } from '../../components/badges.js';
import { shortSha } from '../../format.js';
import { appHref } from '../../routes.js';

export function DependenciesPanel({
  graph,
  namespace,
  name,
}: {
  graph: DependencyGraph;
  namespace: string;
  name: string;
}) {
  const byName = new Map(graph.nodes.map((node) => [node.name, node]));
  const children = new Map<string, string[]>();
  for (const edge of graph.edges) children.set(edge.from, [...(children.get(edge.from) ?? []), edge.to]);
  const path = graph.blockingPath;
  const lookHere = path[path.length - 1];
  const hasDependencies = (children.get(name) ?? []).length > 0;
  // Shared by the whole drawing: an app two others depend on is expanded once.
  const shown = new Set<string>();
  return (
    <section aria-labelledby="dependencies-title">
      <div className="panel-head">
        <h2 id="dependencies-title">Dependencies</h2>
        <p className="hint">
          An app applies a new revision only once everything it depends on is Ready at its newest revision.
        </p>
      </div>
      {!graph.visible && (
        <p className="notice warning">
          You may not list Applications in {namespace}: only the names this app&apos;s spec gives are shown.
        </p>
      )}
      {path.length > 0 && (
        <div className="notice warning blocking" role="note">
          <h3>Waiting on</h3>
          <ol className="blocking-path">
            {path.map((step, index) => (
              <li key={step} className={step === lookHere ? 'look-here' : ''}>
                {index > 0 && <span aria-hidden="true">→ </span>}
                <AppName
                  namespace={namespace}
                  name={step}
                  self={step === name}
                  found={byName.get(step)?.found}
                />
                {step === lookHere && (
                  <strong className="look-here-tag">
                    look here
                    {byName.get(step)?.reason ? `: ${byName.get(step)?.reason}` : ''}
                  </strong>
                )}
              </li>
            ))}
          </ol>
        </div>
      )}
      <h3>Depends on</h3>
      {hasDependencies ? (
        <ul className="dep-tree" aria-label="Depends on">
          {(children.get(name) ?? []).map((to) => (
            <DependencyItem
              key={to}
              name={to}
              namespace={namespace}
              byName={byName}
              edgesFrom={children}
              ancestors={[name]}
              shown={shown}
              path={path}
              lookHere={lookHere}
            />
          ))}
        </ul>
      ) : (
        <p className="empty">Nothing: this app applies without waiting for another.</p>
      )}
      {graph.truncated && <p className="notice">The graph is cut at 100 apps.</p>}
      <h3>Depended on by</h3>
      {graph.dependents.length > 0 ? (
        <ul className="dep-tree" aria-label="Depended on by">
          {graph.dependents.map((node) => (
            <li key={node.name} className="dep-item">
              <NodeRow node={node} namespace={namespace} />
            </li>
          ))}
        </ul>
      ) : (
        <p className="empty">
          {graph.visible ? 'No other app depends on this one.' : 'Not known (you may not list the apps).'}
        </p>
      )}
    </section>
  );
}

function DependencyItem(props: {
  name: string;
  namespace: string;
  byName: Map<string, DependencyNode>;
  edgesFrom: Map<string, string[]>;
  ancestors: string[];
  /** Nodes already drawn with their dependencies: drawn again without them (the graph may share). */
  shown: Set<string>;
  path: string[];
  lookHere: string | undefined;
}) {
  const { name, byName, edgesFrom, ancestors, shown, path } = props;
  const node = byName.get(name) ?? { name, found: false };
  const cycle = ancestors.includes(name);
  const again = !cycle && shown.has(name);
  shown.add(name);
  const next = cycle || again ? [] : (edgesFrom.get(name) ?? []);
  const onPath = path.includes(name);
  return (
    <li className={`dep-item ${onPath ? 'on-path' : ''} ${name === props.lookHere ? 'look-here' : ''}`}>
      <NodeRow node={node} namespace={props.namespace} />
      {cycle && <span className="notice-inline danger"> a dependency cycle: it waits for itself</span>}
      {again && (edgesFrom.get(name) ?? []).length > 0 && (
        <span className="muted small"> (its dependencies are above)</span>
      )}
      {next.length > 0 && (
        <ul>
          {next.map((to) => (
            <DependencyItem key={to} {...props} name={to} ancestors={[...ancestors, name]} />
          ))}
        </ul>
      )}
    </li>
  );
}

function NodeRow({ node, namespace }: { node: DependencyNode; namespace: string }) {
  return (
    <div className="dep-row">
      <AppName namespace={namespace} name={node.name} found={node.found} />
      {node.found ? (
        <>
          <ReadyMark ready={node.ready} />
          {node.health && <HealthBadge state={node.health} />}
          {node.sync && <SyncBadge state={node.sync} />}
          {node.revision && <code className="muted small">{shortSha(node.revision)}</code>}
          {node.ready !== 'True' && (node.reason || node.message) && (
            <span className="dep-reason">
              {node.reason && <strong>{node.reason}</strong>} {node.message}
            </span>
          )}
        </>
      ) : (
        <span className="tag warning-tag">not found</span>
      )}
    </div>
  );
}

function AppName(props: { namespace: string; name: string; self?: boolean; found?: boolean | undefined }) {
  if (props.self || props.found === false) return <span className="mono dep-name">{props.name}</span>;
  return (
    <Link href={appHref(props.namespace, props.name)} className="mono dep-name">
      {props.name}
    </Link>
  );
}

function ReadyMark({ ready }: { ready: DependencyNode['ready'] }) {
  if (ready === undefined) return null;
  const tone = ready === 'True' ? 'good' : ready === 'False' ? 'bad' : 'unknown';
  return (
    <span className={`cond cond-${tone}`}>
      <span aria-hidden="true">{ready === 'True' ? '✓' : ready === 'False' ? '✖' : '?'}</span>{' '}
      {ready === 'True' ? 'Ready' : ready === 'False' ? 'Not ready' : 'Ready unknown'}
    </span>
  );
}
