/**
 * Running the `git` CLI: argv only (never a shell), a hermetic environment, hardened `-c` settings,
 * a timeout that kills the whole process group, and failures sorted into error kinds.
 */
import { spawn } from 'node:child_process';
import { CapstanError, EnvironmentError, TransientError, UserError } from '../core/errors.js';
import { redactText } from './redact.js';

export interface GitInvocation {
  /** A short name for logs and tests: `ls-remote`, `fetch`, `rev-parse`, ... */
  readonly operation: string;
  /** Everything after `git`, `-c` settings included. */
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd?: string;
  readonly timeoutMs: number;
}

export interface GitOutput {
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

/** Runs git. Substitute it in tests to count or observe invocations (wrap `runGitProcess`). */
export type GitRunner = (invocation: GitInvocation) => Promise<GitOutput>;

const MAX_STDOUT_BYTES = 256 * 1024 * 1024;
const MAX_STDERR_BYTES = 64 * 1024;

export function createProcessRunner(gitBinary = 'git'): GitRunner {
  return (invocation) =>
    new Promise<GitOutput>((resolve, reject) => {
      const child = spawn(gitBinary, invocation.args, {
        cwd: invocation.cwd,
        env: invocation.env,
        stdio: ['ignore', 'pipe', 'pipe'],
        // Its own process group, so a timeout also ends ssh and git-remote-https below it.
        detached: true,
      });
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      let stdoutBytes = 0;
      let stderrBytes = 0;
      let timedOut = false;
      const killGroup = () => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      };
      const timer = setTimeout(() => {
        timedOut = true;
        killGroup();
      }, invocation.timeoutMs);
      child.stdout.on('data', (chunk: Buffer) => {
        stdoutBytes += chunk.length;
        if (stdoutBytes > MAX_STDOUT_BYTES) killGroup();
        else stdout.push(chunk);
      });
      child.stderr.on('data', (chunk: Buffer) => {
        // Keep the tail: git's last lines say why it failed.
        stderr.push(chunk);
        stderrBytes += chunk.length;
        while (stderrBytes > MAX_STDERR_BYTES && stderr.length > 1) stderrBytes -= stderr.shift()!.length;
      });
      child.on('error', (error: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (error.code === 'ENOENT') {
          reject(new EnvironmentError(`git is not installed or not on PATH (looked for "${gitBinary}")`));
        } else {
          reject(new EnvironmentError(`cannot run git: ${error.message}`, { cause: error }));
        }
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({
          exitCode: code,
          stdout: Buffer.concat(stdout).toString('utf8'),
          stderr: Buffer.concat(stderr).toString('utf8'),
          timedOut,
        });
      });
    });
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
    ...(options.keyFile ? [`-i ${shellQuote(options.keyFile)}`] : []),
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
  | 'unknown';

const FAILURE_PATTERNS: readonly [GitFailureKind, RegExp][] = [
  [
    'hostKey',
    /host key verification failed|no \S+ host key is known|remote host identification has changed|host key for .* has changed/i,
  ],
  [
    'auth',
    /authentication failed|could not read (username|password)|permission denied \(|terminal prompts disabled|returned error: 40[13]\b|invalid credentials|incorrect passphrase|bad passphrase/i,
  ],
  [
    'unadvertisedObject',
    /not our ref|server does not allow request for unadvertised object|want .* not valid|no such remote ref [0-9a-f]{40}/i,
  ],
  ['refNotFound', /couldn't find remote ref|no such remote ref/i],
  [
    'repositoryNotFound',
    /repository .* not found|does not appear to be a git repository|returned error: 404\b|not a git repository|no such file or directory/i,
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

/** A failed git command, with its arguments and output already redacted. */
export class GitCommandError extends Error {
  readonly operation: string;
  readonly exitCode: number | null;
  readonly stderr: string;

  constructor(invocation: GitInvocation, output: GitOutput, secrets: readonly string[]) {
    const stderr = redactText(output.stderr.trim(), secrets);
    const args = invocation.args.filter((_, i, all) => all[i] !== '-c' && all[i - 1] !== '-c');
    const status = output.timedOut ? 'timed out' : `exited with ${output.exitCode ?? 'a signal'}`;
    super(redactText(`git ${args.join(' ')} ${status}${stderr ? `: ${stderr}` : ''}`, secrets));
    this.name = 'GitCommandError';
    this.operation = invocation.operation;
    this.exitCode = output.exitCode;
    this.stderr = stderr;
  }
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
