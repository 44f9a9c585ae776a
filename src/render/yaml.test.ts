import { describe, expect, it } from 'vitest';
import { UserError } from '../core/errors.js';
import { SECRET, fullText } from '../../test/render/repo.js';
import { parseYamlStream, parseYamlStreamAsync } from './yaml.js';

const limits = { maxAliasCount: 100, maxDepth: 200 };

function parse(
  text: string,
  origin = 'apps/web/deploy.yaml',
  overrides: Partial<typeof limits & { maxDocuments: number }> = {},
) {
  return parseYamlStream(text, origin, { ...limits, ...overrides });
}

function parseError(
  text: string,
  overrides: Partial<typeof limits & { maxDocuments: number }> = {},
): UserError {
  try {
    parse(text, 'apps/web/deploy.yaml', overrides);
  } catch (error) {
    expect(error).toBeInstanceOf(UserError);
    return error as UserError;
  }
  throw new Error('expected a parse error');
}

describe('parseYamlStream', () => {
  it('reads multi-document streams, skipping empty documents and keeping indexes and lines', () => {
    const docs = parse('---\na: 1\n---\n# only a comment\n---\n~\n---\nb: 2\n');
    expect(docs.map((d) => [d.index, d.line, d.value])).toEqual([
      [0, 2, { a: 1 }],
      [3, 8, { b: 2 }],
    ]);
    expect(parse('')).toEqual([]);
  });

  it('reads CRLF line endings and counts lines right', () => {
    expect(parse('a: 1\r\nb:\r\n  c: 2\r\n')[0]?.value).toEqual({ a: 1, b: { c: 2 } });
    expect(parseError('a: 1\r\nb: [\r\n'.replace('[', '[' + '['.repeat(300))).message).toBe(
      'apps/web/deploy.yaml:2: invalid YAML: nesting deeper than 200 levels',
    );
    expect(parseError('a: 1\r\nb: 2\r\na: 3\r\n').message).toBe(
      'apps/web/deploy.yaml:3:1: invalid YAML: a mapping has the same key twice (DUPLICATE_KEY)',
    );
  });

  it('reads JSON as YAML', () => {
    expect(parse('{"kind": "List", "items": [1, 2.5, null, true]}')[0]?.value).toEqual({
      kind: 'List',
      items: [1, 2.5, null, true],
    });
  });

  it('uses YAML 1.1 semantics like kubectl, but keeps timestamps and sexagesimals as strings', () => {
    const [doc] = parse(
      'on: yes\nflag: off\noctal: 0777\nunderscored: 1_000\ndate: 2024-01-02\nport: 22:22\nexp: 1e3\ndot: .\ne: e5\nversion: v2\nmerged:\n  <<: {a: 1}\n  b: 2\n',
    );
    expect(doc?.value).toEqual({
      // kubectl turns boolean keys into "true"/"false" too.
      true: true,
      flag: false,
      octal: 511,
      underscored: 1000,
      date: '2024-01-02',
      port: '22:22',
      exp: 1000,
      dot: '.',
      e: 'e5',
      version: 'v2',
      merged: { a: 1, b: 2 },
    });
  });

  it('copies values so aliases do not share objects', () => {
    const [doc] = parse('a: &x {k: v}\nb: *x\n');
    const value = doc?.value as { a: object; b: object };
    expect(value.a).toEqual(value.b);
    expect(value.a).not.toBe(value.b);
  });

  it('keeps __proto__ as an ordinary key', () => {
    const [doc] = parse('__proto__: {polluted: true}\n');
    const value = doc?.value as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.keys(value)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses a billion-laughs alias bomb with a clear error', () => {
    const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 9; i++) {
      const [name, prev] = [String.fromCharCode(97 + i), String.fromCharCode(96 + i)];
      lines.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    const started = Date.now();
    const error = parseError(lines.join('\n'));
    expect(error.message).toBe(
      'apps/web/deploy.yaml: document 1 (line 1) uses aliases beyond the limit of 100 (a YAML "billion laughs" expansion?)',
    );
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('refuses aliases that repeat a large collection many times', () => {
    const big = Array.from({ length: 5000 }, (_, i) => `  k${i}: v`).join('\n');
    const text = `big: &big\n${big}\nuses: [${Array(90).fill('*big').join(', ')}]\n`;
    expect(parseError(text).message).toMatch(
      /^apps\/web\/deploy\.yaml: document 1 \(line 1\) expands to too many values/,
    );
  });

  it.each([
    ['flow sequences', (n: number) => '['.repeat(n) + ']'.repeat(n), 1_000_000],
    ['flow mappings', (n: number) => '{a: '.repeat(n) + '1' + '}'.repeat(n), 1_000_000],
    ['compact block sequences', (n: number) => '- '.repeat(n) + 'x\n', 1_000_000],
    [
      'indented mappings',
      (n: number) => Array.from({ length: n }, (_, i) => `${' '.repeat(i)}k:`).join('\n') + ' x\n',
      1_000,
    ],
  ])('refuses deep nesting in %s before parsing it', (_name, make, hugeDepth) => {
    expect(parse(make(150))).toHaveLength(1);
    const started = Date.now();
    const error = parseError(make(hugeDepth));
    expect(error.message).toMatch(
      /^apps\/web\/deploy\.yaml:\d+: invalid YAML: nesting deeper than 200 levels$/,
    );
    // Bounded while lexing: a gigantic nested document costs next to nothing.
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('does not count brackets and dashes inside strings, block scalars and comments as nesting', () => {
    const deep = '['.repeat(300);
    const text = `a: "${deep}"\nb: '${deep}'\nc: |\n  ${deep}\n  - - - - -\nd: ${deep.replace(/\[/g, 'x')} # ${deep}\n`;
    expect(parse(text, 'x.yaml', { maxDepth: 5 })).toHaveLength(1);
  });

  it('checks depth exactly after aliases are expanded', () => {
    const text = 'a: &a [[[[1]]]]\nb: [[[*a]]]\n';
    expect(parse(text, 'x.yaml', { maxDepth: 8 })).toHaveLength(1);
    expect(() => parse(text, 'x.yaml', { maxDepth: 7 })).toThrow(
      'x.yaml: document 1 (line 1) nests deeper than 7 levels',
    );
  });

  it('refuses more documents than allowed while lexing', () => {
    expect(parseError('---\na: 1\n'.repeat(50), { maxDocuments: 10 }).message).toBe(
      'apps/web/deploy.yaml:21: more than 10 documents',
    );
  });

  it('names the file, line and column of a syntax error without echoing content', () => {
    const error = parseError(
      `apiVersion: v1\nkind: Secret\nstringData:\n  password: ${SECRET}\n  - oops: "${SECRET}\n`,
    );
    expect(error.message).toMatch(/^apps\/web\/deploy\.yaml:5:\d+: invalid YAML: .+ \([A-Z_]+\)$/);
    expect(fullText(error)).not.toContain(SECRET);
    expect(fullText(error)).not.toContain('hunter2');
  });

  it.each([
    ['an unterminated quote', `password: "${SECRET}\n`],
    ['a duplicate key', `${SECRET}: 1\n${SECRET}: 2\n`],
    ['a tab indentation', `a:\n\t${SECRET}: 1\n`],
    ['an undefined alias', `a: *${SECRET}\n`],
    ['a sequence mixed into a mapping', `- a\n${SECRET}: b\n`],
    ['two anchors on one value', `a: &x &${SECRET} 1\n`],
    ['a bad escape', `a: "\\q${SECRET}"\n`],
    ['NaN', `a: .nan # ${SECRET}\n`],
  ])('never echoes content for %s', (_name, text) => {
    const error = parseError(text);
    expect(error.message.startsWith('apps/web/deploy.yaml')).toBe(true);
    expect(fullText(error)).not.toContain(SECRET);
  });

  it('reports the helm source comment of each document', () => {
    const docs = parse(
      '---\n# Source: demo/templates/a.yaml\na: 1\n---\n# Source: demo/templates/b.yaml\n\nb: 2\n',
    );
    expect(docs.map((d) => d.source)).toEqual(['demo/templates/a.yaml', 'demo/templates/b.yaml']);
  });

  it('has an async twin that gives the event loop turns on large streams', async () => {
    const text = Array.from(
      { length: 3000 },
      (_, i) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-${i}\n`,
    ).join('---\n');
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    const docs = await parseYamlStreamAsync(text, 'big.yaml', limits, 1);
    clearInterval(timer);
    expect(docs).toEqual(parse(text, 'big.yaml'));
    expect(docs).toHaveLength(3000);
    expect(ticks).toBeGreaterThan(0);
  });
});
