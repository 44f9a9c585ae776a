/**
 * Keeps the list live from the shared event stream, without polling, and without a request per
 * event (at 10,000 apps, a hundred changes a second is a busy cluster, not a fault):
 *
 * - an `updated` app on a page held in the cache is replaced in place at once (batched: every
 *   event of the same ~50 ms lands in one render), so a health change shows immediately;
 * - since the change may also move the app in or out of the filter, change its place in the sort,
 *   or change the counts, the list is refetched too, but throttled: at most one refetch per
 *   REFETCH_GAP_MS, always after the last event seen (trailing), so the view ends up exact;
 * - after the stream reconnects (changes made meanwhile are not replayed), it is refetched now.
 */
import { useQueryClient, type QueryClient } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import type { AppEvent, AppList, AppSummary } from '../../../../src/server/dashboard/schema.js';
import { useAppEvents } from '../../api/events.js';
import { APP_LIST_ROOT } from './use-app-list.js';

/** The least time between two refetches of the list. */
export const REFETCH_GAP_MS = 2000;
/** A burst of events is gathered this long before the first refetch. */
const BURST_MS = 250;
/** Row replacements are gathered this long into one render. */
const BATCH_MS = 50;

const keyOf = (namespace: string, name: string): string => `${namespace}/${name}`;

class ListRefresher {
  /** Rows to replace (an app) or drop (null), by `namespace/name`. */
  #rows = new Map<string, AppSummary | null>();
  #batchTimer: ReturnType<typeof setTimeout> | undefined;
  #refetchTimer: ReturnType<typeof setTimeout> | undefined;
  #lastRefetch = 0;

  constructor(private readonly queryClient: QueryClient) {}

  onApp(event: AppEvent): void {
    if (event.type === 'updated') this.#rows.set(keyOf(event.app.namespace, event.app.name), event.app);
    else if (event.type === 'deleted') this.#rows.set(keyOf(event.namespace, event.name), null);
    // `added`: where it goes depends on the filter and sort, which the server knows: refetch only.
    this.#batchTimer ??= setTimeout(() => this.#applyRows(), BATCH_MS);
    this.#scheduleRefetch();
  }

  onResync(): void {
    clearTimeout(this.#refetchTimer);
    this.#refetchTimer = undefined;
    this.#refetch();
  }

  /** Unmounting: pending timers go; a later event starts them again. */
  stop(): void {
    clearTimeout(this.#batchTimer);
    clearTimeout(this.#refetchTimer);
    this.#batchTimer = this.#refetchTimer = undefined;
    this.#rows.clear();
  }

  #applyRows(): void {
    this.#batchTimer = undefined;
    if (this.#rows.size === 0) return;
    const rows = this.#rows;
    this.#rows = new Map();
    this.queryClient.setQueriesData<AppList>({ queryKey: [APP_LIST_ROOT, 'page'] }, (list) => {
      if (!list || !list.items.some((item) => rows.has(keyOf(item.namespace, item.name)))) return list;
      const items: AppSummary[] = [];
      for (const item of list.items) {
        const key = keyOf(item.namespace, item.name);
        const replacement = rows.has(key) ? rows.get(key) : item;
        if (replacement) items.push(replacement);
      }
      return { ...list, items };
    });
  }

  #scheduleRefetch(): void {
    if (this.#refetchTimer !== undefined) return;
    const wait = Math.max(BURST_MS, this.#lastRefetch + REFETCH_GAP_MS - Date.now());
    this.#refetchTimer = setTimeout(() => {
      this.#refetchTimer = undefined;
      this.#refetch();
    }, wait);
  }

  #refetch(): void {
    // Rows first, so an event older than the refetch never lands on top of its newer answer.
    clearTimeout(this.#batchTimer);
    this.#applyRows();
    this.#lastRefetch = Date.now();
    void this.queryClient.invalidateQueries({ queryKey: [APP_LIST_ROOT] });
  }
}

export function useLiveUpdates(): void {
  const queryClient = useQueryClient();
  const [refresher] = useState(() => new ListRefresher(queryClient));
  useAppEvents({
    onApp: (event) => refresher.onApp(event),
    onResync: () => refresher.onResync(),
  });
  useEffect(() => () => refresher.stop(), [refresher]);
}
