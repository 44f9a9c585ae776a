/**
 * What a user may ask for (a branch, a tag, a semver range over tags, a pinned commit), checked
 * before git runs, and resolved against the refs a server advertises (`git ls-remote`).
 */
import semver from 'semver';
import { UserError } from '../core/errors.js';
import { eventLoopTurns } from '../core/time.js';
import { RecordSplitter } from './records.js';
import { quote } from './redact.js';

export type GitRef =
  | { readonly kind: 'branch'; readonly name: string }
  | { readonly kind: 'tag'; readonly name: string }
  /** The highest tag (`1.2.3` or `v1.2.3`) satisfying a semver range such as `>=1.2.0 <2`. */
  | { readonly kind: 'semver'; readonly range: string }
  /** A full commit SHA (40 hex digits, or 64 for SHA-256 repositories). */
  | { readonly kind: 'commit'; readonly sha: string }
  /** A branch, else a tag of that name; or a full ref (`refs/...`); or `HEAD`, the default branch. */
  | { readonly kind: 'name'; readonly name: string };

const FULL_SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
const MAX_REF_LENGTH = 1024;

export function isFullSha(value: string): boolean {
  return FULL_SHA.test(value);
}

/**
 * Reads the one-string form people write in a spec or on a command line. A full SHA is a commit;
 * a semver range with an operator or wildcard (`^1.2`, `>=1 <2`, `1.x`) is a range; anything else
 * is a name (so a tag `1.2.3` or a branch `release` stays a name). Use the typed form to be explicit.
 */
export function parseRef(input: string): GitRef {
  const value = input.trim();
  if (FULL_SHA.test(value.toLowerCase())) return { kind: 'commit', sha: value.toLowerCase() };
  if (looksLikeSemverRange(value)) return { kind: 'semver', range: value };
  return { kind: 'name', name: value };
}

function looksLikeSemverRange(value: string): boolean {
  return (
    semver.validRange(value) !== null &&
    semver.valid(value) === null &&
    /[\d*]/.test(value) &&
    /[<>=~^*| xX]/.test(value)
  );
}

/** Throws a UserError naming the problem unless `ref` is safe to hand to git. */
export function validateGitRef(ref: GitRef): GitRef {
  switch (ref.kind) {
    case 'branch':
    case 'tag':
      checkRefName(ref.name, { allowFullRef: false });
      return ref;
    case 'name':
      if (ref.name !== 'HEAD') checkRefName(ref.name, { allowFullRef: true });
      return ref;
    case 'semver':
      checkSemverRange(ref.range);
      return ref;
    case 'commit':
      return { kind: 'commit', sha: checkSha(ref.sha) };
    default:
      throw new UserError(`unknown ref kind ${quote(String((ref as { kind: unknown }).kind))}`);
  }
}

/** A full commit SHA in lower case, or a UserError explaining why not. */
export function checkSha(sha: unknown): string {
  if (typeof sha !== 'string') throw new UserError('commit SHA must be a string');
  const lower = sha.toLowerCase();
  if (FULL_SHA.test(lower)) return lower;
  if (/^[0-9a-f]{4,39}$/.test(lower)) {
    throw new UserError(`commit ${quote(sha)} is abbreviated; pin the full 40-character SHA`);
  }
  throw new UserError(`${quote(sha)} is not a commit SHA (expected 40 hexadecimal digits)`);
}

function checkSemverRange(range: string): void {
  if (typeof range !== 'string' || range.trim() === '') throw new UserError('semver range is empty');
  if (range.length > 256 || hasControlCharacters(range)) {
    throw new UserError(`semver range ${quote(range)} is not valid`);
  }
  if (semver.validRange(range) === null) throw new UserError(`semver range ${quote(range)} is not valid`);
}

/**
 * A plain branch name (`staging`, `env/prod`) of a ref as an Application writes it (`main`,
 * `refs/heads/main`), or undefined for tags, SHAs, semver ranges and invalid names: where Capstan
 * writes to Git (revert, promotion, image updates), it writes to a branch only.
 */
export function branchOf(ref: string | undefined): string | undefined {
  if (ref === undefined) return undefined;
  if (ref.startsWith('refs/') && !ref.startsWith('refs/heads/')) return undefined;
  const name = ref.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) : ref;
  if (/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(name) || /[\s<>=]/.test(name)) return undefined;
  return refNameProblem(name) === undefined ? name : undefined;
}

/**
 * The rules of `git check-ref-format --allow-onelevel`, plus ours: nothing git could read as an
 * option. Implemented here so hostile input is refused without starting a process.
 */
export function refNameProblem(name: string): string | undefined {
  if (typeof name !== 'string' || name === '') return 'it is empty';
  if (name.length > MAX_REF_LENGTH) return `it is longer than ${MAX_REF_LENGTH} characters`;
  if (name.startsWith('-')) return 'it begins with "-" and would be read as an option';
  if (hasControlCharacters(name)) return 'it contains control characters';
  if (name.includes('..')) return 'it contains ".."';
  const forbidden = /[ ~^:?*[\\]/.exec(name);
  if (forbidden) return `it contains ${JSON.stringify(forbidden[0])}`;
  if (name.includes('@{')) return 'it contains "@{"';
  if (name === '@') return 'it is "@"';
  if (name.startsWith('/') || name.endsWith('/')) return 'it begins or ends with "/"';
  if (name.includes('//')) return 'it contains "//"';
  if (name.endsWith('.')) return 'it ends with "."';
  for (const component of name.split('/')) {
    if (component.startsWith('.')) return 'a component begins with "."';
    if (component.endsWith('.lock')) return 'a component ends with ".lock"';
  }
  return undefined;
}

function checkRefName(name: string, options: { allowFullRef: boolean }): void {
  const problem = refNameProblem(name);
  if (problem !== undefined) throw new UserError(`ref ${quote(name)} is not valid: ${problem}`);
  if (!options.allowFullRef && name.startsWith('refs/')) {
    throw new UserError(`ref ${quote(name)}: give the short name (without "refs/...")`);
  }
}

function hasControlCharacters(value: string): boolean {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f]/.test(value);
}

/** The refs a server advertises: name → object id, with `^{}` (peeled tag) entries kept apart. */
export interface Advertisement {
  readonly refs: ReadonlyMap<string, string>;
  /** Tag name → the commit an annotated tag points at. */
  readonly peeled: ReadonlyMap<string, string>;
}

/**
 * How much of a ref advertisement is read: a hostile server can advertise millions of refs (1.5
 * million tags took a controller that read them whole to 877 MB). ls-remote asks for one branch or
 * tag by name, so git prints one to three lines; only a semver range lists every tag, and 100,000
 * release tags is far more than a repository that people tag by hand will ever hold.
 */
export interface AdvertisementLimits {
  /** Refs kept, at most; peeled entries (`^{}`, one per annotated tag) are counted apart. */
  readonly maxRefs: number;
  /** One line (`<sha>\t<ref>`); a ref name git could store on a disk is far shorter. */
  readonly maxLineBytes: number;
  /** All of git's output, which bounds what is kept: refs × line length would not. */
  readonly maxBytes: number;
}

export const ADVERTISEMENT_LIMITS: AdvertisementLimits = Object.freeze({
  maxRefs: 100_000,
  maxLineBytes: 4096,
  maxBytes: 32 * 1024 * 1024,
});

/**
 * Reads `git ls-remote` output as git prints it, line by line. Past a limit it throws a UserError
 * naming the repository and drops what it read: the caller stops git, and nothing is kept.
 */
export class AdvertisementReader {
  private refs = new Map<string, string>();
  private peeled = new Map<string, string>();
  private bytes = 0;
  /** Once refused, it stays refused: every later push (and end) throws the same error. */
  private refusal: UserError | undefined;
  private readonly lines: RecordSplitter;
  private readonly source: string;
  private readonly limits: AdvertisementLimits;

  /** `source` names the repository in errors (redacted): `repository https://…`. */
  constructor(source: string, limits: AdvertisementLimits = ADVERTISEMENT_LIMITS) {
    this.source = source;
    this.limits = limits;
    this.lines = new RecordSplitter({
      separator: 0x0a,
      maxRecordBytes: limits.maxLineBytes,
      onRecord: (line) => this.addLine(line),
      tooLong: () =>
        this.refuse(`advertises a line longer than ${limits.maxLineBytes} bytes, longer than any ref name`),
    });
  }

  push(chunk: Buffer | string): void {
    if (this.refusal) throw this.refusal;
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    this.bytes += bytes.length;
    if (this.bytes > this.limits.maxBytes) {
      throw this.refuse(`advertises more than ${this.limits.maxBytes / (1024 * 1024)} MiB of refs${ADVICE}`);
    }
    this.lines.push(bytes);
  }

  end(): Advertisement {
    if (this.refusal) throw this.refusal;
    this.lines.end();
    return { refs: this.refs, peeled: this.peeled };
  }

  private addLine(line: string): void {
    const match = /^([0-9a-f]{40}|[0-9a-f]{64})\t(\S+)$/.exec(line.trim());
    if (!match) return;
    const [, sha = '', name = ''] = match;
    const peeled = name.endsWith('^{}');
    const into = peeled ? this.peeled : this.refs;
    if (into.size >= this.limits.maxRefs) {
      throw this.refuse(`advertises more than ${this.limits.maxRefs} refs${ADVICE}`);
    }
    into.set(peeled ? name.slice(0, -3) : name, sha);
  }

  private refuse(problem: string): UserError {
    // Dropped at once: the error may be kept (in a status, a log) long after this reader.
    this.refs = new Map();
    this.peeled = new Map();
    this.refusal = new UserError(`${this.source} ${problem}`);
    return this.refusal;
  }
}

/** What follows a refusal: the one ref kind that lists many refs, and what to do instead. */
const ADVICE =
  '; Capstan stops reading there (only a semver range lists every tag: name a branch or tag instead, or prune old tags)';

/** A whole `git ls-remote` output, read with the same limits as a streamed one. */
export function parseLsRemote(
  output: string,
  limits: AdvertisementLimits = ADVERTISEMENT_LIMITS,
): Advertisement {
  const reader = new AdvertisementReader('the repository', limits);
  reader.push(output);
  return reader.end();
}

/** The ref patterns for `git ls-remote` that cover `ref`, so large repositories advertise little. */
export function lsRemotePatterns(ref: GitRef): string[] {
  switch (ref.kind) {
    case 'branch':
      return [`refs/heads/${ref.name}`];
    case 'tag':
      return [`refs/tags/${ref.name}`, `refs/tags/${ref.name}^{}`];
    case 'semver':
      return ['refs/tags/*'];
    case 'commit':
      // Only an access check: the commit itself need not be advertised.
      return ['HEAD'];
    case 'name':
      if (ref.name === 'HEAD' || ref.name.startsWith('refs/')) return [ref.name, `${ref.name}^{}`];
      return [`refs/heads/${ref.name}`, `refs/tags/${ref.name}`, `refs/tags/${ref.name}^{}`];
  }
}

export interface ResolvedRef {
  /** The full ref that was chosen, e.g. `refs/tags/v1.4.0`. */
  readonly ref: string;
  /** The commit it points at (annotated tags peeled). */
  readonly sha: string;
}

/** Picks the advertised ref that `ref` means, or undefined when there is none. */
export function selectRef(
  ref: Exclude<GitRef, { kind: 'commit' }>,
  ads: Advertisement,
): ResolvedRef | undefined {
  const pick = (name: string): ResolvedRef | undefined => pickRef(ads, name);
  switch (ref.kind) {
    case 'branch':
      return pick(`refs/heads/${ref.name}`);
    case 'tag':
      return pick(`refs/tags/${ref.name}`);
    case 'semver': {
      const best = highestTagSatisfying(tagNames(ads), ref.range);
      return best === undefined ? undefined : pick(`refs/tags/${best}`);
    }
    case 'name':
      if (ref.name === 'HEAD' || ref.name.startsWith('refs/')) return pick(ref.name);
      return pick(`refs/heads/${ref.name}`) ?? pick(`refs/tags/${ref.name}`);
  }
}

/**
 * selectRef for the source stage: a semver range's tags are weighed in slices, giving the event loop
 * a turn between them (see highestTagSatisfyingAsync).
 */
export async function selectRefAsync(
  ref: Exclude<GitRef, { kind: 'commit' }>,
  ads: Advertisement,
): Promise<ResolvedRef | undefined> {
  if (ref.kind !== 'semver') return selectRef(ref, ads);
  const best = await highestTagSatisfyingAsync(tagNames(ads), ref.range);
  return best === undefined ? undefined : pickRef(ads, `refs/tags/${best}`);
}

/** The advertised ref `name` with its commit (an annotated tag peeled), if advertised. */
function pickRef(ads: Advertisement, name: string): ResolvedRef | undefined {
  const sha = ads.peeled.get(name) ?? ads.refs.get(name);
  return sha === undefined ? undefined : { ref: name, sha };
}

export function tagNames(ads: Advertisement): string[] {
  return [...ads.refs.keys()].filter((name) => name.startsWith('refs/tags/')).map((name) => name.slice(10));
}

/**
 * The tag with the highest version satisfying `range`. Tags may carry a `v` prefix; pre-releases
 * count only when the range itself names one (semver's rule). When `v1.2.3` and `1.2.3` both exist,
 * the plain one wins so the choice never depends on listing order.
 */
export function highestTagSatisfying(tags: readonly string[], range: string): string | undefined {
  const chooser = new HighestTag(range);
  for (const tag of tags) chooser.offer(tag);
  return chooser.tag;
}

/**
 * The same, giving the event loop a turn every `sliceMs`. An advertisement may hold 100,000 tags,
 * which take a few hundred milliseconds of parsing to weigh: done in one go, a server advertising
 * just under the limit stalled health probes, lease renewals and watches for that long at every poll.
 */
export async function highestTagSatisfyingAsync(
  tags: readonly string[],
  range: string,
  sliceMs = 20,
): Promise<string | undefined> {
  const chooser = new HighestTag(range);
  const turn = eventLoopTurns(sliceMs);
  for (const tag of tags) {
    chooser.offer(tag);
    await turn();
  }
  return chooser.tag;
}

/** Keeps the highest tag satisfying a range among the tags offered, in any order. */
class HighestTag {
  private best: { readonly tag: string; readonly version: semver.SemVer } | undefined;
  /** Built once: semver.satisfies(version, text) builds (or looks up) the range again for each tag. */
  private readonly range: semver.Range | undefined;

  constructor(range: string) {
    try {
      this.range = new semver.Range(range);
    } catch {
      this.range = undefined; // satisfies() with an invalid range is false for every version
    }
  }

  get tag(): string | undefined {
    return this.best?.tag;
  }

  offer(tag: string): void {
    if (this.range === undefined) return;
    const version = semver.parse(tag.replace(/^v(?=\d)/, ''));
    if (version === null || !this.range.test(version)) return;
    const best = this.best;
    const order = best === undefined ? 1 : version.compare(best.version);
    // Equal versions (`v1.2.3` and `1.2.3`, or builds of one version): the tag that sorts first.
    if (order > 0 || (order === 0 && best !== undefined && tag < best.tag)) this.best = { tag, version };
  }
}
