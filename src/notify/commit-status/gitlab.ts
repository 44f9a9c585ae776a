/**
 * GitLab: `POST /api/v4/projects/:id/statuses/:sha`, where `:id` is the project's full path
 * URL-encoded (`group%2Fsub%2Fapp`), with `{ state, name, description }` (state: pending | running |
 * success | failed | canceled | skipped; `name` is the context) and the token in `PRIVATE-TOKEN`.
 * The API base is `<origin>/api/v4`; target.url overrides it.
 */
import { gitlabState } from '../../forge/index.js';
import type { BuildTarget } from '../types.js';
import { commitState, commitTarget, description, display, statusContext, tokenOf } from './common.js';

/** GitLab has no "error": a status that is not pending or success is failed (the forge client's mapping). */
export { gitlabState };
export type GitLabState = ReturnType<typeof gitlabState>;

export const build: BuildTarget = (input) => {
  const target = commitTarget(input, (origin) => `${origin}/api/v4`);
  if ('skip' in target) return target;
  const token = tokenOf(input, 'a gitlab commit status');
  const project = encodeURIComponent(target.segments.join('/'));
  const url = `${target.apiBase}/projects/${project}/statuses/${target.sha}`;
  return {
    request: {
      method: 'POST',
      url,
      headers: {
        Accept: 'application/json',
        'Content-Type': 'application/json',
        'PRIVATE-TOKEN': token,
        'User-Agent': 'capstan-notifier',
      },
      body: JSON.stringify({
        state: gitlabState(commitState(input.event)),
        name: statusContext(input.event),
        description: description(input.event),
      }),
    },
    urlSource: target.apiFromSpec ? 'spec' : 'derived',
    display: display(url),
  };
};
