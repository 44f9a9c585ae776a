/**
 * The API's names and bounds, apart from the zod schemas in v1alpha1.ts: commands that only read
 * or annotate Applications (`capstan get apps`) import these without loading zod.
 */
export const GROUP = 'capstan.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

/**
 * On every Application the controller has seen: deleting the Application first deletes what it
 * applied (when prune is on), then the controller removes this and Kubernetes removes the object.
 */
export const FINALIZER = 'capstan.dev/cleanup';

/** The annotation a person (or `capstan sync`) sets to ask for a reconcile now. */
export const REQUESTED_AT_ANNOTATION = 'capstan.dev/requested-at';

/** Bounded status: at most this many history entries and per-object summaries. */
export const MAX_HISTORY = 10;
export const MAX_RESOURCES = 200;

/**
 * The annotation `capstan rollback` sets: JSON `{"id", "to"?, "clear"?, "by"?}`. `to` is a revision
 * the Application applied before (default: the last healthy one); `clear` accepts the branch head
 * again. Handled once per `id`.
 */
export const ROLLBACK_ANNOTATION = 'capstan.dev/rollback';

/** Rejected revisions kept in status (newest first). */
export const MAX_REJECTED = 20;

/**
 * The annotation `capstan promote` sets on the TARGET Application: JSON `{"id", "from", "mode", "by"?}`
 * (`from` the source Application's name, `mode` `pullRequest` or `push`). The controller performs
 * it with the target Repository's credentials and answers in `status.promotion`; handled once per `id`.
 */
export const PROMOTE_ANNOTATION = 'capstan.dev/promote';

/** The label naming the app an Application is one environment of (`capstan promote APP`). */
export const APP_LABEL = 'capstan.dev/app';
