/**
 * A plan as a pull-request comment: a header with the commits, a summary table, then per app its
 * warnings, the fields that change with who owns them now, and the (masked) diff, folded.
 *
 * Safe to post: every name, path and message comes from the pull request or the cluster and is
 * hostile. Text is escaped (Markdown and HTML, so nothing becomes a link, an image, a heading or a
 * tag), `@mentions` are broken (no one is pinged by a plan), lines are folded (nothing breaks out
 * of a table row), and each diff sits in a fence longer than any run of backticks inside it. The
 * whole is at most `maxChars` long: diffs are cut first, and the comment says so.
 */
import { formatRef } from '../core/objects.js';
import type { PreviewObject } from '../engine/preview.js';
import type { AppPlan, ChangePlan } from './types.js';

export interface MarkdownOptions {
  /** Default 60000 (GitHub allows 65536 in a comment). */
  readonly maxChars?: number;
}

const DEFAULT_MAX_CHARS = 60_000;
/** Changed fields listed per object; more are counted. */
const MAX_FIELDS = 20;
/** A diff shorter than this is not worth showing cut. */
const MIN_DIFF_CHARS = 200;

export function formatPlanMarkdown(plan: ChangePlan, options: MarkdownOptions = {}): string {
  const maxChars = Math.max(1000, options.maxChars ?? DEFAULT_MAX_CHARS);
  // Room kept for the notes that say what was cut.
  const budget = maxChars - 200;
  const header = headerOf(plan);
  const sections = plan.apps.map(sectionOf);
  const fixed = header.length + sections.reduce((sum, s) => sum + s.text.length + s.wrapperChars, 0);
  // Diffs share what the rest leaves, in order; when the rest alone is too long, no diff is shown.
  let room = Math.max(0, budget - fixed);
  let length = header.length;
  let diffsCut = false;
  const parts = [header];
  for (const section of sections) {
    if (length + section.text.length + section.wrapperChars > budget) break;
    let text = section.text;
    if (section.diff !== undefined) {
      const diff = fitDiff(section.diff, room);
      room -= diff.text.length;
      diffsCut ||= diff.cut;
      text += detailsOf(section.diffTitle, diff.text, diff.cut);
    }
    parts.push(text);
    length += text.length;
  }
  const hidden = sections.length - (parts.length - 1);
  if (hidden > 0) parts.push(`\n_${hidden} more app(s) not shown: the comment would be too long._\n`);
  if (diffsCut) parts.push('\n_Some diffs were cut or left out to keep this comment short._\n');
  const text = parts.join('');
  // Only a header longer than the budget (thousands of apps in the table) gets here.
  return text.length <= maxChars ? text : `${text.slice(0, text.lastIndexOf('\n', maxChars - 2) + 1)}\n`;
}

function headerOf(plan: ChangePlan): string {
  const lines = [
    `### Capstan plan: ${escapeText(plan.repository)} ${shortSha(plan.base.sha)}..${shortSha(plan.head.sha)}`,
    '',
    `Base ${code(plan.base.ref)} at ${shortSha(plan.base.sha)}, head ${code(plan.head.ref)} at ${shortSha(plan.head.sha)}.`,
    '',
  ];
  if (plan.apps.length === 0) {
    lines.push(
      plan.untouched > 0
        ? `No app changes: ${plan.untouched} app(s) on this branch render the same at head.`
        : 'No Application follows this branch of this repository.',
      '',
    );
    return lines.join('\n');
  }
  lines.push(
    '| App | Result | Create | Update | Recreate | Prune | Warnings |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
    ...plan.apps.map(
      (app) =>
        `| ${escapeText(`${app.namespace}/${app.name}`)} | ${resultOf(app)} | ${app.counts.create} | ${app.counts.update} | ${app.counts.recreate} | ${app.counts.prune} | ${app.warnings.length > 0 ? `⚠️ ${app.warnings.length}` : '0'} |`,
    ),
    '',
  );
  if (plan.untouched > 0)
    lines.push(`${plan.untouched} other app(s) on this branch render the same at head.`, '');
  return lines.join('\n');
}

function resultOf(app: AppPlan): string {
  if (app.result === 'error') return '❌ error';
  return app.result === 'changes' ? 'changes' : 'no changes';
}

interface Section {
  /** Everything but the diff. */
  readonly text: string;
  /** The diffs of the app's objects, one after another; undefined when there is none. */
  readonly diff?: string;
  readonly diffTitle: string;
  /** Characters the `<details>` and the fence around the diff take. */
  readonly wrapperChars: number;
}

function sectionOf(app: AppPlan): Section {
  const lines = [`#### ${escapeText(`${app.namespace}/${app.name}`)} (${code(app.path || '.')})`, ''];
  if (app.error) lines.push(`❌ ${escapeText(app.error)}`, '');
  for (const warning of app.warnings) lines.push(`- ⚠️ ${escapeText(warning.message)}`);
  if (app.warnings.length > 0) lines.push('');
  for (const object of app.objects) lines.push(...objectLines(object));
  if (app.actor) lines.push('', `_Dry-run as ${escapeText(app.actor)}._`);
  for (const note of app.notes) lines.push('', `_${escapeText(note)}_`);
  lines.push('', '');
  const diffs = app.objects.map((o) => o.unifiedDiff).filter((d): d is string => d !== undefined);
  const diffTitle = `Diff of ${escapeHtml(`${app.namespace}/${app.name}`)}`;
  if (diffs.length === 0) return { text: lines.join('\n'), diffTitle, wrapperChars: 0 };
  const diff = diffs.map((d) => (d.endsWith('\n') ? d : `${d}\n`)).join('');
  // The folded block around the diff, with the longest fence it can need (a cut diff needs no longer).
  const wrapperChars = detailsOf(diffTitle, '\n', true).length - 1 + 2 * (fenceFor(diff).length - 3);
  return { text: lines.join('\n'), diff, diffTitle, wrapperChars };
}

function objectLines(object: PreviewObject): string[] {
  const lines = [`- **${object.action}** ${escapeText(formatRef(object.ref))}`];
  for (const change of object.changes.slice(0, MAX_FIELDS)) {
    const managers =
      change.managers.length > 0 ? ` (now owned by ${change.managers.map(escapeText).join(', ')})` : '';
    lines.push(`  - ${change.op} ${code(change.path)}${managers}`);
  }
  const more = object.changes.length - MAX_FIELDS + (object.changesOmitted ?? 0);
  if (more > 0) lines.push(`  - and ${more} more field(s)`);
  return lines;
}

function detailsOf(title: string, diff: string, cut: boolean): string {
  if (diff === '') return `<details><summary>${title} (left out)</summary>\n\n</details>\n\n`;
  const fence = fenceFor(diff);
  return `<details><summary>${title}${cut ? ' (cut)' : ''}</summary>\n\n${fence}diff\n${diff}${fence}\n\n</details>\n\n`;
}

/** At most `room` characters of the diff, cut at a line end; nothing when too little room is left. */
function fitDiff(diff: string, room: number): { text: string; cut: boolean } {
  if (diff.length <= room) return { text: diff, cut: false };
  if (room < MIN_DIFF_CHARS) return { text: '', cut: true };
  const end = diff.lastIndexOf('\n', room - 1);
  return { text: end < 0 ? '' : diff.slice(0, end + 1), cut: true };
}

/** A backtick fence longer than any run of backticks in `text`, so nothing inside can close it. */
export function fenceFor(text: string): string {
  let longest = 0;
  for (const run of text.match(/`+/g) ?? []) longest = Math.max(longest, run.length);
  return '`'.repeat(Math.max(3, longest + 1));
}

/** An inline code span that no backtick inside can end, on one line. */
export function code(text: string): string {
  const flat = oneLine(text);
  let longest = 0;
  for (const run of flat.match(/`+/g) ?? []) longest = Math.max(longest, run.length);
  const ticks = '`'.repeat(longest + 1);
  // A space on each side lets a span start or end with a backtick; `|` still ends a table cell.
  return `${ticks} ${flat.replace(/\|/g, '\\|')} ${ticks}`;
}

/**
 * Hostile text as plain text in Markdown: on one line, every Markdown punctuation mark escaped,
 * `<`, `>` and `&` as entities (no HTML tag, no entity of its own), and `@` followed by a
 * zero-width space so a mention pings no one.
 */
export function escapeText(text: string): string {
  return oneLine(text)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/[\\`*_{}[\]()#+\-.!|~:"']/g, (mark) => `\\${mark}`)
    .replace(/@/g, '@&#8203;');
}

/** Hostile text inside HTML (a `<summary>`), where Markdown escapes would show. */
export function escapeHtml(text: string): string {
  return oneLine(text)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;')
    .replace(/@/g, '@&#8203;');
}

/** Control characters and line breaks as spaces, and at most 2000 characters. */
function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  const flat = text.replace(/[\u0000-\u001f\u007f\u2028\u2029]+/g, ' ');
  return flat.length > 2000 ? `${flat.slice(0, 2000)}…` : flat;
}

function shortSha(sha: string): string {
  return sha ? sha.slice(0, 7) : '(unresolved)';
}
