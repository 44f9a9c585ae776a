/**
 * How sync results look to people (kubectl-style tables, unified diffs, colour on a TTY only) and to
 * programs (`-o json`). Progress goes to stderr, results to stdout.
 *
 * Nothing here prints an applied object: results carry only references, reasons and masked diffs.
 */
import pc from 'picocolors';
import { formatRef } from '../core/objects.js';
import type { ObjectAction, ObjectResult } from '../apply/index.js';
import type { SyncEvent, SyncResult } from '../engine/sync.js';
import { renderTable } from './table.js';

export type OutputFormat = 'text' | 'json';

export interface Reporter {
  line(text: string): void;
  event(event: SyncEvent): void;
  done(): void;
}

/** Progress lines on stderr: one per stage, so a person sees what a long sync is doing. */
export function createReporter(_format: OutputFormat, stream: NodeJS.WriteStream): Reporter {
  const write = (text: string): void => {
    stream.write(`${text}\n`);
  };
  return {
    line: write,
    event(event) {
      if (event.type === 'stage') write(`${event.stage}: ${event.message}`);
    },
    done() {},
  };
}

const ACTION_ORDER: readonly ObjectAction[] = [
  'created',
  'configured',
  'recreated',
  'pruned',
  'unchanged',
  'skipped',
  'failed',
];

export function formatResult(result: SyncResult, format: OutputFormat, options: { color: boolean }): string {
  if (format === 'json') return `${JSON.stringify(toJson(result), null, 2)}\n`;
  const colors = pc.createColors(options.color);
  const would = result.mode === 'diff';
  const lines: string[] = [];
  const revision = result.revision.commit
    ? `${result.revision.id.slice(0, 12)} ${result.revision.commit.ref} (${result.revision.commit.message.split('\n')[0]})`
    : result.revision.id;
  lines.push(
    `app ${result.app.namespace}/${result.app.name} at ${revision}, rendered with ${result.renderKind}`,
  );

  const rows = result.objects.map((r) => [
    r.ref.kind,
    r.ref.namespace ?? '',
    r.ref.name,
    actionLabel(r.action, would),
    r.reason ?? '',
  ]);
  if (rows.length > 0)
    lines.push(
      '',
      ...renderTable(['KIND', 'NAMESPACE', 'NAME', 'ACTION', 'DETAILS'], rows, (column, _value, padded) =>
        column === 'ACTION' ? paint(colors, padded) : padded,
      ),
    );

  if (would) {
    for (const object of result.objects) {
      if (!object.diff || object.diff.action === 'unchanged') continue;
      lines.push(
        '',
        colors.bold(
          `${would ? 'would ' : ''}${object.action === 'created' ? 'create' : 'change'} ${formatRef(object.ref)}`,
        ),
      );
      for (const change of object.diff.changes) {
        const owners =
          change.previousManagers.length > 0 ? ` (owned by ${change.previousManagers.join(', ')})` : '';
        lines.push(`  ${change.op} ${change.path}${colors.dim(owners)}`);
      }
      lines.push(
        ...object.diff.unifiedDiff
          .trimEnd()
          .split('\n')
          .map((line) => colorDiffLine(colors, line)),
      );
    }
  }

  if (result.pruneSkipped) lines.push('', colors.yellow(result.pruneSkipped));
  if (result.health)
    lines.push(
      '',
      `health: ${result.health.outcome}${result.health.outcome === 'Current' ? '' : `\n${result.health.message}`}`,
    );
  lines.push('', summary(result));
  return `${lines.join('\n')}\n`;
}

function summary(result: SyncResult): string {
  const counts = new Map<ObjectAction, number>();
  for (const r of result.objects) counts.set(r.action, (counts.get(r.action) ?? 0) + 1);
  const parts = ACTION_ORDER.filter((a) => counts.has(a)).map(
    (a) => `${counts.get(a)} ${actionLabel(a, result.mode === 'diff')}`,
  );
  const verdict = result.failed
    ? 'failed'
    : result.mode === 'diff'
      ? result.changed
        ? 'out of sync'
        : 'in sync'
      : 'applied';
  return `${verdict}: ${parts.join(', ') || 'no objects'}`;
}

function actionLabel(action: ObjectAction, would: boolean): string {
  if (!would || action === 'unchanged' || action === 'failed' || action === 'skipped') return action;
  return `${action} (dry run)`;
}

function paint(colors: ReturnType<typeof pc.createColors>, cell: string): string {
  if (cell.startsWith('failed')) return colors.red(cell);
  if (cell.startsWith('created') || cell.startsWith('configured') || cell.startsWith('recreated'))
    return colors.green(cell);
  if (cell.startsWith('pruned')) return colors.magenta(cell);
  if (cell.startsWith('skipped')) return colors.yellow(cell);
  return cell;
}

function colorDiffLine(colors: ReturnType<typeof pc.createColors>, line: string): string {
  if (line.startsWith('+') && !line.startsWith('+++')) return colors.green(line);
  if (line.startsWith('-') && !line.startsWith('---')) return colors.red(line);
  if (line.startsWith('@@')) return colors.cyan(line);
  return line;
}

/** The JSON form: references, actions, reasons and masked diffs — never the applied objects. */
export function toJson(result: SyncResult): unknown {
  return {
    app: result.app,
    mode: result.mode,
    revision: {
      id: result.revision.id,
      ...(result.revision.commit
        ? {
            ref: result.revision.commit.ref,
            message: result.revision.commit.message,
            author: result.revision.commit.author,
            date: result.revision.commit.date,
          }
        : {}),
    },
    renderKind: result.renderKind,
    changed: result.changed,
    failed: result.failed,
    objects: result.objects.map(objectJson),
    ...(result.pruneSkipped ? { pruneSkipped: result.pruneSkipped } : {}),
    ...(result.health ? { health: result.health } : {}),
  };
}

function objectJson(result: ObjectResult): unknown {
  return {
    ...result.ref,
    action: result.action,
    ...(result.reason ? { reason: result.reason } : {}),
    ...(result.diff ? { changes: result.diff.changes, diff: result.diff.unifiedDiff } : {}),
  };
}
