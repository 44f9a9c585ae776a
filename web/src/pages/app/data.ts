/**
 * What the app page reads, and how it stays current: the detail and the resource tree follow the
 * event stream; the diff (a dry-run on the server, possibly expensive) is read only when asked for.
 */
import { useQuery, useQueryClient, type QueryClient } from '@tanstack/react-query';
import { useCallback, useEffect, useRef, useState } from 'react';
import type { AppDetail } from '../../../../src/server/dashboard/schema.js';
import { api, ApiRequestError } from '../../api/client.js';
import { useAppEvents } from '../../api/events.js';

export const appKeys = {
  all: (namespace: string, name: string) => ['app', namespace, name] as const,
  detail: (namespace: string, name: string) => ['app', namespace, name, 'detail'] as const,
  tree: (namespace: string, name: string) => ['app', namespace, name, 'tree'] as const,
  diff: (namespace: string, name: string) => ['app', namespace, name, 'diff'] as const,
};

/** Asking again will not turn a 401, 403 or 404 into something else. */
const retryUnlessRefused = (count: number, error: Error): boolean =>
  !(error instanceof ApiRequestError && [401, 403, 404].includes(error.status)) && count < 2;

const isBusy = (error: Error): boolean => error instanceof ApiRequestError && error.status === 429;

export function useAppDetail(namespace: string, name: string) {
  return useQuery({
    queryKey: appKeys.detail(namespace, name),
    queryFn: ({ signal }) => api.app(namespace, name, signal),
    retry: retryUnlessRefused,
  });
}

export function useResourceTree(namespace: string, name: string, enabled: boolean) {
  return useQuery({
    queryKey: appKeys.tree(namespace, name),
    queryFn: ({ signal }) => api.tree(namespace, name, signal),
    retry: retryUnlessRefused,
    enabled,
  });
}

/**
 * Read when the Diff tab first opens, then only on Refresh: it can cost the server a render and a
 * dry-run of every object, so neither the event stream nor reopening the tab repeats it.
 */
export function useAppDiff(namespace: string, name: string, enabled: boolean) {
  return useQuery({
    queryKey: appKeys.diff(namespace, name),
    queryFn: ({ signal }) => api.diff(namespace, name, signal),
    // 429: the server runs a few dry-runs at a time and asks to come back in 5 s.
    retry: (count, error) => (isBusy(error) ? count < 3 : retryUnlessRefused(count, error)),
    retryDelay: (count, error) => (isBusy(error) ? 5000 : Math.min(1000 * 2 ** count, 30_000)),
    staleTime: Infinity,
    enabled,
  });
}

/** Puts an app's newest summary (from the stream or an action's answer) into the page at once. */
export function showSummary(queryClient: QueryClient, summary: AppDetail['app']): void {
  queryClient.setQueryData<AppDetail>(appKeys.detail(summary.namespace, summary.name), (old) =>
    old ? { ...old, app: summary } : old,
  );
}

/** Calls `run` at most once per `ms`: at once when idle, then once more after the burst (trailing). */
export function useThrottle(run: () => void, ms: number): () => void {
  const latest = useRef(run);
  const last = useRef(0);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => {
    latest.current = run;
  });
  useEffect(
    () => () => {
      clearTimeout(timer.current);
    },
    [],
  );
  return useCallback(() => {
    if (timer.current !== undefined) return;
    const wait = last.current + ms - Date.now();
    const fire = () => {
      timer.current = undefined;
      last.current = Date.now();
      latest.current();
    };
    if (wait <= 0) fire();
    else timer.current = setTimeout(fire, wait);
  }, [ms]);
}

export interface LiveState {
  /** The stream said the app was deleted (it may come back: then this clears). */
  deleted: boolean;
  /** When the stream last told of a change to this app (ms), for "this diff may be out of date". */
  changedAt: number;
}

/**
 * Follows the app on the event stream: an update shows in the header at once (the summary is in the
 * event) and reloads the detail and tree at most every 2 s, since a sync sends a burst of updates
 * and each reload costs the API server several reads. A reconnect reloads, changes while away
 * being lost.
 */
export function useLiveApp(namespace: string, name: string): LiveState {
  const queryClient = useQueryClient();
  const [deleted, setDeleted] = useState(false);
  const [changedAt, setChangedAt] = useState(0);
  const reload = useThrottle(() => {
    void queryClient.invalidateQueries({ queryKey: appKeys.detail(namespace, name) });
    void queryClient.invalidateQueries({ queryKey: appKeys.tree(namespace, name) });
  }, 2000);
  useAppEvents({
    onApp: (event) => {
      if (event.type === 'deleted') {
        if (event.namespace === namespace && event.name === name) setDeleted(true);
        return;
      }
      if (event.app.namespace !== namespace || event.app.name !== name) return;
      setDeleted(false);
      setChangedAt(Date.now());
      showSummary(queryClient, event.app);
      reload();
    },
    onResync: () => {
      void queryClient.invalidateQueries({ queryKey: appKeys.detail(namespace, name) });
      void queryClient.invalidateQueries({ queryKey: appKeys.tree(namespace, name) });
    },
  });
  return { deleted, changedAt };
}
