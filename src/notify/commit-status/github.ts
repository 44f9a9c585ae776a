/**
 * GitHub and GitHub Enterprise Server: `POST /repos/{owner}/{repo}/statuses/{sha}` with
 * `{ state, description, context }` (state: error | failure | pending | success), a token in
 * `Authorization: Bearer`, the REST API version pinned. The API is api.github.com for github.com,
 * else `https://<host>/api/v3` (target.url overrides: `https://ghe.example.com/api/v3`).
 */
import type { BuildTarget } from '../types.js';
import { commitState, commitTarget, description, display, statusContext, tokenOf } from './common.js';

export const API_VERSION = '2022-11-28';

export const build: BuildTarget = (input) => {
  const target = commitTarget(input, (origin, host) =>
    host === 'github.com' ? 'https://api.github.com' : `${origin}/api/v3`,
  );
  if ('skip' in target) return target;
  const token = tokenOf(input, 'a github commit status');
  // github.com paths are owner/repo; a longer path (a proxy's prefix) ends in them.
  const [owner = '', repo = ''] = target.segments.slice(-2);
  const url = `${target.apiBase}/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}/statuses/${target.sha}`;
  return {
    request: {
      method: 'POST',
      url,
      headers: {
        Accept: 'application/vnd.github+json',
        Authorization: `Bearer ${token}`,
        'Content-Type': 'application/json',
        'User-Agent': 'capstan-notifier',
        'X-GitHub-Api-Version': API_VERSION,
      },
      body: JSON.stringify({
        state: commitState(input.event),
        description: description(input.event),
        context: statusContext(input.event),
      }),
    },
    urlSource: target.apiFromSpec ? 'spec' : 'derived',
    display: display(url),
  };
};
