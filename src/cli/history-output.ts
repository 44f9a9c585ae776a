/**
 * How `capstan history` shows an Application's syncs: a kubectl-style table, newest first, or JSON.
 * Pure functions of the entries and a clock.
 */
import pc from 'picocolors';
import type { HistoryChanges, HistoryEntry } from '../api/v1alpha1.js';
import { formatAge, shortSha, truncate, type FormatOptions } from './apps-output.js';
import { renderTable } from './table.js';

/** Where the entries came from: the long record, or only the status's last few. */
export type HistorySource = 'configmap' | 'status';

export interface HistoryView {
  readonly namespace: string;
  readonly name: string;
  readonly source: HistorySource;
  /** Newest first. */
  readonly entries: readonly HistoryEntry[];
}

/**
 * The ConfigMap's record with what only the status holds (an entry whose ConfigMap write failed,
 * entries from before ids), newest first; the status alone when there is no record.
 */
export function mergeHistory(
  stored: readonly HistoryEntry[] | undefined,
  status: readonly HistoryEntry[] | undefined,
): { source: HistorySource; entries: HistoryEntry[] } {
  if (!stored) return { source: 'status', entries: [...(status ?? [])] };
  const ids = new Set(stored.map((e) => e.id));
  const numbered = [...stored, ...(status ?? []).filter((e) => e.id !== undefined && !ids.has(e.id))].sort(
    (a, b) => (b.id ?? 0) - (a.id ?? 0),
  );
  // Entries from before ids are older than any numbered one.
  return { source: 'configmap', entries: [...numbered, ...(status ?? []).filter((e) => e.id === undefined)] };
}

/** `4.5s`, `2m5s`, `1h2m`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '';
  if (seconds < 60) return `${Math.round(seconds * 10) / 10}s`;
  const whole = Math.round(seconds);
  const [h, m, s] = [Math.floor(whole / 3600), Math.floor((whole % 3600) / 60), whole % 60];
  return h > 0 ? `${h}h${m}m` : `${m}m${s}s`;
}

const CHANGE_ORDER = ['created', 'configured', 'recreated', 'pruned', 'failed', 'skipped'] as const;

/** `1 created, 2 configured` (non-zero counts; unchanged objects are not news), or `none`. */
export function formatChanges(changes: HistoryChanges | undefined): string {
  if (!changes) return '';
  const parts = CHANGE_ORDER.flatMap((k) => ((changes[k] ?? 0) > 0 ? [`${changes[k]} ${k}`] : []));
  return parts.length > 0 ? parts.join(', ') : 'none';
}

/** A failure's message says why; a success is best told by its commit. */
function messageOf(entry: HistoryEntry): string {
  if (entry.result !== 'Succeeded' && entry.message) return entry.message;
  return entry.commit?.message ?? entry.message ?? '';
}

export function formatHistoryTable(entries: readonly HistoryEntry[], options: FormatOptions): string {
  const colors = pc.createColors(options.color);
  const header = [
    'ID',
    'REVISION',
    'TRIGGER',
    'BY',
    'STARTED',
    'DURATION',
    'RESULT',
    'HEALTH',
    'CHANGES',
    'MESSAGE',
  ];
  const rows = entries.map((e) => [
    e.id === undefined ? '' : String(e.id),
    shortSha(e.revision),
    e.trigger === 'rollback' && e.rollbackOf ? `rollback from ${shortSha(e.rollbackOf)}` : (e.trigger ?? ''),
    truncate(e.requestedBy, 32),
    `${formatAge(e.startedAt, options.now)} ago`,
    formatDuration(e.durationSeconds),
    e.result,
    e.health ?? '',
    truncate(formatChanges(e.changes), 48),
    truncate(messageOf(e), 72),
  ]);
  const paint = (column: string, value: string, padded: string): string => {
    if (column !== 'RESULT' && column !== 'HEALTH') return padded;
    if (value === 'Succeeded' || value === 'Current') return colors.green(padded);
    if (value === 'Failed') return colors.red(padded);
    if (value === 'RolledBack' || value === 'OutOfSync' || value === 'InProgress')
      return colors.yellow(padded);
    return padded;
  };
  return `${renderTable(header, rows, paint).join('\n')}\n`;
}

/** `-o json`: the entries as recorded (full SHAs and timestamps), and where they came from. */
export function formatHistoryJson(view: HistoryView): string {
  return `${JSON.stringify(
    {
      application: { namespace: view.namespace, name: view.name },
      source: view.source,
      entries: view.entries,
    },
    null,
    2,
  )}\n`;
}
