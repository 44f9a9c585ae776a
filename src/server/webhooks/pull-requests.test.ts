/**
 * Pull-request events of the three hosts, with payloads shaped like the hosts' documented ones
 * (GitHub "pull_request" webhook, GitLab "Merge request events", Gitea's `api.PullRequestPayload`),
 * trimmed to the fields around the ones read, and the same payloads made hostile.
 */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { UserError } from '../../core/errors.js';
import * as gitea from './gitea.js';
import * as github from './github.js';
import * as gitlab from './gitlab.js';

const SECRET = 'pr-hook-s3cret';
const HEAD = '6dcb09b5b57875f334f61aebed695e2e4193db5e';
const BASE = 'c3f1a2b4d5e6f708192a3b4c5d6e7f8091a2b3c4';

function githubPayload(action: string, overrides: { head?: object; merged?: boolean } = {}) {
  const baseRepo = {
    id: 1296269,
    node_id: 'MDEwOlJlcG9zaXRvcnkxMjk2MjY5',
    name: 'deploy',
    full_name: 'acme/deploy',
    private: true,
    owner: { login: 'acme', id: 1, type: 'Organization' },
    html_url: 'https://github.com/acme/deploy',
    clone_url: 'https://github.com/acme/deploy.git',
    ssh_url: 'git@github.com:acme/deploy.git',
    git_url: 'git://github.com/acme/deploy.git',
    url: 'https://api.github.com/repos/acme/deploy',
    default_branch: 'main',
  };
  return {
    action,
    number: 1347,
    pull_request: {
      url: 'https://api.github.com/repos/acme/deploy/pulls/1347',
      id: 1,
      html_url: 'https://github.com/acme/deploy/pull/1347',
      number: 1347,
      state: action === 'closed' ? 'closed' : 'open',
      locked: false,
      title: 'Bump web to 2.1',
      user: { login: 'octocat', id: 1 },
      body: 'Please pull these awesome changes',
      labels: [{ name: 'preview' }],
      merged: overrides.merged ?? false,
      merge_commit_sha: null,
      head: {
        label: 'acme:bump-web',
        ref: 'bump-web',
        sha: HEAD,
        user: { login: 'acme', id: 1 },
        repo: baseRepo,
        ...overrides.head,
      },
      base: { label: 'acme:main', ref: 'main', sha: BASE, user: { login: 'acme', id: 1 }, repo: baseRepo },
    },
    repository: baseRepo,
    sender: { login: 'octocat', id: 1 },
  };
}

function gitlabPayload(action: string, attributes: Record<string, unknown> = {}) {
  const project = {
    id: 15,
    name: 'deploy',
    web_url: 'https://gitlab.example.com/platform/deploy',
    git_ssh_url: 'git@gitlab.example.com:platform/deploy.git',
    git_http_url: 'https://gitlab.example.com/platform/deploy.git',
    namespace: 'platform',
    path_with_namespace: 'platform/deploy',
    default_branch: 'main',
  };
  return {
    object_kind: 'merge_request',
    event_type: 'merge_request',
    user: { id: 1, name: 'Administrator', username: 'root' },
    project,
    object_attributes: {
      id: 99,
      iid: 12,
      target_branch: 'main',
      source_branch: 'bump-web',
      source_project_id: 15,
      target_project_id: 15,
      title: 'Bump web to 2.1',
      state: 'opened',
      merge_status: 'unchecked',
      url: 'https://gitlab.example.com/platform/deploy/-/merge_requests/12',
      source: project,
      target: project,
      last_commit: {
        id: HEAD,
        message: 'bump web',
        url: `https://gitlab.example.com/platform/deploy/-/commit/${HEAD}`,
      },
      action,
      ...attributes,
    },
    labels: [],
    changes: {},
    repository: {
      name: 'deploy',
      url: 'git@gitlab.example.com:platform/deploy.git',
      homepage: 'https://gitlab.example.com/platform/deploy',
    },
  };
}

function giteaPayload(action: string, overrides: { headRepo?: object; merged?: boolean } = {}) {
  const repository = {
    id: 7,
    owner: { id: 3, login: 'ops', username: 'ops' },
    name: 'site',
    full_name: 'ops/site',
    private: false,
    fork: false,
    html_url: 'https://git.example.com/ops/site',
    ssh_url: 'git@git.example.com:ops/site.git',
    clone_url: 'https://git.example.com/ops/site.git',
    default_branch: 'main',
  };
  return {
    action,
    number: 4,
    pull_request: {
      id: 21,
      url: 'https://git.example.com/ops/site/pulls/4',
      number: 4,
      user: { id: 5, login: 'dev' },
      title: 'Bump web to 2.1',
      labels: [],
      state: action === 'closed' ? 'closed' : 'open',
      html_url: 'https://git.example.com/ops/site/pulls/4',
      mergeable: true,
      merged: overrides.merged ?? false,
      merge_commit_sha: null,
      base: { label: 'main', ref: 'main', sha: BASE, repo_id: 7, repo: repository },
      head: {
        label: 'bump-web',
        ref: 'bump-web',
        sha: HEAD,
        repo_id: 7,
        repo: { ...repository, ...overrides.headRepo },
      },
    },
    repository,
    sender: { id: 5, login: 'dev' },
    commit_id: '',
    review: null,
  };
}

const change = (action: string, extra: object = {}) => ({
  action,
  number: expect.any(Number) as number,
  headSha: HEAD,
  headRef: 'bump-web',
  baseRef: 'main',
  merged: false,
  fork: false,
  ...extra,
});

describe('github pull_request', () => {
  const headers = { 'x-github-event': 'pull_request' };

  it('reads opened, synchronize, reopened and closed (merged) with the base repository URLs', () => {
    const opened = github.parse(githubPayload('opened'), headers);
    expect(opened).toEqual({
      kind: 'pullRequest',
      event: 'pull_request',
      urls: [
        'https://github.com/acme/deploy.git',
        'git@github.com:acme/deploy.git',
        'git://github.com/acme/deploy.git',
        'https://github.com/acme/deploy',
        'https://api.github.com/repos/acme/deploy',
      ],
      pullRequest: change('opened', { number: 1347 }),
    });
    const pullRequestOf = (action: string, merged?: boolean) => {
      const parsed = github.parse(githubPayload(action, merged ? { merged } : {}), headers);
      return parsed.kind === 'pullRequest' ? parsed.pullRequest : undefined;
    };
    expect(pullRequestOf('synchronize')?.action).toBe('synchronized');
    expect(pullRequestOf('reopened')?.action).toBe('reopened');
    expect(pullRequestOf('closed', true)).toMatchObject({ action: 'closed', merged: true });
  });

  it('tells a fork by the head repository (a deleted fork counts as one)', () => {
    const fromFork = github.parse(
      githubPayload('opened', { head: { repo: { id: 999, full_name: 'mallory/deploy' } } }),
      headers,
    );
    expect(fromFork.kind === 'pullRequest' && fromFork.pullRequest.fork).toBe(true);
    const deleted = github.parse(githubPayload('synchronize', { head: { repo: null } }), headers);
    expect(deleted.kind === 'pullRequest' && deleted.pullRequest.fork).toBe(true);
  });

  it('ignores the actions that do not change a plan', () => {
    for (const action of [
      'labeled',
      'edited',
      'assigned',
      'review_requested',
      'ready_for_review',
      'toString',
    ])
      expect(github.parse(githubPayload(action), headers).kind).toBe('ignored');
  });
});

describe('gitlab Merge Request Hook', () => {
  const headers = { 'x-gitlab-event': 'Merge Request Hook' };

  it('reads open, reopen, close and merge, with the target project URLs', () => {
    expect(gitlab.parse(gitlabPayload('open'), headers)).toEqual({
      kind: 'pullRequest',
      event: 'Merge Request Hook',
      urls: [
        'https://gitlab.example.com/platform/deploy.git',
        'git@gitlab.example.com:platform/deploy.git',
        'https://gitlab.example.com/platform/deploy',
      ],
      pullRequest: change('opened', { number: 12 }),
    });
    const of = (action: string) => {
      const parsed = gitlab.parse(gitlabPayload(action), headers);
      return parsed.kind === 'pullRequest' ? parsed.pullRequest : undefined;
    };
    expect(of('reopen')?.action).toBe('reopened');
    expect(of('close')).toMatchObject({ action: 'closed', merged: false });
    expect(of('merge')).toMatchObject({ action: 'closed', merged: true });
  });

  it('counts an update only when it brought new commits (oldrev)', () => {
    const withCommits = gitlab.parse(gitlabPayload('update', { oldrev: BASE }), headers);
    expect(withCommits.kind === 'pullRequest' && withCommits.pullRequest.action).toBe('synchronized');
    expect(gitlab.parse(gitlabPayload('update'), headers).kind).toBe('ignored');
    expect(gitlab.parse(gitlabPayload('approved'), headers).kind).toBe('ignored');
  });

  it('tells a fork by the source project', () => {
    const fromFork = gitlab.parse(gitlabPayload('open', { source_project_id: 16 }), headers);
    expect(fromFork.kind === 'pullRequest' && fromFork.pullRequest.fork).toBe(true);
    const unknown = gitlab.parse(gitlabPayload('open', { source_project_id: '15' }), headers);
    expect(unknown.kind === 'pullRequest' && unknown.pullRequest.fork).toBe(true);
  });
});

describe('gitea and forgejo pull_request', () => {
  it('reads opened, synchronized, reopened and closed (merged)', () => {
    const headers = { 'x-gitea-event': 'pull_request', 'x-gitea-event-type': 'pull_request' };
    expect(gitea.parse(giteaPayload('opened'), headers)).toEqual({
      kind: 'pullRequest',
      event: 'pull_request',
      urls: [
        'https://git.example.com/ops/site.git',
        'git@git.example.com:ops/site.git',
        'https://git.example.com/ops/site',
      ],
      pullRequest: change('opened', { number: 4 }),
    });
    const sync = gitea.parse(giteaPayload('synchronized'), {
      'x-forgejo-event': 'pull_request',
      'x-gitea-event-type': 'pull_request_sync',
    });
    expect(sync.kind === 'pullRequest' && sync.pullRequest.action).toBe('synchronized');
    const merged = gitea.parse(giteaPayload('closed', { merged: true }), headers);
    expect(merged.kind === 'pullRequest' && merged.pullRequest).toMatchObject({
      action: 'closed',
      merged: true,
    });
    expect(gitea.parse(giteaPayload('label_updated'), headers).kind).toBe('ignored');
    expect(gitea.parse(giteaPayload('opened'), { 'x-gitea-event': 'issue_comment' }).kind).toBe('ignored');
  });

  it('tells a fork by the head repository', () => {
    const parsed = gitea.parse(giteaPayload('opened', { headRepo: { id: 8, full_name: 'eve/site' } }), {
      'x-gitea-event': 'pull_request',
    });
    expect(parsed.kind === 'pullRequest' && parsed.pullRequest.fork).toBe(true);
  });
});

describe('hostile pull-request payloads (authenticated, yet refused)', () => {
  const githubHeaders = { 'x-github-event': 'pull_request' };
  const hostile = (mutate: (payload: ReturnType<typeof githubPayload>) => void): unknown => {
    const payload = structuredClone(githubPayload('opened'));
    mutate(payload);
    return payload;
  };

  it.each([
    [
      'a SHA that is not hex',
      (p: ReturnType<typeof githubPayload>) => (p.pull_request.head.sha = '--upload-pack=evil'),
    ],
    ['a short SHA', (p: ReturnType<typeof githubPayload>) => (p.pull_request.head.sha = HEAD.slice(0, 12))],
    [
      'a SHA with a newline',
      (p: ReturnType<typeof githubPayload>) => (p.pull_request.head.sha = `${HEAD}\n`),
    ],
    [
      'a branch that is an option',
      (p: ReturnType<typeof githubPayload>) => (p.pull_request.head.ref = '-evil'),
    ],
    ['a branch with ..', (p: ReturnType<typeof githubPayload>) => (p.pull_request.base.ref = 'main/../../x')],
    [
      'a branch with a control character',
      (p: ReturnType<typeof githubPayload>) => (p.pull_request.base.ref = 'ma\u001bin'),
    ],
    ['a huge branch', (p: ReturnType<typeof githubPayload>) => (p.pull_request.head.ref = 'b'.repeat(5000))],
    ['a negative number', (p: ReturnType<typeof githubPayload>) => (p.number = -1)],
    ['a fractional number', (p: ReturnType<typeof githubPayload>) => (p.number = 1.5)],
    ['a number past any host', (p: ReturnType<typeof githubPayload>) => (p.number = 2 ** 53)],
    ['a number as text', (p: ReturnType<typeof githubPayload>) => ((p as { number: unknown }).number = '7')],
    [
      'no repository',
      (p: ReturnType<typeof githubPayload>) => ((p as { repository?: unknown }).repository = undefined),
    ],
  ])('refuses %s without quoting it', (_what, mutate) => {
    const payload = hostile(mutate);
    expect(() => github.parse(payload, githubHeaders)).toThrow(UserError);
    try {
      github.parse(payload, githubHeaders);
    } catch (error) {
      const message = (error as Error).message;
      expect(message).not.toMatch(/evil|bbbbbbbb/);
      expect(message).not.toContain(String.fromCharCode(27));
    }
  });

  it('refuses hostile GitLab and Gitea fields too', () => {
    const gitlabHeaders = { 'x-gitlab-event': 'Merge Request Hook' };
    expect(() =>
      gitlab.parse(gitlabPayload('open', { last_commit: { id: 'HEAD~1' } }), gitlabHeaders),
    ).toThrow(/head commit/);
    expect(() => gitlab.parse(gitlabPayload('open', { iid: 0 }), gitlabHeaders)).toThrow(/number/);
    expect(() => gitlab.parse(gitlabPayload('open', { source_branch: 'x y' }), gitlabHeaders)).toThrow(
      /head branch/,
    );
    const payload = giteaPayload('opened');
    (payload.pull_request.base as { ref: unknown }).ref = { toString: 'main' };
    expect(() => gitea.parse(payload, { 'x-gitea-event': 'pull_request' })).toThrow(/base branch/);
  });

  it('accepts refs/heads/ spellings and upper-case SHAs, as normalised values', () => {
    const payload = giteaPayload('opened');
    payload.pull_request.head.ref = 'refs/heads/feature/x';
    payload.pull_request.head.sha = HEAD.toUpperCase();
    const parsed = gitea.parse(payload, { 'x-gitea-event': 'pull_request' });
    expect(parsed.kind === 'pullRequest' && parsed.pullRequest).toMatchObject({
      headRef: 'feature/x',
      headSha: HEAD,
    });
  });

  it('is refused by the signature check first when forged', () => {
    const body = Buffer.from(JSON.stringify(githubPayload('opened')));
    const forged = createHmac('sha256', 'guessed').update(body).digest('hex');
    expect(github.verify({ 'x-hub-signature-256': `sha256=${forged}` }, body, SECRET)).toBe(false);
    expect(gitea.verify({ 'x-gitea-signature': forged }, body, SECRET)).toBe(false);
    expect(gitlab.verify({ 'x-gitlab-token': 'guessed' }, body, SECRET)).toBe(false);
  });
});
