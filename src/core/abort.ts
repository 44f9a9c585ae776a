/**
 * Giving up on work that cannot be cancelled: a call made without the caller's signal (a shared,
 * cached lookup), or a step that ignores it. The work goes on and ends by its own bound; the caller
 * stops waiting at once.
 */

/**
 * `work`, or a rejection with `reason()` as soon as `signal` aborts (at once when it has already).
 * The work's own outcome is then ignored (never an unhandled rejection).
 */
export function abandonOnAbort<T>(
  work: Promise<T>,
  signal: AbortSignal | undefined,
  reason: () => Error = () => signal?.reason as Error,
): Promise<T> {
  if (signal === undefined) return work;
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.reject(reason());
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      work.catch(() => undefined);
      reject(reason());
    };
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error as Error);
      },
    );
  });
}
