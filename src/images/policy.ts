/**
 * Choosing an image tag by policy, as Flux's ImagePolicy users know it.
 *
 * - Tags come from a registry, so they are hostile: a tag outside the OCI tag grammar
 *   (`[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`) is ignored before anything else looks at it.
 * - `filterTags.pattern` is an RE2 expression (Go syntax, as in Flux), matched anywhere in the tag
 *   unless anchored, by re2js: linear in the tag whatever the pattern, so a tenant's `(a+)+$`
 *   cannot stall the controller. `extract` expands `$name`, `${name}`, `$1` and `$$` as Go's
 *   `Regexp.Expand` does; the policy then orders the extracted values and the original tag wins.
 * - `semver`: tags are full `major.minor.patch` versions with an optional `v` (as Flux's
 *   `version.ParseVersion`). Prereleases follow Flux (Masterminds semver): each `||` branch of the
 *   range that names a prerelease anywhere (`>=1.3.0-0`) admits prereleases of every version, as
 *   node-semver's `includePrerelease`; a branch naming none admits no prerelease at all. Commas
 *   between comparators (`>=1.0.0, <2.0.0`) mean "and", as in Masterminds.
 * - `numerical`: values that are decimal numbers, compared exactly (a 19-digit timestamp does not
 *   collapse into its neighbour as a float would); others are skipped, where Flux fails the whole
 *   policy. `asc` (the default) chooses the highest, `desc` the lowest.
 * - `alphabetical`: byte order of the UTF-8 text; `asc` chooses the last, `desc` the first.
 * - Ties (`v1.2.3` and `1.2.3`, or two tags extracting the same value) go to the tag greatest in
 *   byte order, so the answer never depends on the order the registry listed the tags in.
 */
import { RE2JS, RE2JSException } from 're2js';
import semver from 'semver';
import { UserError, messageOf } from '../core/errors.js';
import { eventLoopTurns } from '../core/time.js';
import { quote } from '../source/redact.js';

export type TagOrder = 'asc' | 'desc';

export type TagPolicy =
  | { readonly semver: { readonly range: string } }
  | { readonly numerical: { readonly order: TagOrder } }
  | { readonly alphabetical: { readonly order: TagOrder } };

export interface TagFilter {
  readonly pattern: string;
  /** A replacement such as `$ts` or `${1}`; empty or absent: the whole tag. */
  readonly extract?: string;
}

export interface ChosenTag {
  /** The tag as the registry lists it (never the extracted value). */
  readonly tag: string;
  /** Tags that passed the grammar and the filter and that the policy could order (in range or not). */
  readonly considered: number;
}

export const MAX_PATTERN_LENGTH = 1024;
export const MAX_EXTRACT_LENGTH = 1024;
export const MAX_RANGE_LENGTH = 256;
/** RE2 program instructions a pattern may compile to (`a{1000}` is about a thousand). */
const MAX_PROGRAM_SIZE = 20_000;

/** The OCI distribution spec's tag grammar. Linear: one character class per position. */
const TAG_GRAMMAR = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

export function isValidTag(tag: unknown): tag is string {
  return typeof tag === 'string' && TAG_GRAMMAR.test(tag);
}

// ── Filter ───────────────────────────────────────────────────────────────────────────────────────

/**
 * The filter as a function: the value the policy orders a tag by, or undefined when the pattern
 * does not match it. A UserError when the pattern or the template is wrong.
 */
export function compileTagFilter(filter: TagFilter): (tag: string) => string | undefined {
  const expression = compilePattern(filter.pattern);
  const template = parseTemplate(filter.extract ?? '', expression);
  return (tag) => {
    const matcher = expression.matcher(tag);
    if (!matcher.find()) return undefined;
    if (template === undefined) return tag;
    return template
      .map((part) => (typeof part === 'string' ? part : (matcher.group(part.group) ?? '')))
      .join('');
  };
}

function compilePattern(pattern: unknown): RE2JS {
  if (typeof pattern !== 'string' || pattern === '') {
    throw new UserError('filterTags.pattern is empty: give a regular expression such as ^main-');
  }
  if (pattern.length > MAX_PATTERN_LENGTH) {
    throw new UserError(`filterTags.pattern is longer than ${MAX_PATTERN_LENGTH} characters`);
  }
  let expression: RE2JS;
  try {
    expression = RE2JS.compile(pattern);
  } catch (error) {
    // re2js says what is wrong and quotes the offending fragment of the (bounded) pattern.
    const detail = error instanceof RE2JSException ? messageOf(error) : 'it cannot be compiled';
    throw new UserError(
      `filterTags.pattern ${quote(pattern)} is not a valid RE2 regular expression: ${detail}` +
        ' (lookarounds and backreferences are not supported)',
    );
  }
  if (expression.programSize() > MAX_PROGRAM_SIZE) {
    throw new UserError(`filterTags.pattern ${quote(pattern)} is too complex (large repetition counts?)`);
  }
  return expression;
}

/** A template as literal text and group references (by number or name, resolved to numbers). */
type TemplatePart = string | { readonly group: number };

/**
 * Go's `Regexp.Expand` grammar: `$$` is a dollar, `${name}` and `$name` (the longest run of
 * letters, digits and underscores) a group by name or number, any other `$` itself. Unlike Go, a
 * reference to a group the pattern does not have is an error: it would make every value empty.
 */
function parseTemplate(extract: unknown, expression: RE2JS): TemplatePart[] | undefined {
  if (extract === undefined || extract === '') return undefined;
  if (typeof extract !== 'string') throw new UserError('filterTags.extract must be a string');
  if (extract.length > MAX_EXTRACT_LENGTH) {
    throw new UserError(`filterTags.extract is longer than ${MAX_EXTRACT_LENGTH} characters`);
  }
  const parts: TemplatePart[] = [];
  let literal = '';
  let index = 0;
  while (index < extract.length) {
    const dollar = extract.indexOf('$', index);
    if (dollar < 0) {
      literal += extract.slice(index);
      break;
    }
    literal += extract.slice(index, dollar);
    const reference = readReference(extract, dollar);
    if (reference === undefined) {
      literal += '$';
      index = dollar + 1;
      continue;
    }
    index = reference.next;
    if (reference.name === '$') {
      literal += '$';
      continue;
    }
    if (literal !== '') parts.push(literal);
    literal = '';
    parts.push({ group: groupNumber(reference.name, expression, extract) });
  }
  if (literal !== '') parts.push(literal);
  return parts;
}

function readReference(template: string, dollar: number): { name: string; next: number } | undefined {
  const rest = template.slice(dollar + 1, dollar + 1 + MAX_EXTRACT_LENGTH);
  if (rest.startsWith('$')) return { name: '$', next: dollar + 2 };
  const braced = /^\{([A-Za-z0-9_]+)\}/.exec(rest);
  if (braced) return { name: braced[1] as string, next: dollar + 1 + braced[0].length };
  const bare = /^[A-Za-z0-9_]+/.exec(rest);
  if (bare) return { name: bare[0], next: dollar + 1 + bare[0].length };
  return undefined;
}

function groupNumber(name: string, expression: RE2JS, extract: string): number {
  if (/^[0-9]+$/.test(name)) {
    const number = Number(name);
    if (number <= expression.groupCount()) return number;
    throw new UserError(
      `filterTags.extract ${quote(extract)} refers to group ${name}, but the pattern has ${expression.groupCount()} groups`,
    );
  }
  const number = Object.hasOwn(expression.namedGroups(), name) ? expression.namedGroups()[name] : undefined;
  if (number !== undefined) return number;
  throw new UserError(
    `filterTags.extract ${quote(extract)} refers to $${name}, but the pattern has no group (?P<${name}>…)`,
  );
}

// ── Policies ─────────────────────────────────────────────────────────────────────────────────────

/** Orders candidates: a key per value the policy can order, or undefined to skip the value. */
interface Orderer<Key> {
  key(value: string): Key | undefined;
  /** Whether a key may be chosen at all (a semver range); every orderable one when absent. */
  allows?(key: Key): boolean;
  /** Positive when `a` is preferred over `b`. */
  prefer(a: Key, b: Key): number;
}

/**
 * The newest tag `policy` allows among `tags`, after `filter`; undefined when none is. A UserError
 * when the policy or the filter is wrong (whatever the tags).
 */
export function chooseTag(
  tags: readonly string[],
  policy: TagPolicy,
  filter?: TagFilter,
): ChosenTag | undefined {
  const chooser = new Chooser(policy, filter);
  for (const tag of tags) chooser.offer(tag);
  return chooser.chosen();
}

/**
 * The same, giving the event loop a turn every 20 ms: a registry may list 50,000 tags, each parsed
 * and matched, which held up health probes and lease renewals when done in one go.
 */
export async function chooseTagAsync(
  tags: readonly string[],
  policy: TagPolicy,
  filter?: TagFilter,
): Promise<ChosenTag | undefined> {
  const chooser = new Chooser(policy, filter);
  const turn = eventLoopTurns();
  for (const tag of tags) {
    chooser.offer(tag);
    await turn();
  }
  return chooser.chosen();
}

/** Checks a policy and a filter without tags: the same UserErrors `chooseTag` would throw. */
export function checkTagPolicy(policy: TagPolicy, filter?: TagFilter): void {
  if (filter) compileTagFilter(filter);
  ordererFor(policy);
}

/** Keeps the tag the policy prefers among those offered, in any order. */
class Chooser {
  private readonly valueOf: (tag: string) => string | undefined;
  private readonly orderer: Orderer<unknown>;
  private considered = 0;
  private best: { tag: string; key: unknown } | undefined;

  constructor(policy: TagPolicy, filter: TagFilter | undefined) {
    this.valueOf = filter ? compileTagFilter(filter) : (tag: string) => tag;
    this.orderer = ordererFor(policy);
  }

  offer(tag: string): void {
    if (!isValidTag(tag)) return;
    const value = this.valueOf(tag);
    if (value === undefined) return;
    const key = this.orderer.key(value);
    if (key === undefined) return;
    this.considered++;
    if (this.orderer.allows && !this.orderer.allows(key)) return;
    if (this.best === undefined || isPreferred({ tag, key }, this.best, this.orderer))
      this.best = { tag, key };
  }

  chosen(): ChosenTag | undefined {
    return this.best === undefined ? undefined : { tag: this.best.tag, considered: this.considered };
  }
}

function isPreferred(
  candidate: { tag: string; key: unknown },
  best: { tag: string; key: unknown },
  orderer: Orderer<unknown>,
): boolean {
  const order = orderer.prefer(candidate.key, best.key);
  return order > 0 || (order === 0 && compareBytes(candidate.tag, best.tag) > 0);
}

function ordererFor(policy: TagPolicy): Orderer<unknown> {
  const kinds = ['semver', 'numerical', 'alphabetical'].filter(
    (kind) => (policy as Record<string, unknown>)[kind] !== undefined,
  );
  if (kinds.length !== 1) {
    throw new UserError(
      `a tag policy names exactly one of semver, numerical, alphabetical (got ${kinds.length})`,
    );
  }
  if ('semver' in policy && policy.semver) return semverOrderer(policy.semver.range) as Orderer<unknown>;
  if ('numerical' in policy && policy.numerical) {
    return numericalOrderer(checkOrder(policy.numerical.order, 'numerical')) as Orderer<unknown>;
  }
  const alphabetical = (policy as { alphabetical: { order: TagOrder } }).alphabetical;
  return alphabeticalOrderer(checkOrder(alphabetical.order, 'alphabetical')) as Orderer<unknown>;
}

function checkOrder(order: unknown, kind: string): TagOrder {
  if (order === undefined) return 'asc';
  if (order === 'asc' || order === 'desc') return order;
  throw new UserError(`${kind}.order must be asc or desc (got ${quote(String(order))})`);
}

// semver

function semverOrderer(range: unknown): Orderer<semver.SemVer> {
  const branches = parseSemverRange(range);
  return {
    key: (value) => (/\s/.test(value) ? undefined : (semver.parse(value) ?? undefined)),
    allows: (version) => branches.some((branch) => branch.test(version)),
    prefer: (a, b) => semver.compare(a, b),
  };
}

/** One `semver.Range` per `||` branch, each admitting prereleases if it names one (see the header). */
function parseSemverRange(range: unknown): semver.Range[] {
  if (typeof range !== 'string' || range.trim() === '') {
    throw new UserError('semver.range is empty: give a range such as ">=1.0.0" or "1.x"');
  }
  // eslint-disable-next-line no-control-regex
  if (range.length > MAX_RANGE_LENGTH || /[\u0000-\u001f\u007f]/.test(range)) {
    throw new UserError(
      `semver.range ${quote(range)} is not a valid range (at most ${MAX_RANGE_LENGTH} characters)`,
    );
  }
  return range.split('||').map((branch) => {
    // Masterminds (Flux) reads "a, b" as "a and b"; node-semver reads a space so.
    const text = branch.replaceAll(',', ' ').trim();
    const includePrerelease = /[0-9]-[0-9A-Za-z]/.test(text);
    try {
      return new semver.Range(text === '' ? '*' : text, { includePrerelease });
    } catch {
      throw new UserError(
        `semver.range ${quote(range)} is not a valid range (examples: ">=1.0.0 <2.0.0", "^1.2", "1.x", ">=1.3.0-0")`,
      );
    }
  });
}

// numerical

/** An exact decimal: the sign, the significant digits (no leading or trailing zeros) and the exponent. */
interface Decimal {
  readonly negative: boolean;
  /** Empty for zero. */
  readonly digits: string;
  /** Value = 0.digits × 10^exponent. */
  readonly exponent: number;
}

/** Decimal numbers as Go's ParseFloat reads them, without hexadecimal, underscores, Inf or NaN. */
const DECIMAL = /^([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]{1,9}))?$/;

function numericalOrderer(order: TagOrder): Orderer<Decimal> {
  return {
    key: parseDecimal,
    prefer: (a, b) => (order === 'asc' ? compareDecimals(a, b) : compareDecimals(b, a)),
  };
}

function parseDecimal(value: string): Decimal | undefined {
  const match = DECIMAL.exec(value);
  if (!match) return undefined;
  const [, sign = '', whole = '', fraction = '', exponentText = '0'] = match;
  if (whole === '' && fraction === '') return undefined;
  const all = whole + fraction;
  const leading = all.length - all.replace(/^0+/, '').length;
  const digits = all.slice(leading).replace(/0+$/, '');
  if (digits === '') return { negative: false, digits: '', exponent: 0 };
  return { negative: sign === '-', digits, exponent: whole.length - leading + Number(exponentText) };
}

function compareDecimals(a: Decimal, b: Decimal): number {
  const signA = a.digits === '' ? 0 : a.negative ? -1 : 1;
  const signB = b.digits === '' ? 0 : b.negative ? -1 : 1;
  if (signA !== signB || signA === 0) return signA - signB;
  const magnitude = a.exponent !== b.exponent ? a.exponent - b.exponent : compareBytes(a.digits, b.digits);
  return signA * Math.sign(magnitude);
}

// alphabetical

function alphabeticalOrderer(order: TagOrder): Orderer<string> {
  return {
    key: (value) => value,
    prefer: (a, b) => (order === 'asc' ? compareBytes(a, b) : compareBytes(b, a)),
  };
}

/** Go's string order (UTF-8 bytes), which is code point order; plain `<` is UTF-16 unit order. */
function compareBytes(a: string, b: string): number {
  if (a === b) return 0;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
