/**
 * Unpacking artifacts (Helm chart archives, OCI layers) that a hostile server may have made.
 *
 * Only regular files and folders are written; every other entry (symlink, hard link, device, FIFO)
 * refuses the whole archive, so nothing in the folder can point outside it. Paths are normalised
 * and confined: absolute paths, `..`, backslashes and control characters are refused, and files are
 * created with `wx`, so a second entry of the same name cannot replace the first. Sizes are bounded
 * while reading: the compressed input by the caller's fetch, what gunzip produces by
 * `maxUnpackedBytes` (a gzip bomb stops there), each file by its declared size before any byte of
 * it is read, and the entry count by `maxFiles`.
 */
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform, type TransformCallback, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { extract, type Header } from 'tar-stream';

/** An entry's bytes, as tar-stream hands them (a streamx Readable). */
type EntryStream = AsyncIterable<Buffer> & { resume(): unknown };
import { UserError } from '../../core/errors.js';
import { formatBytes } from '../../render/limits.js';
import { quote } from '../redact.js';

export interface UnpackLimits {
  /** Bytes of the tar stream (after gunzip), headers included. */
  readonly maxUnpackedBytes: number;
  /** The largest single file, as its header declares it (refused before reading). */
  readonly maxFileBytes: number;
  /** Entries (files and folders). */
  readonly maxEntries: number;
}

export interface UnpackOptions {
  /**
   * Leading path segments dropped from every entry (1: a chart archive's `<chart>/` folder, so the
   * chart lands at the root). A file with fewer segments is refused.
   */
  readonly stripComponents?: number;
}

const MiB = 1024 * 1024;

export const DEFAULT_UNPACK_LIMITS: UnpackLimits = Object.freeze({
  maxUnpackedBytes: 256 * MiB,
  maxFileBytes: 16 * MiB,
  maxEntries: 10_000,
});

/** A refused archive: its content, not the machine, is at fault. */
export class UnsafeArchiveError extends UserError {}

/** What `unpackArchive` wrote. */
export interface UnpackResult {
  readonly files: number;
  readonly bytes: number;
  /** Top-level names (a Helm chart archive has exactly one: the chart's folder). */
  readonly topLevel: readonly string[];
}

/**
 * Writes the tar (gzip-compressed or not: told by its first bytes) in `archive` into `dir`, which
 * must exist and be empty. `what` names the artifact in errors. On error, `dir` may hold part of
 * the archive: the caller writes into a private folder and removes it (see engine/checkouts.ts).
 */
export async function unpackArchive(
  archive: Buffer,
  dir: string,
  what: string,
  limits: UnpackLimits = DEFAULT_UNPACK_LIMITS,
  options: UnpackOptions = {},
): Promise<UnpackResult> {
  const refuse = (reason: string): UnsafeArchiveError =>
    new UnsafeArchiveError(`artifact ${what} is refused: ${reason}`);
  const gzipped = archive.length >= 2 && archive[0] === 0x1f && archive[1] === 0x8b;
  const source = Readable.from([archive]);
  const cap = byteCap(limits.maxUnpackedBytes, () =>
    refuse(`it unpacks to more than ${formatBytes(limits.maxUnpackedBytes)}`),
  );
  const tar = extract();
  const state: UnpackState = { entries: 0, files: 0, bytes: 0, topLevel: new Set<string>() };
  tar.on('entry', (header, stream, next) => {
    // A refused entry's stream is destroyed with the refusal, which `next` already reports.
    stream.on('error', () => {});
    writeEntry(
      header,
      stream as unknown as EntryStream,
      dir,
      { state, limits, strip: options.stripComponents ?? 0 },
      refuse,
    ).then(
      () => next(),
      (error: unknown) => {
        // Kept: the pipeline may report another stream's error (a write after the refusal) first.
        state.failure ??= error;
        next(error as Error);
      },
    );
  });
  try {
    // tar-stream's streams are streamx streams, which node's pipeline drives like its own.
    const sink = tar as unknown as Writable;
    await pipeline(gzipped ? [source, createGunzip(), cap, sink] : [source, cap, sink]);
  } catch (error) {
    const first = state.failure ?? error;
    if (first instanceof UnsafeArchiveError) throw first;
    if (state.failure !== undefined) throw first;
    // zlib's and tar-stream's messages name no content ("incorrect header check", "Invalid tar header").
    const reason = error instanceof Error ? `: ${error.message.slice(0, 200)}` : '';
    throw refuse(`it is not a readable tar${gzipped ? '.gz' : ''} archive${reason}`);
  }
  if (state.files === 0) throw refuse('it holds no files');
  return { files: state.files, bytes: state.bytes, topLevel: [...state.topLevel].sort() };
}

interface UnpackState {
  entries: number;
  files: number;
  bytes: number;
  readonly topLevel: Set<string>;
  /** The first entry that could not be written, and why. */
  failure?: unknown;
}

async function writeEntry(
  header: Header,
  stream: EntryStream,
  dir: string,
  context: { readonly state: UnpackState; readonly limits: UnpackLimits; readonly strip: number },
  refuse: (reason: string) => UnsafeArchiveError,
): Promise<void> {
  const { state, limits } = context;
  if (++state.entries > limits.maxEntries) throw refuse(`it holds more than ${limits.maxEntries} entries`);
  const full = confinedPath(header.name, refuse);
  if (header.type !== 'file' && header.type !== 'directory' && header.type !== 'contiguous-file')
    throw refuse(
      `entry ${quote(header.name)} is a ${header.type ?? 'special entry'}; only files and folders`,
    );
  const segments = full === '' ? [] : full.split('/');
  if (header.type !== 'directory' && segments.length <= context.strip)
    throw refuse(`file ${quote(full)} is outside the archive's top-level folder`);
  const path = segments.slice(context.strip).join('/');
  if (path === '') {
    // `./` itself: nothing to write.
    stream.resume();
    return;
  }
  state.topLevel.add(path.split('/')[0]!);
  if (header.type === 'directory') {
    stream.resume();
    await mkdir(join(dir, path), { recursive: true, mode: 0o755 });
    return;
  }
  const size = header.size ?? 0;
  if (size > limits.maxFileBytes)
    throw refuse(
      `file ${quote(path)} declares ${formatBytes(size)}, more than ${formatBytes(limits.maxFileBytes)}`,
    );
  const slash = path.lastIndexOf('/');
  if (slash > 0) await mkdir(join(dir, path.slice(0, slash)), { recursive: true, mode: 0o755 });
  const executable = ((header.mode ?? 0) & 0o111) !== 0;
  await writeFile(join(dir, path), stream, executable ? 0o755 : 0o644, path, refuse);
  state.files += 1;
  state.bytes += size;
}

/** Writes one entry's bytes; `wx`: a second entry of the same name is refused, never written over the first. */
async function writeFile(
  target: string,
  content: AsyncIterable<Buffer>,
  mode: number,
  path: string,
  refuse: (reason: string) => UnsafeArchiveError,
): Promise<void> {
  let handle;
  try {
    handle = await open(target, 'wx', mode);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw refuse(`it holds ${quote(path)} more than once`);
    if (code === 'EISDIR' || code === 'ENOTDIR') throw refuse(`${quote(path)} is both a file and a folder`);
    throw error;
  }
  try {
    for await (const chunk of content) await handle.write(chunk);
  } finally {
    await handle.close();
  }
}

/**
 * The archive path made relative and checked: `./a/b` → `a/b`. Refused: absolute paths, `..`,
 * backslashes (a separator on Windows, a trap for any later consumer), control characters.
 */
export function confinedPath(name: string, refuse: (reason: string) => Error): string {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) throw refuse(`an entry name contains control characters`);
  if (name.startsWith('/')) throw refuse(`entry ${quote(name)} has an absolute path`);
  if (name.includes('\\')) throw refuse(`entry ${quote(name)} contains a backslash`);
  const segments = name.split('/').filter((segment) => segment !== '' && segment !== '.');
  if (segments.includes('..')) throw refuse(`entry ${quote(name)} leaves the artifact ("..")`);
  if (segments.some((segment) => Buffer.byteLength(segment) > 255))
    throw refuse(`entry ${quote(name)} has a name longer than 255 bytes`);
  return segments.join('/');
}

/** Passes bytes through until `max`, then fails the stream: a gzip bomb stops being inflated there. */
function byteCap(max: number, tooMuch: () => Error): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      seen += chunk.length;
      if (seen > max) return callback(tooMuch());
      callback(null, chunk);
    },
  });
}
