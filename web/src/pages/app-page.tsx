/**
 * One application (`/apps/:namespace/:name`): its state and why, what it runs, the actions people
 * take on it, and its sections as tabs (`?tab=`). Follows the event stream, so what it shows is
 * current without reloading.
 */
import { useEffect, type ReactNode } from 'react';
import { Link, useSearchParams } from 'wouter';
import { ApiRequestError } from '../api/client.js';
import { useSession } from '../session.js';
import { ActionBar, useAppActions } from './app/actions.js';
import { useAppDetail, useAppDiff, useLiveApp, useResourceTree } from './app/data.js';
import { DependenciesPanel } from './app/dependencies.js';
import { DiffView } from './app/diff-view.js';
import { AppHeader } from './app/header.js';
import { HistoryPanel } from './app/history.js';
import { ResourceTreeView } from './app/resource-tree.js';
import { ConditionsPanel, EventsPanel, RepositoryPanel } from './app/status-panels.js';
import { Tabs, type TabSpec } from './app/tabs.js';
import './app/app.css';

const TAB_IDS = [
  'resources',
  'diff',
  'history',
  'events',
  'conditions',
  'dependencies',
  'repository',
] as const;
type TabId = (typeof TAB_IDS)[number];

const isTab = (value: string | null): value is TabId =>
  (TAB_IDS as readonly (string | null)[]).includes(value);

export function AppPage({ namespace, name }: { namespace: string; name: string }) {
  // A new app is a new page: no state (deleted, a dialog, a message) carries over from the last one.
  return <AppPageOf key={`${namespace}/${name}`} namespace={namespace} name={name} />;
}

function AppPageOf({ namespace, name }: { namespace: string; name: string }) {
  const detail = useAppDetail(namespace, name);
  const live = useLiveApp(namespace, name);
  const actions = useAppActions(detail.data, live.deleted);
  const [params, setParams] = useSearchParams();
  const requested = params.get('tab');
  const tab: TabId = isTab(requested) ? requested : 'resources';

  useEffect(() => {
    const previous = document.title;
    document.title = `${name} · ${namespace} · Capstan`;
    return () => {
      document.title = previous;
    };
  }, [namespace, name]);

  if (!detail.data) {
    if (detail.isError)
      return (
        <AppProblem
          error={detail.error}
          namespace={namespace}
          name={name}
          deleted={live.deleted}
          retry={() => void detail.refetch()}
        />
      );
    return (
      <p className="page-message" role="status">
        Loading {namespace}/{name}…
      </p>
    );
  }

  const data = detail.data;
  const { app } = data;
  const warnings = data.events.filter((event) => event.type === 'Warning').length;
  const tabs: TabSpec<TabId>[] = [
    { id: 'resources', label: 'Resources' },
    {
      id: 'diff',
      label: 'Diff',
      badge: app.sync === 'OutOfSync' ? { text: '≠', label: 'out of sync', tone: 'warning' } : undefined,
    },
    { id: 'history', label: 'History' },
    {
      id: 'events',
      label: 'Events',
      badge:
        data.events.length > 0
          ? {
              text: String(data.events.length),
              label: `${data.events.length} events${warnings ? `, ${warnings} warnings` : ''}`,
              ...(warnings ? { tone: 'warning' as const } : {}),
            }
          : undefined,
    },
    {
      id: 'conditions',
      label: 'Conditions',
      badge:
        app.stalled || app.ready === 'False' ? { text: '!', label: 'not ready', tone: 'danger' } : undefined,
    },
    {
      id: 'dependencies',
      label: 'Dependencies',
      badge:
        data.dependencies.blockingPath.length > 0
          ? { text: '!', label: 'waiting on a dependency', tone: 'warning' }
          : undefined,
    },
    {
      id: 'repository',
      label: 'Repository',
      badge:
        data.repository.state === 'missing' || data.repository.ready === 'False'
          ? { text: '!', label: 'not ready', tone: 'danger' }
          : undefined,
    },
  ];

  return (
    <div className="app-page">
      {live.deleted && (
        <p className="notice danger deleted-banner" role="alert">
          <strong>This application was deleted.</strong> What you see is how it was last.{' '}
          <Link href="/">All applications</Link>
        </p>
      )}
      {detail.isError && !live.deleted && (
        <p className="notice warning" role="status">
          Could not refresh: {detail.error.message}. Showing what was loaded before.
        </p>
      )}
      <AppHeader detail={data}>
        <ActionBar detail={data} actions={actions} />
        {actions.ui}
      </AppHeader>
      <Tabs
        label={`Sections of ${app.name}`}
        idPrefix="app"
        tabs={tabs}
        selected={tab}
        onSelect={(id) =>
          setParams(
            (old) => {
              const next = new URLSearchParams(old);
              if (id === 'resources') next.delete('tab');
              else next.set('tab', id);
              return next;
            },
            { replace: true },
          )
        }
      >
        {tab === 'resources' && <ResourcesSection namespace={namespace} name={name} />}
        {tab === 'diff' && (
          <DiffSection
            namespace={namespace}
            name={name}
            repositoryUrl={data.repository.url}
            changedAt={live.changedAt}
          />
        )}
        {tab === 'history' && <HistoryPanel detail={data} actions={actions} />}
        {tab === 'events' && <EventsPanel detail={data} />}
        {tab === 'conditions' && <ConditionsPanel detail={data} />}
        {tab === 'dependencies' && (
          <DependenciesPanel graph={data.dependencies} namespace={namespace} name={name} />
        )}
        {tab === 'repository' && <RepositoryPanel detail={data} />}
      </Tabs>
    </div>
  );
}

function ResourcesSection({ namespace, name }: { namespace: string; name: string }) {
  const tree = useResourceTree(namespace, name, true);
  if (tree.data) return <ResourceTreeView tree={tree.data} namespace={namespace} />;
  if (tree.isError)
    return <LoadProblem what="the resource tree" error={tree.error} retry={() => void tree.refetch()} />;
  return (
    <p className="loading" role="status">
      Reading the app&apos;s objects…
    </p>
  );
}

function DiffSection(props: {
  namespace: string;
  name: string;
  repositoryUrl: string | undefined;
  changedAt: number;
}) {
  const diff = useAppDiff(props.namespace, props.name, true);
  return (
    <section aria-labelledby="diff-title" aria-busy={diff.isFetching}>
      <div className="panel-head">
        <h2 id="diff-title">Diff</h2>
        <p className="hint">What a sync would change, and who changed it in the cluster.</p>
        <div className="panel-tools">
          {diff.isFetching && diff.data && (
            <span className="muted" role="status">
              Computing…
            </span>
          )}
          <button type="button" onClick={() => void diff.refetch()} disabled={diff.isFetching}>
            Refresh
          </button>
        </div>
      </div>
      {diff.data ? (
        <>
          {diff.isError && <LoadProblem what="a fresh diff" error={diff.error} />}
          <DiffView
            diff={diff.data}
            namespace={props.namespace}
            repositoryUrl={props.repositoryUrl}
            outdated={props.changedAt > diff.dataUpdatedAt}
          />
        </>
      ) : diff.isError ? (
        <LoadProblem what="the diff" error={diff.error} retry={() => void diff.refetch()} />
      ) : (
        <p className="loading" role="status">
          Computing the diff (the server renders the app and dry-runs it)…
        </p>
      )}
    </section>
  );
}

function LoadProblem({ what, error, retry }: { what: string; error: Error; retry?: () => void }) {
  const forbidden = error instanceof ApiRequestError && error.status === 403;
  return (
    <div className="notice danger" role="alert">
      <p>
        {forbidden ? `You may not read ${what}: ` : `Could not load ${what}: `}
        {error.message}
      </p>
      {retry && (
        <button type="button" onClick={retry}>
          Try again
        </button>
      )}
    </div>
  );
}

/** The app could not be shown at all: say why in words a person can act on. */
function AppProblem(props: {
  error: Error;
  namespace: string;
  name: string;
  deleted: boolean;
  retry(): void;
}) {
  const session = useSession();
  const { error, namespace, name } = props;
  const status = error instanceof ApiRequestError ? error.status : undefined;
  const id = (
    <code>
      {namespace}/{name}
    </code>
  );
  let title: string;
  let body: ReactNode;
  if (status === 404) {
    title = props.deleted ? 'This application was deleted' : 'Application not found';
    body = (
      <p>
        There is no Application {id}
        {props.deleted ? ' any more' : ''}. It may have been deleted or renamed, or the link is mistyped.
      </p>
    );
  } else if (status === 403) {
    title = 'You may not view this application';
    body = (
      <>
        <p>
          Your Kubernetes identity <strong>{session.user.username}</strong> may not <code>get</code>{' '}
          <code>applications.capstan.dev</code> in namespace <code>{namespace}</code>, so the dashboard shows
          nothing of {id}.
        </p>
        <p className="muted">
          Ask a cluster admin for a Role that grants it. The API server said: {error.message}
        </p>
      </>
    );
  } else {
    title = 'Could not load this application';
    body = (
      <>
        <p>
          {id}: {error.message}
        </p>
        <button type="button" onClick={props.retry}>
          Try again
        </button>
      </>
    );
  }
  return (
    <div className="app-page">
      <section className="problem card" aria-labelledby="problem-title">
        <h1 id="problem-title">{title}</h1>
        {body}
        <p>
          <Link href="/">← All applications</Link>
        </p>
      </section>
    </div>
  );
}
