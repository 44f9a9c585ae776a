/**
 * A text input whose value lives in the URL, written back ~200 ms after the last keystroke: one
 * request per pause in typing, not per key. The input keeps its own text meanwhile, and takes the
 * URL's when that changes from elsewhere (Back, "Clear all", a link).
 */
import { useEffect, useEffectEvent, useState } from 'react';

export const TYPING_PAUSE_MS = 200;

export function useDebouncedField(options: {
  /** What the URL says now, in the field's own text form. */
  readonly urlValue: string;
  /** The text as the URL would hold it, or undefined while it is not valid (nothing is written). */
  readonly normalize: (text: string) => string | undefined;
  readonly commit: (normalized: string) => void;
}): [string, (text: string) => void] {
  const { urlValue, normalize } = options;
  const [text, setText] = useState(urlValue);
  const [seenUrlValue, setSeenUrlValue] = useState(urlValue);
  if (urlValue !== seenUrlValue) {
    // The URL moved. If it moved to what is typed (our own commit), keep the text as typed (with
    // its trailing space, say); else show the URL's.
    setSeenUrlValue(urlValue);
    if (normalize(text) !== urlValue) setText(urlValue);
  }

  // An effect event: re-renders (live updates arrive many times a second) must not restart the timer.
  const commitLater = useEffectEvent((value: string) => options.commit(value));
  const pending = normalize(text);
  useEffect(() => {
    if (pending === undefined || pending === urlValue) return;
    const timer = setTimeout(() => commitLater(pending), TYPING_PAUSE_MS);
    return () => clearTimeout(timer);
  }, [pending, urlValue]);

  return [text, setText];
}
