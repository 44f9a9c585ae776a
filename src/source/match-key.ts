/**
 * Matching the repository a webhook names with the Repository objects that use it.
 *
 * A host names one repository several ways (https clone URL, scp-like ssh URL, git://, web URL), and
 * users spell it yet other ways in their specs. `parseRepoUrl`'s identity already removes the user,
 * the `.git` suffix, trailing slashes, default ports and the case of the host; this key goes further
 * and drops what differs between transports of the same repository: the scheme, the port (GitLab's
 * ssh often listens on 2222 while https is on 443) and the query. It also folds the path's case,
 * because GitHub, GitLab and Bitbucket treat `Org/Repo` and `org/repo` as one repository.
 *
 * Looser matching can only cause an extra reconcile of a repository whose URL differs in case or
 * port from the one pushed to, which is harmless (a reconcile fetches from the Repository's own URL,
 * never from the webhook's); a missed match would silently leave a repository waiting for its poll.
 *
 * It lives here, below both, because the HTTP server computes the keys of a push and the controller
 * (leader) and the standby's forwarding compare Repositories with them: one function, so the three
 * can never disagree about which repository was pushed to.
 */
import { parseRepoUrl } from './url.js';

/**
 * The key under which `url` matches other spellings of the same repository, e.g.
 * `github.com/org/repo` for `git@github.com:org/repo.git` and `https://GitHub.com/org/repo/`;
 * undefined when the source layer would refuse the URL, and for file URLs (no host pushes to them).
 */
export function repositoryMatchKey(url: string): string | undefined {
  // GitHub's `git_url` uses the retired git:// protocol, which the source layer (rightly) refuses;
  // its host and path are those of the https URL.
  const candidate = /^git:\/\//i.test(url) ? `https://${url.slice('git://'.length)}` : url;
  let identity: string;
  try {
    const parsed = parseRepoUrl(candidate);
    if (parsed.scheme === 'file') return undefined;
    identity = parsed.identity;
  } catch {
    return undefined;
  }
  // identity = scheme://host[:port]/path[?query]
  const match = /^[a-z]+:\/\/(\[[^\]]*\]|[^/:]+)(?::\d+)?\/([^?#]*)/.exec(identity);
  if (!match) return undefined;
  const [, host = '', path = ''] = match;
  if (path === '') return undefined;
  return `${host}/${path}`.toLowerCase();
}

/**
 * Whether the repository at `url` (a Repository's `spec.url`) is one a push named, given the push's
 * keys as the server computed them (`PushEvent.repositoryKeys`).
 */
export function isPushedRepository(url: string, pushedKeys: ReadonlySet<string>): boolean {
  const key = repositoryMatchKey(url);
  return key !== undefined && pushedKeys.has(key);
}
