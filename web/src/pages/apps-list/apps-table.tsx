/**
 * The table of apps: sortable column headers (buttons, with aria-sort on the header cell), one row
 * per app, and the loading, empty and error states in its body so the layout does not jump.
 * Columns that matter less are hidden on narrower screens (apps-list.css); what a phone still needs
 * (namespace, last sync) moves under the name. Widths are set on the header cells (table-layout:
 * fixed), so long texts are cut with an ellipsis instead of widening the page.
 */
import type { ReactNode } from 'react';
import type { AppList, SortField } from '../../../../src/server/dashboard/schema.js';
import { AppRow } from './app-row.js';
import type { ListState } from './list-query.js';
import { useNow } from './use-now.js';

const COLUMNS: readonly { id: string; label: string; sort?: SortField; hint?: string }[] = [
  { id: 'name', label: 'Name', sort: 'name' },
  { id: 'namespace', label: 'Namespace' },
  { id: 'health', label: 'Health', sort: 'health', hint: 'worst first' },
  { id: 'sync', label: 'Sync', sort: 'sync', hint: 'out of sync first' },
  { id: 'ready', label: 'Ready' },
  { id: 'source', label: 'Source' },
  { id: 'revision', label: 'Revision' },
  { id: 'last-sync', label: 'Last sync', sort: 'lastSync', hint: 'latest first' },
];

export type TableBody =
  | { kind: 'rows'; list: AppList }
  | { kind: 'message'; content: ReactNode }
  | { kind: 'skeleton'; rows: number };

export function AppsTable(props: {
  body: TableBody;
  state: ListState;
  /** A newer page is on its way (the one shown is the previous view's). */
  busy: boolean;
  onSort: (field: SortField) => void;
}) {
  const { state } = props;
  return (
    <div className="table-card">
      <table className="apps-table" aria-busy={props.busy}>
        <caption className="visually-hidden">Applications</caption>
        <thead>
          <tr>
            {COLUMNS.map((column) => (
              <th
                key={column.id}
                scope="col"
                className={`col-${column.id}`}
                aria-sort={
                  column.sort === undefined
                    ? undefined
                    : state.sort === column.sort
                      ? state.order === 'asc'
                        ? 'ascending'
                        : 'descending'
                      : 'none'
                }
              >
                {column.sort ? (
                  <SortButton
                    label={column.label}
                    hint={column.hint}
                    active={state.sort === column.sort}
                    order={state.order}
                    onClick={() => props.onSort(column.sort!)}
                  />
                ) : (
                  column.label
                )}
              </th>
            ))}
          </tr>
        </thead>
        <TableBodyOf body={props.body} />
      </table>
    </div>
  );
}

function SortButton(props: {
  label: string;
  hint: string | undefined;
  active: boolean;
  order: 'asc' | 'desc';
  onClick: () => void;
}) {
  const arrow = props.active ? (props.order === 'asc' ? '↑' : '↓') : '↕';
  return (
    <button
      type="button"
      className={props.active ? 'sort-button active' : 'sort-button'}
      onClick={props.onClick}
      title={props.hint ? `Sort by ${props.label.toLowerCase()} (ascending: ${props.hint})` : undefined}
    >
      {props.label}
      <span className="sort-arrow" aria-hidden="true">
        {arrow}
      </span>
    </button>
  );
}

function TableBodyOf({ body }: { body: TableBody }) {
  const now = useNow(15_000);
  if (body.kind === 'skeleton')
    return (
      <tbody>
        {Array.from({ length: body.rows }, (_, row) => (
          <tr key={row} className="skeleton-row" aria-hidden="true">
            {COLUMNS.map((column) => (
              <td key={column.id} className={`col-${column.id}`}>
                <span className="skeleton" />
              </td>
            ))}
          </tr>
        ))}
      </tbody>
    );
  if (body.kind === 'message')
    return (
      <tbody>
        <tr>
          <td colSpan={COLUMNS.length} className="table-message">
            {body.content}
          </td>
        </tr>
      </tbody>
    );
  return (
    <tbody>
      {body.list.items.map((app) => (
        <AppRow key={`${app.namespace}/${app.name}`} app={app} now={now} />
      ))}
    </tbody>
  );
}
