/**
 * GitLab: the secret travels as a plain token in `X-Gitlab-Token` (GitLab does not sign bodies), the
 * event in `X-Gitlab-Event`. Project hooks send `Push Hook` / `Tag Push Hook` / `Merge Request Hook`;
 * system hooks send `System Hook` with the same `object_kind`.
 */
import { tokenMatches } from './signature.js';
import { distinct, field, header, pullRequestChange, refField, requireUrls, urlField } from './payload.js';
import type { ParsedWebhook, PullRequestAction, WebhookHeaders } from './types.js';

export const signatureHeaders = ['x-gitlab-token'] as const;

export function verify(headers: WebhookHeaders, _rawBody: Buffer, secret: string): boolean {
  return tokenMatches(header(headers, 'x-gitlab-token'), secret);
}

const PUSH_KINDS = new Set(['push', 'tag_push']);

export function parse(body: unknown, headers: WebhookHeaders): ParsedWebhook {
  const event = header(headers, 'x-gitlab-event') ?? 'unknown';
  const objectKind = field(body, 'object_kind');
  if (objectKind === 'merge_request') return mergeRequest(body, event);
  if (typeof objectKind !== 'string' || !PUSH_KINDS.has(objectKind)) {
    return { kind: 'ignored', event, urls: [] };
  }
  return { kind: 'push', event, urls: requireUrls(projectUrls(body), event), ref: refField(body, 'ref') };
}

function projectUrls(body: unknown): string[] {
  return distinct([
    urlField(body, 'project', 'git_http_url'),
    urlField(body, 'project', 'git_ssh_url'),
    urlField(body, 'project', 'web_url'),
    // Older GitLab versions, and the deprecated `repository` block that newer ones still send.
    urlField(body, 'project', 'http_url'),
    urlField(body, 'project', 'ssh_url'),
    urlField(body, 'repository', 'git_http_url'),
    urlField(body, 'repository', 'git_ssh_url'),
    urlField(body, 'repository', 'homepage'),
  ]);
}

/**
 * A `Merge Request Hook` (`object_kind: merge_request`); `project` is the target project, where the
 * merge request lives. `update` is sent for every edit (title, labels, assignees); only one carrying
 * `oldrev` brought new commits. A merge is reported as `closed` with `merged`.
 */
function mergeRequest(body: unknown, event: string): ParsedWebhook {
  const attributes = field(body, 'object_attributes');
  const action = field(attributes, 'action');
  const mapped = actionOf(action, typeof field(attributes, 'oldrev') === 'string');
  if (mapped === undefined) return { kind: 'ignored', event, urls: [] };
  const source = field(attributes, 'source_project_id');
  const target = field(attributes, 'target_project_id');
  const change = pullRequestChange(
    {
      action: mapped,
      number: field(attributes, 'iid'),
      headSha: field(attributes, 'last_commit', 'id'),
      headRef: field(attributes, 'source_branch'),
      baseRef: field(attributes, 'target_branch'),
      merged: action === 'merge',
      // Unknown counts as a fork: the cautious answer.
      fork: typeof source !== 'number' || source !== target,
    },
    event,
  );
  return { kind: 'pullRequest', event, urls: requireUrls(projectUrls(body), event), pullRequest: change };
}

function actionOf(action: unknown, newCommits: boolean): PullRequestAction | undefined {
  switch (action) {
    case 'open':
      return 'opened';
    case 'reopen':
      return 'reopened';
    case 'close':
    case 'merge':
      return 'closed';
    case 'update':
      return newCommits ? 'synchronized' : undefined;
    default:
      return undefined;
  }
}
