/**
 * Reads and writes the list's state in the address bar. Filter clicks, sorting and paging push a
 * history entry (Back undoes them); typing replaces the current one (Back is not a keystroke undo).
 */
import { useCallback, useMemo } from 'react';
import { useLocation } from 'wouter';
// The raw `location.search`: wouter's `useSearch` from 'wouter' runs decodeURI over it, which
// would turn a searched-for `%41` into `A` before URLSearchParams decodes it again.
import { useSearch } from 'wouter/use-browser-location';
import { parseListState, toQueryString, type ListState } from './list-query.js';

export interface ListUrl {
  readonly state: ListState;
  /** The canonical query string (no `?`): the cache key and the API query. */
  readonly query: string;
  /** Moves to another view; `replace` for typing. A filter change goes back to page 1. */
  readonly update: (change: Partial<ListState>, how?: { replace?: boolean }) => void;
  /** Moves to exactly this state. */
  readonly go: (state: ListState, how?: { replace?: boolean }) => void;
}

const PAGE_RESETTING_KEYS: readonly (keyof ListState)[] = [
  'q',
  'health',
  'sync',
  'namespace',
  'repository',
  'ref',
  'label',
  'limit',
  'sort',
  'order',
];

export function useListUrl(): ListUrl {
  const search = useSearch();
  const [path, navigate] = useLocation();
  const state = useMemo(() => parseListState(search), [search]);
  const query = useMemo(() => toQueryString(state), [state]);

  const go = useCallback(
    (next: ListState, how: { replace?: boolean } = {}) => {
      const nextQuery = toQueryString(next);
      if (nextQuery === query) return;
      navigate(nextQuery ? `${path}?${nextQuery}` : path, { replace: how.replace ?? false });
    },
    [navigate, path, query],
  );

  const update = useCallback(
    (change: Partial<ListState>, how: { replace?: boolean } = {}) => {
      // Page 7 of one filter means nothing under another (or another sort or page size).
      const resetsPage = PAGE_RESETTING_KEYS.some((key) => key in change) && !('page' in change);
      go({ ...state, ...change, ...(resetsPage ? { page: 1 } : {}) }, how);
    },
    [go, state],
  );

  return { state, query, update, go };
}
