/**
 * What a `git push --porcelain` of one ref came to: landed, refused because the branch moved
 * (retry on top of it), refused by the server (no write access, a protected branch, a hook), or a
 * failure of another kind (unreachable, timed out: the caller raises the source stage's error).
 */
import { classifyGitFailure, gitComplaint, type GitOutput } from '../git.js';
import { redactText } from '../redact.js';
import { cleanLine } from './message.js';

export type PushRefusal = 'auth' | 'permission' | 'protected';

export type PushVerdict =
  | { readonly kind: 'pushed' }
  /** The ref already pointed at what we pushed. */
  | { readonly kind: 'upToDate' }
  /** Not a fast-forward, or the lease did not hold: someone pushed since we fetched. */
  | { readonly kind: 'moved'; readonly detail: string }
  | {
      readonly kind: 'refused';
      readonly reason: PushRefusal;
      /** git's or the server's reason, redacted and short. */
      readonly detail: string;
      /** What the server said (`remote:` lines), redacted and bounded. */
      readonly remote: readonly string[];
    }
  | { readonly kind: 'failed' };

const MAX_REMOTE_LINES = 5;
const MAX_REMOTE_LINE_CHARS = 200;

/**
 * Read-only credentials, in the words of the hosts that say so: GitHub ("Permission to o/r.git
 * denied to u", "The key you are authenticating with has been marked as read only"), GitLab ("You
 * are not allowed to push code to this project"), Gitea ("User permission denied for writing"),
 * Bitbucket, and plain HTTP 403 (git-http-backend, most proxies).
 */
const NO_WRITE_ACCESS =
  /returned error: 403\b|permission to \S+ denied|denied to \S+|marked as read only|read[- ]only|not allowed to push|permission denied for writing|write access to repository not granted|you do not have permission to push|insufficient permission/i;

export function classifyPush(output: GitOutput, ref: string, secrets: readonly string[]): PushVerdict {
  const remote = remoteLines(output.stderr, secrets);
  const status = porcelainStatus(output.stdout, ref);
  if (status !== undefined && !output.timedOut) {
    if (status.flag === '=') return { kind: 'upToDate' };
    if (status.flag !== '!') return output.exitCode === 0 ? { kind: 'pushed' } : { kind: 'failed' };
    const summary = redactText(status.summary, secrets);
    if (/^\[rejected\]/.test(summary)) {
      // fetch first, non-fast-forward, stale info (a lease that failed), already exists.
      return { kind: 'moved', detail: cleanLine(summary, MAX_REMOTE_LINE_CHARS) };
    }
    if (/^\[remote (rejected|failure)\]/.test(summary)) {
      // GitLab's "not allowed to push code to protected branches" is about the branch, not access.
      const said = `${summary}\n${remote.join('\n')}`;
      const reason = !/protected/i.test(said) && NO_WRITE_ACCESS.test(said) ? 'permission' : 'protected';
      return { kind: 'refused', reason, detail: cleanLine(reasonOf(summary), MAX_REMOTE_LINE_CHARS), remote };
    }
    return { kind: 'failed' };
  }
  if (output.timedOut || output.exitCode === 0) return { kind: 'failed' };
  if (NO_WRITE_ACCESS.test(output.stderr)) {
    return { kind: 'refused', reason: 'permission', detail: complaint(output.stderr, secrets), remote };
  }
  if (classifyGitFailure(output.stderr) === 'auth') {
    return { kind: 'refused', reason: 'auth', detail: complaint(output.stderr, secrets), remote };
  }
  return { kind: 'failed' };
}

/** The porcelain line for `ref`: `<flag>\t<from>:<to>\t<summary>`. */
function porcelainStatus(stdout: string, ref: string): { flag: string; summary: string } | undefined {
  for (const line of stdout.split('\n')) {
    const [flag, refs, summary = ''] = line.split('\t');
    if (flag === undefined || refs === undefined || flag.length !== 1) continue;
    if (refs.slice(refs.lastIndexOf(':') + 1) === ref) return { flag, summary };
  }
  return undefined;
}

function reasonOf(summary: string): string {
  const match = /\(([^)]*)\)\s*$/.exec(summary);
  return match?.[1] ?? summary;
}

export function complaint(stderr: string, secrets: readonly string[]): string {
  const said = redactText(gitComplaint(stderr), secrets).replace(/^(fatal|error):\s*/i, '');
  return cleanLine(said, MAX_REMOTE_LINE_CHARS);
}

/** The server's own words (`remote: …`), without git's progress and blank lines. */
export function remoteLines(stderr: string, secrets: readonly string[]): string[] {
  const lines: string[] = [];
  for (const raw of redactText(stderr, secrets).split(/\r?\n|\r/)) {
    const match = /^remote:\s?(.*)$/.exec(raw);
    if (!match) continue;
    // Gitea prefixes each line with "error:"; a sentence's final period would clash with joining.
    const line = cleanLine(match[1] ?? '', MAX_REMOTE_LINE_CHARS)
      .trim()
      .replace(/^(error|fatal|warning|hint):\s*/i, '')
      .replace(/\.$/, '');
    if (
      line === '' ||
      /^(Resolving deltas|Processing|To create a merge request|\s*https?:\/\/\S+\s*$)/i.test(line)
    )
      continue;
    lines.push(line);
  }
  return lines.slice(-MAX_REMOTE_LINES);
}
