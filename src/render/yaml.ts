/**
 * YAML for untrusted repository content and tool output.
 *
 * - YAML 1.1 semantics like kubectl (`yes`/`on` are booleans, `0777` is octal, `<<` merges), except
 *   where kubectl's go-yaml keeps strings: timestamps and sexagesimal numbers (`2024-01-02`, `1:20`)
 *   stay strings, and `!!set`/`!!omap`/`!!pairs` are not special.
 * - Nesting is bounded while lexing, before the parser builds anything: the parser's memory grows
 *   fast with depth (a 2 MB `[[[[…` costs over a gigabyte) and very deep input can crash V8 outright.
 * - Aliases are bounded by the `yaml` package's alias budget, and the expanded values by a node
 *   budget proportional to the source, so billion-laughs style files fail fast.
 * - Every error names the file (or tool output) and line, and is built from the error's code and
 *   position only: the `yaml` package's own messages quote the source, which may hold secrets.
 */
import { Composer, CST, Lexer, LineCounter, Parser, isMap, isScalar, isSeq } from 'yaml';
import type {
  Document,
  DocumentOptions,
  ParseOptions,
  ScalarTag,
  SchemaOptions,
  Tags,
  YAMLError,
} from 'yaml';
import { UserError } from '../core/errors.js';

export interface YamlLimits {
  readonly maxAliasCount: number;
  readonly maxDepth: number;
  /** Documents this stream may hold (counted while lexing, empty ones included). */
  readonly maxDocuments?: number;
}

export interface YamlDocument {
  /** 0-based index among all documents of the stream, empty ones included (what people count). */
  readonly index: number;
  /** 1-based line where the document's content starts. */
  readonly line: number;
  /** JSON-compatible value; never `null`/`undefined` (empty documents are skipped). */
  readonly value: unknown;
  /** For tool output: the `# Source: chart/templates/x.yaml` comment helm writes above each document. */
  readonly source?: string;
}

const HUMAN_YAML_ERRORS: Record<string, string> = {
  ALIAS_PROPS: 'an alias cannot have a tag or an anchor',
  BAD_ALIAS: 'an alias refers to an anchor that is not defined before it',
  BAD_COLLECTION_TYPE: 'a tag does not fit the collection it is on',
  BAD_DIRECTIVE: 'a directive is malformed',
  BAD_DQ_ESCAPE: 'a double-quoted string has an invalid escape sequence',
  BAD_INDENT: 'the indentation is wrong',
  BAD_PROP_ORDER: 'anchors and tags must come before the value they apply to',
  BAD_SCALAR_START: 'a plain value starts with a character that is not allowed there',
  BLOCK_AS_IMPLICIT_KEY: 'a block collection cannot be a mapping key',
  BLOCK_IN_FLOW: 'block syntax is not allowed inside a flow collection ([...] or {...})',
  DUPLICATE_KEY: 'a mapping has the same key twice',
  IMPOSSIBLE: 'the parser reached an impossible state',
  KEY_OVER_1024_CHARS: 'an implicit key is longer than 1024 characters',
  MISSING_CHAR: 'a closing character is missing (a quote, bracket or brace?)',
  MULTILINE_IMPLICIT_KEY: 'an implicit key spans several lines (a missing colon or a bad indentation?)',
  MULTIPLE_ANCHORS: 'a value has more than one anchor',
  MULTIPLE_DOCS: 'more than one document where one was expected',
  MULTIPLE_TAGS: 'a value has more than one tag',
  NON_STRING_KEY: 'a mapping key is not a string',
  RESOURCE_EXHAUSTION: 'the document is too complex to parse',
  TAB_AS_INDENT: 'a tab is used for indentation',
  TAG_RESOLVE_FAILED: 'a tagged value cannot be resolved',
  UNEXPECTED_TOKEN: 'unexpected content (a missing colon, dash or bad indentation?)',
};

/** kubectl's go-yaml keeps these as strings when decoding into untyped maps; so do we. */
const STRING_LIKE_IN_KUBECTL = new Set([
  'tag:yaml.org,2002:timestamp',
  'tag:yaml.org,2002:set',
  'tag:yaml.org,2002:omap',
  'tag:yaml.org,2002:pairs',
]);

const YAML_OPTIONS: ParseOptions & DocumentOptions & SchemaOptions = {
  version: '1.1',
  // Our messages are built from codes and positions; the library's pretty ones quote the source.
  prettyErrors: false,
  // Checked by `checkDuplicateKeys` instead, in linear time.
  uniqueKeys: false,
  // The library would print warnings (some quote content) with console.warn; a stage never prints.
  logLevel: 'silent',
  customTags: (tags: Tags) =>
    tags
      .filter((tag) => {
        const id = typeof tag === 'string' ? tag : tag.tag;
        const format = typeof tag === 'string' ? undefined : tag.format;
        return !STRING_LIKE_IN_KUBECTL.has(id) && format !== 'TIME';
      })
      .map(withDigitsRequired),
};

/**
 * The `yaml` package's YAML 1.1 float patterns accept `.`, `-.` and `e5` (which become NaN); go-yaml,
 * like YAML itself, needs a digit in a number, so those stay strings (a Helm chart named `.`…).
 */
function withDigitsRequired(tag: Tags[number]): Tags[number] {
  if (typeof tag === 'string' || tag.tag !== 'tag:yaml.org,2002:float' || !(tag.test instanceof RegExp))
    return tag;
  if (tag.format === 'EXP' && tag.test.test('e5')) {
    return {
      ...(tag as ScalarTag),
      test: /^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$/,
    };
  }
  if (tag.format === undefined && tag.test.test('.')) {
    return { ...(tag as ScalarTag), test: /^[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9][0-9_]*)$/ };
  }
  return tag;
}

/**
 * Parses a multi-document YAML (or JSON) stream into JSON-compatible values, skipping empty
 * documents. `origin` names the stream in errors (a repository path, or "kustomize output for …").
 */
export function parseYamlStream(text: string, origin: string, limits: YamlLimits): YamlDocument[] {
  const results: YamlDocument[] = [];
  for (const _pause of parseSteps(text, origin, limits, results)) {
    // Synchronous: no pauses taken.
  }
  return results;
}

/**
 * The same, giving the event loop a turn every `sliceMs` of parsing. The `yaml` package parses
 * about a megabyte a second; a large helm or kustomize output must not stall lease renewals,
 * health probes and watches for that long.
 */
export async function parseYamlStreamAsync(
  text: string,
  origin: string,
  limits: YamlLimits,
  sliceMs = 20,
): Promise<YamlDocument[]> {
  const results: YamlDocument[] = [];
  await runSliced(parseSteps(text, origin, limits, results), sliceMs);
  return results;
}

/**
 * The parser's syntax tokens of a stream (whole documents, with source offsets), for callers that
 * edit text in place and need positions, not data (the image setters). Each lexeme passes the same
 * nesting and document-count guard as `parseYamlStream` before the parser sees it; `lines` learns
 * every line start; `undefined` comes now and then as a chance to pause (see `runSliced`).
 */
export function* guardedSyntaxTokens(
  text: string,
  origin: string,
  limits: YamlLimits,
  lines: LineCounter,
): Generator<CST.Token | undefined> {
  const parser = new Parser(lines.addNewLine);
  const guard = new DepthGuard(origin, limits);
  lines.addNewLine(0);
  let lexemes = 0;
  for (const lexeme of new Lexer().lex(text)) {
    guard.observe(lexeme);
    yield* parser.next(lexeme);
    if (++lexemes % SYNTAX_LEXEMES_PER_STEP === 0) yield undefined;
  }
  yield* parser.end();
}

/**
 * Runs a generator of work steps to its end, giving the event loop a turn every `sliceMs`: a long
 * parse must not stall lease renewals, health probes and watches. Returns what the generator returns.
 */
export async function runSliced<T>(steps: Generator<unknown, T>, sliceMs = 20): Promise<T> {
  let sliceStarted = Date.now();
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    if (Date.now() - sliceStarted < sliceMs) continue;
    await new Promise((resolve) => setImmediate(resolve));
    sliceStarted = Date.now();
  }
}

/** The same steps run at once, for synchronous callers. */
export function runToEnd<T>(steps: Generator<unknown, T>): T {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/** How many lexemes between two chances to pause. */
const LEXEMES_PER_STEP = 2048;
/** The same for `guardedSyntaxTokens`: a step should stay far below a slice on a loaded machine. */
const SYNTAX_LEXEMES_PER_STEP = 256;

/** Parses into `results`, yielding now and then so a caller may pause between steps. */
function* parseSteps(
  text: string,
  origin: string,
  limits: YamlLimits,
  results: YamlDocument[],
): Generator<void> {
  const lineCounter = new LineCounter();
  const parser = new Parser(lineCounter.addNewLine);
  const composer = new Composer(YAML_OPTIONS);
  const guard = new DepthGuard(origin, limits);
  // Expanded values allowed per stream: generous for anchors used to stay DRY, small for bombs.
  const nodeBudget = { remaining: 2 * text.length + 10_000 };
  let index = 0;

  const take = (document: Document.Parsed): void => {
    const parsed = readDocument(document, index++, origin, lineCounter, limits, nodeBudget);
    if (parsed) results.push(parsed);
  };
  const compose = (tokens: Iterable<CST.Token>): void => {
    for (const token of tokens) {
      let documents: Document.Parsed[];
      try {
        documents = Array.from(composer.next(token));
      } catch (error) {
        // Not expected: the composer reports problems as document errors. Never echo its message.
        throw new UserError(`${origin}: invalid YAML (the parser failed)`, { cause: scrubbed(error) });
      }
      documents.forEach(take);
    }
  };

  // One pass, streaming: each lexeme is checked by the guard before the parser sees it, and each
  // document is turned into data (and its syntax tree dropped) as soon as it is complete.
  lineCounter.addNewLine(0);
  let lexemes = 0;
  for (const lexeme of new Lexer().lex(text)) {
    guard.observe(lexeme);
    compose(parser.next(lexeme));
    if (++lexemes % LEXEMES_PER_STEP === 0) yield;
  }
  compose(parser.end());
  Array.from(composer.end(false, text.length)).forEach(take);
}

function readDocument(
  document: Document.Parsed,
  index: number,
  origin: string,
  lineCounter: LineCounter,
  limits: YamlLimits,
  nodeBudget: { remaining: number },
): YamlDocument | undefined {
  const error = document.errors[0];
  if (error) throw yamlError(origin, error, lineCounter);
  if (document.contents === null || (isScalar(document.contents) && document.contents.value === null))
    return undefined;
  const line = lineCounter.linePos(document.contents.range[0]).line;
  const where = `${origin}: document ${index + 1} (line ${line})`;
  checkDuplicateKeys(document, origin, lineCounter);
  let value: unknown;
  try {
    value = document.toJS({ maxAliasCount: limits.maxAliasCount });
  } catch (caught) {
    if (caught instanceof ReferenceError && /alias/i.test(caught.message)) {
      throw new UserError(
        `${where} uses aliases beyond the limit of ${limits.maxAliasCount} (a YAML "billion laughs" expansion?)`,
      );
    }
    throw new UserError(`${where} cannot be read as data`, { cause: scrubbed(caught) });
  }
  const normalised = toJsonValue(value, where, limits.maxDepth, nodeBudget);
  if (normalised === null) return undefined;
  const source = sourceComment(document);
  return source === undefined
    ? { index, line, value: normalised }
    : { index, line, value: normalised, source };
}

/**
 * Duplicate mapping keys, found in linear time. (The `yaml` package's own check compares each key
 * with every earlier one: a mapping with a million keys would block the process for hours.)
 * Keys are compared as JSON object keys, so `1` and `"1"` are duplicates too: they would collide.
 */
function checkDuplicateKeys(document: Document.Parsed, origin: string, lineCounter: LineCounter): void {
  const pending: unknown[] = [document.contents];
  while (pending.length > 0) {
    const node = pending.pop();
    if (isSeq(node)) {
      pending.push(...node.items);
    } else if (isMap(node)) {
      const seen = new Set<string>();
      for (const pair of node.items) {
        const key = pair.key;
        if (isScalar(key) && !(key.source === '<<' || key.value === '<<')) {
          const name = key.value === null ? '' : String(key.value);
          if (seen.has(name)) {
            const { line, col } = lineCounter.linePos(key.range?.[0] ?? 0);
            throw new UserError(
              `${origin}:${line}:${col}: invalid YAML: ${HUMAN_YAML_ERRORS.DUPLICATE_KEY} (DUPLICATE_KEY)`,
            );
          }
          seen.add(name);
        }
        pending.push(pair.value);
      }
    }
  }
}

function yamlError(origin: string, error: YAMLError, lineCounter: LineCounter): UserError {
  const { line, col } = lineCounter.linePos(error.pos[0]);
  const human = HUMAN_YAML_ERRORS[error.code] ?? 'the YAML is malformed';
  return new UserError(`${origin}:${line}:${col}: invalid YAML: ${human} (${error.code})`);
}

/** The cause we attach to errors: the class and code only; library messages may quote the source. */
function scrubbed(error: unknown): Error {
  const name = error instanceof Error ? error.name : typeof error;
  const code = (error as { code?: unknown } | undefined)?.code;
  return new Error(`${name}${typeof code === 'string' ? ` (${code})` : ''}`);
}

/** helm writes `# Source: <chart>/templates/<file>` above each rendered document. */
function sourceComment(document: Document.Parsed): string | undefined {
  const comment =
    document.commentBefore ??
    (isMap(document.contents) || isSeq(document.contents) ? document.contents.commentBefore : undefined);
  const match = comment?.match(/^\s*Source:\s*(\S.*)$/m);
  return match?.[1]?.trim();
}

/**
 * Copies a parsed value into plain JSON data: breaks the object sharing aliases create (so a
 * caller mutating one object cannot change another), bounds depth and expansion, and refuses
 * what JSON cannot carry (NaN, Infinity).
 */
function toJsonValue(
  value: unknown,
  where: string,
  maxDepth: number,
  budget: { remaining: number },
): unknown {
  const copy = (node: unknown, depth: number): unknown => {
    if (--budget.remaining < 0) {
      throw new UserError(`${where} expands to too many values (aliases repeating large collections?)`);
    }
    if (node === null || node === undefined) return null;
    switch (typeof node) {
      case 'string':
      case 'boolean':
        return node;
      case 'number':
        if (!Number.isFinite(node))
          throw new UserError(`${where} holds a number JSON cannot represent (.nan or .inf)`);
        return node;
      case 'bigint':
        return Number(node);
      case 'object':
        if (depth > maxDepth) throw new UserError(`${where} nests deeper than ${maxDepth} levels`);
        break;
      default:
        throw new UserError(`${where} holds a value of type ${typeof node}, which JSON cannot represent`);
    }
    if (Array.isArray(node)) return node.map((item) => copy(item, depth + 1));
    if (node instanceof Uint8Array) return Buffer.from(node).toString('utf8'); // !!binary, as go-yaml decodes it
    if (node instanceof Date) return Number.isNaN(node.getTime()) ? null : node.toISOString();
    if (node instanceof Map || node instanceof Set) {
      throw new UserError(`${where} holds a mapping with non-string keys`);
    }
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(node as Record<string, unknown>)) {
      // `__proto__` as a key would otherwise set the prototype of the copy.
      Object.defineProperty(out, key, {
        value: copy(item, depth + 1),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  };
  return copy(value, 1);
}

/**
 * Bounds nesting (and document count) from the lexer's tokens, before the parser builds anything.
 * The estimate is an upper bound of the real depth: block levels are counted from the stack of
 * indentations plus the block indicators (`-`, `?`, `:`) on the current line, flow levels from
 * the brackets and braces outside scalars and comments (the lexer has already told those apart).
 */
class DepthGuard {
  private line = 1;
  private flowDepth = 0;
  private indents: number[] = [];
  private lineIndent = 0;
  private atLineStart = true;
  private indicatorsOnLine = 0;
  private nextIsScalarBody = false;
  private documentStarts = 0;
  private contentBeforeFirstStart = false;

  constructor(
    private readonly origin: string,
    private readonly limits: YamlLimits,
  ) {}

  observe(lexeme: string): void {
    if (this.nextIsScalarBody) {
      // The body of a scalar (plain, quoted or block): brackets and dashes in it are text.
      this.nextIsScalarBody = false;
      this.content();
      this.countLines(lexeme);
      // A block scalar's body ends with its last newline: what follows starts a new line.
      if (lexeme.endsWith('\n')) this.newLine();
      return;
    }
    const type = CST.tokenType(lexeme);
    switch (type) {
      case 'newline':
        this.countLines(lexeme);
        this.newLine();
        return;
      case 'space':
        if (this.atLineStart) this.lineIndent = lexeme.length;
        this.countLines(lexeme);
        return;
      case 'comment':
      case 'byte-order-mark':
      case 'directive-line':
      case 'doc-mode':
        return;
      case 'doc-start':
      case 'doc-end':
        if (type === 'doc-start') this.countDocument();
        this.flowDepth = 0;
        this.indents = [];
        this.atLineStart = false;
        return;
      case 'scalar':
        this.nextIsScalarBody = true;
        return;
      case 'flow-map-start':
      case 'flow-seq-start':
        this.content();
        this.flowDepth++;
        break;
      case 'flow-map-end':
      case 'flow-seq-end':
        this.content();
        this.flowDepth = Math.max(0, this.flowDepth - 1);
        return;
      case 'seq-item-ind':
      case 'explicit-key-ind':
      case 'map-value-ind':
        this.content();
        if (this.flowDepth === 0) this.indicatorsOnLine++;
        break;
      default:
        // anchors, tags, aliases, quoted scalars, commas, block scalar headers, errors
        this.countLines(lexeme);
        this.content();
        return;
    }
    const estimate = this.indents.length + this.indicatorsOnLine + this.flowDepth;
    if (estimate > this.limits.maxDepth) {
      throw new UserError(
        `${this.origin}:${this.line}: invalid YAML: nesting deeper than ${this.limits.maxDepth} levels`,
      );
    }
  }

  private newLine(): void {
    this.atLineStart = true;
    this.lineIndent = 0;
    this.indicatorsOnLine = 0;
  }

  private countDocument(): void {
    this.documentStarts++;
    const documents = this.documentStarts + (this.contentBeforeFirstStart ? 1 : 0);
    if (documents > (this.limits.maxDocuments ?? Infinity)) {
      throw new UserError(`${this.origin}:${this.line}: more than ${this.limits.maxDocuments} documents`);
    }
  }

  /** The first content of a line opens (or returns to) a block level at its indentation. */
  private content(): void {
    if (this.documentStarts === 0) this.contentBeforeFirstStart = true;
    if (!this.atLineStart) return;
    this.atLineStart = false;
    if (this.flowDepth > 0) return;
    while (this.indents.length > 0 && (this.indents[this.indents.length - 1] as number) >= this.lineIndent)
      this.indents.pop();
    this.indents.push(this.lineIndent);
  }

  private countLines(lexeme: string): void {
    for (let i = lexeme.indexOf('\n'); i >= 0; i = lexeme.indexOf('\n', i + 1)) this.line++;
  }
}
