/**
 * The live updates: one EventSource per tab on /api/v1/events, shared by every component that
 * listens. EventSource reconnects by itself; since changes made while it was away are not replayed,
 * every `ready` after the first tells listeners to reload what they show.
 */
import { useEffect, useLayoutEffect, useRef } from 'react';
import { API_PREFIX, appEventSchema, type AppEvent } from '../../../src/server/dashboard/schema.js';

export interface StreamListener {
  onApp?(event: AppEvent): void;
  /** The stream (re)connected after having been down: reload. */
  onResync?(): void;
}

const listeners = new Set<StreamListener>();
let source: EventSource | undefined;
let connectedBefore = false;

function open(): void {
  if (source) return;
  source = new EventSource(`${API_PREFIX}/events`, { withCredentials: true });
  source.addEventListener('ready', () => {
    if (connectedBefore) for (const listener of listeners) listener.onResync?.();
    connectedBefore = true;
  });
  source.addEventListener('app', (message: MessageEvent<string>) => {
    let event: AppEvent;
    try {
      event = appEventSchema.parse(JSON.parse(message.data));
    } catch {
      return;
    }
    for (const listener of listeners) listener.onApp?.(event);
  });
}

/** Closes the stream (logging out). */
export function closeEventStream(): void {
  source?.close();
  source = undefined;
  connectedBefore = false;
}

/** Listens while the component is mounted; the latest callbacks are always used. */
export function useAppEvents(listener: StreamListener): void {
  const latest = useRef(listener);
  useLayoutEffect(() => {
    latest.current = listener;
  });
  useEffect(() => {
    const forward: StreamListener = {
      onApp: (event) => latest.current.onApp?.(event),
      onResync: () => latest.current.onResync?.(),
    };
    listeners.add(forward);
    open();
    return () => {
      listeners.delete(forward);
    };
  }, []);
}
