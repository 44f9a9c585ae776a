import { describe, expect, it } from 'vitest';
import type { PreviewObject } from '../engine/preview.js';
import { code, escapeHtml, escapeText, fenceFor, formatPlanMarkdown } from './markdown.js';
import { EMPTY_COUNTS, type AppPlan, type ChangePlan } from './types.js';

const BASE = 'a'.repeat(40);
const HEAD = 'b'.repeat(40);

function object(overrides: Partial<PreviewObject> = {}): PreviewObject {
  return {
    ref: { group: '', kind: 'ConfigMap', namespace: 'shop', name: 'settings' },
    action: 'update',
    unifiedDiff: '--- live\n+++ desired\n@@ -1 +1 @@\n-a: 1\n+a: 2\n',
    changes: [{ path: '/data/a', op: 'replace', managers: ['capstan'] }],
    exists: true,
    owners: [],
    ...overrides,
  };
}

function app(overrides: Partial<AppPlan> = {}): AppPlan {
  return {
    namespace: 'shop',
    name: 'web',
    path: 'apps/web',
    result: 'changes',
    counts: { ...EMPTY_COUNTS, update: 1 },
    objects: [object()],
    warnings: [],
    notes: [],
    ...overrides,
  };
}

function plan(apps: AppPlan[], overrides: Partial<ChangePlan> = {}): ChangePlan {
  return {
    repository: 'https://git.example/org/deploy',
    base: { ref: 'main', sha: BASE },
    head: { ref: 'refs/pull/7/head', sha: HEAD },
    apps,
    untouched: 9,
    ...overrides,
  };
}

/** The text outside fenced code blocks, where Markdown and HTML are interpreted. */
function outsideFences(markdown: string): string {
  const lines = markdown.split('\n');
  const kept: string[] = [];
  let fence: string | undefined;
  for (const line of lines) {
    const opening = /^(`{3,})/.exec(line)?.[1];
    if (fence === undefined && opening) fence = opening;
    else if (fence !== undefined && line.trim() === fence) fence = undefined;
    else if (fence === undefined) kept.push(line);
  }
  return kept.join('\n');
}

describe('formatPlanMarkdown', () => {
  it('has a header with both short SHAs, a summary table and a folded diff per app', () => {
    const markdown = formatPlanMarkdown(plan([app()]));
    expect(markdown.split('\n')[0]).toContain('aaaaaaa..bbbbbbb');
    expect(markdown).toContain('| App | Result | Create | Update | Recreate | Prune | Warnings |');
    expect(markdown).toMatch(/\| shop\/web \| changes \| 0 \| 1 \| 0 \| 0 \| 0 \|/);
    expect(markdown).toContain('9 other app(s) on this branch render the same at head.');
    expect(markdown).toContain('<details><summary>Diff of shop/web</summary>');
    expect(markdown).toContain('```diff\n--- live\n+++ desired\n');
  });

  it('lists warnings and the current field managers of changed fields', () => {
    const markdown = formatPlanMarkdown(
      plan([
        app({
          objects: [object({ changes: [{ path: '/spec/replicas', op: 'replace', managers: ['intruder'] }] })],
          warnings: [{ kind: 'prunesNamespace', message: 'deletes Namespace shop and everything in it' }],
        }),
      ]),
    );
    expect(markdown).toContain('⚠️ deletes Namespace shop and everything in it');
    expect(markdown).toContain('(now owned by intruder)');
    expect(markdown).toMatch(/\| ⚠️ 1 \|/);
  });

  it('escapes hostile names, paths and messages: no HTML, no links, no images, no mentions', () => {
    const hostile =
      '<img src=x onerror=alert(1)> [click](https://evil.example) ![i](https://evil.example/i.png) @org/team @admin | # Title\n## injected\r\n</details>';
    const markdown = formatPlanMarkdown(
      plan([
        app({
          name: hostile,
          path: hostile,
          result: 'error',
          error: hostile,
          warnings: [{ kind: 'failed', message: hostile }],
          notes: [hostile],
          actor: hostile,
          objects: [
            object({
              ref: { group: '', kind: 'ConfigMap', namespace: 'shop', name: hostile },
              changes: [{ path: hostile, op: 'add', managers: [hostile] }],
            }),
          ],
        }),
      ]),
    );
    const text = outsideFences(markdown);
    // Inside code spans and the HTML of a <summary> nothing is Markdown: look at those apart.
    const summaries = text.split('\n').filter((line) => line.startsWith('<details>'));
    for (const line of summaries) expect(line).toMatch(/^<details><summary>[^<>]*<\/summary>$/);
    const spans = text.match(/(`+) .*? \1/g) ?? [];
    for (const span of spans) expect(span).not.toContain('\n');
    const prose = text
      .split('\n')
      .filter((line) => !line.startsWith('<details>') && line !== '</details>')
      .join('\n')
      .replace(/(`+) .*? \1/g, '');
    expect(prose).not.toMatch(/<img/i);
    expect(prose).not.toMatch(/<\/details>/);
    expect(prose).not.toMatch(/\]\(https?:/);
    expect(prose).not.toMatch(/(^|[^\\])!\[/);
    // Every @ is followed by a zero-width space, so no one is mentioned.
    expect(prose).not.toMatch(/@(?!&#8203;)/);
    // The hostile newline did not start a heading of its own.
    expect(text).not.toMatch(/^#+ injected/m);
    // Each summary table row is still one line with its 8 cell borders.
    const row = text.split('\n').find((line) => line.includes('error |'))!;
    expect(row.match(/(?<!\\)\|/g)).toHaveLength(8);
  });

  it('puts a diff in a fence longer than any backtick run inside it', () => {
    const diff = '--- live\n+++ desired\n+a: "```"\n+b: "`````\n```\n</details>\n@admin"\n';
    const markdown = formatPlanMarkdown(plan([app({ objects: [object({ unifiedDiff: diff })] })]));
    expect(markdown).toContain('``````diff\n');
    expect(markdown).toContain(`${diff}\`\`\`\`\`\`\n`);
    expect(fenceFor('no ticks')).toBe('```');
    expect(fenceFor('a ```` b')).toBe('`````');
  });

  it('stays within maxChars, cutting diffs first and saying so', () => {
    const longDiff = `--- live\n+++ desired\n${'+line of a big config map\n'.repeat(5000)}`;
    const apps = Array.from({ length: 5 }, (_, i) =>
      app({ name: `web-${i}`, objects: [object({ unifiedDiff: longDiff })] }),
    );
    const markdown = formatPlanMarkdown(plan(apps));
    expect(markdown.length).toBeLessThanOrEqual(60_000);
    for (let i = 0; i < 5; i++) expect(markdown).toContain(`#### shop/web\\-${i}`);
    expect(markdown).toContain('Some diffs were cut or left out');
    // Whole lines only, and each fence still closed.
    expect(outsideFences(markdown)).not.toContain('+line of a big config map');
    const small = formatPlanMarkdown(plan(apps), { maxChars: 5000 });
    expect(small.length).toBeLessThanOrEqual(5000);
  });

  it('leaves out whole apps when even their summaries do not fit', () => {
    const apps = Array.from({ length: 300 }, (_, i) =>
      app({ name: `app-${i}`, objects: Array.from({ length: 20 }, () => object()) }),
    );
    const markdown = formatPlanMarkdown(plan(apps), { maxChars: 20_000 });
    expect(markdown.length).toBeLessThanOrEqual(20_000);
    expect(markdown).toMatch(/\d+ more app\(s\) not shown/);
  });

  it('says when no app changes and when none follows the branch', () => {
    expect(formatPlanMarkdown(plan([]))).toContain('No app changes: 9 app(s)');
    expect(formatPlanMarkdown(plan([], { untouched: 0, base: { ref: 'main', sha: '' } }))).toContain(
      'No Application follows this branch',
    );
  });
});

describe('escaping helpers', () => {
  it('escapeText escapes Markdown and HTML and breaks mentions', () => {
    expect(escapeText('a*b_c <b> & @x')).toBe('a\\*b\\_c &lt;b&gt; &amp; @&#8203;x');
    expect(escapeText('line\nbreak')).toBe('line break');
  });

  it('escapeHtml escapes for HTML only', () => {
    expect(escapeHtml('a-b <i>"\'@x')).toBe('a-b &lt;i&gt;&quot;&#39;@&#8203;x');
  });

  it('code spans cannot be closed from inside', () => {
    expect(code('a`b')).toBe('`` a`b ``');
    expect(code('x|y')).toBe('` x\\|y `');
  });
});
