/**
 * Gitea and Forgejo: `POST /api/v1/repos/{owner}/{repo}/statuses/{sha}` with
 * `{ state, description, context }` (state: pending | success | error | failure | warning), the token
 * in `Authorization: token <token>` (Gitea's historical scheme, which every version accepts). The API
 * base is `<origin>/api/v1`; target.url overrides it (`https://git.example.com/gitea/api/v1` for a
 * Gitea served under a path).
 */
import type { BuildTarget } from '../types.js';
import { commitState, commitTarget, description, display, statusContext, tokenOf } from './common.js';

export const build: BuildTarget = (input) => {
  const target = commitTarget(input, (origin) => `${origin}/api/v1`);
  if ('skip' in target) return target;
  const token = tokenOf(input, 'a gitea commit status');
  const [owner = '', repo = ''] = target.segments.slice(-2);
  const url = `${target.apiBase}/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}/statuses/${target.sha}`;
  return {
    request: {
      method: 'POST',
      url,
      headers: {
        Accept: 'application/json',
        Authorization: `token ${token}`,
        'Content-Type': 'application/json',
        'User-Agent': 'capstan-notifier',
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
