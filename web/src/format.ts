/** Small display helpers shared by the pages. */

export const shortSha = (sha: string | undefined): string => (sha ? sha.slice(0, 7) : '—');

/** "3 min ago", "2 h ago", or the date for older times. */
export function ago(iso: string | undefined, now = Date.now()): string {
  if (!iso) return '—';
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return iso;
  const seconds = Math.max(0, Math.round((now - then) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ago`;
  return new Date(then).toISOString().slice(0, 10);
}

export const fullTime = (iso: string | undefined): string => (iso ? new Date(iso).toLocaleString() : '');

/** "0.4 s", "12 s", "3 min 5 s", "2 h 4 min". */
export function duration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return '—';
  if (seconds < 10) return `${Math.max(0, seconds).toFixed(1)} s`;
  const whole = Math.round(seconds);
  if (whole < 60) return `${whole} s`;
  if (whole < 3600) return `${Math.floor(whole / 60)} min${whole % 60 ? ` ${whole % 60} s` : ''}`;
  const minutes = Math.floor((whole % 3600) / 60);
  return `${Math.floor(whole / 3600)} h${minutes ? ` ${minutes} min` : ''}`;
}

/** The URL itself when it is http(s), else undefined: nothing else is ever made a link. */
export function httpUrl(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? parsed.href : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The web page of a commit, when the repository's URL looks like a forge's (`https://host/owner/repo`
 * on GitHub, GitLab, Gitea/Forgejo or Bitbucket; `git@host:owner/repo.git` and `ssh://git@host/…`
 * read as their https page). Undefined for anything else — a link to a made-up page is worse than
 * none — and never a link with another scheme than http(s).
 */
export function commitUrl(repositoryUrl: string | undefined, sha: string | undefined): string | undefined {
  if (!repositoryUrl || !sha || !/^[0-9a-f]{7,64}$/i.test(sha)) return undefined;
  let host: string;
  let path: string;
  let scheme = 'https:';
  const scp = /^[A-Za-z0-9._-]+@([A-Za-z0-9.-]+):(?!\/)(.+)$/.exec(repositoryUrl);
  if (scp) {
    host = scp[1]!;
    path = scp[2]!;
  } else {
    let parsed: URL;
    try {
      parsed = new URL(repositoryUrl);
    } catch {
      return undefined;
    }
    if (parsed.protocol === 'ssh:' || parsed.protocol === 'git+ssh:') host = parsed.hostname;
    else if (parsed.protocol === 'https:' || parsed.protocol === 'http:') {
      host = parsed.host;
      scheme = parsed.protocol;
    } else return undefined;
    path = parsed.pathname;
  }
  const segments = path
    .replace(/\.git\/?$/, '')
    .split('/')
    .filter((segment) => segment !== '');
  // owner/repo at least (GitLab groups nest deeper); anything odd in a segment means no link.
  if (segments.length < 2 || !segments.every((segment) => /^[A-Za-z0-9._~%-]+$/.test(segment)))
    return undefined;
  const base = `${scheme}//${host}/${segments.join('/')}`;
  const lower = host.toLowerCase();
  if (lower === 'bitbucket.org') return `${base}/commits/${sha}`;
  if (lower === 'gitlab.com' || lower.startsWith('gitlab.')) return `${base}/-/commit/${sha}`;
  return `${base}/commit/${sha}`;
}

/** "1 application", "2 applications" (plain digits: other code looks for the number as is). */
export const countOf = (count: number, noun: string, plural = `${noun}s`): string =>
  `${count} ${count === 1 ? noun : plural}`;
