/**
 * A private, throw-away bare repository for writing to one remote: created in its own 0700 temp
 * folder, with the source stage's runner, hermetic environment, hardened settings and askpass
 * credentials, and removed (credentials first) when the work is done. Never the shared cache: what
 * is written here (a revert commit) must not be seen by the source stage before the server has it.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CapstanError } from '../../core/errors.js';
import { checkCredentials, prepareCredentials, type GitCredentials } from '../credentials.js';
import {
  GitCommandError,
  createProcessRunner,
  gitEnvironment,
  hardenedConfig,
  remoteFailure,
  type GitInvocation,
  type GitOutput,
  type GitRunner,
} from '../git.js';
import type { GitLogEntry } from '../git-source.js';
import { redactText } from '../redact.js';
import { parseRepoUrl, type RepoUrl } from '../url.js';

export interface WorkRepoOptions {
  /** Private temp space; defaults to the OS temp folder. */
  readonly tempDir?: string;
  /** See `RepoUrlPolicy.allowFileUrls`. */
  readonly allowFileUrls?: boolean;
  /** known_hosts text for ssh repositories whose credentials bring none. */
  readonly sshKnownHosts?: string;
  readonly runner?: GitRunner;
  readonly timeouts?: { readonly remoteMs?: number; readonly localMs?: number };
  readonly log?: (entry: GitLogEntry) => void;
}

export interface RunOptions {
  readonly env?: Readonly<Record<string, string>>;
  readonly stdin?: Buffer | string;
  readonly maxStdoutBytes?: number;
  readonly onStdout?: (chunk: Buffer) => void;
}

const DEFAULT_REMOTE_TIMEOUT_MS = 2 * 60_000;
const DEFAULT_LOCAL_TIMEOUT_MS = 2 * 60_000;
/** As the source stage's (git-source.ts): git holds a whole ref advertisement before printing. */
const REMOTE_MEMORY_BYTES = 256 * 1024 * 1024;
/** Blobs past this are streamed to disk by index-pack rather than held whole (as the source's). */
const STREAMED_BLOB_BYTES = 64 * 1024 * 1024;

export class WorkRepo {
  private constructor(
    readonly url: RepoUrl,
    private readonly gitDir: string,
    private readonly home: string,
    private readonly credentialEnv: Readonly<Record<string, string>>,
    /** Values redacted from everything git prints. */
    readonly secrets: readonly string[],
    private readonly runner: GitRunner,
    private readonly allowFile: boolean,
    private readonly remoteTimeoutMs: number,
    private readonly localTimeoutMs: number,
    private readonly log: (entry: GitLogEntry) => void,
  ) {}

  /**
   * Opens a work repository for `repository` and runs `work` in it. Whatever `work` throws leaves
   * with every known secret redacted from its message and stack.
   */
  static async with<T>(
    repository: { readonly url: string; readonly credentials?: GitCredentials; readonly timeoutMs?: number },
    options: WorkRepoOptions,
    work: (repo: WorkRepo) => Promise<T>,
  ): Promise<T> {
    const allowFile = options.allowFileUrls ?? false;
    const url = parseRepoUrl(repository.url, { allowFileUrls: allowFile });
    checkCredentials(repository.credentials, url);
    const tempDir = options.tempDir ?? tmpdir();
    const root = await mkdtemp(join(tempDir, 'capstan-writeback-'));
    let secrets: readonly string[] = [];
    try {
      const home = join(root, 'home');
      await mkdir(home, { mode: 0o700 });
      const credentials = await prepareCredentials(repository.credentials, url, {
        tempDir: root,
        ...(options.sshKnownHosts === undefined ? {} : { defaultKnownHosts: options.sshKnownHosts }),
      });
      secrets = credentials.secrets;
      try {
        const repo = new WorkRepo(
          url,
          join(root, 'repo.git'),
          home,
          credentials.env,
          credentials.secrets,
          options.runner ?? createProcessRunner(),
          allowFile,
          repository.timeoutMs && repository.timeoutMs > 0
            ? repository.timeoutMs
            : (options.timeouts?.remoteMs ?? DEFAULT_REMOTE_TIMEOUT_MS),
          options.timeouts?.localMs ?? DEFAULT_LOCAL_TIMEOUT_MS,
          options.log ?? (() => {}),
        );
        await mkdir(repo.gitDir, { mode: 0o700 });
        await repo.local('init', ['init', '--bare', '--quiet', '--template=']);
        return await work(repo);
      } finally {
        await credentials.dispose();
      }
    } catch (error) {
      if (error instanceof Error) {
        error.message = redactText(error.message, secrets);
        if (error.stack) error.stack = redactText(error.stack, secrets);
      }
      throw error;
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  }

  /** The bare repository's folder, private to this work: scratch files (an index, merge inputs) go here. */
  get folder(): string {
    return this.gitDir;
  }

  async run(
    operation: string,
    args: readonly string[],
    options: RunOptions & { readonly remote?: boolean } = {},
  ): Promise<{ invocation: GitInvocation; output: GitOutput }> {
    const memory =
      options.remote && this.url.scheme !== 'file' ? { maxMemoryBytes: REMOTE_MEMORY_BYTES } : {};
    const invocation: GitInvocation = {
      operation,
      args: [...hardenedConfig(this.allowFile), `--git-dir=${this.gitDir}`, ...args],
      env: gitEnvironment({
        home: this.home,
        allowFileProtocol: this.allowFile,
        extra: { ...this.credentialEnv, ...options.env },
      }),
      timeoutMs: options.remote ? this.remoteTimeoutMs : this.localTimeoutMs,
      cwd: this.gitDir,
      ...memory,
      ...(options.stdin === undefined ? {} : { stdin: options.stdin }),
      ...(options.maxStdoutBytes === undefined ? {} : { maxStdoutBytes: options.maxStdoutBytes }),
      ...(options.onStdout === undefined ? {} : { onStdout: options.onStdout }),
    };
    const started = Date.now();
    const output = await this.runner(invocation);
    // A runner that kept stdout instead of streaming it (a test's stand-in) is read the same way.
    if (options.onStdout !== undefined && output.stdout !== '') options.onStdout(Buffer.from(output.stdout));
    this.log({
      level: 'debug',
      message: `git ${operation} ${output.exitCode === 0 ? 'succeeded' : 'failed'}`,
      repo: this.url.display,
      operation,
      durationMs: Date.now() - started,
    });
    return { invocation, output };
  }

  /** A local command's stdout; a failure is an internal error (this repository is ours). */
  async local(operation: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
    const { invocation, output } = await this.run(operation, args, options);
    if (output.exitCode !== 0 || output.stdoutTruncated) {
      throw new CapstanError(
        'internal',
        `git ${operation} failed while preparing a commit for ${this.url.display}`,
        {
          cause: new GitCommandError(invocation, output, this.secrets),
        },
      );
    }
    return output.stdout;
  }

  /** A local command's exit status only (`cat-file -e`, `merge-base --is-ancestor`). */
  async succeeds(operation: string, args: readonly string[]): Promise<boolean> {
    const { output } = await this.run(operation, args);
    return output.exitCode === 0 && !output.timedOut;
  }

  /** A local command's stdout as bytes, or undefined past `maxBytes` (the command is then stopped). */
  async bytes(operation: string, args: readonly string[], maxBytes: number, options: RunOptions = {}) {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    const { invocation, output } = await this.run(operation, args, {
      ...options,
      onStdout: (chunk) => {
        size += chunk.length;
        if (size > maxBytes) {
          tooLarge = true;
          throw new TooLarge();
        }
        chunks.push(chunk);
      },
    }).catch((error: unknown) => {
      if (error instanceof TooLarge) return { invocation: undefined, output: undefined };
      throw error;
    });
    if (tooLarge || invocation === undefined || output === undefined) return undefined;
    return { exitCode: output.exitCode, stdout: Buffer.concat(chunks), invocation, output };
  }

  /**
   * A network command. Returns the output and, when it failed, the CapstanError the source stage
   * would raise for it (redacted, kind by git's complaint); the caller decides what a failure means.
   */
  async remote(operation: string, args: readonly string[], options: RunOptions = {}) {
    const { invocation, output } = await this.run(operation, args, { ...options, remote: true });
    if (output.exitCode === 0 && !output.timedOut) return { invocation, output, error: undefined };
    const error = remoteFailure(invocation, output, {
      display: this.url.display,
      host: this.url.host,
      secrets: this.secrets,
      timeoutMs: this.remoteTimeoutMs,
    });
    this.log({
      level: 'warn',
      message: redactText(error.message, this.secrets),
      repo: this.url.display,
      operation,
    });
    return { invocation, output, error };
  }

  /** `git fetch` of `refspecs` from the remote, with `extra` flags (depth); throws what failed. */
  async fetch(refspecs: readonly string[], extra: readonly string[]): Promise<void> {
    const { error } = await this.remote('fetch', [
      '-c',
      `core.bigFileThreshold=${STREAMED_BLOB_BYTES}`,
      'fetch',
      '--quiet',
      '--no-tags',
      '--no-write-fetch-head',
      '--no-recurse-submodules',
      ...extra,
      '--',
      this.url.url,
      ...refspecs,
    ]);
    if (error) throw error;
  }
}

class TooLarge extends Error {}
