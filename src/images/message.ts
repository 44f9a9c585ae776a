/**
 * What an image update says in Git and on the Git host: the commit (a subject people can scan in
 * `git log`, a body naming per image the old and new tag, the digest and the lines changed, and one
 * trailer per ImagePolicy Capstan recognises its commits by), the pull request's branch, title and
 * Markdown body. Tags, digests, file names and old values come from a registry or a repository
 * (hostile): control characters go, lengths are bounded, nothing can pose as a trailer of ours, and
 * in Markdown nothing becomes a link, a tag or a mention.
 */
import { code, escapeText, fenceFor } from '../review/markdown.js';
import { cleanLine } from '../source/writeback/message.js';
import type { FileChanges } from './git.js';
import type { ImageChoice, YamlChange } from './setters.js';

/** The trailer naming an ImagePolicy whose choice a commit writes: `Capstan-Image-Policy: <ns>/<name>`. */
export const IMAGE_POLICY_TRAILER = 'Capstan-Image-Policy';
/** The marker of the one comment a reused pull request gets, updated in place. */
export const IMAGES_COMMENT_MARKER = '<!-- capstan:images -->';

const MAX_SUBJECT_CHARS = 200;
const MAX_VALUE_CHARS = 200;
const MAX_PATH_CHARS = 200;
/** Changed lines listed per image (and for the changes of no image), at most; more are counted. */
const MAX_LISTED_CHANGES = 50;
/** Old tags named per image, at most. */
const MAX_OLD_TAGS = 3;
/** Images listed, at most (a policy sets one; a caller may batch several). */
const MAX_LISTED_IMAGES = 50;

/** The branch a policy's pull request carries its updates on: one per ImagePolicy, reused. */
export function imageUpdateBranch(policy: { readonly namespace: string; readonly name: string }): string {
  return `capstan/images/${policy.namespace}/${policy.name}`;
}

/** One changed line of a file. */
interface Line {
  readonly file: string;
  readonly change: YamlChange;
}

/** A choice with the lines that wrote it and the tags they replaced. */
interface ImageUpdate {
  readonly choice: ImageChoice;
  readonly lines: readonly Line[];
  readonly oldTags: readonly string[];
}

/**
 * `images: team-a/web 127.0.0.1:5000/app 1.1.0 → 1.2.0` for one image, `images: update 3
 * images` for several.
 */
export function imageCommitSubject(choices: readonly ImageChoice[], files: readonly FileChanges[]): string {
  const updates = updatesOf(choices, files).filter((u) => u.lines.length > 0);
  const shown = updates.length > 0 ? updates : updatesOf(choices, files);
  if (shown.length !== 1) return `images: update ${shown.length} images`;
  const u = shown[0]!;
  const subject = `images: ${policyName(u.choice)} ${u.choice.image} ${fromTo(u)}`;
  return cleanLine(subject, MAX_SUBJECT_CHARS);
}

/** The whole commit message: subject, per image what changed where, and the policies' trailers. */
export function imageCommitMessage(choices: readonly ImageChoice[], files: readonly FileChanges[]): string {
  const updates = updatesOf(choices, files);
  const stray = strayLines(updates, files);
  const listed = updates.slice(0, MAX_LISTED_IMAGES);
  const lines = [
    imageCommitSubject(choices, files),
    '',
    `Capstan's image automation set ${updates.length === 1 ? 'the tag of 1 image' : `the tags of ${updates.length} images`} in ${files.length === 1 ? '1 file' : `${files.length} files`}.`,
    ...listed.flatMap((u) => [
      '',
      `* ${clean(u.choice.image)}: ${fromTo(u)} (ImagePolicy ${policyName(u.choice)})`,
      ...(u.choice.digest ? [`  digest ${clean(u.choice.digest)}`] : []),
      ...changeLines(u.lines),
    ]),
    ...(updates.length > listed.length ? ['', `… and ${updates.length - listed.length} more images`] : []),
    ...(stray.length > 0 ? ['', '* other changes:', ...changeLines(stray)] : []),
    '',
    ...policies(choices).map((p) => `${IMAGE_POLICY_TRAILER}: ${p}`),
    '',
  ];
  return lines.join('\n');
}

/** The pull request's title (the commit's subject) and Markdown body. */
export function imagePullRequestText(
  choices: readonly ImageChoice[],
  files: readonly FileChanges[],
): { title: string; body: string } {
  const updates = updatesOf(choices, files);
  const listed = updates.slice(0, MAX_LISTED_IMAGES);
  const names = policies(choices);
  const body = [
    `Capstan's image automation proposes new image tags for the ImagePolicy ${names.map((n) => `**${escapeText(n)}**`).join(', ')}.`,
    '',
    '| Image | From | To | Digest |',
    '| --- | --- | --- | --- |',
    ...listed.map(
      (u) =>
        `| ${code(clean(u.choice.image))} | ${u.oldTags.length > 0 ? u.oldTags.map((t) => code(t)).join(', ') : '—'} | ${code(clean(u.choice.tag))} | ${u.choice.digest ? code(clean(u.choice.digest)) : '—'} |`,
    ),
    ...(updates.length > listed.length ? ['', `_… and ${updates.length - listed.length} more images._`] : []),
    '',
    `### Lines changed`,
    '',
    ...markdownLines(files),
    '',
  ];
  return { title: imageCommitSubject(choices, files), body: body.join('\n') };
}

/**
 * The pull request's text when the caller gives none: the commit's subject as the title, and its
 * message, verbatim in a code block (where no Markdown of a hostile tag can act), as the body.
 */
export function defaultPullRequestText(message: string): { title: string; body: string } {
  const title = cleanLine(message.split('\n', 1)[0] ?? '', MAX_SUBJECT_CHARS) || 'images: update';
  const fence = fenceFor(message);
  return {
    title,
    body: `Capstan's image automation proposes this commit:\n\n${fence}text\n${message.trimEnd()}\n${fence}\n`,
  };
}

// ── Which lines wrote which image ────────────────────────────────────────────────────────────────

function updatesOf(choices: readonly ImageChoice[], files: readonly FileChanges[]): ImageUpdate[] {
  const all = files.flatMap((f) => f.changes.map((change) => ({ file: f.file, change })));
  const claimed = new Set<Line>();
  return choices.map((choice) => {
    // With one image every change is its; with several, a change is the first image's its new value names.
    const lines = all.filter(
      (line) => !claimed.has(line) && (choices.length === 1 || writes(line.change, choice)),
    );
    for (const line of lines) claimed.add(line);
    return { choice, lines, oldTags: oldTagsOf(choice, lines) };
  });
}

function strayLines(updates: readonly ImageUpdate[], files: readonly FileChanges[]): Line[] {
  const claimed = new Set(updates.flatMap((u) => u.lines.map((l) => l.change)));
  return files.flatMap((f) =>
    f.changes.filter((change) => !claimed.has(change)).map((change) => ({ file: f.file, change })),
  );
}

/** Whether `change` writes (part of) `choice`: its tag, digest, name, or the whole reference. */
function writes(change: YamlChange, choice: ImageChoice): boolean {
  const after = change.after;
  return (
    after === choice.tag ||
    after === choice.image ||
    (choice.digest !== undefined && after === choice.digest) ||
    after.startsWith(`${choice.image}:`) ||
    after.startsWith(`${choice.image}@`)
  );
}

/** The tags the lines replaced, from those that set the tag (alone, or in a whole reference). */
function oldTagsOf(choice: ImageChoice, lines: readonly Line[]): string[] {
  const tags = new Set<string>();
  for (const { change } of lines) {
    const tag =
      change.after === choice.tag
        ? change.before
        : tagOf(change.after) === choice.tag
          ? tagOf(change.before)
          : undefined;
    if (tag !== undefined && tag !== '' && tag !== choice.tag) tags.add(clean(tag));
  }
  return [...tags];
}

/** The tag of `registry/path:tag@digest`; undefined when it has none. */
function tagOf(reference: string): string | undefined {
  const name = reference.split('@', 1)[0] ?? '';
  const colon = name.lastIndexOf(':');
  return colon > name.lastIndexOf('/') ? name.slice(colon + 1) : undefined;
}

// ── Text ─────────────────────────────────────────────────────────────────────────────────────────

function fromTo(u: ImageUpdate): string {
  const tag = clean(u.choice.tag);
  if (u.oldTags.length === 0) return `→ ${tag}`;
  const old = u.oldTags.slice(0, MAX_OLD_TAGS).join(', ');
  return `${old}${u.oldTags.length > MAX_OLD_TAGS ? ', …' : ''} → ${tag}`;
}

/** Indented, so nothing of a file can pose as a trailer. */
function changeLines(lines: readonly Line[]): string[] {
  const listed = lines
    .slice(0, MAX_LISTED_CHANGES)
    .map(
      ({ file, change }) =>
        `  ${cleanLine(file, MAX_PATH_CHARS)}:${change.line} ${clean(change.before)} → ${clean(change.after)} (${change.how})`,
    );
  return lines.length > MAX_LISTED_CHANGES
    ? [...listed, `  … and ${lines.length - MAX_LISTED_CHANGES} more lines`]
    : listed;
}

function markdownLines(files: readonly FileChanges[]): string[] {
  const all = files.flatMap((f) => f.changes.map((change) => ({ file: f.file, change })));
  const listed = all
    .slice(0, MAX_LISTED_CHANGES)
    .map(
      ({ file, change }) =>
        `- ${code(cleanLine(file, MAX_PATH_CHARS))} line ${change.line}: ${code(clean(change.before))} → ${code(clean(change.after))}`,
    );
  return all.length > MAX_LISTED_CHANGES
    ? [...listed, `- … and ${all.length - MAX_LISTED_CHANGES} more lines`]
    : listed;
}

function policyName(choice: ImageChoice): string {
  return clean(`${choice.policy.namespace}/${choice.policy.name}`);
}

/** The policies of the choices, each once, sorted. */
function policies(choices: readonly ImageChoice[]): string[] {
  return [...new Set(choices.map(policyName))].sort();
}

function clean(value: string): string {
  return cleanLine(typeof value === 'string' ? value : String(value), MAX_VALUE_CHARS);
}
