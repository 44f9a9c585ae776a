/**
 * A light syntax tree of a YAML stream, for editing text in place: maps, sequences and scalars with
 * their source offsets, built from the `yaml` package's parser tokens in small steps so a caller
 * can give the event loop a turn between them (`runSliced`). The package's own composer builds a
 * whole document in one synchronous call, over a second for a 1 MiB document under load; this
 * builder pauses every few hundred nodes, and is the only parse of the text.
 *
 * Guards, all in the same pass: nesting and document count while lexing (the render stage's
 * guard), unknown aliases and alias expansion against a budget proportional to the source (the
 * tree itself never expands an alias), duplicate keys in linear time, and the syntax errors the
 * parser marks (unexpected tokens, unclosed quotes and brackets, bad escapes). Errors name the file
 * and position and never quote the content. The render stage still checks everything else (values,
 * indentation) before anything is applied.
 */
import { CST, LineCounter } from 'yaml';
import { UserError } from '../core/errors.js';
import { guardedSyntaxTokens, type YamlLimits } from '../render/yaml.js';

export interface ScalarNode {
  readonly kind: 'scalar';
  readonly style: 'plain' | 'single' | 'double' | 'block';
  /** Offsets of the value's source (quotes included; for an empty value, start === end). */
  readonly start: number;
  readonly end: number;
  /** Quoted and block scalars: the value as YAML reads it. Plain: the source as written. */
  readonly value: string;
  /** The parser's token, with what follows the value on its line (`end`); none for empty values. */
  readonly token?: CST.FlowScalar | CST.BlockScalar;
}

export interface PairNode {
  readonly key?: YamlNode;
  readonly value?: YamlNode;
}

export interface MapNode {
  readonly kind: 'map';
  readonly flow: boolean;
  readonly items: readonly PairNode[];
}

export interface SeqNode {
  readonly kind: 'seq';
  readonly flow: boolean;
  readonly items: readonly (YamlNode | undefined)[];
}

export interface AliasNode {
  readonly kind: 'alias';
}

export type YamlNode = ScalarNode | MapNode | SeqNode | AliasNode;

export interface YamlTree {
  /** The root of each document, in order (undefined for an empty one). */
  readonly documents: readonly (YamlNode | undefined)[];
  readonly lines: LineCounter;
}

export const isScalarNode = (node: unknown): node is ScalarNode =>
  (node as YamlNode | undefined)?.kind === 'scalar';
export const isMapNode = (node: unknown): node is MapNode => (node as YamlNode | undefined)?.kind === 'map';
export const isSeqNode = (node: unknown): node is SeqNode => (node as YamlNode | undefined)?.kind === 'seq';

/** Nodes built between two chances to pause. */
const NODES_PER_STEP = 128;

/**
 * Steps that read `text` into a tree; run them with `runSliced` (or `runToEnd`). A UserError naming
 * `origin` and a position when a guard refuses the text.
 */
export function* readYamlTree(text: string, origin: string, limits: YamlLimits): Generator<void, YamlTree> {
  const lines = new LineCounter();
  const builder = new TreeBuilder(text, origin, lines);
  const documents: (YamlNode | undefined)[] = [];
  for (const token of guardedSyntaxTokens(text, origin, limits, lines)) {
    if (token === undefined) {
      yield;
    } else if (token.type === 'document') {
      documents.push(yield* builder.document(token));
    } else if (token.type === 'doc-end') {
      builder.checkTokens(token.end);
    } else if (token.type === 'error') {
      throw builder.error(token.offset, 'UNEXPECTED_TOKEN');
    }
  }
  return { documents, lines };
}

interface Built {
  readonly node: YamlNode;
  /** Values the node stands for, with aliases expanded. */
  readonly size: number;
}

class TreeBuilder {
  /** Expanded size of each anchor of the current document. */
  private readonly anchors = new Map<string, number>();
  /** Values of the stream with aliases expanded, against the render stage's budget. */
  private expanded = 0;
  private readonly budget: number;
  private sinceStep = 0;

  constructor(
    private readonly text: string,
    private readonly origin: string,
    private readonly lines: LineCounter,
  ) {
    this.budget = 2 * text.length + 10_000;
  }

  *document(token: CST.Document): Generator<void, YamlNode | undefined> {
    this.anchors.clear();
    this.checkTokens(token.start);
    this.checkTokens(token.end);
    if (!token.value) return undefined;
    const built = yield* this.child(token.value, anchorsIn(token.start));
    return built.node;
  }

  /** A scalar, alias or collection; `anchors` are the names its properties give it. */
  private *child(token: CST.Token, anchors: readonly string[]): Generator<void, Built> {
    let built: Built;
    switch (token.type) {
      case 'block-map':
        built = yield* this.blockMap(token);
        break;
      case 'block-seq':
        built = yield* this.blockSeq(token);
        break;
      case 'flow-collection':
        built = yield* this.flowCollection(token);
        break;
      default:
        built = this.leaf(token);
    }
    const own = token.type === 'block-scalar' ? anchorsIn(token.props) : [];
    for (const name of [...anchors, ...own]) this.anchors.set(name, built.size);
    if (++this.sinceStep >= NODES_PER_STEP) {
      this.sinceStep = 0;
      yield;
    }
    return built;
  }

  private leaf(token: CST.Token): Built {
    switch (token.type) {
      case 'scalar':
      case 'single-quoted-scalar':
      case 'double-quoted-scalar':
      case 'block-scalar':
        return this.counted({ node: this.scalar(token), size: 1 });
      case 'alias':
        return this.alias(token);
      default:
        throw this.error(token.offset, 'UNEXPECTED_TOKEN');
    }
  }

  private scalar(token: CST.FlowScalar | CST.BlockScalar): ScalarNode {
    if (token.type === 'block-scalar') this.checkTokens(token.props);
    else this.checkTokens(token.end);
    if (token.type === 'scalar') {
      const end = token.offset + token.source.length;
      return { kind: 'scalar', style: 'plain', start: token.offset, end, value: token.source, token };
    }
    const resolved = CST.resolveAsScalar(token, true, (offset, code) => {
      throw this.error(offset, code);
    });
    const style =
      token.type === 'block-scalar' ? 'block' : token.type === 'single-quoted-scalar' ? 'single' : 'double';
    const [start, end] = resolved.range;
    return { kind: 'scalar', style, start, end, value: resolved.value, token };
  }

  private alias(token: CST.FlowScalar): Built {
    this.checkTokens(token.end);
    const size = this.anchors.get(token.source.slice(1));
    if (size === undefined) throw this.error(token.offset, 'BAD_ALIAS');
    this.expanded += size;
    if (this.expanded > this.budget) {
      throw new UserError(
        `${this.where(token.offset)}: the YAML expands to too many values (aliases repeating large collections?)`,
      );
    }
    return { node: { kind: 'alias' }, size };
  }

  private *blockMap(token: CST.BlockMap): Generator<void, Built> {
    const items: PairNode[] = [];
    let size = 1;
    for (const item of token.items) {
      this.checkTokens(item.start);
      this.checkTokens(item.sep);
      const pair = yield* this.pair(item);
      size += pair.size;
      if (pair.pair) items.push(pair.pair);
    }
    this.checkDuplicateKeys(items);
    return this.counted({ node: { kind: 'map', flow: false, items }, size });
  }

  private *blockSeq(token: CST.BlockSequence): Generator<void, Built> {
    const items: (YamlNode | undefined)[] = [];
    let size = 1;
    for (const item of token.items) {
      this.checkTokens(item.start);
      if (!item.value) {
        // `-` with nothing after it is an empty item; comments alone after the last item are not one.
        if (item.start.some((t) => t.type === 'seq-item-ind')) items.push(undefined);
        continue;
      }
      const built = yield* this.child(item.value, anchorsIn(item.start));
      size += built.size;
      items.push(built.node);
    }
    return this.counted({ node: { kind: 'seq', flow: false, items }, size });
  }

  /** `[…]` or `{…}`: a `key: value` item of a flow sequence is a mapping of one pair, as in YAML. */
  private *flowCollection(token: CST.FlowCollection): Generator<void, Built> {
    const isMap = token.start.source === '{';
    const closing = isMap ? 'flow-map-end' : 'flow-seq-end';
    this.checkTokens(token.end);
    if (!token.end.some((t) => t.type === closing)) throw this.error(token.offset, 'MISSING_CHAR');
    const pairs: PairNode[] = [];
    const items: (YamlNode | undefined)[] = [];
    let size = 1;
    for (const item of token.items) {
      this.checkTokens(item.start);
      this.checkTokens(item.sep);
      const isPair = isMap || item.key !== undefined || item.sep !== undefined;
      if (isPair) {
        const pair = yield* this.pair(item);
        size += pair.size;
        if (!pair.pair) continue;
        if (isMap) {
          pairs.push(pair.pair);
        } else {
          items.push(this.counted({ node: { kind: 'map', flow: true, items: [pair.pair] }, size: 1 }).node);
          size += 1;
        }
      } else if (item.value) {
        const built = yield* this.child(item.value, anchorsIn(item.start));
        size += built.size;
        items.push(built.node);
      }
    }
    if (isMap) this.checkDuplicateKeys(pairs);
    const node: YamlNode = isMap
      ? { kind: 'map', flow: true, items: pairs }
      : { kind: 'seq', flow: true, items };
    return this.counted({ node, size });
  }

  /** A key and its value; an empty value after `key:` is an empty plain scalar where YAML puts it. */
  private *pair(item: CST.CollectionItem): Generator<void, { pair?: PairNode; size: number }> {
    let size = 0;
    let key: YamlNode | undefined;
    if (item.key) {
      const built = yield* this.child(item.key, anchorsIn(item.start));
      key = built.node;
      size += built.size;
    }
    const valueAnchors = anchorsIn(item.sep ?? (item.key ? [] : item.start));
    let value: YamlNode | undefined;
    if (item.value) {
      const built = yield* this.child(item.value, valueAnchors);
      value = built.node;
      size += built.size;
    } else if (item.sep?.some((t) => t.type === 'map-value-ind')) {
      value = this.emptyValue(item.sep ?? [], item.key);
      size += 1;
      for (const name of valueAnchors) this.anchors.set(name, 1);
    }
    return key === undefined && value === undefined ? { size } : { pair: { key, value }, size };
  }

  /** Where YAML puts an empty value: after the last indicator or property and the blanks behind it. */
  private emptyValue(sep: readonly CST.SourceToken[], key: CST.Token | null | undefined): ScalarNode {
    let at = key ? key.offset + sourceLength(key) : 0;
    let i = sep.length - 1;
    while (i >= 0 && ['space', 'comment', 'newline'].includes(sep[i]!.type)) i--;
    if (i >= 0) {
      at = sep[i]!.offset + sep[i]!.source.length;
      for (let j = i + 1; j < sep.length && sep[j]!.type === 'space'; j++) at += sep[j]!.source.length;
    }
    this.expanded += 1;
    return { kind: 'scalar', style: 'plain', start: at, end: at, value: '' };
  }

  /**
   * Keys compared as YAML reads them (`"a"` and `a` are one key), in linear time; a plain key YAML
   * may read as a number, boolean or null is only compared with plain keys (`yes` is not `"yes"`).
   * Merge keys (`<<`) are not keys.
   */
  private checkDuplicateKeys(pairs: readonly PairNode[]): void {
    const seen = new Set<string>();
    for (const { key } of pairs) {
      if (!isScalarNode(key) || (key.style === 'plain' && key.value === '<<')) continue;
      const typed = key.style === 'plain' && MAYBE_NOT_A_STRING.test(key.value);
      const id = `${typed ? 'plain' : 'string'}:${key.value}`;
      if (seen.has(id)) throw this.error(key.start, 'DUPLICATE_KEY');
      seen.add(id);
    }
  }

  private counted(built: Built): Built {
    this.expanded += 1;
    return built;
  }

  /** Refuses the error tokens the parser leaves among indicators, comments and properties. */
  checkTokens(tokens: readonly CST.Token[] | undefined): void {
    for (const token of tokens ?? []) {
      if (token.type === 'error' || token.type === 'flow-error-end')
        throw this.error(token.offset, 'UNEXPECTED_TOKEN');
    }
  }

  error(offset: number, code: string): UserError {
    const human = HUMAN_ERRORS[code] ?? 'the YAML is malformed';
    return new UserError(`${this.where(offset)}: invalid YAML: ${human} (${code})`);
  }

  private where(offset: number): string {
    const { line, col } = this.lines.linePos(Math.min(offset, this.text.length));
    return `${this.origin}:${line}:${col}`;
  }
}

const HUMAN_ERRORS: Record<string, string> = {
  BAD_ALIAS: 'an alias refers to an anchor that is not defined before it',
  BAD_DQ_ESCAPE: 'a double-quoted string has an invalid escape sequence',
  BAD_INDENT: 'the indentation is wrong',
  DUPLICATE_KEY: 'a mapping has the same key twice',
  MISSING_CHAR: 'a closing character is missing (a quote, bracket or brace?)',
  UNEXPECTED_TOKEN: 'unexpected content (a missing colon, dash or bad indentation?)',
};

/** Plain scalars YAML 1.1 or 1.2 may read as something else than a string (a first-character test). */
const MAYBE_NOT_A_STRING = /^(?:[-+.0-9~]|[yYnN]$|(?:yes|no|true|false|on|off|null)$)/i;

function anchorsIn(tokens: readonly CST.Token[] | undefined): string[] {
  const names: string[] = [];
  for (const token of tokens ?? []) if (token.type === 'anchor') names.push(token.source.slice(1));
  return names;
}

function sourceLength(token: CST.Token): number {
  return 'source' in token && typeof token.source === 'string' ? token.source.length : 0;
}
