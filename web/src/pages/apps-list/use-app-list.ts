/**
 * The list's server query: one page of apps per view (the server filters, sorts and pages; the
 * browser never holds 10,000 apps). The page carries the chips' counts too: faceted by the server
 * (a health count ignores the health filter), so each chip tells what choosing it would show.
 */
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { api } from '../../api/client.js';

/** Every query of this page starts with it: live updates invalidate them all at once. */
export const APP_LIST_ROOT = 'app-list';
export const pageKey = (query: string) => [APP_LIST_ROOT, 'page', query] as const;

/** While the server's cache of Applications fills, nothing announces when it is done: ask again. */
const UNSYNCED_RETRY_MS = 1000;

export function useAppPage(query: string) {
  return useQuery({
    queryKey: pageKey(query),
    queryFn: ({ signal }) => api.apps(query, signal),
    // The previous page stays on screen while the next one loads: no flash of an empty table.
    placeholderData: keepPreviousData,
    refetchInterval: (current) => (current.state.data?.synced === false ? UNSYNCED_RETRY_MS : false),
  });
}
