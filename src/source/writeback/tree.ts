/**
 * The revert computed on Git objects alone: no working tree, so nothing of a (possibly hostile)
 * repository is ever written to disk as files, no filter or hook runs, and a checkout's size limits
 * are not needed. A revert of `good..bad` under a path, on top of the branch head, is the three-way
 * merge of
 *   base   = bad,
 *   ours   = head,
 *   theirs = bad with the path put back as it was at good,
 * done with `read-tree -m` into a private index, and content merges of single files with
 * `git merge-file` (as `git revert` would do them). Paths outside the app's are equal in base and
 * theirs, so the merge keeps the head's: nothing of another app is reverted.
 */
import { writeFile } from 'node:fs/promises';
import { CapstanError } from '../../core/errors.js';
import { quote } from '../redact.js';
import type { WorkRepo } from './work-repo.js';

/** One entry of a tree: what `ls-tree` prints. */
export interface TreeEntry {
  /** `040000`, `100644`, `100755`, `120000`, `160000`. */
  readonly mode: string;
  readonly type: 'tree' | 'blob' | 'commit';
  readonly sha: string;
}

/** A directory listing longer than this is not something an app folder's parents hold. */
const MAX_TREE_LISTING_BYTES = 8 * 1024 * 1024;
/** Files merged line by line at most this large (each side); larger ones are a conflict. */
const MAX_MERGED_FILE_BYTES = 8 * 1024 * 1024;
/** Paths changed on both sides that are merged file by file, at most. */
const MAX_BOTH_CHANGED = 500;
/** An index listing (`ls-files -u`) of the unmerged paths. */
const MAX_UNMERGED_LISTING_BYTES = 4 * 1024 * 1024;

interface RawEntry {
  readonly mode: string;
  readonly type: string;
  readonly sha: string;
  /** The name's bytes as git printed them (any encoding). */
  readonly name: Buffer;
}

async function listTree(repo: WorkRepo, tree: string): Promise<RawEntry[]> {
  const out = await repo.bytes(
    'ls-tree',
    ['ls-tree', '-z', '--end-of-options', tree],
    MAX_TREE_LISTING_BYTES,
  );
  if (out === undefined) {
    throw new CapstanError('internal', `a folder of ${repo.url.display} lists more than Capstan reads`);
  }
  if (out.exitCode !== 0) {
    throw new CapstanError('internal', `git ls-tree failed for ${repo.url.display}`);
  }
  const entries: RawEntry[] = [];
  for (const record of splitNul(out.stdout)) {
    const tab = record.indexOf(0x09);
    if (tab < 0) continue;
    const [mode = '', type = '', sha = ''] = record.subarray(0, tab).toString('latin1').split(' ');
    entries.push({ mode, type, sha, name: record.subarray(tab + 1) });
  }
  return entries;
}

function splitNul(buffer: Buffer): Buffer[] {
  const records: Buffer[] = [];
  let start = 0;
  for (let end = buffer.indexOf(0, start); end >= 0; end = buffer.indexOf(0, start)) {
    records.push(buffer.subarray(start, end));
    start = end + 1;
  }
  if (start < buffer.length) records.push(buffer.subarray(start));
  return records;
}

/** The root tree of a commit. */
export async function rootTree(repo: WorkRepo, commit: string): Promise<string> {
  return (
    await repo.local('rev-parse', ['rev-parse', '--verify', '--end-of-options', `${commit}^{tree}`])
  ).trim();
}

/** The entry at `path` (normalised, `''` for the root) in `commit`, or undefined when absent. */
export async function entryAt(repo: WorkRepo, commit: string, path: string): Promise<TreeEntry | undefined> {
  let tree = await rootTree(repo, commit);
  if (path === '') return { mode: '040000', type: 'tree', sha: tree };
  const segments = path.split('/');
  for (const [index, segment] of segments.entries()) {
    const entry = (await listTree(repo, tree)).find((e) => e.name.equals(Buffer.from(segment, 'utf8')));
    if (entry === undefined) return undefined;
    if (index === segments.length - 1) return asEntry(entry);
    if (entry.type !== 'tree') return undefined;
    tree = entry.sha;
  }
  return undefined;
}

function asEntry(entry: RawEntry): TreeEntry {
  return { mode: entry.mode, type: entry.type as TreeEntry['type'], sha: entry.sha };
}

export function sameEntry(a: TreeEntry | undefined, b: TreeEntry | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.sha === b.sha && a.type === b.type && normalMode(a.mode) === normalMode(b.mode);
}

function normalMode(mode: string): string {
  return mode.replace(/^0+/, '');
}

/**
 * The root tree of `commit` with `path` replaced by `entry` (or removed when `entry` is undefined);
 * folders on the way are created or, left empty, removed. Written with `mktree`, one per level.
 */
export async function graft(repo: WorkRepo, commit: string, path: string, entry: TreeEntry | undefined) {
  if (path === '') {
    if (entry === undefined || entry.type !== 'tree') {
      throw new CapstanError('internal', 'the repository root can only be replaced by a tree');
    }
    return entry.sha;
  }
  const rebuild = async (
    tree: string | undefined,
    segments: readonly string[],
  ): Promise<string | undefined> => {
    const [name = '', ...rest] = segments;
    const nameBytes = Buffer.from(name, 'utf8');
    const entries = tree === undefined ? [] : await listTree(repo, tree);
    const existing = entries.find((e) => e.name.equals(nameBytes));
    let replacement: TreeEntry | undefined;
    if (rest.length === 0) {
      replacement = entry;
    } else {
      const child = await rebuild(existing?.type === 'tree' ? existing.sha : undefined, rest);
      replacement = child === undefined ? undefined : { mode: '040000', type: 'tree', sha: child };
    }
    const kept = entries.filter((e) => !e.name.equals(nameBytes));
    const all: RawEntry[] = replacement === undefined ? kept : [...kept, { ...replacement, name: nameBytes }];
    if (all.length === 0) return undefined;
    const input = Buffer.concat(
      all.map((e) =>
        Buffer.concat([Buffer.from(`${e.mode} ${e.type} ${e.sha}\t`, 'latin1'), e.name, Buffer.from([0])]),
      ),
    );
    return (await repo.local('mktree', ['mktree', '-z'], { stdin: input })).trim();
  };
  const root = await rebuild(await rootTree(repo, commit), path.split('/'));
  // A repository whose only content was the app: its revert leaves an empty tree.
  return root ?? (await repo.local('mktree', ['mktree', '-z'], { stdin: '' })).trim();
}

export type MergeResult =
  | { readonly clean: true; readonly tree: string }
  | { readonly clean: false; readonly paths: readonly string[]; readonly more: number };

/**
 * Three-way merge of trees `base`, `ours` and `theirs` in a private index (`indexFile`), never a
 * working tree. Paths both sides changed are merged line by line when both are regular files;
 * anything else (a file deleted on one side and changed on the other, a symlink, a submodule, a
 * binary or oversized file, overlapping lines) is a conflict, returned by path.
 */
export async function mergeTrees(
  repo: WorkRepo,
  trees: { base: string; ours: string; theirs: string },
  indexFile: string,
  tempFile: (name: string) => string,
): Promise<MergeResult> {
  const env = { GIT_INDEX_FILE: indexFile };
  await repo.local(
    'read-tree',
    ['read-tree', '-m', '-i', '--aggressive', '--end-of-options', trees.base, trees.ours, trees.theirs],
    { env },
  );
  const listing = await repo.bytes('ls-files', ['ls-files', '-u', '-z'], MAX_UNMERGED_LISTING_BYTES, { env });
  if (listing === undefined || listing.exitCode !== 0) {
    throw new CapstanError('internal', `cannot list the paths a revert in ${repo.url.display} changes`);
  }
  // `<mode> <sha> <stage>\t<path>` per entry.
  const unmerged = new Map<string, { path: Buffer; stages: Map<number, { mode: string; sha: string }> }>();
  for (const record of splitNul(listing.stdout)) {
    const tab = record.indexOf(0x09);
    if (tab < 0) continue;
    const [mode = '', sha = '', stage = ''] = record.subarray(0, tab).toString('latin1').split(' ');
    const path = record.subarray(tab + 1);
    const key = path.toString('latin1');
    const item = unmerged.get(key) ?? { path, stages: new Map() };
    item.stages.set(Number(stage), { mode, sha });
    unmerged.set(key, item);
  }

  const conflicts: Buffer[] = [];
  const resolved: Buffer[] = [];
  if (unmerged.size > MAX_BOTH_CHANGED) {
    return {
      clean: false,
      paths: [...unmerged.values()].slice(0, 10).map((u) => displayPath(u.path)),
      more: unmerged.size - 10,
    };
  }
  for (const { path, stages } of unmerged.values()) {
    const base = stages.get(1);
    const ours = stages.get(2);
    const theirs = stages.get(3);
    if (!base || !ours || !theirs || ![base, ours, theirs].every((s) => isRegularFile(s.mode))) {
      conflicts.push(path);
      continue;
    }
    const mode =
      ours.mode === theirs.mode
        ? ours.mode
        : base.mode === ours.mode
          ? theirs.mode
          : base.mode === theirs.mode
            ? ours.mode
            : undefined;
    const merged = mode === undefined ? undefined : await mergeFile(repo, { base, ours, theirs }, tempFile);
    if (merged === undefined) {
      conflicts.push(path);
      continue;
    }
    resolved.push(Buffer.concat([Buffer.from(`${mode} ${merged} 0\t`, 'latin1'), path, Buffer.from([0])]));
  }
  if (conflicts.length > 0) {
    return {
      clean: false,
      paths: conflicts.slice(0, 10).map(displayPath),
      more: Math.max(0, conflicts.length - 10),
    };
  }
  if (resolved.length > 0) {
    // A stage-0 entry replaces the path's unmerged stages.
    await repo.local('update-index', ['update-index', '-z', '--index-info'], {
      env,
      stdin: Buffer.concat(resolved),
    });
  }
  const tree = (await repo.local('write-tree', ['write-tree'], { env })).trim();
  return { clean: true, tree };
}

function isRegularFile(mode: string): boolean {
  return mode === '100644' || mode === '100755';
}

/** `git merge-file` of three blobs; the merged blob's id, or undefined for a conflict. */
async function mergeFile(
  repo: WorkRepo,
  blobs: { base: { sha: string }; ours: { sha: string }; theirs: { sha: string } },
  tempFile: (name: string) => string,
): Promise<string | undefined> {
  const files: string[] = [];
  for (const side of ['ours', 'base', 'theirs'] as const) {
    const content = await repo.bytes(
      'cat-file',
      ['cat-file', 'blob', blobs[side].sha],
      MAX_MERGED_FILE_BYTES,
    );
    if (content === undefined || content.exitCode !== 0) return undefined;
    // merge-file reads NUL bytes as "binary" and refuses; so do we.
    if (content.stdout.includes(0)) return undefined;
    const file = tempFile(side);
    await writeFile(file, content.stdout, { mode: 0o600 });
    files.push(file);
  }
  // Exit 0: merged cleanly; a positive count of conflicts, or a negative error, otherwise.
  const merged = await repo.bytes(
    'merge-file',
    ['merge-file', '-p', '--', ...files],
    3 * MAX_MERGED_FILE_BYTES,
  );
  if (merged === undefined || merged.exitCode !== 0) return undefined;
  return writeBlob(repo, merged.stdout);
}

/** A path as people read it: UTF-8 where it is, quoted, control characters escaped. */
function displayPath(path: Buffer): string {
  return quote(path.toString('utf8'));
}

/** One entry below a folder, as `ls-tree -r -l` lists it: a file, a symlink or a submodule. */
export interface ListedFile {
  /** Relative to the listed tree, `/`-separated, decoded as UTF-8. */
  readonly path: string;
  /** Whether the name's bytes are UTF-8 (`path` round-trips to them); others cannot be grafted back by name. */
  readonly utf8: boolean;
  /** `100644`, `100755`, `120000` (symlink), `160000` (submodule). */
  readonly mode: string;
  readonly type: 'blob' | 'commit';
  readonly sha: string;
  /** Bytes, from the object's header (nothing inflated); undefined for a submodule. */
  readonly size: number | undefined;
}

/**
 * Every file below `tree` (a tree's or commit's id), recursively, folders left out; undefined when
 * the listing is longer than `maxListingBytes` (a repository decides how many files it holds).
 */
export async function listFilesBelow(
  repo: WorkRepo,
  tree: string,
  maxListingBytes: number,
): Promise<ListedFile[] | undefined> {
  const out = await repo.bytes(
    'ls-tree',
    ['ls-tree', '-r', '-l', '-z', '--full-tree', '--end-of-options', tree],
    maxListingBytes,
  );
  if (out === undefined) return undefined;
  if (out.exitCode !== 0) throw new CapstanError('internal', `git ls-tree failed for ${repo.url.display}`);
  const files: ListedFile[] = [];
  for (const record of splitNul(out.stdout)) {
    const tab = record.indexOf(0x09);
    if (tab < 0) continue;
    // `<mode> <type> <object> <size>\t<path>`, the size right-aligned (padded with spaces).
    const [mode = '', type = '', sha = '', size = ''] = record
      .subarray(0, tab)
      .toString('latin1')
      .split(/ +/);
    if (type !== 'blob' && type !== 'commit') continue;
    const name = record.subarray(tab + 1);
    const path = name.toString('utf8');
    files.push({
      path,
      utf8: Buffer.from(path, 'utf8').equals(name),
      mode,
      type,
      sha,
      size: /^\d+$/.test(size) ? Number(size) : undefined,
    });
  }
  return files;
}

/**
 * The content of blobs `shas` (duplicates allowed) through one `cat-file --batch`. The caller
 * knows their sizes (listFilesBelow) and bounds the batch; `maxBytes` bounds what is read (contents
 * and headers), past which this is an internal error: the objects are not the ones listed.
 */
export async function readBlobs(
  repo: WorkRepo,
  shas: readonly string[],
  maxBytes: number,
): Promise<Map<string, Buffer>> {
  const blobs = new Map<string, Buffer>();
  const wanted = [...new Set(shas)];
  if (wanted.length === 0) return blobs;
  const out = await repo.bytes('cat-file', ['cat-file', '--batch'], maxBytes + wanted.length * 128, {
    stdin: wanted.map((sha) => `${sha}\n`).join(''),
  });
  if (out === undefined || out.exitCode !== 0)
    throw new CapstanError('internal', `git cat-file --batch failed for ${repo.url.display}`);
  let at = 0;
  for (const sha of wanted) {
    const end = out.stdout.indexOf(0x0a, at);
    const [id = '', type = '', size = ''] = out.stdout
      .subarray(at, end < 0 ? at : end)
      .toString('latin1')
      .split(' ');
    if (end < 0 || id !== sha || type !== 'blob' || !/^\d+$/.test(size))
      throw new CapstanError('internal', `blob ${sha} of ${repo.url.display} could not be read`);
    const start = end + 1;
    blobs.set(sha, out.stdout.subarray(start, start + Number(size)));
    // The content is followed by a newline.
    at = start + Number(size) + 1;
  }
  return blobs;
}

/** Writes `content` as a blob (no filters: the bytes as given) and returns its id. */
export async function writeBlob(repo: WorkRepo, content: Buffer | string): Promise<string> {
  const blob = await repo.local('hash-object', ['hash-object', '-w', '--no-filters', '--stdin'], {
    stdin: content,
  });
  return blob.trim();
}
