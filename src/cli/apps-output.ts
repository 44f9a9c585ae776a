/**
 * How Applications and Repositories look to people: kubectl-style tables for `get`, sections for
 * `describe`, and `-o json|yaml` for programs. Pure functions of the objects and a clock, so tests
 * feed them fixtures.
 *
 * Only the Application and Repository themselves are ever printed whole (with -o); the objects an
 * app manages appear as references and status summaries, never their content.
 */
import pc from 'picocolors';
import { stringify as toYaml } from 'yaml';
import {
  applicationSpecSchema,
  type Application,
  type ApplicationSpec,
  type Condition,
  type Repository,
} from '../api/v1alpha1.js';
import type { ImagePolicy } from '../api/image-policy.js';
import type { KubeObject } from '../core/objects.js';
import { redactUrl } from '../source/index.js';
import { renderTable } from './table.js';

export type StructuredFormat = 'json' | 'yaml';
type Colors = ReturnType<typeof pc.createColors>;

export interface FormatOptions {
  readonly now: Date;
  readonly color: boolean;
}

/** A core/v1 Event, as much of it as `describe` shows. */
export interface KubeEvent extends KubeObject {
  type?: string;
  reason?: string;
  message?: string;
  count?: number;
  firstTimestamp?: string;
  lastTimestamp?: string;
  eventTime?: string;
  involvedObject?: { apiVersion?: string; kind?: string; name?: string; uid?: string };
}

const NONE = '<none>';
const MESSAGE_WIDTH = 60;

// ── small pieces ────────────────────────────────────────────────────────────────────────────────

/** kubectl's age format (`45s`, `5m30s`, `3h`, `2d4h`, `400d`), so both tools read alike. */
export function formatAge(since: string | undefined, now: Date): string {
  if (!since) return NONE;
  const at = Date.parse(since);
  if (Number.isNaN(at)) return NONE;
  const seconds = Math.floor((now.getTime() - at) / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  const minutes = Math.floor(seconds / 60);
  const hours = Math.floor(minutes / 60);
  const days = Math.floor(hours / 24);
  const years = Math.floor(days / 365);
  const both = (big: number, bigUnit: string, small: number, smallUnit: string): string =>
    small === 0 ? `${big}${bigUnit}` : `${big}${bigUnit}${small}${smallUnit}`;
  if (seconds < 120) return `${seconds}s`;
  if (minutes < 10) return both(minutes, 'm', seconds % 60, 's');
  if (minutes < 180) return `${minutes}m`;
  if (hours < 8) return both(hours, 'h', minutes % 60, 'm');
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) return both(days, 'd', hours % 24, 'h');
  if (days < 365 * 2) return `${days}d`;
  if (days < 365 * 8) return both(years, 'y', days % 365, 'd');
  return `${years}y`;
}

/** One line, at most `max` characters: a table cell must not wrap or grow without bound. */
export function truncate(text: string | undefined, max = MESSAGE_WIDTH): string {
  const line = (text ?? '').replace(/\s+/g, ' ').trim();
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`;
}

export function shortSha(sha: string | undefined): string {
  return sha ? sha.slice(0, 12) : '';
}

export function conditionOf(object: { status?: { conditions?: Condition[] } }, type: string) {
  return object.status?.conditions?.find((c) => c.type === type);
}

/** Green for good, red for bad, yellow for in-between; anything else as is. */
function paintStatus(colors: Colors, value: string, text: string): string {
  if (/^(True|Synced|Current|Healthy|Succeeded|Normal|created|configured|recreated|unchanged)$/.test(value))
    return colors.green(text);
  if (/^(False|Failed|Degraded|Missing|Warning|failed)$/.test(value)) return colors.red(text);
  if (
    /^(Unknown|OutOfSync|InProgress|Progressing|Suspended|RolledBack|Terminating|NotFound|skipped|pruned)$/.test(
      value,
    )
  )
    return colors.yellow(text);
  return text;
}

export { renderTable } from './table.js';

const STATUS_COLUMNS = new Set(['READY', 'SYNC', 'HEALTH', 'STATUS', 'RESULT', 'TYPE']);

function tablePainter(colors: Colors) {
  return (column: string, value: string, padded: string): string =>
    STATUS_COLUMNS.has(column) ? paintStatus(colors, value, padded) : padded;
}

function byNamespaceAndName(a: KubeObject, b: KubeObject): number {
  return (
    (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? '') ||
    (a.metadata.name ?? '').localeCompare(b.metadata.name ?? '')
  );
}

// ── get ─────────────────────────────────────────────────────────────────────────────────────────

export interface TableOptions extends FormatOptions {
  /** Adds a NAMESPACE column, as `kubectl get -A` does. */
  readonly allNamespaces: boolean;
}

export function formatApplicationTable(apps: readonly Application[], options: TableOptions): string {
  const header = [
    ...(options.allNamespaces ? ['NAMESPACE'] : []),
    'NAME',
    'REPOSITORY',
    'REF',
    'REVISION',
    'SYNC',
    'HEALTH',
    'READY',
    'AGE',
    'REASON',
    'MESSAGE',
  ];
  const rows = [...apps].sort(byNamespaceAndName).map((app) => {
    const ready = conditionOf(app, 'Ready');
    return [
      ...(options.allNamespaces ? [app.metadata.namespace] : []),
      app.metadata.name,
      app.spec.sourceRef?.name ?? '',
      app.spec.ref ?? 'main',
      shortSha(app.status?.lastAppliedRevision?.sha),
      app.status?.sync?.status ?? '',
      app.status?.health?.status ?? '',
      ready?.status ?? 'Unknown',
      formatAge(app.metadata.creationTimestamp, options.now),
      app.spec.suspend ? 'Suspended' : (ready?.reason ?? ''),
      truncate(ready?.message),
    ];
  });
  return `${renderTable(header, rows, tablePainter(pc.createColors(options.color))).join('\n')}\n`;
}

export function formatRepositoryTable(repos: readonly Repository[], options: TableOptions): string {
  const header = [
    ...(options.allNamespaces ? ['NAMESPACE'] : []),
    'NAME',
    'URL',
    'REVISIONS',
    'READY',
    'AGE',
    'REASON',
    'MESSAGE',
  ];
  const rows = [...repos].sort(byNamespaceAndName).map((repo) => {
    const ready = conditionOf(repo, 'Ready');
    const revisions = (repo.status?.revisions ?? []).map((r) => `${r.ref}@${shortSha(r.sha)}`);
    return [
      ...(options.allNamespaces ? [repo.metadata.namespace] : []),
      repo.metadata.name,
      redactUrl(repo.spec.url),
      truncate(revisions.join(','), 40),
      ready?.status ?? 'Unknown',
      formatAge(repo.metadata.creationTimestamp, options.now),
      repo.spec.suspend ? 'Suspended' : (ready?.reason ?? ''),
      truncate(ready?.message),
    ];
  });
  return `${renderTable(header, rows, tablePainter(pc.createColors(options.color))).join('\n')}\n`;
}

/** `get images`: each ImagePolicy's image, the newest allowed tag, and where Git was last brought to it. */
export function formatImagePolicyTable(policies: readonly ImagePolicy[], options: TableOptions): string {
  const header = [
    ...(options.allNamespaces ? ['NAMESPACE'] : []),
    'NAME',
    'IMAGE',
    'LATEST',
    'GIT',
    'READY',
    'AGE',
    'REASON',
    'MESSAGE',
  ];
  const rows = [...policies].sort(byNamespaceAndName).map((policy) => {
    const ready = conditionOf(policy, 'Ready');
    const git = (policy.status?.updates ?? []).map(
      (u) => `${u.branch}:${u.outcome}${u.pullRequest ? `#${u.pullRequest.number}` : ''}`,
    );
    return [
      ...(options.allNamespaces ? [policy.metadata.namespace] : []),
      policy.metadata.name,
      truncate(String(policy.spec.image ?? ''), 50),
      policy.status?.latest?.tag ?? '',
      truncate(git.join(','), 40),
      ready?.status ?? 'Unknown',
      formatAge(policy.metadata.creationTimestamp, options.now),
      policy.spec.suspend ? 'Suspended' : (ready?.reason ?? ''),
      truncate(ready?.message),
    ];
  });
  return `${renderTable(header, rows, tablePainter(pc.createColors(options.color))).join('\n')}\n`;
}

/** `-o json|yaml`: the objects as stored, less managedFields (noise nobody asked for), like kubectl. */
export function formatObjects(
  objects: readonly KubeObject[],
  format: StructuredFormat,
  asList: boolean,
): string {
  const clean = objects.map(withoutManagedFields);
  const value = asList ? { apiVersion: 'v1', kind: 'List', items: clean } : clean[0];
  return format === 'json' ? `${JSON.stringify(value, null, 2)}\n` : toYaml(value);
}

function withoutManagedFields<T extends KubeObject>(object: T): T {
  const { managedFields: _dropped, ...metadata } = object.metadata;
  return { ...object, metadata };
}

// ── describe ────────────────────────────────────────────────────────────────────────────────────

export interface DescribeInput {
  readonly app: Application;
  /** The app's source, when it could be read: its URL says where the manifests come from. */
  readonly repository?: Repository | undefined;
  /** Events about the app, any order. */
  readonly events: readonly KubeEvent[];
}

const LABEL_WIDTH = 18;
const MAX_EVENTS = 20;

const field = (label: string, value: string): string => `${`${label}:`.padEnd(LABEL_WIDTH)}${value}`;
const indent = (lines: readonly string[]): string[] => lines.map((l) => `  ${l}`);

export function formatApplicationDescription(input: DescribeInput, options: FormatOptions): string {
  const { app } = input;
  const colors = pc.createColors(options.color);
  const painter = tablePainter(colors);
  const now = options.now;
  const parsed = applicationSpecSchema.safeParse(app.spec);
  const status = app.status ?? {};
  const lines: string[] = [
    field('Name', app.metadata.name),
    field('Namespace', app.metadata.namespace),
    field(
      'Created',
      `${app.metadata.creationTimestamp ?? NONE} (${formatAge(app.metadata.creationTimestamp, now)} ago)`,
    ),
  ];
  if (parsed.success) lines.push(...specSummary(parsed.data, app, input.repository));
  else
    lines.push(
      field('Spec', colors.red('invalid')),
      ...indent(parsed.error.issues.map((i) => `spec.${i.path.join('.')}: ${i.message}`)),
    );

  lines.push('', 'Status:');
  lines.push(
    ...indent([
      field(
        'Sync',
        `${status.sync?.status ?? NONE}${status.sync?.revision ? ` at ${shortSha(status.sync.revision)}` : ''}`,
      ),
      field(
        'Health',
        `${status.health?.status ?? NONE}${status.health?.message ? ` (${status.health.message})` : ''}`,
      ),
      ...(status.lastHealthyRevision
        ? [field('Last healthy', shortSha(status.lastHealthyRevision.sha))]
        : []),
      ...(status.rollback
        ? [
            field(
              'Rollback',
              `${shortSha(status.rollback.from)} → ${shortSha(status.rollback.to)} (${status.rollback.automatic ? 'automatic' : `by ${status.rollback.by ?? 'request'}`}): ${status.rollback.reason.split('\n')[0]}`,
            ),
            ...(status.rollback.gitRevert
              ? [
                  field(
                    'Git revert',
                    `${status.rollback.gitRevert.state}: ${status.rollback.gitRevert.message}`,
                  ),
                ]
              : []),
          ]
        : []),
      ...(status.rejectedRevisions?.length
        ? [field('Rejected', status.rejectedRevisions.map((r) => shortSha(r.sha)).join(', '))]
        : []),
      ...(status.promotion
        ? [
            field(
              'Promotion',
              `${status.promotion.state} from ${status.promotion.from}${status.promotion.sourceRevision ? `@${shortSha(status.promotion.sourceRevision)}` : ''}: ${status.promotion.message.split('\n')[0]}${status.promotion.url ? ` (${status.promotion.url})` : ''}`,
            ),
          ]
        : []),
      field(
        'Generation',
        `${app.metadata.generation ?? NONE} (observed: ${status.observedGeneration ?? NONE})`,
      ),
      ...(status.inventory
        ? [
            field(
              'Inventory',
              `ConfigMap ${status.inventory.configMap}, ${status.inventory.entries} ${status.inventory.entries === 1 ? 'entry' : 'entries'}`,
            ),
          ]
        : []),
    ]),
  );

  lines.push('', 'Conditions:');
  const conditions = status.conditions ?? [];
  if (conditions.length === 0) lines.push(`  ${NONE}`);
  else
    lines.push(
      ...indent(
        renderTable(
          ['TYPE', 'STATUS', 'REASON', 'AGE', 'MESSAGE'],
          conditions.map((c) => [
            c.type,
            c.status,
            c.reason,
            formatAge(c.lastTransitionTime, now),
            truncate(c.message, 200),
          ]),
          (column, value, padded) => (column === 'STATUS' ? painter(column, value, padded) : padded),
        ),
      ),
    );

  lines.push('', 'Last applied revision:');
  const applied = status.lastAppliedRevision;
  if (!applied) lines.push(`  ${NONE}`);
  else
    lines.push(
      ...indent([
        field('SHA', applied.sha),
        ...(applied.ref ? [field('Ref', applied.ref)] : []),
        ...(applied.message ? [field('Message', truncate(applied.message.split('\n')[0], 200))] : []),
        ...(applied.author ? [field('Author', applied.author)] : []),
        ...(applied.date ? [field('Date', `${applied.date} (${formatAge(applied.date, now)} ago)`)] : []),
      ]),
    );
  if (status.lastAttemptedRevision && status.lastAttemptedRevision !== applied?.sha)
    lines.push(`  ${field('Last attempted', colors.yellow(status.lastAttemptedRevision))}`);

  lines.push('', 'Objects:');
  const resources = status.resources ?? [];
  if (resources.length === 0) lines.push(`  ${NONE}`);
  else
    lines.push(
      ...indent(
        renderTable(
          ['KIND', 'NAMESPACE', 'NAME', 'SYNC', 'HEALTH', 'MESSAGE'],
          resources.map((r) => [
            r.group ? `${r.kind}.${r.group}` : r.kind,
            r.namespace ?? '',
            r.name,
            r.sync,
            r.health ?? '',
            truncate(r.message, 120),
          ]),
          painter,
        ),
      ),
    );

  lines.push('', 'History:');
  const history = status.history ?? [];
  if (history.length === 0) lines.push(`  ${NONE}`);
  else
    lines.push(
      ...indent(
        renderTable(
          ['REVISION', 'FINISHED', 'RESULT', 'HEALTH', 'DURATION', 'MESSAGE'],
          history.map((h) => [
            shortSha(h.revision),
            `${formatAge(h.finishedAt, now)} ago`,
            h.result,
            h.health ?? '',
            `${h.durationSeconds}s`,
            truncate(h.message, 120),
          ]),
          painter,
        ),
      ),
    );

  if (status.lastError)
    lines.push('', 'Last error:', ...indent(status.lastError.split('\n').map((l) => colors.red(l))));

  lines.push('', 'Events:');
  const events = recentEvents(input.events);
  if (events.shown.length === 0) lines.push(`  ${NONE}`);
  else {
    lines.push(
      ...indent(
        renderTable(
          ['TYPE', 'REASON', 'AGE', 'MESSAGE'],
          events.shown.map((e) => [
            e.type ?? '',
            e.reason ?? '',
            `${formatAge(eventTime(e), now)}${(e.count ?? 1) > 1 ? ` (x${e.count})` : ''}`,
            truncate(e.message, 200),
          ]),
          painter,
        ),
      ),
    );
    if (events.older > 0) lines.push(colors.dim(`  (${events.older} older events not shown)`));
  }
  return `${lines.join('\n')}\n`;
}

function specSummary(spec: ApplicationSpec, app: Application, repository: Repository | undefined): string[] {
  const source = repository
    ? `Repository ${spec.sourceRef.name} (${redactUrl(repository.spec.url)})`
    : `Repository ${spec.sourceRef.name} (not found)`;
  const helm = spec.render.helm;
  const render = [
    spec.render.type,
    ...(helm?.releaseName ? [`release ${helm.releaseName}`] : []),
    ...(helm && helm.valueFiles.length > 0 ? [`values files ${helm.valueFiles.join(', ')}`] : []),
    // Inline values may hold anything: say they exist, not what they are.
    ...(helm?.values ? [`${Object.keys(helm.values).length} inline values`] : []),
  ].join(', ');
  const policy = spec.syncPolicy;
  const policyText = [
    policy.automated ? 'automated' : 'manual',
    ...(policy.prune ? ['prune'] : []),
    ...(policy.selfHeal ? ['self-heal'] : []),
    ...(policy.allowEmpty ? ['allow-empty'] : []),
    ...(policy.forceRecreate ? ['force-recreate'] : []),
    ...(policy.leaveFieldsToManagers.length > 0
      ? [`leave fields to ${policy.leaveFieldsToManagers.join(', ')}`]
      : []),
  ].join(', ');
  return [
    field('Source', source),
    field('Ref', spec.ref),
    field('Path', spec.path || '/'),
    field('Render', render),
    field(
      'Destination',
      `namespace ${spec.destination.namespace ?? `${app.metadata.namespace} (the app's)`}`,
    ),
    field('Sync policy', policyText),
    field('Depends on', spec.dependsOn.map((d) => d.name).join(', ') || NONE),
    field(
      'Service account',
      spec.serviceAccountName ?? "<none: the controller's --default-service-account, if set>",
    ),
    field('Health timeout', spec.healthTimeout),
    field('Suspended', String(spec.suspend)),
  ];
}

function eventTime(event: KubeEvent): string | undefined {
  return event.lastTimestamp ?? event.eventTime ?? event.firstTimestamp ?? event.metadata.creationTimestamp;
}

/** Oldest first, as `kubectl describe` lists them, and only the latest few. */
export function recentEvents(events: readonly KubeEvent[]): { shown: KubeEvent[]; older: number } {
  const sorted = [...events].sort(
    (a, b) => Date.parse(eventTime(a) ?? '') - Date.parse(eventTime(b) ?? '') || 0,
  );
  const shown = sorted.slice(-MAX_EVENTS);
  return { shown, older: sorted.length - shown.length };
}
