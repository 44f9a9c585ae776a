/**
 * Running helm and kustomize: no shell, a scrubbed environment, a timeout, and a cap on the output
 * kept in memory (the tool is killed past it). Error text from a tool is trimmed and redacted
 * before it reaches a message.
 */
import { spawn } from 'node:child_process';
import { EnvironmentError, TransientError, UserError } from '../core/errors.js';
import { formatDuration } from '../core/time.js';
import { decodeUtf8 } from './files.js';
import { formatBytes } from './limits.js';

export interface ToolInvocation {
  /** For messages: `helm`, `kustomize`. */
  readonly tool: string;
  readonly binary: string;
  readonly args: readonly string[];
  readonly cwd: string;
  /** The whole environment: nothing of this process's leaks in. */
  readonly env: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly maxStdoutBytes: number;
  readonly maxStderrBytes: number;
  readonly signal?: AbortSignal;
}

export interface ToolOutput {
  readonly exitCode: number;
  readonly stdout: string;
  /** The tail of standard error, raw: pass it through `sanitizeToolMessage` before showing it. */
  readonly stderr: string;
  readonly durationMs: number;
}

export async function runTool(invocation: ToolInvocation): Promise<ToolOutput> {
  const { tool, binary, signal } = invocation;
  signal?.throwIfAborted();
  const started = Date.now();
  return new Promise<ToolOutput>((resolve, reject) => {
    const child = spawn(binary, [...invocation.args], {
      cwd: invocation.cwd,
      env: { ...invocation.env },
      shell: false,
      stdio: ['ignore', 'pipe', 'pipe'],
      windowsHide: true,
    });
    const stdout: Buffer[] = [];
    let stdoutBytes = 0;
    let stderr = Buffer.alloc(0);
    let failure: Error | undefined;
    let settled = false;

    const stop = (error: Error): void => {
      if (failure) return;
      failure = error;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(
      () =>
        stop(
          new TransientError(
            `${tool} did not finish within ${formatDuration(invocation.timeoutMs)} and was stopped`,
          ),
        ),
      invocation.timeoutMs,
    );
    const onAbort = (): void =>
      stop(signal?.reason instanceof Error ? signal.reason : new Error(`${tool} was aborted`));
    signal?.addEventListener('abort', onAbort, { once: true });

    const finish = (action: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      action();
    };

    child.stdout.on('data', (chunk: Buffer) => {
      if (failure) return;
      stdoutBytes += chunk.length;
      if (stdoutBytes > invocation.maxStdoutBytes) {
        stop(
          new UserError(
            `${tool} produced more than ${formatBytes(invocation.maxStdoutBytes)} of output and was stopped`,
          ),
        );
        return;
      }
      stdout.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      // Keep the tail: tools print their final error last.
      stderr = Buffer.concat([stderr, chunk]);
      if (stderr.length > invocation.maxStderrBytes)
        stderr = stderr.subarray(stderr.length - invocation.maxStderrBytes);
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      finish(() => {
        if (error.code === 'ENOENT' || error.code === 'EACCES' || error.code === 'ENOEXEC') {
          reject(
            new EnvironmentError(`the ${tool} binary ${binary} is missing or cannot be run (${error.code})`, {
              cause: error,
            }),
          );
        } else {
          reject(
            new EnvironmentError(`${tool} could not be started (${error.code ?? error.message})`, {
              cause: error,
            }),
          );
        }
      });
    });
    child.on('close', (code, killedBy) => {
      finish(() => {
        if (failure) return reject(failure);
        const durationMs = Date.now() - started;
        const errText = stderr.toString('utf8');
        if (code === null) {
          return reject(
            new EnvironmentError(
              `${tool} was killed by ${killedBy ?? 'a signal'}${errText ? `: ${sanitizeToolMessage(errText, [])}` : ''}`,
            ),
          );
        }
        try {
          resolve({
            exitCode: code,
            stdout: decodeUtf8(Buffer.concat(stdout), `${tool} output`),
            stderr: errText,
            durationMs,
          });
        } catch (error) {
          reject(error);
        }
      });
    });
  });
}

export interface PathReplacement {
  /** An absolute path to hide (a temp dir, the checkout root). */
  readonly from: string;
  /** What to show instead (`''` makes paths repository-relative, `<tmp>`). */
  readonly to: string;
}

const MAX_MESSAGE_LINES = 20;
const MAX_LINE_CHARS = 400;

/**
 * Makes a tool's standard error fit for an error message: machine paths replaced, colours and
 * control characters gone, PEM blocks and long base64-looking runs redacted, kept to the last
 * lines. Tools print their own messages, not file contents, but some quote a value they choke on.
 */
export function sanitizeToolMessage(text: string, replacements: readonly PathReplacement[]): string {
  let out = text;
  // Longest first, so a temp dir inside the checkout (or the reverse) is replaced whole.
  for (const { from, to } of [...replacements].sort((a, b) => b.from.length - a.from.length)) {
    if (from)
      out = out
        .split(`${from}/`)
        .join(to === '' ? '' : `${to}/`)
        .split(from)
        .join(to === '' ? '.' : to);
  }
  out = out
    // eslint-disable-next-line no-control-regex
    .replace(/\u001b\[[0-9;]*[A-Za-z]/g, '')
    .replace(/-----BEGIN [A-Z0-9 ]+-----[\s\S]*?(-----END [A-Z0-9 ]+-----|$)/g, '[redacted PEM block]')
    .replace(/[A-Za-z0-9+/=]{40,}/g, (run) => (looksLikeSecret(run) ? '[redacted]' : run))
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '');
  const lines = out
    .split('\n')
    .map((line) => line.trimEnd())
    .filter((line) => line.trim() !== '');
  const kept = lines
    .slice(-MAX_MESSAGE_LINES)
    .map((line) => (line.length > MAX_LINE_CHARS ? `${line.slice(0, MAX_LINE_CHARS)}…` : line));
  if (lines.length > kept.length) kept.unshift(`… (${lines.length - kept.length} earlier lines left out)`);
  return kept.join('\n');
}

/**
 * Base64 or hex-ish blobs (keys, tokens): mixed case and digits, and few slashes, unlike a path,
 * which has one every few characters.
 */
function looksLikeSecret(run: string): boolean {
  const slashes = run.split('/').length - 1;
  return /[0-9]/.test(run) && /[A-Z]/.test(run) && /[a-z]/.test(run) && slashes * 20 < run.length;
}
