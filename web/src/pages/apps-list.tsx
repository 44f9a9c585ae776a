/**
 * The Applications list: every app the user may list, paged, sorted and filtered by the server
 * (GET /api/v1/apps), kept live by the event stream. The URL's query string is the whole state
 * (apps-list/list-query.ts), so a link shares the view and Back undoes a filter.
 */
import { useEffect, type ReactNode } from 'react';
import type { AppList, SortField } from '../../../src/server/dashboard/schema.js';
import { ApiRequestError } from '../api/client.js';
import { countOf } from '../format.js';
import { AppsTable, type TableBody } from './apps-list/apps-table.js';
import { FilterBar } from './apps-list/filter-bar.js';
import { hasFilters, nextSort, toggled, withoutFilters } from './apps-list/list-query.js';
import { Pagination } from './apps-list/pagination.js';
import { HealthChips, SyncChips } from './apps-list/state-chips.js';
import { useAppPage } from './apps-list/use-app-list.js';
import { useListUrl } from './apps-list/use-list-url.js';
import { useLiveUpdates } from './apps-list/use-live-updates.js';
import './apps-list/apps-list.css';

export function AppsList() {
  const { state, query, update, go } = useListUrl();
  const page = useAppPage(query);
  // Before the server's cache is filled, counts would be of the apps read so far: show none.
  const counts =
    page.data?.synced === false ? { health: undefined, sync: undefined } : (page.data?.counts ?? {});
  useLiveUpdates();
  useDocumentTitle('Applications · Capstan');

  const list = page.data;
  const filtered = hasFilters(state);
  const clear = () => go(withoutFilters(state));

  // A link to page 9 of what now has 3 pages (or a filter that shrank the list): show the last one.
  const beyondLastPage =
    list !== undefined && !page.isPlaceholderData && list.pages > 0 && state.page > list.pages;
  useEffect(() => {
    if (beyondLastPage) update({ page: list.pages }, { replace: true });
  }, [beyondLastPage, list?.pages, update]);

  return (
    <div className="apps-list">
      <div className="list-header">
        <h1>Applications</h1>
        <p className="list-total" role="status">
          {list?.synced ? countOf(list.total, 'application') : page.isError ? '' : 'Loading…'}
          {page.isFetching && page.isPlaceholderData && (
            <>
              <span className="spinner" aria-hidden="true" />
              <span className="visually-hidden">Loading</span>
            </>
          )}
        </p>
      </div>

      <FilterBar
        state={state}
        namespaces={list?.namespaces ?? []}
        filtered={filtered}
        onChange={update}
        onClear={clear}
      />
      <div className="chip-rows">
        <HealthChips
          counts={counts.health}
          selected={state.health}
          onToggle={(health) => update({ health: toggled(state.health, health) })}
        />
        <SyncChips
          counts={counts.sync}
          selected={state.sync}
          onToggle={(sync) => update({ sync: toggled(state.sync, sync) })}
        />
      </div>

      {page.isError && list && (
        <p className="refresh-error" role="alert">
          Could not refresh the list: {page.error.message}{' '}
          <button type="button" onClick={() => void page.refetch()}>
            Retry
          </button>
        </p>
      )}

      <AppsTable
        body={tableBody({
          list,
          error: list ? null : page.error,
          filtered,
          onClear: clear,
          onRetry: () => void page.refetch(),
        })}
        state={state}
        busy={page.isFetching && (page.isPlaceholderData || !list)}
        onSort={(field: SortField) => update(nextSort(state, field))}
      />

      {list && list.synced && list.total > 0 && (
        <Pagination
          page={list.page}
          pages={list.pages}
          limit={state.limit}
          total={list.total}
          shown={list.items.length}
          onPage={(next) => update({ page: next })}
          onLimit={(limit) => update({ limit })}
        />
      )}
    </div>
  );
}

/** What the table's body shows: the rows, or why there are none. */
function tableBody(props: {
  list: AppList | undefined;
  error: Error | null;
  filtered: boolean;
  onClear: () => void;
  onRetry: () => void;
}): TableBody {
  const { list, error } = props;
  if (!list && error)
    return {
      kind: 'message',
      content: <LoadError error={error} onClear={props.onClear} onRetry={props.onRetry} />,
    };
  if (!list) return { kind: 'skeleton', rows: 8 };
  if (!list.synced)
    return {
      kind: 'message',
      content: (
        <Message title="Loading the cluster's applications…" busy>
          The dashboard is reading every Application it may show; this takes a moment after it starts.
        </Message>
      ),
    };
  if (list.items.length > 0) return { kind: 'rows', list };
  if (props.filtered)
    return {
      kind: 'message',
      content: (
        <Message title="No applications match these filters.">
          <button type="button" onClick={props.onClear}>
            Clear all filters
          </button>
        </Message>
      ),
    };
  if (list.total > 0) return { kind: 'skeleton', rows: 3 };
  return {
    kind: 'message',
    content: (
      <Message title="No applications yet.">
        Create one with <code>kubectl apply -f app.yaml</code> (see the README's Application examples). If
        there are some, your identity may not list Applications in their namespaces.
      </Message>
    ),
  };
}

function LoadError(props: { error: Error; onClear: () => void; onRetry: () => void }) {
  const badFilter = props.error instanceof ApiRequestError && props.error.status === 400;
  return (
    <Message title={badFilter ? 'The server refused this filter.' : 'Could not load the applications.'} alert>
      <span className="error">{props.error.message}</span>
      <span className="message-actions">
        {badFilter ? (
          <button type="button" onClick={props.onClear}>
            Clear all filters
          </button>
        ) : (
          <button type="button" onClick={props.onRetry}>
            Retry
          </button>
        )}
      </span>
    </Message>
  );
}

function Message(props: { title: string; busy?: boolean; alert?: boolean; children?: ReactNode }) {
  return (
    <div className="message" role={props.alert ? 'alert' : 'status'}>
      <p className="message-title">
        {props.busy && <span className="spinner" aria-hidden="true" />}
        {props.title}
      </p>
      {props.children && <p className="message-body">{props.children}</p>}
    </div>
  );
}

function useDocumentTitle(title: string): void {
  useEffect(() => {
    const before = document.title;
    document.title = title;
    return () => {
      document.title = before;
    };
  }, [title]);
}
