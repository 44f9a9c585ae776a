import { describe, expect, it } from 'vitest';
import type { HistoryEntry } from '../api/v1alpha1.js';
import {
  formatChanges,
  formatDuration,
  formatHistoryJson,
  formatHistoryTable,
  mergeHistory,
} from './history-output.js';

const NOW = new Date('2026-03-01T12:00:00Z');
const ago = (seconds: number): string => new Date(NOW.getTime() - seconds * 1000).toISOString();
const SHA = '0123456789abcdef0123456789abcdef01234567';
const OLD = 'fedcba9876543210fedcba9876543210fedcba98';
const none = { created: 0, configured: 0, recreated: 0, pruned: 0, failed: 0, unchanged: 3, skipped: 0 };

const entries: HistoryEntry[] = [
  {
    id: 3,
    revision: OLD,
    trigger: 'rollback',
    rollbackOf: SHA,
    requestedBy: 'alice@example.com',
    startedAt: ago(65),
    finishedAt: ago(60),
    durationSeconds: 5.04,
    result: 'Succeeded',
    health: 'Current',
    changes: { ...none, configured: 1, unchanged: 2 },
    commit: { message: 'web: green', author: 'Ada <ada@example.com>' },
  },
  {
    id: 2,
    revision: SHA,
    trigger: 'webhook',
    startedAt: ago(600),
    finishedAt: ago(475),
    durationSeconds: 125,
    result: 'Failed',
    health: 'Failed',
    changes: { ...none, created: 1, failed: 1, unchanged: 1 },
    commit: { message: 'web: blue', author: 'Ada <ada@example.com>' },
    message: 'Deployment/web: ProgressDeadlineExceeded',
  },
  {
    id: 1,
    revision: OLD,
    trigger: 'drift',
    startedAt: ago(7200),
    finishedAt: ago(7200),
    durationSeconds: 0.31,
    result: 'Succeeded',
    changes: none,
  },
];

describe('formatHistoryTable', () => {
  it('shows one row per sync, newest first, without colour off a TTY', () => {
    const text = formatHistoryTable(entries, { now: NOW, color: false });
    const [header, ...rows] = text.trimEnd().split('\n');
    expect(header!.split(/\s{3,}/)).toEqual([
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
    ]);
    expect(rows).toHaveLength(3);
    expect(rows[0]!.split(/\s{3,}/)).toEqual([
      '3',
      OLD.slice(0, 12),
      `rollback from ${SHA.slice(0, 12)}`,
      'alice@example.com',
      '65s ago',
      '5s',
      'Succeeded',
      'Current',
      '1 configured',
      'web: green',
    ]);
    // A failure says why, not what the commit was.
    expect(rows[1]!.split(/\s{3,}/)).toEqual([
      '2',
      SHA.slice(0, 12),
      'webhook',
      '10m ago',
      '2m5s',
      'Failed',
      'Failed',
      '1 created, 1 failed',
      'Deployment/web: ProgressDeadlineExceeded',
    ]);
    expect(rows[2]).toMatch(/^1\s+fedcba987654\s+drift\s+120m ago\s+0.3s\s+Succeeded\s+none$/);
    expect(text).not.toContain('\u001b[');
  });

  it('paints results on a TTY', () => {
    expect(formatHistoryTable(entries, { now: NOW, color: true })).toContain('\u001b[');
  });
});

describe('formatHistoryJson', () => {
  it('prints the entries as recorded, with where they came from', () => {
    const json = JSON.parse(
      formatHistoryJson({ namespace: 'shop', name: 'web', source: 'configmap', entries }),
    );
    expect(json).toEqual({ application: { namespace: 'shop', name: 'web' }, source: 'configmap', entries });
  });
});

describe('mergeHistory', () => {
  it('uses the record, adds what only status holds, and falls back to status', () => {
    const legacy: HistoryEntry = { ...entries[2]!, id: undefined };
    delete legacy.id;
    const onlyInStatus: HistoryEntry = { ...entries[0]!, id: 4 };
    expect(mergeHistory(entries, [onlyInStatus, entries[0]!, legacy])).toEqual({
      source: 'configmap',
      entries: [onlyInStatus, ...entries, legacy],
    });
    expect(mergeHistory(undefined, [legacy])).toEqual({ source: 'status', entries: [legacy] });
    expect(mergeHistory(undefined, undefined)).toEqual({ source: 'status', entries: [] });
  });
});

describe('small formats', () => {
  it('formats durations and changes', () => {
    expect(formatDuration(0.31)).toBe('0.3s');
    expect(formatDuration(59.96)).toBe('60s');
    expect(formatDuration(125)).toBe('2m5s');
    expect(formatDuration(3725)).toBe('1h2m');
    expect(formatChanges(undefined)).toBe('');
    expect(formatChanges(none)).toBe('none');
    expect(formatChanges({ ...none, pruned: 2, recreated: 1 })).toBe('1 recreated, 2 pruned');
  });
});
