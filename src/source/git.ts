/**
 * Running the `git` CLI: argv only (never a shell), a hermetic environment, hardened `-c` settings,
 * a timeout that kills the whole process group, and failures sorted into error kinds.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { CapstanError, EnvironmentError, TransientError, UserError } from '../core/errors.js';
import { systemClock } from '../core/time.js';
import { redactText } from './redact.js';

export interface GitInvocation {
  /** A short name for logs and tests: `ls-remote`, `fetch`, `rev-parse`, ... */
  readonly operation: string;
  /** Everything after `git`, `-c` settings included. */
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd?: string;
  readonly timeoutMs: number;
  /**
   * Stdout kept, at most (default `DEFAULT_MAX_STDOUT_BYTES`). Past it git is stopped and the
   * output says `stdoutTruncated`: each command asks for what it needs, so no output can grow the
   * controller's memory without bound.
   */
  readonly maxStdoutBytes?: number;
  /**
   * Takes stdout as it arrives instead of the runner keeping it (`stdout` is then empty): for output
   * whose size a remote or a repository decides. When it throws, git is stopped and the runner
   * rejects with what it threw. A runner substituted in tests may instead return `stdout` whole:
   * callers hand that to the same function.
   */
  readonly onStdout?: (chunk: Buffer) => void;
  /**
   * The memory each git process of this command may use (RLIMIT_DATA: its heap and other private
   * writable memory; mapped pack files do not count). Past it git fails with "Out of memory". git
   * reads a whole ref advertisement before it prints a line, so this is what bounds it. Enforced
   * with `prlimit` (util-linux) where there is one on PATH, as in the image; unbounded elsewhere.
   */
  readonly maxMemoryBytes?: number;
  /**
   * Written to git's stdin, which is then closed (default: no stdin at all). For plumbing that
   * reads its input there (`mktree`, `update-index --index-info`, `hash-object --stdin`,
   * `commit-tree`), so that no repository content passes through argv.
   */
  readonly stdin?: Buffer | string;
}

export interface GitOutput {
  readonly exitCode: number | null;
  readonly stdout: string;
  /** The tail of git's stderr (`MAX_STDERR_BYTES`), starting at a line boundary. */
  readonly stderr: string;
  readonly timedOut: boolean;
  /** Stdout went past `maxStdoutBytes`: git was stopped, and `stdout` is its beginning. */
  readonly stdoutTruncated?: boolean;
}

/** Runs git. Substitute it in tests to count or observe invocations (wrap `createProcessRunner`). */
export type GitRunner = (invocation: GitInvocation) => Promise<GitOutput>;

/** Enough for the commands that print a line or nothing (rev-parse, fetch, init, cat-file, …). */
export const DEFAULT_MAX_STDOUT_BYTES = 64 * 1024;
/** git's last lines say why it failed; a server can make it print without end. */
const MAX_STDERR_BYTES = 64 * 1024;

export function createProcessRunner(gitBinary = 'git'): GitRunner {
  const prlimit = findExecutable('prlimit');
  return (invocation) =>
    new Promise<GitOutput>((resolve, reject) => {
      // prlimit sets the limit on itself and execs git: same process, same group.
      const [command, args] =
        invocation.maxMemoryBytes !== undefined && prlimit !== undefined
          ? [prlimit, [`--data=${invocation.maxMemoryBytes}`, '--', gitBinary, ...invocation.args]]
          : [gitBinary, invocation.args];
      const child = spawn(command, args, {
        cwd: invocation.cwd,
        env: invocation.env,
        stdio: [invocation.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        // Its own process group, so a timeout also ends ssh and git-remote-https below it.
        detached: true,
      }) as ChildProcessByStdio<Writable | null, Readable, Readable>;
      if (invocation.stdin !== undefined && child.stdin) {
        // git may exit before reading it all (a refusal): its close is the answer, not EPIPE.
        child.stdin.on('error', () => {});
        child.stdin.end(invocation.stdin);
      }
      const stdout = new HeadBuffer(invocation.maxStdoutBytes ?? DEFAULT_MAX_STDOUT_BYTES);
      const stderr = new TailBuffer(MAX_STDERR_BYTES);
      let timedOut = false;
      /** What the stdout consumer threw: git is stopped, and the runner rejects with it. */
      let refusal: { error: unknown } | undefined;
      const killGroup = () => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      };
      // The clock's timer: a plain one given a Repository's `1000h` (past 2^31 ms) fires at once.
      const timer = systemClock.setTimeout(() => {
        timedOut = true;
        killGroup();
      }, invocation.timeoutMs);
      child.stdout.on('data', (chunk: Buffer) => {
        // Once stopped, the rest of the pipe is drained and dropped (the process exits sooner).
        if (refusal !== undefined || stdout.full) return;
        if (invocation.onStdout === undefined) {
          if (!stdout.add(chunk)) killGroup();
          return;
        }
        try {
          invocation.onStdout(chunk);
        } catch (error) {
          refusal = { error };
          killGroup();
        }
      });
      child.stderr.on('data', (chunk: Buffer) => stderr.add(chunk));
      child.on('error', (error: NodeJS.ErrnoException) => {
        systemClock.clearTimeout(timer);
        if (error.code === 'ENOENT') {
          reject(new EnvironmentError(`git is not installed or not on PATH (looked for "${gitBinary}")`));
        } else {
          reject(new EnvironmentError(`cannot run git: ${error.message}`, { cause: error }));
        }
      });
      child.on('close', (code) => {
        systemClock.clearTimeout(timer);
        if (refusal !== undefined) {
          reject(refusal.error);
          return;
        }
        resolve({
          exitCode: code,
          stdout: stdout.text(),
          stderr: stderr.text(),
          timedOut,
          ...(stdout.full ? { stdoutTruncated: true } : {}),
        });
      });
    });
}

function findExecutable(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // Not here.
    }
  }
  return undefined;
}

/** The first `limit` bytes of a stream. */
class HeadBuffer {
  private readonly chunks: Buffer[] = [];
  private bytes = 0;
  full = false;

  constructor(private readonly limit: number) {}

  /** False once the stream has gone past the limit (what fits is kept). */
  add(chunk: Buffer): boolean {
    const room = this.limit - this.bytes;
    if (chunk.length > room) {
      this.chunks.push(chunk.subarray(0, room));
      this.bytes = this.limit;
      this.full = true;
      return false;
    }
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    return true;
  }

  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

/** The last `limit` bytes of a stream, from a line boundary. */
class TailBuffer {
  private readonly chunks: Buffer[] = [];
  private bytes = 0;
  /** Whether what was dropped ended in the middle of a line. */
  private cutLine = false;

  constructor(private readonly limit: number) {}

  add(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    while (this.bytes - this.chunks[0]!.length >= this.limit) {
      const dropped = this.chunks.shift()!;
      this.bytes -= dropped.length;
      this.cutLine = dropped[dropped.length - 1] !== 0x0a;
    }
    const excess = this.bytes - this.limit;
    if (excess > 0) {
      const first = this.chunks[0]!;
      this.cutLine = first[excess - 1] !== 0x0a;
      this.chunks[0] = first.subarray(excess);
      this.bytes = this.limit;
    }
  }

  text(): string {
    const text = Buffer.concat(this.chunks).toString('utf8');
    if (!this.cutLine) return text;
    // The first line lost its beginning: a secret cut there would no longer be recognised, so
    // the whole line goes.
    const newline = text.indexOf('\n');
    return newline < 0 ? '' : text.slice(newline + 1);
  }
}

/** Environment variables passed through to git from ours: proxies and TLS trust, nothing else. */
const INHERITED_ENV = [
  'PATH',
  'TMPDIR',
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'NO_PROXY',
  'ALL_PROXY',
  'http_proxy',
  'https_proxy',
  'no_proxy',
  'all_proxy',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'GIT_SSL_CAINFO',
  'GIT_SSL_CAPATH',
];

export interface GitEnvOptions {
  /** An empty private folder: git and ssh read nothing from the real user's home. */
  readonly home: string;
  readonly allowFileProtocol: boolean;
  /** Credentials' variables (GIT_ASKPASS, GIT_SSH_COMMAND). */
  readonly extra?: Readonly<Record<string, string>>;
}

export function gitEnvironment(options: GitEnvOptions): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of INHERITED_ENV) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  env.PATH ??= '/usr/local/bin:/usr/bin:/bin';
  Object.assign(env, {
    HOME: options.home,
    XDG_CONFIG_HOME: options.home,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    GIT_ALLOW_PROTOCOL: allowedProtocols(options.allowFileProtocol).join(':'),
    GIT_PROTOCOL_FROM_USER: '0',
    GIT_NO_REPLACE_OBJECTS: '1',
    // Without credentials ssh must still never prompt nor trust a host it does not know.
    GIT_SSH_COMMAND: sshCommand({}),
    // English messages, which `classifyGitFailure` reads.
    LANG: 'C',
    LC_ALL: 'C',
    ...options.extra,
  });
  return env;
}

function allowedProtocols(allowFile: boolean): string[] {
  return allowFile ? ['https', 'http', 'ssh', 'file'] : ['https', 'http', 'ssh'];
}

/** `-c` settings on every invocation; they outrank anything a repository's config could say. */
export function hardenedConfig(allowFileProtocol: boolean): string[] {
  const settings = [
    'protocol.allow=never',
    ...allowedProtocols(allowFileProtocol).map((name) => `protocol.${name}.allow=always`),
    'protocol.ext.allow=never',
    'core.hooksPath=/dev/null',
    'core.fsmonitor=false',
    'core.symlinks=true',
    'credential.helper=',
    'submodule.recurse=false',
    'fetch.recurseSubmodules=false',
    // A detached gc would outlive our lock on the cache.
    'gc.autoDetach=false',
    'maintenance.autoDetach=false',
    // Give up on a stalled transfer rather than hang until the timeout.
    'http.lowSpeedLimit=1000',
    'http.lowSpeedTime=60',
  ];
  return settings.flatMap((setting) => ['-c', setting]);
}

/** Single-quotes a value for the shell that git uses to run GIT_SSH_COMMAND. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

export interface SshCommandOptions {
  readonly keyFile?: string;
  readonly knownHostsFile?: string;
  /** An encrypted key is unlocked through SSH_ASKPASS, which BatchMode would forbid. */
  readonly interactiveAskpass?: boolean;
}

export function sshCommand(options: SshCommandOptions): string {
  const parts = [
    'ssh',
    '-F /dev/null',
    // Without a key of its own, none: ssh finds its default keys (~/.ssh/id_*) in the passwd home,
    // not in $HOME, so a Repository without credentials would log in with the controller's keys.
    options.keyFile ? `-i ${shellQuote(options.keyFile)}` : '-o IdentityFile=none',
    '-o IdentitiesOnly=yes',
    `-o UserKnownHostsFile=${shellQuote(options.knownHostsFile ?? '/dev/null')}`,
    '-o GlobalKnownHostsFile=/dev/null',
    '-o StrictHostKeyChecking=yes',
    '-o UpdateHostKeys=no',
    `-o BatchMode=${options.interactiveAskpass ? 'no' : 'yes'}`,
    '-o PasswordAuthentication=no',
    '-o KbdInteractiveAuthentication=no',
    '-o ConnectTimeout=30',
  ];
  return parts.join(' ');
}

export type GitFailureKind =
  | 'hostKey'
  | 'auth'
  | 'repositoryNotFound'
  | 'refNotFound'
  | 'unadvertisedObject'
  | 'unreachable'
  | 'redirect'
  | 'outOfMemory'
  | 'unknown';

// Tried against up to 64 KiB of a server's words, so none may backtrack across a run: every
// quantified part (`\S+`, `[^'\n]*`) is followed by a character it cannot contain. (`.*` between
// two phrases went over the rest of the line from each occurrence of the first: quadratic.)
const FAILURE_PATTERNS: readonly [GitFailureKind, RegExp][] = [
  // git's own allocation failing (see GitInvocation.maxMemoryBytes), not a server's words: those
  // come prefixed with "remote:".
  ['outOfMemory', /^fatal: out of memory/im],
  [
    'hostKey',
    /host key verification failed|no \S+ host key is known|remote host identification has changed|host key for \S+ has changed/i,
  ],
  [
    'auth',
    /authentication failed|could not read (username|password)|permission denied \(|terminal prompts disabled|returned error: 40[13]\b|invalid credentials|incorrect passphrase|bad passphrase/i,
  ],
  [
    'unadvertisedObject',
    /not our ref|server does not allow request for unadvertised object|want \S+ not valid|no such remote ref [0-9a-f]{40}/i,
  ],
  ['refNotFound', /couldn't find remote ref|no such remote ref/i],
  // A redirect git did not follow (with credentials it follows none); before 'unreachable', whose
  // "unable to access" is on the same line.
  ['redirect', /returned error: 30[12378]\b/i],
  [
    'repositoryNotFound',
    /repository '[^'\n]*' not found|does not appear to be a git repository|returned error: 404\b|not a git repository|no such file or directory/i,
  ],
  [
    'unreachable',
    /could not resolve host|could not resolve hostname|temporary failure in name resolution|connection refused|connection timed out|connection reset|operation timed out|timed out|network is unreachable|no route to host|failed to connect|couldn't connect|the remote end hung up|early eof|rpc failed|returned error: 5\d\d\b|gnutls|ssl_|tls|unable to access|connection closed by|broken pipe|unexpected disconnect/i,
  ],
];

/** Sorts git's complaint into what a caller does next (fix input, fix credentials, retry). */
export function classifyGitFailure(stderr: string): GitFailureKind {
  for (const [kind, pattern] of FAILURE_PATTERNS) if (pattern.test(stderr)) return kind;
  return 'unknown';
}

/**
 * How much of git's stderr an error carries: its last lines, each cut short. Cut after redaction,
 * so a cut never hides part of a secret from the rules that recognise it.
 */
const ERROR_STDERR_LINES = 20;
const ERROR_LINE_CHARS = 512;

/** A failed git command, with its arguments and output already redacted. */
export class GitCommandError extends Error {
  readonly operation: string;
  readonly exitCode: number | null;
  /** The last lines of git's stderr, redacted and cut short. */
  readonly stderr: string;

  constructor(invocation: GitInvocation, output: GitOutput, secrets: readonly string[]) {
    // Each part is redacted once; what joins them ("exited with 128: ") can complete no secret.
    const stderr = stderrExcerpt(redactText(output.stderr, secrets));
    const args = invocation.args.filter((_, i, all) => all[i] !== '-c' && all[i - 1] !== '-c');
    const command = redactText(`git ${args.join(' ')}`, secrets);
    super(`${command} ${outcomeOf(output)}${stderr ? `: ${stderr}` : ''}`);
    this.name = 'GitCommandError';
    this.operation = invocation.operation;
    this.exitCode = output.exitCode;
    this.stderr = stderr;
  }
}

function outcomeOf(output: GitOutput): string {
  if (output.timedOut) return 'timed out';
  if (output.stdoutTruncated) return 'was stopped: it printed more than Capstan reads from it';
  return `exited with ${output.exitCode ?? 'a signal'}`;
}

function stderrExcerpt(stderr: string): string {
  const lines = stderr.trim().split('\n');
  const shown = lines
    .slice(-ERROR_STDERR_LINES)
    .map((line) => (line.length > ERROR_LINE_CHARS ? `${line.slice(0, ERROR_LINE_CHARS)}…` : line));
  const hidden = lines.length - shown.length;
  return (hidden > 0 ? [`[${hidden} earlier lines not shown]`, ...shown] : shown).join('\n');
}

/** git's closing advice, true of every failure and so telling nothing. */
const BOILERPLATE =
  /^(fatal: could not read from remote repository\.?|please make sure you have the correct access rights|and the repository exists\.?|@+)$/i;

/**
 * The one line of git's stderr that says what went wrong: the most specific line matching the
 * failure's kind, else the last fatal/error lines.
 */
export function gitComplaint(stderr: string, kind: GitFailureKind = classifyGitFailure(stderr)): string {
  const lines = stderr
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !/^(hint|warning):/i.test(line) && !BOILERPLATE.test(line));
  const pattern = FAILURE_PATTERNS.find(([candidate]) => candidate === kind)?.[1];
  const telling = pattern ? lines.filter((line) => pattern.test(line) && !line.startsWith('@')) : [];
  if (telling.length > 0) return telling.reduce((best, line) => (line.length > best.length ? line : best));
  const fatal = lines.filter((line) => /^(fatal|error|remote|ssh):/i.test(line));
  return (fatal.length > 0 ? fatal : lines).slice(-2).join('; ');
}

export interface FailureContext {
  /** The repository, already redacted. */
  readonly display: string;
  readonly host: string;
  readonly secrets: readonly string[];
  readonly timeoutMs: number;
}

/** The CapstanError for a failed remote operation, redacted, with the command as its cause. */
export function remoteFailure(
  invocation: GitInvocation,
  output: GitOutput,
  context: FailureContext,
): CapstanError {
  const cause = new GitCommandError(invocation, output, context.secrets);
  if (output.timedOut) {
    return new TransientError(
      `git ${invocation.operation} for ${context.display} timed out after ${Math.round(context.timeoutMs / 1000)}s`,
      { cause },
    );
  }
  const kind = classifyGitFailure(output.stderr);
  const detail = gitComplaint(cause.stderr, kind);
  const suffix = detail ? ` (${detail})` : '';
  switch (kind) {
    case 'hostKey':
      return new UserError(
        `host key verification failed for ${context.host}: add the server's key to the known hosts${suffix}`,
        { cause },
      );
    case 'auth':
      return new UserError(`authentication failed for ${context.display}: check the credentials${suffix}`, {
        cause,
      });
    case 'repositoryNotFound':
      return new UserError(`repository ${context.display} not found or not accessible${suffix}`, { cause });
    case 'unreachable':
      return new TransientError(`cannot reach ${context.display}${suffix}`, { cause });
    case 'outOfMemory': {
      const limit = invocation.maxMemoryBytes;
      const allowed =
        limit === undefined ? 'memory' : `the ${limit / (1024 * 1024)} MiB of memory Capstan allows it`;
      return new UserError(
        `git ${invocation.operation} for ${context.display} ran out of ${allowed}: the server sends more than Capstan lets git hold (a ref advertisement, or a pack, this large is refused)`,
        { cause },
      );
    }
    case 'redirect':
      return new UserError(
        `${context.display} answered with a redirect that was not followed (never with credentials, which would go wherever it points): use the URL it redirects to${suffix}`,
        { cause },
      );
    default:
      return new CapstanError(
        'internal',
        `git ${invocation.operation} failed for ${context.display}${suffix}`,
        {
          cause,
        },
      );
  }
}
