import { describe, expect, it } from 'vitest';
import { fakeApi, failure as failureWith, json } from './testdata/fake-api.js';
import { githubPull, giteaPull } from './testdata/recorded.js';
import { createForge, forgeTargetFor, type ForgeKind, type PullRequestInput } from './index.js';

const TOKEN = 'tok-3f9a8b7c6d5e4f3a2b1c';
const failure = (promise: Promise<unknown>) => failureWith(promise, [TOKEN]);

const input: PullRequestInput = {
  repo: 'team-a/apps',
  head: 'capstan/rollback-team-a-web-0123456789ab',
  base: 'main',
  title: 'Revert team-a/web: roll back 0123456789ab to ba9876543210',
  body: 'Capstan rolled back …\n\nCapstan-Rollback: 0123',
};

function forge(
  kind: ForgeKind,
  apiUrl: string,
  extra: { timeoutMs?: number; maxResponseBytes?: number } = {},
) {
  return createForge({
    kind,
    apiUrl,
    auth: { kind: 'token', token: TOKEN },
    allowInsecureHttp: true,
    ...extra,
  });
}

describe('GitHub', () => {
  it('looks for an open pull request of the head, then creates one: method, path, body, auth', async () => {
    const api = await fakeApi((seen, response) => {
      if (seen.method === 'GET') return json(response, 200, []);
      json(response, 201, { number: 42, html_url: 'https://github.com/team-a/apps/pull/42' });
    });
    const pr = await forge('github', `${api.origin}/api/v3`).openPullRequest(input);
    expect(pr).toEqual({ number: 42, url: 'https://github.com/team-a/apps/pull/42', reused: false });
    const [list, create] = api.seen;
    expect(list?.method).toBe('GET');
    const listUrl = new URL(list!.path, api.origin);
    expect(listUrl.pathname).toBe('/api/v3/repos/team-a/apps/pulls');
    expect(Object.fromEntries(listUrl.searchParams)).toMatchObject({
      state: 'open',
      head: `team-a:${input.head}`,
      base: 'main',
    });
    expect(create).toMatchObject({
      method: 'POST',
      path: '/api/v3/repos/team-a/apps/pulls',
      body: { title: input.title, head: input.head, base: 'main', body: input.body },
    });
    expect(create?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(create?.headers.accept).toBe('application/vnd.github+json');
    expect(create?.headers['x-github-api-version']).toBe('2022-11-28');
    expect(create?.headers['content-type']).toBe('application/json');
  });

  it('reuses an open pull request for the same head', async () => {
    const api = await fakeApi((_, response) =>
      json(response, 200, [githubPull({ number: 7, head: input.head, base: 'main' })]),
    );
    const pr = await forge('github', api.origin).openPullRequest(input);
    expect(pr).toEqual({ number: 7, url: 'https://github.com/octocat/Hello-World/pull/7', reused: true });
    expect(api.seen.map((s) => s.method)).toEqual(['GET']);
  });

  it('finds the pull request opened meanwhile when creating says it already exists (422)', async () => {
    let lists = 0;
    const api = await fakeApi((seen, response) => {
      if (seen.method === 'POST') {
        return json(response, 422, {
          message: 'Validation Failed',
          errors: [
            {
              resource: 'PullRequest',
              code: 'custom',
              message: `A pull request already exists for team-a:${input.head}.`,
            },
          ],
        });
      }
      lists++;
      json(response, 200, lists === 1 ? [] : [githubPull({ number: 9, head: input.head, base: 'main' })]);
    });
    expect(await forge('github', api.origin).openPullRequest(input)).toMatchObject({
      number: 9,
      reused: true,
    });
  });

  it('says 401 and 403 clearly, without the token', async () => {
    const api = await fakeApi((seen, response) =>
      json(response, seen.method === 'GET' ? 401 : 403, { message: `Bad credentials ${TOKEN}` }),
    );
    const error = await failure(forge('github', api.origin).openPullRequest(input));
    expect(error.status).toBe(401);
    expect(error.kind).toBe('user');
    expect(error.message).toMatch(/did not accept the token \(401\): Bad credentials \*\*\*/);
  });

  it('follows no redirect with the token', async () => {
    const elsewhere = await fakeApi((_, response) => json(response, 200, []));
    const api = await fakeApi((seen, response) =>
      response.writeHead(307, { Location: `${elsewhere.origin}${seen.path}` }).end(),
    );
    const error = await failure(forge('github', api.origin).openPullRequest(input));
    expect(error.message).toMatch(/redirect \(307\), not followed/);
    expect(elsewhere.seen).toHaveLength(0);
  });

  it('reads a bounded answer, and times out', async () => {
    const big = await fakeApi((_, response) => {
      response.writeHead(200, { 'Content-Type': 'application/json' });
      response.end(`[${'{"number":1},'.repeat(20_000)}{}]`);
    });
    const error = await failure(
      forge('github', big.origin, { maxResponseBytes: 64 * 1024 }).openPullRequest(input),
    );
    expect(error.message).toMatch(/sent more than 64 KiB/);

    const slow = await fakeApi(() => {});
    const timeout = await failure(forge('github', slow.origin, { timeoutMs: 300 }).openPullRequest(input));
    expect(timeout.kind).toBe('transient');
    expect(timeout.message).toMatch(/timed out/);
  });

  it("abandons a call when the caller's signal aborts, before the timeout", async () => {
    const slow = await fakeApi(() => {});
    const client = forge('gitea', slow.origin, { timeoutMs: 60_000 });
    const abort = new AbortController();
    const startedMs = Date.now();
    const pending = failure(
      client.setCommitStatus(
        'team-a/apps',
        'a'.repeat(40),
        { state: 'pending', context: 'capstan/plan', description: 'planning' },
        { signal: abort.signal },
      ),
    );
    setTimeout(() => abort.abort(), 50);
    const error = await pending;
    expect(error.kind).toBe('transient');
    expect(error.message).toMatch(/abandoned/);
    expect(Date.now() - startedMs).toBeLessThan(5_000);
    const listing = await failure(
      client.listOpenPullRequests('team-a/apps', { signal: AbortSignal.abort() }),
    );
    expect(listing.message).toMatch(/abandoned/);
    const comment = await failure(
      client.upsertComment(
        'team-a/apps',
        7,
        { marker: '<!-- m -->', body: 'b' },
        { signal: AbortSignal.abort() },
      ),
    );
    expect(comment.message).toMatch(/abandoned/);
  });

  it('is transient on 5xx', async () => {
    const api = await fakeApi((_, response) => json(response, 502, { message: 'bad gateway' }));
    expect((await failure(forge('github', api.origin).openPullRequest(input))).kind).toBe('transient');
  });
});

describe('Gitea', () => {
  it('creates with POST /repos/{owner}/{repo}/pulls and a `token` Authorization', async () => {
    const api = await fakeApi((seen, response) => {
      if (seen.method === 'GET') return json(response, 200, []);
      json(response, 201, { number: 3, html_url: 'http://gitea.local/team-a/apps/pulls/3' });
    });
    const pr = await forge('gitea', `${api.origin}/api/v1`).openPullRequest(input);
    expect(pr).toEqual({ number: 3, url: 'http://gitea.local/team-a/apps/pulls/3', reused: false });
    const create = api.seen.find((s) => s.method === 'POST');
    expect(create).toMatchObject({
      path: '/api/v1/repos/team-a/apps/pulls',
      body: { head: input.head, base: 'main', title: input.title, body: input.body },
    });
    expect(create?.headers.authorization).toBe(`token ${TOKEN}`);
  });

  it('pages through open pull requests for one with the same head and base', async () => {
    const api = await fakeApi((seen, response) => {
      const page = Number(new URL(seen.path, 'http://x').searchParams.get('page'));
      const filler = Array.from({ length: 50 }, (_, i) =>
        giteaPull({ number: 100 + i, head: `other-${i}`, base: 'main' }),
      );
      // A fork's pull request of the same branch names is a stranger's: not reused.
      const fork = giteaPull({ number: 4, head: input.head, base: 'main', headRepoId: 99 });
      json(
        response,
        200,
        page === 1 ? filler : [fork, giteaPull({ number: 5, head: input.head, base: 'main' })],
      );
    });
    expect(await forge('gitea', api.origin).openPullRequest(input)).toEqual({
      number: 5,
      url: 'http://gitea.local/team-a/apps/pulls/5',
      reused: true,
    });
    expect(api.seen.every((s) => s.method === 'GET')).toBe(true);
  });

  it('sends basic auth when given user name and password', async () => {
    const api = await fakeApi((seen, response) =>
      seen.method === 'GET'
        ? json(response, 200, [])
        : json(response, 201, { number: 1, html_url: 'http://g/1' }),
    );
    await createForge({
      kind: 'gitea',
      apiUrl: api.origin,
      auth: { kind: 'basic', username: 'bot', password: TOKEN },
      allowInsecureHttp: true,
    }).openPullRequest(input);
    expect(api.seen[0]?.headers.authorization).toBe(
      `Basic ${Buffer.from(`bot:${TOKEN}`).toString('base64')}`,
    );
  });

  it('on 409 (opened meanwhile) returns the existing one', async () => {
    let lists = 0;
    const api = await fakeApi((seen, response) => {
      if (seen.method === 'POST')
        return json(response, 409, { message: 'pull request already exists for these targets' });
      lists++;
      json(response, 200, lists === 1 ? [] : [giteaPull({ number: 8, head: input.head, base: 'main' })]);
    });
    expect(await forge('gitea', api.origin).openPullRequest(input)).toMatchObject({
      number: 8,
      reused: true,
    });
  });
});

describe('GitLab', () => {
  it('creates with POST /projects/:id/merge_requests, the path-encoded id and PRIVATE-TOKEN', async () => {
    const api = await fakeApi((seen, response) => {
      if (seen.method === 'GET') return json(response, 200, []);
      json(response, 201, {
        id: 999,
        iid: 12,
        web_url: 'https://gitlab.local/g/sub/apps/-/merge_requests/12',
      });
    });
    const pr = await forge('gitlab', `${api.origin}/api/v4`).openPullRequest({
      ...input,
      repo: 'g/sub/apps',
    });
    expect(pr).toEqual({
      number: 12,
      url: 'https://gitlab.local/g/sub/apps/-/merge_requests/12',
      reused: false,
    });
    const [list, create] = api.seen;
    expect(new URL(list!.path, api.origin).pathname).toBe('/api/v4/projects/g%2Fsub%2Fapps/merge_requests');
    expect(Object.fromEntries(new URL(list!.path, api.origin).searchParams)).toMatchObject({
      state: 'opened',
      source_branch: input.head,
      target_branch: 'main',
    });
    expect(create).toMatchObject({
      method: 'POST',
      path: '/api/v4/projects/g%2Fsub%2Fapps/merge_requests',
      body: { source_branch: input.head, target_branch: 'main', title: input.title, description: input.body },
    });
    expect(create?.headers['private-token']).toBe(TOKEN);
    expect(create?.headers.authorization).toBeUndefined();
  });

  it('reuses an open merge request of the same branches', async () => {
    const api = await fakeApi((_, response) =>
      json(response, 200, [
        { iid: 4, web_url: 'https://gl/4', source_branch: input.head, target_branch: 'main' },
      ]),
    );
    expect(await forge('gitlab', api.origin).openPullRequest(input)).toEqual({
      number: 4,
      url: 'https://gl/4',
      reused: true,
    });
  });

  it('refuses a repository name that would change the path', async () => {
    const api = await fakeApi((_, response) => json(response, 200, []));
    await failure(forge('gitlab', api.origin).openPullRequest({ ...input, repo: 'g/../admin' }));
    await failure(forge('github', api.origin).openPullRequest({ ...input, repo: 'a/b/c' }));
    expect(api.seen).toHaveLength(0);
  });
});

describe('where the token may go', () => {
  it('refuses plain http unless its owner allowed it', () => {
    expect(() =>
      createForge({
        kind: 'gitea',
        apiUrl: 'http://gitea.local/api/v1',
        auth: { kind: 'token', token: TOKEN },
      }),
    ).toThrow(/over plain http/);
  });

  it('derives the API of the repository’s own host', () => {
    const auth = { kind: 'token', token: TOKEN } as const;
    expect(forgeTargetFor('https://github.com/team-a/apps.git', { kind: 'github', auth }).repo).toBe(
      'team-a/apps',
    );
    expect(forgeTargetFor('git@gitlab.example.com:g/sub/apps.git', { kind: 'gitlab', auth }).repo).toBe(
      'g/sub/apps',
    );
    expect(
      forgeTargetFor('https://git.example.com/gitea/team-a/apps.git', { kind: 'gitea', auth }).repo,
    ).toBe('team-a/apps');
  });

  it('sends the token to GitHub’s API and the repository host, nowhere else', async () => {
    const auth = { kind: 'token', token: TOKEN } as const;
    // github.com → api.github.com is derived; an API on another host is refused.
    expect(() =>
      forgeTargetFor('https://github.com/team-a/apps.git', {
        kind: 'github',
        auth,
        apiUrl: 'https://evil.example/',
      }),
    ).toThrow(/not on the host/);
    expect(() =>
      forgeTargetFor('https://gitea.example.com/team-a/apps.git', {
        kind: 'gitea',
        auth,
        apiUrl: 'https://gitea.example.com.evil.example/api/v1',
      }),
    ).toThrow(/not on the host/);
    // Over http, where the owner allowed it, the derived API is used.
    const api = await fakeApi((seen, response) =>
      seen.method === 'GET'
        ? json(response, 200, [])
        : json(response, 201, { number: 2, html_url: 'http://g/2' }),
    );
    const target = forgeTargetFor(`http://127.0.0.1:${api.port}/team-a/apps.git`, {
      kind: 'gitea',
      auth,
      allowInsecureHttp: true,
    });
    await target.forge.openPullRequest({ ...input, repo: target.repo });
    expect(api.seen[1]?.path).toBe('/api/v1/repos/team-a/apps/pulls');
  });
});
