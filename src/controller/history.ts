/**
 * Sync history: one entry per sync that changed something, failed, or was asked for — its revision
 * and commit, what set it off, who asked, when, how long, the result, health and how many objects it
 * changed.
 *
 * Two records: the last MAX_HISTORY entries in the Application's status (small: every watcher of
 * Applications receives them), and a longer one in a ConfigMap `capstan-history-<app>` beside the
 * Application, owned by it (Kubernetes deletes it with the Application), bounded in entries and
 * bytes. Both are written only when an entry is appended, so an idle cluster sees no writes.
 *
 * Nothing here may carry a Secret value: every text is redacted (again) and bounded before it is
 * stored.
 */
import { createHash } from 'node:crypto';
import {
  historyEntrySchema,
  MAX_HISTORY,
  type ApplicationStatus,
  type HistoryChanges,
  type HistoryEntry,
  type SyncTrigger,
} from '../api/v1alpha1.js';
import type { ObjectAction } from '../apply/applier.js';
import { CapstanError, messageOf } from '../core/errors.js';
import type { KubeObject, ManagedFieldsEntry, ObjectMeta } from '../core/objects.js';
import { isConflict } from '../kube/errors.js';
import type { KubeClient } from '../kube/types.js';
import { redactText } from '../source/redact.js';

/**
 * Set beside `capstan.dev/requested-at` by `capstan sync`: who asked (the requester's own claim —
 * anyone who may annotate the Application may write it; it is a record, not a proof).
 */
export const REQUESTED_BY_ANNOTATION = 'capstan.dev/requested-by';
const REQUESTED_AT_ANNOTATION = 'capstan.dev/requested-at';

/** The ConfigMap keeps at most this many entries, and at most this many bytes of them. */
export const HISTORY_CONFIGMAP_ENTRIES = 100;
export const HISTORY_CONFIGMAP_BYTES = 256 * 1024;

const LIMITS = { message: 512, commitMessage: 200, author: 256, requestedBy: 256 } as const;
const DATA_KEY = 'history';
const HISTORY_OF_LABEL = 'capstan.dev/history-of';
const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'capstan' } as const;

// ── building an entry ───────────────────────────────────────────────────────────────────────────

/** What the reconcile knows about why it synced; `syncTrigger` names the cause. */
export interface TriggerFacts {
  /** This sync rolls the app back from that SHA. */
  readonly rollbackOf?: string | undefined;
  /** A new `capstan.dev/requested-at` was handled by this sync. */
  readonly request: boolean;
  /** The reconcile before this one was waiting for a dependency (Reconciling=DependencyNotReady). */
  readonly dependencyReleased: boolean;
  /** The spec generation differs from the one last applied. */
  readonly specChanged: boolean;
  /** The revision differs from the one last applied. */
  readonly newRevision: boolean;
  /** The Repository learned of the new revision from a webhook (else from a poll). */
  readonly viaWebhook?: boolean | undefined;
  /** The sync changed objects (or would have, in diff mode). */
  readonly changed: boolean;
}

/**
 * The cause, most specific first: rollback, request, a dependency that released a held change,
 * a spec change, a new commit (by webhook or poll), drift, and otherwise a resync (a retry or the
 * periodic re-check).
 */
/**
 * Why a sync runs, from the event that queued it and whether a person's request is pending: the
 * request outranks every event but a rollback (syncTrigger's order) — our own apply's watch events
 * arrive late under load, and a request that reconcile handles must still say who asked.
 */
export function queuedSyncTrigger(queued: SyncTrigger | undefined, requested: boolean): SyncTrigger {
  if (queued === 'rollback') return queued;
  if (requested) return 'request';
  return queued ?? 'resync';
}

export function syncTrigger(facts: TriggerFacts): SyncTrigger {
  if (facts.rollbackOf) return 'rollback';
  if (facts.request) return 'request';
  if (facts.dependencyReleased && (facts.newRevision || facts.specChanged)) return 'dependency';
  if (facts.specChanged) return 'spec';
  if (facts.newRevision) return facts.viaWebhook ? 'webhook' : 'commit';
  if (facts.changed) return 'drift';
  return 'resync';
}

export interface HistoryInput {
  readonly revision: string;
  /** The commit synced: its message (only the first line is kept) and author. */
  readonly commit?:
    | {
        readonly message: string;
        readonly author: string | { readonly name: string; readonly email: string };
      }
    | undefined;
  readonly trigger: SyncTrigger;
  /** Recorded for requests and rollbacks only (see `requestedByOf`). */
  readonly requestedBy?: string | undefined;
  readonly started: Date;
  readonly finished: Date;
  /**
   * What the engine returned (its SyncResult): gives the result and the counts. Absent when the
   * sync threw: then the result is Failed unless `result` says otherwise.
   */
  readonly sync?:
    | {
        readonly mode: 'apply' | 'diff';
        readonly changed: boolean;
        readonly failed: boolean;
        readonly objects: readonly { readonly action: ObjectAction }[];
      }
    | undefined;
  /** Overrides the result the sync implies (e.g. RolledBack, for a failed sync that was rolled back). */
  readonly result?: HistoryEntry['result'] | undefined;
  readonly health?: string | undefined;
  /** The error or verdict, when there is one worth reading (counts are in `changes`). */
  readonly message?: string | undefined;
  readonly rollbackOf?: string | undefined;
}

/** One entry, without its id (`appendToStatus` or the store gives it one). Pure. */
export function historyEntry(input: HistoryInput): HistoryEntry {
  const { sync } = input;
  const result =
    input.result ??
    (!sync || sync.failed ? 'Failed' : sync.mode === 'diff' && sync.changed ? 'OutOfSync' : 'Succeeded');
  const duration = Math.max(0, input.finished.getTime() - input.started.getTime());
  const commit = input.commit && {
    message: bounded(firstLine(input.commit.message), LIMITS.commitMessage),
    author: bounded(
      typeof input.commit.author === 'string'
        ? input.commit.author
        : `${input.commit.author.name} <${input.commit.author.email}>`,
      LIMITS.author,
    ),
  };
  const requestedBy =
    input.requestedBy && (input.trigger === 'request' || input.trigger === 'rollback')
      ? bounded(input.requestedBy, LIMITS.requestedBy)
      : undefined;
  return {
    revision: input.revision,
    ...(commit ? { commit } : {}),
    trigger: input.trigger,
    ...(requestedBy ? { requestedBy } : {}),
    startedAt: input.started.toISOString(),
    finishedAt: input.finished.toISOString(),
    durationSeconds: Math.round(duration / 10) / 100,
    result,
    ...(input.health ? { health: input.health } : {}),
    ...(sync ? { changes: countChanges(sync.objects) } : {}),
    ...(input.message ? { message: bounded(input.message, LIMITS.message, { multiline: true }) } : {}),
    ...(input.rollbackOf ? { rollbackOf: input.rollbackOf } : {}),
  };
}

export function countChanges(objects: readonly { readonly action: ObjectAction }[]): HistoryChanges {
  const changes = { created: 0, configured: 0, recreated: 0, pruned: 0, failed: 0, unchanged: 0, skipped: 0 };
  for (const { action } of objects) changes[action]++;
  return changes;
}

/** The id after every id in the status (1 for the first; entries from before ids count as none). */
export function nextHistoryId(status: Pick<ApplicationStatus, 'history'>): number {
  return maxId(status.history ?? []) + 1;
}

/**
 * Puts the entry first in `status.history`, keeping MAX_HISTORY entries; gives it the next id when
 * it has none. Returns the entry as recorded.
 */
export function appendToStatus(status: ApplicationStatus, entry: HistoryEntry): HistoryEntry {
  const recorded = entry.id === undefined ? { id: nextHistoryId(status), ...entry } : entry;
  status.history = [recorded, ...(status.history ?? [])].slice(0, MAX_HISTORY);
  return recorded;
}

/**
 * Who asked for the request being handled: `capstan.dev/requested-by`, trusted only when it was
 * written together with the current `capstan.dev/requested-at` (one field manager owns both), so
 * a later `kubectl annotate … requested-at=…` is not credited to whoever used `capstan sync` before.
 * Objects without managedFields (tests, fakes) take the annotation as it is.
 */
export function requestedByOf(app: { metadata: ObjectMeta }): string | undefined {
  const value = app.metadata.annotations?.[REQUESTED_BY_ANNOTATION]?.trim();
  if (!value) return undefined;
  const entries = app.metadata.managedFields;
  if (entries && entries.length > 0) {
    const owner = entries.find((e) => ownsAnnotation(e, REQUESTED_BY_ANNOTATION));
    if (!owner || !ownsAnnotation(owner, REQUESTED_AT_ANNOTATION)) return undefined;
  }
  return bounded(value, LIMITS.requestedBy);
}

function ownsAnnotation(entry: ManagedFieldsEntry, key: string): boolean {
  const metadata = entry.fieldsV1?.['f:metadata'] as Record<string, unknown> | undefined;
  const annotations = metadata?.['f:annotations'] as Record<string, unknown> | undefined;
  return annotations !== undefined && `f:${key}` in annotations;
}

// ── recording it ────────────────────────────────────────────────────────────────────────────────

/** The Application a history belongs to: where its ConfigMap goes, and its owner reference. */
export interface HistoryApp {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace: string; readonly uid?: string | undefined };
}

export interface HistoryStore {
  /**
   * Records the entry, newest first, with an id past every id the record holds (and at least
   * `entry.id`); returns it as recorded. One write; nothing else ever writes.
   */
  append(app: HistoryApp, entry: HistoryEntry): Promise<HistoryEntry>;
  /**
   * The recorded entries, newest first; `undefined` when there is no record (or it belongs to a
   * deleted namesake: a different `uid`).
   */
  read(app: {
    namespace: string;
    name: string;
    uid?: string | undefined;
  }): Promise<HistoryEntry[] | undefined>;
}

/**
 * The one call a reconcile makes: the entry goes to the store (when there is one) and then into
 * `status.history` with the same id. A store that fails does not fail the sync: `onError` hears of
 * it, and the status still records the entry. Returns the entry as recorded.
 */
export async function recordHistory(
  store: HistoryStore | undefined,
  app: HistoryApp,
  status: ApplicationStatus,
  entry: HistoryEntry,
  onError: (error: unknown) => void = () => {},
): Promise<HistoryEntry> {
  let recorded: HistoryEntry = { ...entry, id: Math.max(entry.id ?? 0, nextHistoryId(status)) };
  if (store) {
    try {
      recorded = await store.append(app, recorded);
    } catch (error) {
      onError(error);
    }
  }
  return appendToStatus(status, recorded);
}

export function historyConfigMapName(app: { name: string }): string {
  // Names are DNS subdomains of up to 253 characters: a long one is cut and made unique by a hash.
  return fit(`capstan-history-${app.name}`, 253);
}

function historyLabelValue(app: { name: string }): string {
  return fit(app.name, 63);
}

function fit(text: string, max: number): string {
  if (text.length <= max) return text;
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 10);
  return `${text.slice(0, max - hash.length - 1).replace(/[-.]+$/, '')}-${hash}`;
}

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

/**
 * The history of each Application in a ConfigMap `capstan-history-<app>` in its namespace, labelled
 * `capstan.dev/history-of: <app>` and owned by the Application. Written by get-then-create or a
 * resourceVersion-guarded update (retried on a conflict), so two writers never lose an entry; a
 * ConfigMap of that name that is not a Capstan history is left alone.
 */
export class ConfigMapHistoryStore implements HistoryStore {
  constructor(
    private readonly kube: KubeClient,
    private readonly limits: { entries: number; bytes: number } = {
      entries: HISTORY_CONFIGMAP_ENTRIES,
      bytes: HISTORY_CONFIGMAP_BYTES,
    },
  ) {}

  async append(app: HistoryApp, entry: HistoryEntry): Promise<HistoryEntry> {
    const { namespace, name, uid } = app.metadata;
    const ref = { group: '', kind: 'ConfigMap', namespace, name: historyConfigMapName({ name }) };
    let lastConflict: unknown;
    for (let attempt = 0; attempt < 4; attempt++) {
      const current = await this.kube.get<ConfigMap>(ref);
      if (current && current.metadata.labels?.[HISTORY_OF_LABEL] !== historyLabelValue({ name })) {
        throw new CapstanError(
          'conflict',
          `ConfigMap ${namespace}/${ref.name} exists and is not the history of Application ${name} (no ${HISTORY_OF_LABEL} label): not overwriting it`,
        );
      }
      // A namesake's record (the Application was deleted and created again): start afresh.
      const earlier = current && !ownedByOther(current, uid) ? parseEntries(current, ref.name) : [];
      const recorded = sanitize({ ...entry, id: Math.max(entry.id ?? 0, maxId(earlier) + 1) });
      const configMap: ConfigMap = {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: {
          // resourceVersion guards the update; managedFields are the server's to keep.
          ...withoutManagedFields(current?.metadata),
          name: ref.name,
          namespace,
          labels: {
            ...current?.metadata.labels,
            ...MANAGED_BY,
            [HISTORY_OF_LABEL]: historyLabelValue({ name }),
          },
          ...(uid
            ? {
                ownerReferences: [
                  { apiVersion: app.apiVersion, kind: app.kind, name, uid, blockOwnerDeletion: false },
                ],
              }
            : {}),
        },
        // Our key alone: what else someone put there would count against the size limit.
        data: { [DATA_KEY]: serialize([recorded, ...earlier], this.limits) },
      };
      try {
        if (current) await this.kube.update(configMap);
        else await this.kube.create(configMap);
        return recorded;
      } catch (error) {
        // Someone wrote in between (an update's stale resourceVersion, or a create that lost the
        // race): read again and add to what is there now.
        if (!isConflict(error)) throw error;
        lastConflict = error;
      }
    }
    throw new CapstanError(
      'conflict',
      `ConfigMap ${namespace}/${ref.name} kept changing while adding to it`,
      {
        cause: lastConflict,
      },
    );
  }

  async read(app: {
    namespace: string;
    name: string;
    uid?: string | undefined;
  }): Promise<HistoryEntry[] | undefined> {
    const name = historyConfigMapName(app);
    const configMap = await this.kube.get<ConfigMap>({
      group: '',
      kind: 'ConfigMap',
      namespace: app.namespace,
      name,
    });
    if (!configMap || configMap.metadata.labels?.[HISTORY_OF_LABEL] !== historyLabelValue(app))
      return undefined;
    if (ownedByOther(configMap, app.uid)) return undefined;
    return parseEntries(configMap, name, { strict: true });
  }
}

function withoutManagedFields(metadata: ObjectMeta | undefined): ObjectMeta {
  const { managedFields: _dropped, ...rest } = metadata ?? {};
  return rest;
}

function ownedByOther(configMap: ConfigMap, uid: string | undefined): boolean {
  const owners = configMap.metadata.ownerReferences ?? [];
  return uid !== undefined && owners.length > 0 && !owners.some((o) => o.uid === uid);
}

/**
 * The entries a ConfigMap holds, newest first, each checked against the schema (a damaged one is
 * skipped). Unreadable JSON is an error when reading for a person (`strict`); when appending, the
 * record starts afresh rather than stop recording.
 */
function parseEntries(
  configMap: ConfigMap,
  name: string,
  options: { strict?: boolean } = {},
): HistoryEntry[] {
  const text = configMap.data?.[DATA_KEY];
  if (text === undefined) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    if (!options.strict) return [];
    throw new CapstanError(
      'internal',
      `the history ConfigMap ${configMap.metadata.namespace}/${name} is unreadable: ${messageOf(error)}`,
      {
        cause: error,
      },
    );
  }
  const entries = (parsed as { entries?: unknown } | null)?.entries;
  if (!Array.isArray(entries)) return [];
  return entries.flatMap((e) => {
    const checked = historyEntrySchema.safeParse(e);
    return checked.success ? [checked.data] : [];
  });
}

/** Newest first, at most `limits.entries` of them and `limits.bytes` of JSON: the oldest go first. */
export function serialize(
  entries: readonly HistoryEntry[],
  limits: { entries: number; bytes: number },
): string {
  const kept: HistoryEntry[] = [];
  // `{"entries":[` … `]}`, and a comma between entries: the exact length of the JSON below.
  let total = Buffer.byteLength('{"entries":[]}');
  for (const entry of entries.slice(0, limits.entries)) {
    const size = Buffer.byteLength(JSON.stringify(entry)) + (kept.length > 0 ? 1 : 0);
    // The newest entry is always kept (each is bounded to a few KiB).
    if (kept.length > 0 && total + size > limits.bytes) break;
    kept.push(entry);
    total += size;
  }
  return JSON.stringify({ entries: kept });
}

/** Every text of an entry redacted and bounded: what reaches the cluster carries no Secret value. */
export function sanitize(entry: HistoryEntry): HistoryEntry {
  return {
    ...entry,
    ...(entry.commit
      ? {
          commit: {
            message: bounded(firstLine(entry.commit.message), LIMITS.commitMessage),
            author: bounded(entry.commit.author, LIMITS.author),
          },
        }
      : {}),
    ...(entry.requestedBy ? { requestedBy: bounded(entry.requestedBy, LIMITS.requestedBy) } : {}),
    ...(entry.message ? { message: bounded(entry.message, LIMITS.message, { multiline: true }) } : {}),
  };
}

function maxId(entries: readonly HistoryEntry[]): number {
  return entries.reduce((max, e) => Math.max(max, e.id ?? 0), 0);
}

function firstLine(text: string): string {
  const newline = text.indexOf('\n');
  return (newline < 0 ? text : text.slice(0, newline)).trim();
}

/** Redacted, then cut to `max` characters; one line unless `multiline`. */
function bounded(text: string, max: number, options: { multiline?: boolean } = {}): string {
  // Redacted whole, then cut: a cut secret might no longer be recognised as one.
  let clean = redactText(text);
  if (!options.multiline) clean = clean.replace(/\s+/g, ' ').trim();
  return clean.length <= max ? clean : `${clean.slice(0, max - 1)}…`;
}
