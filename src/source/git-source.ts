/**
 * The source stage: resolves what an app asks for (branch, tag, semver range, commit) to a commit in
 * a local cache of bare repositories, one per repository URL and shared by every app using it.
 *
 * Network use is kept to what is needed: a `git ls-remote` (cheap, and it checks the caller's access
 * every time) decides whether anything must be fetched; fetches are shallow, coalesced when several
 * callers want the same thing, and serialised per repository so the cache is never written twice at
 * once. Everything else (tree ids, metadata, checkouts) reads the cache only.
 */
import { createHash } from 'node:crypto';
import { access, mkdir, mkdtemp, open, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { CapstanError, UserError } from '../core/errors.js';
import { checkCredentials, prepareCredentials, type GitCredentials } from './credentials.js';
import {
  GitCommandError,
  classifyGitFailure,
  createProcessRunner,
  gitEnvironment,
  hardenedConfig,
  remoteFailure,
  type GitInvocation,
  type GitOutput,
  type GitRunner,
} from './git.js';
import { Coalescer, KeyedMutex, withFileLock } from './lock.js';
import { RecordSplitter } from './records.js';
import { quote, redactText } from './redact.js';
import {
  AdvertisementReader,
  checkSha,
  lsRemotePatterns,
  parseRef,
  selectRefAsync,
  tagNames,
  validateGitRef,
  type Advertisement,
  type GitRef,
} from './refs.js';
import { cacheKeyOf, parseRepoUrl, type RepoUrl } from './url.js';

export interface Repository {
  readonly url: string;
  readonly credentials?: GitCredentials;
  /** Timeout of one network operation (ls-remote, fetch); default the source's own. */
  readonly timeoutMs?: number;
}

export interface Revision {
  /** The full commit SHA. */
  readonly sha: string;
  /** The full ref it was resolved from (`refs/heads/main`, `refs/tags/v1.4.0`), or the SHA when pinned. */
  readonly ref: string;
  readonly message: string;
  readonly author: { readonly name: string; readonly email: string };
  /** Author date, ISO 8601 with the author's offset. */
  readonly date: string;
}

export interface GitSource {
  /** Resolves `ref` (typed, or the one-string form of `parseRef`) to a commit present in the cache. */
  resolve(repo: Repository, ref: GitRef | string): Promise<Revision>;
  /**
   * The Git object id of `path` at `commit` (a tree for a folder, a blob for a file; `''` or `.` is
   * the root). Renders are keyed by these, so a commit touching another app's folder changes nothing.
   */
  treeId(repo: Repository, commit: string, path: string): Promise<string>;
  /**
   * Writes the files of `commit` into `dir` (created if missing, must be empty). Symlinks stay
   * symlinks, so the render stage can refuse those that leave the checkout.
   */
  checkout(repo: Repository, commit: string, dir: string): Promise<void>;
  /**
   * The paths of files that differ between two commits already in the cache (added, changed or
   * removed), or undefined when either commit is not there: a hint, so it never fetches.
   */
  changedPaths(repo: Repository, from: string, to: string): Promise<readonly string[] | undefined>;
  /**
   * The branches the server advertises now (name without `refs/heads/` → commit), read under the
   * limits of every ref advertisement: a server advertising a million refs is refused, not read.
   */
  listBranches(repo: Repository): Promise<ReadonlyMap<string, string>>;
  /**
   * Every folder of `commit` (`apps`, `apps/web`, …), fetched first if need be. More than `max`
   * (default 10,000) is a user error: a repository decides how many folders it holds.
   */
  listDirectories(repo: Repository, commit: string, options?: { max?: number }): Promise<readonly string[]>;
}

export interface GitLogEntry {
  readonly level: 'debug' | 'info' | 'warn';
  readonly message: string;
  /** The repository, redacted. */
  readonly repo?: string;
  readonly operation?: string;
  readonly durationMs?: number;
}

export interface GitSourceOptions {
  /** Where the bare repositories live; persistent storage makes restarts cheap. */
  readonly cacheDir: string;
  /** Private temp space for credentials files; defaults to the OS temp folder. */
  readonly tempDir?: string;
  /** See `RepoUrlPolicy.allowFileUrls`. */
  readonly allowFileUrls?: boolean;
  /** known_hosts text for ssh repositories whose credentials bring none. */
  readonly sshKnownHosts?: string;
  /** Commits fetched per ref; 0 fetches full history. */
  readonly fetchDepth?: number;
  /**
   * Files larger than this are not written by a checkout: a sparse file of the same size stands in,
   * so the render stage refuses it by size (its own limit, which this must not be below) without a
   * hostile repository's 10 GB blob ever reaching the disk. Default 16 MiB.
   */
  readonly maxCheckoutFileBytes?: number;
  readonly timeouts?: { readonly remoteMs?: number; readonly localMs?: number };
  readonly runner?: GitRunner;
  readonly log?: (entry: GitLogEntry) => void;
  readonly now?: () => number;
}

const DEFAULT_REMOTE_TIMEOUT_MS = 10 * 60_000;
const DEFAULT_LOCAL_TIMEOUT_MS = 2 * 60_000;
const MAX_MESSAGE_LENGTH = 16 * 1024;
/**
 * Stdout read from the commands whose output a repository's content decides (the rest print a
 * line or nothing, see DEFAULT_MAX_STDOUT_BYTES). `git log -1`: header and message, cut to
 * MAX_MESSAGE_LENGTH characters anyway. `diff-tree`: a hint; past this it says "cannot tell".
 */
const MAX_LOG_BYTES = 256 * 1024;
const MAX_CHANGED_PATHS_BYTES = 4 * 1024 * 1024;
/** Folders `listDirectories` returns at most, unless told otherwise. */
const DEFAULT_MAX_DIRECTORIES = 10_000;
/** One `ls-tree -l` entry: a path longer than Linux's PATH_MAX could not be checked out anyway. */
const MAX_TREE_ENTRY_BYTES = 4096 + 128;
/**
 * Memory per git process of a remote command (see GitInvocation.maxMemoryBytes): git holds a whole
 * ref advertisement before it prints a line (1.5 million tags: about 450 MiB in each of git and
 * git-remote-http, which a fetch runs side by side). 100,000 refs need about 40 MiB.
 */
const REMOTE_MEMORY_BYTES = 256 * 1024 * 1024;

/**
 * The memory limit for a remote command of `url`. Over file:// the "server" (upload-pack and
 * pack-objects) runs here as git's own child and would inherit the limit; such URLs read this
 * machine's disk, allowed only in single-user setups, and are no hostile server to bound.
 */
function remoteMemoryLimit(url: RepoUrl): { maxMemoryBytes?: number } {
  return url.scheme === 'file' ? {} : { maxMemoryBytes: REMOTE_MEMORY_BYTES };
}
/**
 * Blobs larger than this are streamed to disk by a fetch's index-pack, not held whole (git's
 * default holds up to 512 MiB): a fetch then fits REMOTE_MEMORY_BYTES whatever the size of the
 * repository's files (a 300 MB file: 11 MB instead of 297 MB).
 */
const STREAMED_BLOB_BYTES = 64 * 1024 * 1024;

/** What every git invocation needs: the repository (for messages), its cache, its credentials. */
interface GitContext {
  readonly url: RepoUrl;
  readonly gitDir: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly secrets: readonly string[];
  /** The repository's own timeout for network operations, when it has one. */
  readonly remoteTimeoutMs?: number;
}

/** Per-call context: the checked URL, its cache, and the credentials made ready for git. */
interface Session extends GitContext {
  /** Distinguishes callers with different credentials, so they never share a network call. */
  readonly credentialsKey: string;
}

/** How one command's environment and stdout differ from the defaults (see GitInvocation). */
interface RunOptions {
  readonly env?: Record<string, string>;
  readonly maxStdoutBytes?: number;
  readonly onStdout?: (chunk: Buffer) => void;
  readonly maxMemoryBytes?: number;
}

export function createGitSource(options: GitSourceOptions): GitSource {
  const runner = options.runner ?? createProcessRunner();
  const now = options.now ?? Date.now;
  const log = options.log ?? (() => {});
  const allowFile = options.allowFileUrls ?? false;
  const remoteTimeoutMs = options.timeouts?.remoteMs ?? DEFAULT_REMOTE_TIMEOUT_MS;
  const localTimeoutMs = options.timeouts?.localMs ?? DEFAULT_LOCAL_TIMEOUT_MS;
  const depth = options.fetchDepth ?? 1;
  const maxCheckoutFileBytes = options.maxCheckoutFileBytes ?? 16 * 1024 * 1024;
  const reposDir = join(options.cacheDir, 'repos');
  const home = join(options.cacheDir, 'home');
  const coalescer = new Coalescer();
  const repoMutex = new KeyedMutex();
  let prepared: Promise<void> | undefined;

  const prepareDirs = () =>
    (prepared ??= (async () => {
      await mkdir(reposDir, { recursive: true, mode: 0o700 });
      await mkdir(home, { recursive: true, mode: 0o700 });
    })().catch((error: unknown) => {
      prepared = undefined;
      throw error;
    }));

  async function run(
    session: GitContext,
    operation: string,
    args: readonly string[],
    extra: RunOptions & { remote?: boolean } = {},
  ): Promise<{ invocation: GitInvocation; output: GitOutput }> {
    const invocation: GitInvocation = {
      operation,
      args: [...hardenedConfig(allowFile), `--git-dir=${session.gitDir}`, ...args],
      env: gitEnvironment({ home, allowFileProtocol: allowFile, extra: { ...session.env, ...extra.env } }),
      timeoutMs: extra.remote ? (session.remoteTimeoutMs ?? remoteTimeoutMs) : localTimeoutMs,
      // Never the caller's folder: nothing there (a repository, its config) may influence git.
      cwd: session.gitDir,
      ...(extra.maxStdoutBytes === undefined ? {} : { maxStdoutBytes: extra.maxStdoutBytes }),
      ...(extra.onStdout === undefined ? {} : { onStdout: extra.onStdout }),
      ...(extra.maxMemoryBytes === undefined ? {} : { maxMemoryBytes: extra.maxMemoryBytes }),
    };
    const started = now();
    const output = await runner(invocation);
    // A runner that kept stdout instead of streaming it (a test's stand-in) is read the same way.
    if (extra.onStdout !== undefined && output.stdout !== '') extra.onStdout(Buffer.from(output.stdout));
    log({
      level: 'debug',
      message: `git ${operation} ${output.exitCode === 0 ? 'succeeded' : 'failed'}`,
      repo: session.url.display,
      operation,
      durationMs: now() - started,
    });
    return { invocation, output };
  }

  /**
   * Runs a local command and returns stdout; failures are internal errors (the cache is ours).
   * `truncate`: output past `maxStdoutBytes` is cut, not a failure.
   */
  async function local(
    session: Session,
    operation: string,
    args: readonly string[],
    options: RunOptions & { truncate?: boolean } = {},
  ) {
    const { invocation, output } = await run(session, operation, args, options);
    if (output.stdoutTruncated && options.truncate) return output.stdout;
    if (output.exitCode !== 0) {
      throw new CapstanError('internal', `git ${operation} failed in the cache of ${session.url.display}`, {
        cause: new GitCommandError(invocation, output, session.secrets),
      });
    }
    return output.stdout;
  }

  async function remote(
    session: Session,
    operation: string,
    args: readonly string[],
    options: RunOptions = {},
  ) {
    const warn = (message: string) => log({ level: 'warn', message, repo: session.url.display, operation });
    const { invocation, output } = await run(session, operation, args, { ...options, remote: true }).catch(
      (error: unknown) => {
        // The stdout reader refused what the server sent (an AdvertisementReader's UserError).
        if (error instanceof UserError) warn(error.message);
        throw error;
      },
    );
    if (output.exitCode !== 0 || output.timedOut) {
      const error = remoteFailure(invocation, output, {
        display: session.url.display,
        host: session.url.host,
        secrets: session.secrets,
        timeoutMs: session.remoteTimeoutMs ?? remoteTimeoutMs,
      });
      // Made of redacted parts and short (stderr is an excerpt): one more pass is cheap, and guards
      // the log against a part added later without redaction.
      warn(redactText(error.message, session.secrets));
      return { output, error };
    }
    return { output, error: undefined };
  }

  /** The bare repository for `url`, created atomically (init in a temp folder, then rename). */
  async function ensureCache(url: RepoUrl): Promise<string> {
    await prepareDirs();
    const gitDir = join(reposDir, `${cacheKeyOf(url)}.git`);
    if (await exists(join(gitDir, 'HEAD'))) return gitDir;
    return coalescer.run(`init\0${gitDir}`, async () => {
      if (await exists(join(gitDir, 'HEAD'))) return gitDir;
      const staging = await mkdtemp(join(reposDir, '.init-'));
      try {
        const bootstrap = { url, gitDir: staging, secrets: [] };
        const { invocation, output } = await run(bootstrap, 'init', [
          'init',
          '--bare',
          '--quiet',
          '--template=',
        ]);
        if (output.exitCode !== 0) {
          throw new CapstanError('internal', `cannot create the git cache for ${url.display}`, {
            cause: new GitCommandError(invocation, output, []),
          });
        }
        // For people looking at the disk; the URL is redacted, and git never reads this file.
        await writeFile(join(staging, 'description'), `${url.display}\n`);
        await rename(staging, gitDir).catch(async (error: NodeJS.ErrnoException) => {
          // Another process created it first: use theirs.
          if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
        });
      } finally {
        await rm(staging, { recursive: true, force: true });
      }
      return gitDir;
    });
  }

  /** Checks the input, prepares the cache and the credentials, runs `work`, and cleans up. */
  async function withSession<T>(repo: Repository, work: (session: Session) => Promise<T>): Promise<T> {
    if (repo === null || typeof repo !== 'object') throw new UserError('repository is missing');
    const url = parseRepoUrl(repo.url, { allowFileUrls: allowFile });
    checkCredentials(repo.credentials, url);
    const gitDir = await ensureCache(url);
    const credentials = await prepareCredentials(repo.credentials, url, {
      tempDir: options.tempDir ?? tmpdir(),
      ...(options.sshKnownHosts === undefined ? {} : { defaultKnownHosts: options.sshKnownHosts }),
    });
    const session: Session = {
      url,
      gitDir,
      env: credentials.env,
      secrets: credentials.secrets,
      credentialsKey: repo.credentials ? fingerprint(repo.credentials) : 'anonymous',
      ...(repo.timeoutMs && repo.timeoutMs > 0 ? { remoteTimeoutMs: repo.timeoutMs } : {}),
    };
    try {
      return await work(session);
    } catch (error) {
      // Last line of defence: no message leaves this module with a known secret in it.
      if (error instanceof Error) {
        error.message = redactText(error.message, session.secrets);
        if (error.stack) error.stack = redactText(error.stack, session.secrets);
      }
      throw error;
    } finally {
      await credentials.dispose();
    }
  }

  function lsRemote(session: Session, patterns: readonly string[]): Promise<Advertisement> {
    const key = ['ls-remote', session.gitDir, session.url.url, session.credentialsKey, ...patterns].join(
      '\0',
    );
    return coalescer.run(key, async () => {
      // Read as git prints it, against limits: how much a server advertises is its choice. Past a
      // limit the reader throws, git is stopped, and what was read is dropped.
      const advertisement = new AdvertisementReader(`repository ${session.url.display}`);
      const args = ['ls-remote', '--', session.url.url, ...patterns];
      const { error } = await remote(session, 'ls-remote', args, {
        onStdout: (chunk) => advertisement.push(chunk),
        ...remoteMemoryLimit(session.url),
      });
      if (error) throw error;
      return advertisement.end();
    });
  }

  /** Regular files (not symlinks or submodules) of a commit over `maxCheckoutFileBytes`. */
  async function oversizedBlobs(session: Session, sha: string): Promise<{ path: string; size: number }[]> {
    // `<mode> <type> <object> <size>\t<path>` per entry, NUL-terminated; sizes come from the
    // object headers, nothing is inflated. Streamed, keeping only the oversized entries: a
    // repository decides how many files it lists.
    const found: { path: string; size: number }[] = [];
    const entries = new RecordSplitter({
      separator: 0,
      maxRecordBytes: MAX_TREE_ENTRY_BYTES,
      onRecord: (entry) => {
        const tab = entry.indexOf('\t');
        if (tab < 0) return;
        const [mode, type, , size] = entry.slice(0, tab).split(/ +/);
        if (type === 'blob' && mode !== '120000' && Number(size) > maxCheckoutFileBytes)
          found.push({ path: entry.slice(tab + 1), size: Number(size) });
      },
      tooLong: () =>
        new UserError(
          `commit ${sha} in ${session.url.display} holds a path longer than ${MAX_TREE_ENTRY_BYTES} bytes`,
        ),
    });
    const listing = ['ls-tree', '-r', '-l', '-z', '--end-of-options', sha];
    await local(session, 'ls-tree', listing, { onStdout: (chunk) => entries.push(chunk) });
    entries.end();
    // A crafted tree can hold names git itself would never check out (`..`, `.git`); the stand-ins
    // are written by us, not by git, so such a path must not get that far.
    for (const { path } of found) {
      if (
        path.split('/').some((part) => part === '' || part === '.' || part === '..' || /^\.git$/i.test(part))
      )
        throw new UserError(`commit ${sha} in ${session.url.display} holds an invalid path ${quote(path)}`);
    }
    return found;
  }

  async function hasCommit(session: Session, sha: string): Promise<boolean> {
    const { output } = await run(session, 'cat-file', ['cat-file', '-e', `${sha}^{commit}`]);
    return output.exitCode === 0;
  }

  async function commitOf(session: Session, revision: string): Promise<string | undefined> {
    const { output } = await run(session, 'rev-parse', [
      'rev-parse',
      '--verify',
      '--quiet',
      '--end-of-options',
      `${revision}^{commit}`,
    ]);
    return output.exitCode === 0 ? output.stdout.trim() : undefined;
  }

  /**
   * Fetches `refspecs` unless `satisfied()` already holds once it is our turn. Identical concurrent
   * fetches share one run; different ones for the same repository wait for each other, in this
   * process and (through a lock file) in others.
   */
  function fetch(
    session: Session,
    refspecs: readonly string[],
    satisfied: () => Promise<boolean>,
    extraArgs: readonly string[] = [],
  ): Promise<Error | undefined> {
    const key = ['fetch', session.gitDir, session.url.url, session.credentialsKey, ...extraArgs, ...refspecs];
    return coalescer.run(key.join('\0'), () =>
      repoMutex.run(session.gitDir, () =>
        withFileLock(
          `${session.gitDir}.lock`,
          { staleAfterMs: remoteTimeoutMs + 60_000, waitMs: remoteTimeoutMs + 30_000, now },
          async () => {
            if (await satisfied()) return undefined;
            const depthArgs = depth > 0 && !extraArgs.includes('--unshallow') ? [`--depth=${depth}`] : [];
            const args = [
              '-c',
              `core.bigFileThreshold=${STREAMED_BLOB_BYTES}`,
              'fetch',
              '--no-tags',
              '--no-write-fetch-head',
              '--no-recurse-submodules',
              ...depthArgs,
              ...extraArgs,
              '--',
              session.url.url,
              ...refspecs,
            ];
            const started = now();
            const { error } = await remote(session, 'fetch', args, remoteMemoryLimit(session.url));
            if (!error) {
              log({
                level: 'info',
                message: `fetched ${refspecs.join(' ')}`,
                repo: session.url.display,
                durationMs: now() - started,
              });
            }
            return error;
          },
        ),
      ),
    );
  }

  async function resolveNamed(session: Session, ref: Exclude<GitRef, { kind: 'commit' }>): Promise<Revision> {
    const advertised = await lsRemote(session, lsRemotePatterns(ref));
    const target = await selectRefAsync(ref, advertised);
    if (target === undefined) throw refNotFound(session, ref, advertised);
    let sha = await commitOf(session, target.sha);
    if (sha === undefined) {
      // The advertised commit is new to the cache. Fetch the ref by name (any server allows that);
      // if it moved since ls-remote we take the newer commit, which is what the user asked for.
      // HEAD is stored under another name: writing it would repoint the cache's own HEAD.
      const localRef = target.ref === 'HEAD' ? 'refs/capstan/remote-head' : target.ref;
      const error = await fetch(session, [`+${target.ref}:${localRef}`], () =>
        hasCommit(session, target.sha),
      );
      if (error) {
        if (
          classifyGitFailure((error.cause as GitCommandError | undefined)?.stderr ?? '') === 'refNotFound'
        ) {
          throw refNotFound(session, ref, advertised);
        }
        throw error;
      }
      sha = (await commitOf(session, target.sha)) ?? (await commitOf(session, localRef));
      if (sha === undefined) {
        throw new UserError(`ref ${quote(target.ref)} in ${session.url.display} does not point at a commit`);
      }
    }
    return readRevision(session, sha, target.ref);
  }

  /** Makes a pinned commit present: a shallow fetch by SHA, else (old servers) a full fetch. */
  async function ensureCommit(session: Session, sha: string): Promise<void> {
    // Checks the caller may read the repository even when the commit is cached: a cache shared
    // between tenants must not serve a commit to someone who could not fetch it.
    await lsRemote(session, ['HEAD']);
    if (await hasCommit(session, sha)) return;
    const pinnedRef = `refs/capstan/commits/${sha}`;
    const error = await fetch(session, [`+${sha}:${pinnedRef}`], () => hasCommit(session, sha));
    if (error === undefined && (await hasCommit(session, sha))) return;
    const stderr = (error?.cause as GitCommandError | undefined)?.stderr ?? '';
    const kind = classifyGitFailure(stderr);
    if (error && kind !== 'unadvertisedObject' && kind !== 'refNotFound' && kind !== 'unknown') throw error;
    log({
      level: 'info',
      message: 'server refused a fetch by SHA; fetching all branches',
      repo: session.url.display,
    });
    const shallow =
      (await local(session, 'rev-parse', ['rev-parse', '--is-shallow-repository'])).trim() === 'true';
    const fullError = await fetch(
      session,
      ['+refs/heads/*:refs/heads/*', '+refs/tags/*:refs/tags/*'],
      () => hasCommit(session, sha),
      shallow ? ['--unshallow'] : [],
    );
    if (fullError) throw fullError;
    if (!(await hasCommit(session, sha))) {
      throw new UserError(`commit ${sha} not found in ${session.url.display}`);
    }
    // Keeps the commit reachable, so gc never takes it from under a pinned app.
    await local(session, 'update-ref', ['update-ref', pinnedRef, sha]);
  }

  async function readRevision(session: Session, sha: string, ref: string): Promise<Revision> {
    const format = '--format=%H%x00%an%x00%ae%x00%aI%x00%B';
    const out = await local(
      session,
      'log',
      ['log', '-1', '--no-show-signature', format, '--end-of-options', sha, '--'],
      { maxStdoutBytes: MAX_LOG_BYTES, truncate: true },
    );
    const [fullSha = sha, name = '', email = '', date = '', ...message] = out.split('\0');
    const text = message.join('\0').replace(/\s+$/, '');
    return {
      sha: fullSha,
      ref,
      message: text.length > MAX_MESSAGE_LENGTH ? `${text.slice(0, MAX_MESSAGE_LENGTH)}…` : text,
      author: { name, email },
      date,
    };
  }

  return {
    async resolve(repo, ref) {
      const gitRef = validateGitRef(typeof ref === 'string' ? parseRef(ref) : ref);
      return withSession(repo, async (session) => {
        if (gitRef.kind !== 'commit') return resolveNamed(session, gitRef);
        await ensureCommit(session, gitRef.sha);
        return readRevision(session, gitRef.sha, gitRef.sha);
      });
    },

    async treeId(repo, commit, path) {
      const sha = checkSha(commit);
      const treePath = normaliseTreePath(path);
      return withSession(repo, async (session) => {
        if (!(await hasCommit(session, sha))) await ensureCommit(session, sha);
        const spec = treePath === '' ? `${sha}^{tree}` : `${sha}:${treePath}`;
        const { output } = await run(session, 'rev-parse', [
          'rev-parse',
          '--verify',
          '--quiet',
          '--end-of-options',
          spec,
        ]);
        if (output.exitCode !== 0) {
          throw new UserError(
            `path ${quote(treePath)} does not exist at commit ${sha} in ${session.url.display}`,
          );
        }
        return output.stdout.trim();
      });
    },

    async changedPaths(repo, from, to) {
      const [a, b] = [checkSha(from), checkSha(to)];
      return withSession(repo, async (session) => {
        if (!(await hasCommit(session, a)) || !(await hasCommit(session, b))) return undefined;
        // Trees only, no history: works on shallow clones. -z: paths come verbatim, NUL-separated.
        const { output } = await run(
          session,
          'diff-tree',
          ['diff-tree', '-r', '-z', '--name-only', '--no-renames', '--end-of-options', a, b],
          { maxStdoutBytes: MAX_CHANGED_PATHS_BYTES },
        );
        if (output.exitCode !== 0 || output.stdoutTruncated) return undefined;
        return output.stdout.split('\0').filter((path) => path !== '');
      });
    },

    async listBranches(repo) {
      return withSession(repo, async (session) => {
        const advertised = await lsRemote(session, ['refs/heads/*']);
        const branches = new Map<string, string>();
        for (const [name, sha] of advertised.refs)
          if (name.startsWith('refs/heads/')) branches.set(name.slice('refs/heads/'.length), sha);
        return branches;
      });
    },

    async listDirectories(repo, commit, listOptions = {}) {
      const sha = checkSha(commit);
      const max = listOptions.max ?? DEFAULT_MAX_DIRECTORIES;
      return withSession(repo, async (session) => {
        if (!(await hasCommit(session, sha))) await ensureCommit(session, sha);
        // Trees only (-d), recursively, NUL-terminated and streamed: refused past `max`, never held.
        const folders: string[] = [];
        const entries = new RecordSplitter({
          separator: 0,
          maxRecordBytes: MAX_TREE_ENTRY_BYTES,
          onRecord: (path) => {
            if (folders.length >= max)
              throw new UserError(`commit ${sha} in ${session.url.display} holds more than ${max} folders`);
            folders.push(path);
          },
          tooLong: () =>
            new UserError(
              `commit ${sha} in ${session.url.display} holds a path longer than ${MAX_TREE_ENTRY_BYTES} bytes`,
            ),
        });
        const listing = ['ls-tree', '-r', '-d', '-z', '--name-only', '--end-of-options', sha];
        await local(session, 'ls-tree', listing, { onStdout: (chunk) => entries.push(chunk) });
        entries.end();
        return folders;
      });
    },

    async checkout(repo, commit, dir) {
      const sha = checkSha(commit);
      const target = resolvePath(dir);
      return withSession(repo, async (session) => {
        if (!(await hasCommit(session, sha))) await ensureCommit(session, sha);
        await mkdir(target, { recursive: true });
        if ((await readdir(target)).length > 0) {
          throw new CapstanError('internal', `checkout folder ${target} is not empty`);
        }
        // A private index file: the shared cache's own index is never touched, so checkouts of
        // the same repository can run side by side and alongside a fetch.
        const indexDir = await mkdtemp(join(options.tempDir ?? tmpdir(), 'capstan-git-index-'));
        try {
          const env = { GIT_INDEX_FILE: join(indexDir, 'index') };
          const worktree = [`--work-tree=${target}`, '-c', 'core.bare=false'];
          await local(session, 'read-tree', [...worktree, 'read-tree', '--end-of-options', sha], { env });
          const oversized = await oversizedBlobs(session, sha);
          for (let i = 0; i < oversized.length; i += 100) {
            const paths = oversized.slice(i, i + 100).map((blob) => blob.path);
            const removal = ['update-index', '--force-remove', '--', ...paths];
            await local(session, 'update-index', [...worktree, ...removal], { env });
          }
          await local(session, 'checkout-index', [...worktree, 'checkout-index', '--all', '--force'], {
            env,
          });
          for (const blob of oversized) await sparsePlaceholder(join(target, blob.path), blob.size);
        } finally {
          await rm(indexDir, { recursive: true, force: true });
        }
      });
    },
  };
}

function refNotFound(session: Session, ref: GitRef, advertised: Advertisement): UserError {
  if (ref.kind === 'semver') {
    const tags = tagNames(advertised);
    // Tag names are the server's: quoted (control characters escaped) and cut short.
    const sample =
      tags.length === 0
        ? 'it has no tags'
        : `tags include ${tags
            .slice(-5)
            .map((tag) => quote(tag, 64))
            .join(', ')}`;
    return new UserError(`no tag satisfies ${quote(ref.range)} in ${session.url.display} (${sample})`);
  }
  const name = ref.kind === 'commit' ? ref.sha : ref.name;
  return new UserError(`ref ${quote(name)} not found in ${session.url.display}`);
}

/** A repository-relative path: no `..`, no absolute paths, nothing git could read otherwise. */
export function normaliseTreePath(path: string): string {
  if (typeof path !== 'string') throw new UserError('path must be a string');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(path))
    throw new UserError(`path ${quote(path)} contains control characters`);
  if (path.startsWith('/'))
    throw new UserError(`path ${quote(path)} must be relative to the repository root`);
  const segments = path.split('/').filter((segment) => segment !== '' && segment !== '.');
  if (segments.includes('..')) throw new UserError(`path ${quote(path)} must not contain ".."`);
  return segments.join('/');
}

function fingerprint(credentials: GitCredentials): string {
  return createHash('sha256').update(JSON.stringify(credentials)).digest('hex');
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/**
 * A file of `size` bytes that takes no disk space (a hole): what the render stage stats and refuses,
 * in place of a blob too large to write. Its folder may hold nothing else, so it is made here.
 */
async function sparsePlaceholder(path: string, size: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const handle = await open(path, 'wx', 0o444);
  try {
    await handle.truncate(size);
  } finally {
    await handle.close();
  }
}
