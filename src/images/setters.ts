/**
 * Image updates written into YAML text with the smallest textual change: the value of a field is
 * replaced where it stands, and everything else (comments, quoting, indentation, CRLF, key order,
 * other documents) stays byte for byte. The document is parsed only to find positions; it is never
 * serialised again.
 *
 * Three kinds of target:
 * - **Setter comments**, as Flux users write them: `image: app:1.0 # {"$imagepolicy": "ns:policy"}`
 *   sets the whole reference; the suffixes `:tag`, `:name` and `:digest` set a part. The comment
 *   must follow the scalar on its line (`[app:1.0 # …` in a flow sequence counts; a comment after a
 *   comma or bracket does not); block scalars and values spanning lines are left alone.
 * - **Kustomize `images:` entries** (in kustomization.yaml, kustomization.yml or Kustomization):
 *   an entry whose `name` or `newName` is the image, or that carries a marker of the policy, gets
 *   `newTag` (added under `name` when missing) and `digest` (when it has one and the choice too).
 *   Inside an entry, markers set the field they sit on (`newTag`, `newName`, `digest`).
 * - **Helm values files**: dotted paths named by the policy (`image.tag`, `image.repository`,
 *   `image.digest`). A path that does not lead to a value is reported in `missing`, never created.
 *
 * Everything here is hostile: the file (from Git) and the choice (tags and digests from a
 * registry). The file is bounded in size and read in one pass that applies the render stage's YAML
 * guards (nesting, alias budget, duplicate keys, document count; yaml-tree.ts), in steps the async
 * variant spreads over turns of the event loop. A value written is checked against the OCI
 * grammars, and quoted whenever plain text would read as something other than a string (`1.10`,
 * `yes`, `1_000`).
 */
import path from 'node:path';
import { parse as parseYamlValue, type LineCounter } from 'yaml';
import { UserError, messageOf } from '../core/errors.js';
import { parseImageName } from '../registry/index.js';
import { DEFAULT_RENDER_LIMITS, formatBytes } from '../render/limits.js';
import { runSliced, runToEnd } from '../render/yaml.js';
import { quote } from '../source/redact.js';
import { isValidTag } from './policy.js';
import {
  isMapNode as isMap,
  isScalarNode as isScalar,
  isSeqNode as isSeq,
  readYamlTree,
  type MapNode,
  type ScalarNode as Scalar,
  type YamlNode,
} from './yaml-tree.js';

export interface ImageChoice {
  readonly policy: { readonly namespace: string; readonly name: string };
  /** formatImageName of the policy's image: `host/path`. */
  readonly image: string;
  readonly tag: string;
  /** `sha256:…`, when the tag was resolved. */
  readonly digest?: string;
}

export interface YamlChange {
  /** 1-based line of the value (of the new line, for a `newTag` added). */
  readonly line: number;
  /** The old value as YAML reads it ('' when there was none). */
  readonly before: string;
  readonly after: string;
  readonly how: 'setter' | 'kustomize' | 'helmValues';
}

export interface HelmValuesTarget {
  /** Repository-relative path of the values file, as the caller passes `file`. */
  readonly file: string;
  /** Dotted path of the tag, e.g. `image.tag`. */
  readonly tag: string;
  /** Dotted path that holds the image name, written when given. */
  readonly repository?: string;
  /** Dotted path that holds the digest, written when given and the choice has a digest. */
  readonly digest?: string;
}

export interface YamlUpdate {
  readonly text: string;
  readonly changes: readonly YamlChange[];
  /** Helm values targets of this file that could not be written, and why (for status; without the file name). */
  readonly missing?: readonly string[];
}

/**
 * Larger files are not edited: the YAML parser reads about a megabyte a second (less under load),
 * so this bounds the CPU one hostile file costs; a file with setter markers, a kustomization or a
 * values file is far smaller.
 */
export const MAX_EDITED_FILE_BYTES = 4 * 1024 * 1024;
/** A setter comment longer than this is not a marker (Flux's are under a hundred characters). */
const MAX_MARKER_CHARS = 1024;
const MARKER_KEY = '$imagepolicy';

const KUSTOMIZATION_FILES = new Set(['kustomization.yaml', 'kustomization.yml', 'Kustomization']);

export interface YamlUpdateInput {
  /** Repository-relative path: names the file in errors, and picks kustomizations and values targets. */
  readonly file: string;
  readonly text: string;
  readonly choices: readonly ImageChoice[];
  readonly helmValues?: readonly HelmValuesTarget[];
}

/**
 * `text` with the image references of `choices` updated, and each change made. The text is
 * returned unchanged (the same string) when nothing needs to change. A UserError when the file is
 * not YAML the guards accept or a choice is not a valid image reference.
 *
 * The controller uses `updateImagesInYamlAsync`: this one holds the event loop for the whole parse.
 */
export function updateImagesInYaml(input: YamlUpdateInput): YamlUpdate {
  return runToEnd(updateSteps(input));
}

/**
 * The same, giving the event loop a turn every `sliceMs` of work (about a second per MiB under
 * load): one tenant's large file must not stall lease renewals, health probes, watches and every
 * other tenant.
 */
export function updateImagesInYamlAsync(input: YamlUpdateInput, sliceMs = 20): Promise<YamlUpdate> {
  return runSliced(updateSteps(input), sliceMs);
}

function* updateSteps(input: YamlUpdateInput): Generator<void, YamlUpdate> {
  const { file, text } = input;
  input.choices.forEach(checkChoice);
  const helmTargets = (input.helmValues ?? []).filter((target) => target.file === file);
  const wanted = {
    setters: input.choices.length > 0 && text.includes(MARKER_KEY),
    kustomize: input.choices.length > 0 && KUSTOMIZATION_FILES.has(path.posix.basename(file)),
    helm: helmTargets.length > 0,
  };
  if (!wanted.setters && !wanted.kustomize && !wanted.helm) return { text, changes: [] };

  const source = yield* readSource(file, text);
  const edits = new EditList(source);
  if (wanted.kustomize) editKustomizeImages(source, input.choices, edits);
  if (wanted.setters) yield* editSetterMarkers(source, input.choices, edits);
  const missing = wanted.helm ? editHelmValues(source, input.choices, helmTargets, edits) : [];
  const result = edits.apply();
  return missing.length > 0 ? { ...result, missing } : result;
}

// ── Reading ──────────────────────────────────────────────────────────────────────────────────────

interface Source {
  readonly file: string;
  readonly text: string;
  /** The root of each document (positions only; every scalar as written). */
  readonly documents: readonly (YamlNode | undefined)[];
  readonly lines: LineCounter;
}

function* readSource(file: string, text: string): Generator<void, Source> {
  if (Buffer.byteLength(text, 'utf8') > MAX_EDITED_FILE_BYTES) {
    throw new UserError(
      `${file} is larger than ${formatBytes(MAX_EDITED_FILE_BYTES)}; image updates skip it`,
    );
  }
  // One pass with the render stage's guards: nesting bounded while lexing, aliases against a
  // budget, duplicate keys; errors name the line and never quote the content.
  const { documents, lines } = yield* readYamlTree(text, file, {
    maxAliasCount: DEFAULT_RENDER_LIMITS.maxAliasCount,
    maxDepth: DEFAULT_RENDER_LIMITS.maxDepth,
    maxDocuments: DEFAULT_RENDER_LIMITS.maxDocuments,
  });
  return { file, text, documents, lines };
}

/** Every scalar of the documents (keys too), in document order; aliases are not followed. */
function* scalarsOf(source: Source): Generator<Scalar> {
  const pending: unknown[] = [...source.documents].reverse();
  while (pending.length > 0) {
    const node = pending.pop();
    if (isScalar(node)) {
      yield node;
    } else if (isMap(node)) {
      for (let i = node.items.length - 1; i >= 0; i--) pending.push(node.items[i]?.value, node.items[i]?.key);
    } else if (isSeq(node)) {
      for (let i = node.items.length - 1; i >= 0; i--) pending.push(node.items[i]);
    }
  }
}

/** The comment after a scalar on its own line (`value # comment`), without the `#`. */
function lineComment(scalar: Scalar): string | undefined {
  const token = scalar.token;
  if (!token || token.type === 'block-scalar' || !token.end) return undefined;
  for (const part of token.end) {
    if (part.type === 'newline') return undefined;
    if (part.type === 'comment') return part.source.slice(1);
  }
  return undefined;
}

/** The scalar's text as YAML reads it: plain scalars as written (`1.10` stays `1.10`), '' for empty. */
function scalarText(source: Source, scalar: Scalar): string | undefined {
  if (scalar.style === 'plain') return source.text.slice(scalar.start, scalar.end);
  return scalar.style === 'single' || scalar.style === 'double' ? scalar.value : undefined;
}

/** `scalarText` of a value that can be replaced in place: on one line, not a block scalar. */
function editableText(source: Source, scalar: Scalar): string | undefined {
  const text = source.text.slice(scalar.start, scalar.end);
  return text.includes('\n') || text.includes('\r') ? undefined : scalarText(source, scalar);
}

/** The pair of `map` whose key reads `name` (as written: `on` is "on", not true). */
function pairNamed(source: Source, map: MapNode, name: string): { key: Scalar; value: unknown } | undefined {
  for (const pair of map.items) {
    if (isScalar(pair.key) && scalarText(source, pair.key) === name)
      return { key: pair.key, value: pair.value };
  }
  return undefined;
}

/** The value of `name` in `map` when it is a scalar (not an alias, not a collection). */
function scalarAt(source: Source, map: MapNode, name: string): { key: Scalar; value: Scalar } | undefined {
  const pair = pairNamed(source, map, name);
  return pair && isScalar(pair.value) ? { key: pair.key, value: pair.value } : undefined;
}

// ── Markers ──────────────────────────────────────────────────────────────────────────────────────

type MarkerField = 'image' | 'tag' | 'name' | 'digest';

interface Marker {
  readonly namespace: string;
  readonly name: string;
  readonly field: MarkerField;
}

/**
 * `{"$imagepolicy": "ns:policy[:tag|:name|:digest]"}`, strictly: one key, no escapes (so a second
 * `$imagepolicy` key cannot hide behind `\u0024`), bounded. Anything else is not a marker.
 */
export function parseMarker(comment: string): Marker | undefined {
  if (comment.length > MAX_MARKER_CHARS || !comment.includes(MARKER_KEY)) return undefined;
  const body = comment.trim();
  if (!body.startsWith('{') || !body.endsWith('}') || body.includes('\\')) return undefined;
  if (body.split(`"${MARKER_KEY}"`).length !== 2) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const keys = Object.keys(parsed);
  const value = (parsed as Record<string, unknown>)[MARKER_KEY];
  if (keys.length !== 1 || typeof value !== 'string') return undefined;
  const [namespace, name, field, ...rest] = value.split(':');
  if (!namespace || !name || rest.length > 0) return undefined;
  if (field === undefined) return { namespace, name, field: 'image' };
  return field === 'tag' || field === 'name' || field === 'digest' ? { namespace, name, field } : undefined;
}

function choiceFor(marker: Marker | undefined, choices: readonly ImageChoice[]): ImageChoice | undefined {
  if (!marker) return undefined;
  return choices.find(
    (choice) => choice.policy.namespace === marker.namespace && choice.policy.name === marker.name,
  );
}

function markerOf(scalar: Scalar): Marker | undefined {
  const comment = lineComment(scalar);
  return comment === undefined ? undefined : parseMarker(comment);
}

/** Scalars looked at between two chances to pause. */
const SCALARS_PER_STEP = 1024;

function* editSetterMarkers(
  source: Source,
  choices: readonly ImageChoice[],
  edits: EditList,
): Generator<void> {
  let scalars = 0;
  for (const node of scalarsOf(source)) {
    if (++scalars % SCALARS_PER_STEP === 0) yield;
    if (edits.claimed(node)) continue;
    const marker = markerOf(node);
    const choice = choiceFor(marker, choices);
    if (!marker || !choice) continue;
    const before = editableText(source, node);
    if (before === undefined) continue;
    const after = markedValue(marker.field, before, choice);
    if (after !== undefined) edits.replace(node, before, after, 'setter');
  }
}

/** The new text of a value a marker sets, or undefined to leave it. */
function markedValue(field: MarkerField, before: string, choice: ImageChoice): string | undefined {
  switch (field) {
    case 'tag':
      return choice.tag;
    case 'digest':
      return choice.digest;
    case 'name':
      return sameImage(before, choice.image) ? before : choice.image;
    case 'image': {
      const old = splitReference(before);
      const name = sameImage(old.name, choice.image) ? old.name : choice.image;
      // A digest stays pinned only where it was (and never the old one: it would win over the tag).
      const digest = old.digest !== undefined && choice.digest !== undefined ? `@${choice.digest}` : '';
      return `${name}:${choice.tag}${digest}`;
    }
  }
}

/** `host/path:tag@digest` in its parts. */
function splitReference(reference: string): { name: string; tag?: string; digest?: string } {
  const at = reference.indexOf('@');
  const digest = at < 0 ? undefined : reference.slice(at + 1);
  const named = at < 0 ? reference : reference.slice(0, at);
  const colon = named.lastIndexOf(':');
  const name = colon > named.lastIndexOf('/') ? named.slice(0, colon) : named;
  const tag = colon > named.lastIndexOf('/') ? named.slice(colon + 1) : undefined;
  return { name, ...(tag === undefined ? {} : { tag }), ...(digest === undefined ? {} : { digest }) };
}

/** `nginx`, `docker.io/library/nginx` and `index.docker.io/library/nginx` are one image. */
function sameImage(written: string, image: string): boolean {
  if (written === image) return true;
  try {
    const a = parseImageName(written);
    const b = parseImageName(image);
    return a.registry === b.registry && a.repository === b.repository;
  } catch {
    return false;
  }
}

// ── Kustomize ────────────────────────────────────────────────────────────────────────────────────

function editKustomizeImages(source: Source, choices: readonly ImageChoice[], edits: EditList): void {
  for (const document of source.documents) {
    if (!isMap(document)) continue;
    const images = pairNamed(source, document, 'images')?.value;
    if (!isSeq(images)) continue;
    for (const entry of images.items) {
      if (!isMap(entry)) continue;
      // Markers inside an entry mean kustomize's fields, never a whole reference.
      for (const pair of entry.items) {
        if (isScalar(pair.key)) edits.claim(pair.key);
        if (isScalar(pair.value)) edits.claim(pair.value);
      }
      const choice = entryChoice(source, entry, choices);
      if (choice) editKustomizeEntry(source, entry, choice, edits);
    }
  }
}

/** The choice an entry is for: by a marker of its policy on any of its fields, else by image. */
function entryChoice(
  source: Source,
  entry: MapNode,
  choices: readonly ImageChoice[],
): ImageChoice | undefined {
  for (const pair of entry.items) {
    for (const node of [pair.key, pair.value]) {
      const choice = isScalar(node) ? choiceFor(markerOf(node), choices) : undefined;
      if (choice) return choice;
    }
  }
  for (const field of ['newName', 'name']) {
    const found = scalarAt(source, entry, field);
    const written = found && scalarText(source, found.value);
    const choice = written ? choices.find((c) => sameImage(written, c.image)) : undefined;
    if (choice) return choice;
  }
  return undefined;
}

function editKustomizeEntry(source: Source, entry: MapNode, choice: ImageChoice, edits: EditList): void {
  const newTag = scalarAt(source, entry, 'newTag');
  if (newTag) {
    const before = editableText(source, newTag.value);
    if (before !== undefined) edits.replace(newTag.value, before, choice.tag, 'kustomize', newTag.key);
  } else {
    addNewTag(source, entry, choice.tag, edits);
  }
  const digest = scalarAt(source, entry, 'digest');
  const oldDigest = digest && editableText(source, digest.value);
  if (digest && oldDigest && choice.digest !== undefined) {
    edits.replace(digest.value, oldDigest, choice.digest, 'kustomize', digest.key);
  }
  const newName = scalarAt(source, entry, 'newName');
  const oldName = newName && editableText(source, newName.value);
  if (newName && oldName !== undefined && markerOf(newName.value)?.field === 'name') {
    if (!sameImage(oldName, choice.image)) edits.replace(newName.value, oldName, choice.image, 'kustomize');
  }
}

/**
 * `newTag: <tag>` as a line of its own under `name`, at the indentation of `name`
 * (`{name: app}` becomes `{name: app, newTag: <tag>}`).
 */
function addNewTag(source: Source, entry: MapNode, tag: string, edits: EditList): void {
  const name = scalarAt(source, entry, 'name');
  if (!name) return;
  const { text } = source;
  const valueEnd = name.value.end;
  if (entry.flow) {
    const line = source.lines.linePos(valueEnd).line;
    edits.insert(valueEnd, `, newTag: ${plainOrQuoted(tag)}`, line, tag, 'kustomize');
    return;
  }
  const keyStart = name.key.start;
  const lineStart = text.lastIndexOf('\n', keyStart - 1) + 1;
  const newline = text.indexOf('\n', valueEnd);
  // Only `name` behind blanks and dashes (no anchor, tag or tab), on one line: else leave the entry.
  if (!/^ *(?:- +)*$/.test(text.slice(lineStart, keyStart))) return;
  if (text.slice(keyStart, valueEnd).includes('\n')) return;
  const eol =
    newline < 0 ? (text.includes('\r\n') ? '\r\n' : '\n') : text[newline - 1] === '\r' ? '\r\n' : '\n';
  const added = `${' '.repeat(keyStart - lineStart)}newTag: ${plainOrQuoted(tag)}`;
  const line = source.lines.linePos(keyStart).line + 1;
  if (newline < 0) edits.insert(text.length, `${eol}${added}`, line, tag, 'kustomize');
  else edits.insert(newline + 1, `${added}${eol}`, line, tag, 'kustomize');
}

// ── Helm values ──────────────────────────────────────────────────────────────────────────────────

function editHelmValues(
  source: Source,
  choices: readonly ImageChoice[],
  targets: readonly HelmValuesTarget[],
  edits: EditList,
): string[] {
  const missing: string[] = [];
  if (choices.length === 0) return missing;
  const root = source.documents.find(isMap);
  for (const target of targets) {
    const repository =
      target.repository === undefined ? undefined : valueAt(source, root, target.repository)?.value;
    const choice = helmChoice(source, choices, repository);
    if (!choice) {
      missing.push(`${quote(target.tag)}: ${UNCLEAR_CHOICE}`);
      continue;
    }
    const fields: [string | undefined, string | undefined][] = [
      [target.tag, choice.tag],
      [target.repository, choice.image],
      [target.digest, choice.digest],
    ];
    for (const [dotted, value] of fields) {
      if (dotted === undefined || value === undefined) continue;
      const found = valueAt(source, root, dotted);
      const before = found && editableText(source, found.value);
      if (!found) {
        missing.push(`${quote(dotted)} is not a value there (image updates never add one)`);
      } else if (before === undefined) {
        missing.push(`${quote(dotted)} is a block or multi-line value; image updates leave it`);
      } else if (!(dotted === target.repository && sameImage(before, value))) {
        edits.replace(found.value, before, value, 'helmValues', found.key);
      }
    }
  }
  return missing;
}

const UNCLEAR_CHOICE =
  'several images are being updated and no repository path holding one of them tells which one goes here';

function helmChoice(
  source: Source,
  choices: readonly ImageChoice[],
  repository: Scalar | undefined,
): ImageChoice | undefined {
  if (choices.length === 1) return choices[0];
  const written = repository && scalarText(source, repository);
  return written ? choices.find((choice) => sameImage(written, choice.image)) : undefined;
}

/** The scalar at a dotted path of mappings (`image.tag`), with its key; not through aliases or sequences. */
function valueAt(source: Source, root: unknown, dotted: string): { key: Scalar; value: Scalar } | undefined {
  let found: { key: Scalar; value: unknown } | undefined;
  let node = root;
  for (const segment of dotted.split('.')) {
    found = isMap(node) ? pairNamed(source, node, segment) : undefined;
    if (!found) return undefined;
    node = found.value;
  }
  return found && isScalar(found.value) ? { key: found.key, value: found.value } : undefined;
}

// ── Writing ──────────────────────────────────────────────────────────────────────────────────────

interface Edit {
  readonly start: number;
  readonly end: number;
  readonly text: string;
  readonly change: YamlChange;
}

/** The edits of one file: at most one per value, applied together in one pass. */
class EditList {
  private readonly edits: Edit[] = [];
  private readonly claimedScalars = new Set<Scalar>();
  private readonly touched = new Set<number>();

  constructor(private readonly source: Source) {}

  /** Keeps the setter pass off a value another pass owns. */
  claim(scalar: Scalar): void {
    this.claimedScalars.add(scalar);
  }

  claimed(scalar: Scalar): boolean {
    return this.claimedScalars.has(scalar);
  }

  /** Sets a scalar's value in its own quoting style; equal values and unsafe spots change nothing. */
  replace(scalar: Scalar, before: string, after: string, how: YamlChange['how'], key?: Scalar): void {
    if (before === after) return;
    const { start, end } = scalar;
    if (this.touched.has(start)) return;
    const text =
      start === end ? emptyValueText(this.source.text, start, after, key) : renderScalar(scalar, after);
    if (text === undefined || this.source.text.slice(start, end).includes('\n')) return;
    this.touched.add(start);
    const line = this.source.lines.linePos(start).line;
    this.edits.push({ start, end, text, change: { line, before, after, how } });
  }

  /** Inserts `text` at `at`; `line` is where the new value will be. */
  insert(at: number, text: string, line: number, after: string, how: YamlChange['how']): void {
    if (this.touched.has(at)) return;
    this.touched.add(at);
    this.edits.push({ start: at, end: at, text, change: { line, before: '', after, how } });
  }

  /** The new text, built in one pass over the edits in order. */
  apply(): { text: string; changes: YamlChange[] } {
    if (this.edits.length === 0) return { text: this.source.text, changes: [] };
    const sorted = [...this.edits].sort((a, b) => a.start - b.start);
    const parts: string[] = [];
    const changes: YamlChange[] = [];
    let at = 0;
    // Lines are those of the new text: a `newTag` added moves what follows it down.
    let linesAdded = 0;
    for (const edit of sorted) {
      parts.push(this.source.text.slice(at, edit.start), edit.text);
      at = edit.end;
      changes.push({ ...edit.change, line: edit.change.line + linesAdded });
      if (edit.start === edit.end) linesAdded += countNewlines(edit.text);
    }
    parts.push(this.source.text.slice(at));
    return { text: parts.join(''), changes };
  }
}

function countNewlines(text: string): number {
  let count = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) count++;
  return count;
}

/**
 * The source of an empty value (`tag:` with nothing after it): a space after the colon and one
 * before a comment. Undefined unless only the colon and blanks stand between key and value.
 */
function emptyValueText(
  text: string,
  at: number,
  value: string,
  key: Scalar | undefined,
): string | undefined {
  const keyEnd = key?.end;
  if (keyEnd === undefined || !/^[ \t]*:[ \t]*$/.test(text.slice(keyEnd, at))) return undefined;
  const before = text[at - 1] === ':' ? ' ' : '';
  const after = text[at] === '#' ? ' ' : '';
  return `${before}${plainOrQuoted(value)}${after}`;
}

/** `value` in the quoting style of `scalar`: plain when it stays a string, else double-quoted. */
function renderScalar(scalar: Scalar, value: string): string | undefined {
  switch (scalar.style) {
    case 'plain':
      return plainOrQuoted(value);
    case 'single':
      return `'${value.replaceAll("'", "''")}'`;
    case 'double':
      return JSON.stringify(value);
    default:
      return undefined;
  }
}

/** Plain text when YAML 1.1 and 1.2 both read it back as this string (`1.10`, `yes` and `1_000` do not). */
function plainOrQuoted(value: string): string {
  return isPlainString(value) ? value : JSON.stringify(value);
}

/** Answers of `isPlainString`, which parses: a scan writes the same few values many times. */
const plainAnswers = new Map<string, boolean>();

function isPlainString(value: string): boolean {
  const known = plainAnswers.get(value);
  if (known !== undefined) return known;
  if (plainAnswers.size >= 1024) plainAnswers.clear();
  const answer = readsBackAsString(value);
  plainAnswers.set(value, answer);
  return answer;
}

function readsBackAsString(value: string): boolean {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_./:@+-]*$/.test(value) || value.endsWith(':')) return false;
  return ['1.1', '1.2'].every((version) => {
    try {
      return parseYamlValue(value, { version: version as '1.1' | '1.2', logLevel: 'silent' }) === value;
    } catch {
      return false;
    }
  });
}

// ── Choices ──────────────────────────────────────────────────────────────────────────────────────

/** The OCI digest grammar: algorithm:encoded. */
const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,256}$/;

function checkChoice(choice: ImageChoice): void {
  const who = `ImagePolicy ${quote(String(choice.policy?.namespace))}/${quote(String(choice.policy?.name))}`;
  if (typeof choice.policy?.namespace !== 'string' || typeof choice.policy.name !== 'string') {
    throw new UserError(`${who}: an image choice names no policy`);
  }
  try {
    parseImageName(choice.image);
  } catch (error) {
    throw new UserError(`${who}: ${messageOf(error)}`);
  }
  if (!isValidTag(choice.tag)) throw new UserError(`${who}: ${quote(String(choice.tag))} is not a valid tag`);
  if (choice.digest !== undefined && (typeof choice.digest !== 'string' || !DIGEST.test(choice.digest))) {
    throw new UserError(`${who}: ${quote(String(choice.digest))} is not a valid digest`);
  }
}
