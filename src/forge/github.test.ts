import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../test/support/fake-clock.js';
import { fakeApi, failure as failureWith, json, type Seen } from './testdata/fake-api.js';
import { githubComment, githubPull, githubStatus, githubUser, SHA } from './testdata/recorded.js';
import { createForge, MAX_COMMENT_CHARS, MAX_RETRY_AFTER_MS, type Forge } from './index.js';

const TOKEN = 'ghp_16C7e42F292c6912E7710c838347Ae178B4a';
const failure = (promise: Promise<unknown>) => failureWith(promise, [TOKEN]);
const REPO = 'octocat/Hello-World';
const MARKER = '<!-- capstan:plan -->';
const BOT = { login: 'capstan-bot', id: 41 };

function client(origin: string, clock?: FakeClock): Forge {
  return createForge({
    kind: 'github',
    apiUrl: `${origin}/api/v3`,
    auth: { kind: 'token', token: TOKEN },
    allowInsecureHttp: true,
    ...(clock ? { clock } : {}),
  });
}

/** A GitHub holding one pull request's comments: list (paged), create, update; and `GET /user`. */
async function githubWithComments(comments: ReturnType<typeof githubComment>[]) {
  let next = 1000;
  return fakeApi((seen: Seen, response: ServerResponse) => {
    const path = seen.pathname.replace(/^\/api\/v3/, '');
    if (seen.method === 'GET' && path === '/user') return json(response, 200, githubUser(BOT.login, BOT.id));
    if (seen.method === 'GET' && path === `/repos/${REPO}/issues/1347/comments`) {
      const perPage = Number(seen.query.per_page);
      const page = Number(seen.query.page);
      return json(response, 200, comments.slice((page - 1) * perPage, page * perPage));
    }
    if (seen.method === 'POST' && path === `/repos/${REPO}/issues/1347/comments`) {
      const created = githubComment(next++, (seen.body as { body: string }).body, BOT.login, BOT.id);
      comments.push(created);
      return json(response, 201, created);
    }
    const edit = /^\/repos\/octocat\/Hello-World\/issues\/comments\/(\d+)$/.exec(path);
    if (seen.method === 'PATCH' && edit) {
      const comment = comments.find((c) => c.id === Number(edit[1]));
      if (!comment) return json(response, 404, { message: 'Not Found' });
      comment.body = (seen.body as { body: string }).body;
      return json(response, 200, comment);
    }
    json(response, 404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' });
  });
}

describe('GitHub pull requests', () => {
  it('gets one: number, page, title, state, head, base, author, labels', async () => {
    const api = await fakeApi((_, response) =>
      json(response, 200, githubPull({ labels: ['bug', 'preview'] })),
    );
    expect(await client(api.origin).getPullRequest(REPO, 1347)).toEqual({
      number: 1347,
      url: 'https://github.com/octocat/Hello-World/pull/1347',
      title: 'Amazing new feature',
      state: 'open',
      head: { ref: 'new-topic', sha: SHA, fork: false },
      base: { ref: 'main' },
      author: 'octocat',
      labels: ['bug', 'preview'],
    });
    expect(api.seen[0]).toMatchObject({ method: 'GET', pathname: `/api/v3/repos/${REPO}/pulls/1347` });
  });

  it('tells merged from closed, and a fork (or a fork that is gone) from a branch of the repository', async () => {
    const answers = [
      githubPull({ state: 'closed', mergedAt: '2011-01-26T19:01:12Z' }),
      githubPull({ state: 'closed' }),
      githubPull({ headRepo: 'mallory/Hello-World' }),
      githubPull({ headRepo: null }),
    ];
    const api = await fakeApi((_, response) => json(response, 200, answers.shift()));
    const forge = client(api.origin);
    expect((await forge.getPullRequest(REPO, 1)).state).toBe('merged');
    expect((await forge.getPullRequest(REPO, 1)).state).toBe('closed');
    expect((await forge.getPullRequest(REPO, 1)).head.fork).toBe(true);
    expect((await forge.getPullRequest(REPO, 1)).head.fork).toBe(true);
  });

  it('says notFound for a pull request that does not exist', async () => {
    const api = await fakeApi((_, response) => json(response, 404, { message: 'Not Found' }));
    expect((await failure(client(api.origin).getPullRequest(REPO, 5))).kind).toBe('notFound');
  });

  it('lists open ones into a base, page by page, up to the limit', async () => {
    const api = await fakeApi((seen, response) => {
      const page = Number(seen.query.page);
      const pulls = Array.from({ length: page === 1 ? 100 : 30 }, (_, i) =>
        githubPull({ number: page * 1000 + i, base: seen.query.base ?? 'main' }),
      );
      json(response, 200, pulls);
    });
    const all = await client(api.origin).listOpenPullRequests(REPO, { base: 'release' });
    expect(all).toHaveLength(100);
    expect(all.every((pr) => pr.base.ref === 'release')).toBe(true);
    expect(api.seen[0]?.query).toMatchObject({ state: 'open', base: 'release', per_page: '100', page: '1' });

    api.seen.length = 0;
    const more = await client(api.origin).listOpenPullRequests(REPO, { limit: 500 });
    expect(more).toHaveLength(130);
    expect(api.seen).toHaveLength(2);
  });

  it('refuses malformed answers with an error, never a crash or an unbounded value', async () => {
    const bad: unknown[] = [
      { ...githubPull(), number: -1 },
      { ...githubPull(), number: '1' },
      { ...githubPull(), head: { ...githubPull().head, sha: 'main' } },
      { ...githubPull(), head: { ...githubPull().head, ref: 'a b' } },
      { ...githubPull(), title: 'x'.repeat(5000) },
      { ...githubPull(), labels: Array.from({ length: 101 }, (_, i) => ({ name: `l${i}` })) },
      { ...githubPull(), html_url: 'javascript:alert(1)' },
      { ...githubPull(), state: 'weird' },
      { ...githubPull(), user: null },
      'not an object',
      null,
    ];
    const api = await fakeApi((_, response) => json(response, 200, bad.shift()));
    const forge = client(api.origin);
    for (let i = 0; i < 11; i++) {
      const error = await failure(forge.getPullRequest(REPO, 1347));
      expect(error.kind).toBe('internal');
      expect(error.message).toMatch(/sent a malformed answer: answer/);
    }
    const list = await fakeApi((_, response) => json(response, 200, { not: 'a list' }));
    expect((await failure(client(list.origin).listOpenPullRequests(REPO))).kind).toBe('internal');
  });

  it('keeps control characters out of a title', async () => {
    const api = await fakeApi((_, response) =>
      json(response, 200, githubPull({ title: 'fix\u001b[31m red\r\nInjected: yes' })),
    );
    expect((await client(api.origin).getPullRequest(REPO, 1)).title).toBe('fix [31m red  Injected: yes');
  });
});

describe('GitHub comments', () => {
  it('creates a marked comment, then edits the same one in place', async () => {
    const comments: ReturnType<typeof githubComment>[] = [];
    const api = await githubWithComments(comments);
    const forge = client(api.origin);
    const first = await forge.upsertComment(REPO, 1347, { marker: MARKER, body: 'plan 1' });
    expect(first.created).toBe(true);
    const second = await forge.upsertComment(REPO, 1347, { marker: MARKER, body: `${MARKER}\nplan 2` });
    expect(second).toEqual({ id: first.id, created: false });
    expect(comments).toHaveLength(1);
    expect(comments[0]?.body).toBe(`${MARKER}\nplan 2`);
    // The user is asked for once per client.
    expect(api.seen.filter((s) => s.pathname === '/api/v3/user')).toHaveLength(1);
    const edit = api.seen.find((s) => s.method === 'PATCH');
    expect(edit?.pathname).toBe(`/api/v3/repos/${REPO}/issues/comments/${first.id}`);
  });

  it('never edits a comment by another user, whatever it contains', async () => {
    const planted = githubComment(5, `${MARKER}\nLooks good, merge it`, 'mallory', 666);
    const comments = [planted];
    const api = await githubWithComments(comments);
    const result = await client(api.origin).upsertComment(REPO, 1347, { marker: MARKER, body: 'the plan' });
    expect(result.created).toBe(true);
    expect(planted.body).toBe(`${MARKER}\nLooks good, merge it`);
    expect(comments).toHaveLength(2);
    expect(api.seen.some((s) => s.method === 'PATCH')).toBe(false);
  });

  it('finds its comment on a later page', async () => {
    const comments = Array.from({ length: 70 }, (_, i) => githubComment(i + 1, 'chatter', 'someone', 2));
    comments.push(githubComment(71, `${MARKER}\nold`, BOT.login, BOT.id));
    const api = await githubWithComments(comments);
    expect(await client(api.origin).upsertComment(REPO, 1347, { marker: MARKER, body: 'new' })).toEqual({
      id: 71,
      created: false,
    });
    expect(api.seen.filter((s) => s.method === 'GET' && s.query.page === '2')).toHaveLength(1);
  });

  it('cuts a body past 60,000 characters with a visible note, keeping the marker', async () => {
    const comments: ReturnType<typeof githubComment>[] = [];
    const api = await githubWithComments(comments);
    await client(api.origin).upsertComment(REPO, 1347, { marker: MARKER, body: 'y'.repeat(200_000) });
    const body = comments[0]!.body;
    expect(body.length).toBeLessThanOrEqual(MAX_COMMENT_CHARS);
    expect(body.startsWith(MARKER)).toBe(true);
    expect(body).toMatch(/Capstan cut this comment/);
  });
});

describe('GitHub commit statuses', () => {
  it('posts state, context, a description cut to 140 characters, and the target URL', async () => {
    const api = await fakeApi((seen, response) =>
      json(response, 201, githubStatus('pending', 'capstan/plan', '')),
    );
    await client(api.origin).setCommitStatus(REPO, SHA, {
      state: 'pending',
      context: 'capstan/plan',
      description: 'd'.repeat(500),
      targetUrl: 'https://capstan.example/plans/1',
    });
    const [post] = api.seen;
    expect(post).toMatchObject({ method: 'POST', pathname: `/api/v3/repos/${REPO}/statuses/${SHA}` });
    const body = post?.body as Record<string, string>;
    expect(body).toMatchObject({
      state: 'pending',
      context: 'capstan/plan',
      target_url: 'https://capstan.example/plans/1',
    });
    expect(Array.from(body.description ?? '')).toHaveLength(140);
  });

  it('refuses a target URL that is not http(s), and a sha that is not a full commit id', async () => {
    const api = await fakeApi((_, response) => json(response, 201, {}));
    const forge = client(api.origin);
    const base = { state: 'success', context: 'capstan/plan', description: 'ok' } as const;
    expect(
      (await failure(forge.setCommitStatus(REPO, SHA, { ...base, targetUrl: 'javascript:alert(1)' }))).kind,
    ).toBe('user');
    expect((await failure(forge.setCommitStatus(REPO, 'main', base))).kind).toBe('user');
    expect((await failure(forge.setCommitStatus(REPO, SHA, { ...base, context: 'a\nb' }))).kind).toBe('user');
    expect(api.seen).toHaveLength(0);
  });
});

describe('GitHub rate limits', () => {
  it('blocks on a 403 with no requests remaining until the reset, failing fast, then recovers', async () => {
    const clock = new FakeClock();
    const reset = Math.floor(clock.now().getTime() / 1000) + 120;
    let limited = true;
    const api = await fakeApi((_, response) =>
      limited
        ? json(
            response,
            403,
            {
              message: 'API rate limit exceeded for user ID 41.',
              documentation_url: 'https://docs.github.com/rest',
            },
            { 'x-ratelimit-limit': '5000', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(reset) },
          )
        : json(response, 200, githubPull()),
    );
    const forge = client(api.origin, clock);
    const first = await failure(forge.getPullRequest(REPO, 1));
    expect(first).toMatchObject({ kind: 'transient', status: 403, retryAfterMs: 120_000 });
    expect(forge.blockedUntil?.()).toEqual(new Date(reset * 1000));

    clock.advance(60_000);
    const fast = await failure(forge.getPullRequest(REPO, 1));
    expect(fast).toMatchObject({ kind: 'transient', retryAfterMs: 60_000 });
    expect(fast.message).toMatch(/rate limit reached/);
    expect(api.seen).toHaveLength(1);

    limited = false;
    clock.advance(60_000);
    expect(forge.blockedUntil?.()).toBeUndefined();
    expect((await forge.getPullRequest(REPO, 1)).number).toBe(1347);
  });

  it('takes a secondary limit’s retry-after, and bounds what a host asks to an hour', async () => {
    const clock = new FakeClock();
    const answers = [
      {
        status: 403,
        headers: { 'retry-after': '30' },
        body: { message: 'You have exceeded a secondary rate limit.' },
      },
      { status: 429, headers: { 'retry-after': '999999999' }, body: { message: 'slow down' } },
    ];
    const api = await fakeApi((_, response) => {
      const next = answers.shift()!;
      json(response, next.status, next.body, next.headers);
    });
    const forge = client(api.origin, clock);
    expect((await failure(forge.getPullRequest(REPO, 1))).retryAfterMs).toBe(30_000);
    clock.advance(30_000);
    expect((await failure(forge.getPullRequest(REPO, 1))).retryAfterMs).toBe(MAX_RETRY_AFTER_MS);
  });

  it('stops before the next call when a success used the last request of the window', async () => {
    const clock = new FakeClock();
    const reset = Math.floor(clock.now().getTime() / 1000) + 10;
    const api = await fakeApi((_, response) =>
      json(response, 200, githubPull(), { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(reset) }),
    );
    const forge = client(api.origin, clock);
    await forge.getPullRequest(REPO, 1);
    expect((await failure(forge.getPullRequest(REPO, 1))).retryAfterMs).toBe(10_000);
    expect(api.seen).toHaveLength(1);
  });
});
