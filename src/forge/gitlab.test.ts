import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../test/support/fake-clock.js';
import { fakeApi, failure as failureWith, json, type Seen } from './testdata/fake-api.js';
import { gitlabMergeRequest, gitlabNote, gitlabStatus, gitlabUser, SHA } from './testdata/recorded.js';
import { createForge, type Forge } from './index.js';

const TOKEN = 'glpat-Xy9z8W7v6U5t4S3r2Q1p';
const failure = (promise: Promise<unknown>) => failureWith(promise, [TOKEN]);
const REPO = 'g/sub/apps';
const PROJECT = '/api/v4/projects/g%2Fsub%2Fapps';
const MARKER = '<!-- capstan:plan -->';
const BOT = { username: 'capstan-bot', id: 41 };

function client(origin: string, clock?: FakeClock): Forge {
  return createForge({
    kind: 'gitlab',
    apiUrl: `${origin}/api/v4`,
    auth: { kind: 'token', token: TOKEN },
    allowInsecureHttp: true,
    ...(clock ? { clock } : {}),
  });
}

/** A GitLab holding merge request !1's notes: list (paged), create, modify; and `GET /user`. */
async function gitlabWithNotes(notes: ReturnType<typeof gitlabNote>[]) {
  let next = 500;
  const notesPath = `${PROJECT}/merge_requests/1/notes`;
  return fakeApi((seen: Seen, response: ServerResponse) => {
    if (seen.method === 'GET' && seen.pathname === '/api/v4/user')
      return json(response, 200, gitlabUser(BOT.username, BOT.id));
    if (seen.method === 'GET' && seen.path.startsWith(`${notesPath}?`)) {
      const perPage = Number(seen.query.per_page);
      const page = Number(seen.query.page);
      return json(response, 200, notes.slice((page - 1) * perPage, page * perPage));
    }
    if (seen.method === 'POST' && seen.pathname === notesPath) {
      const note = gitlabNote(next++, (seen.body as { body: string }).body, BOT.username, BOT.id);
      notes.push(note);
      return json(response, 201, note);
    }
    const modify = new RegExp(`^${notesPath.replace(/[.%]/g, '\\$&')}/(\\d+)$`).exec(seen.pathname);
    if (seen.method === 'PUT' && modify) {
      const note = notes.find((n) => n.id === Number(modify[1]));
      if (!note) return json(response, 404, { message: '404 Not found' });
      note.body = (seen.body as { body: string }).body;
      return json(response, 200, note);
    }
    json(response, 404, { message: '404 Not found' });
  });
}

describe('GitLab merge requests', () => {
  it('gets one by iid through the path-encoded project, with PRIVATE-TOKEN', async () => {
    const api = await fakeApi((_, response) => json(response, 200, gitlabMergeRequest({ iid: 12 })));
    expect(await client(api.origin).getPullRequest(REPO, 12)).toEqual({
      number: 12,
      url: 'https://gitlab.example.com/g/sub/apps/-/merge_requests/12',
      title: 'test1',
      state: 'open',
      head: { ref: 'test1', sha: SHA, fork: false },
      base: { ref: 'main' },
      author: 'admin',
      labels: ['Community contribution', 'Manage'],
    });
    expect(api.seen[0]).toMatchObject({ method: 'GET', pathname: `${PROJECT}/merge_requests/12` });
    expect(api.seen[0]?.headers['private-token']).toBe(TOKEN);
    expect(api.seen[0]?.headers.authorization).toBeUndefined();
  });

  it('maps opened, locked, closed and merged; a source project of its own is a fork', async () => {
    const answers = [
      gitlabMergeRequest({ state: 'locked' }),
      gitlabMergeRequest({ state: 'closed' }),
      gitlabMergeRequest({ state: 'merged' }),
      gitlabMergeRequest({ sourceProjectId: 99 }),
    ];
    const api = await fakeApi((_, response) => json(response, 200, answers.shift()));
    const forge = client(api.origin);
    expect((await forge.getPullRequest(REPO, 1)).state).toBe('open');
    expect((await forge.getPullRequest(REPO, 1)).state).toBe('closed');
    expect((await forge.getPullRequest(REPO, 1)).state).toBe('merged');
    expect((await forge.getPullRequest(REPO, 1)).head.fork).toBe(true);
  });

  it('lists opened ones into a target branch, newest first', async () => {
    const api = await fakeApi((seen, response) =>
      json(response, 200, [gitlabMergeRequest({ iid: 3, target: seen.query.target_branch ?? 'main' })]),
    );
    const list = await client(api.origin).listOpenPullRequests(REPO, { base: 'release' });
    expect(list.map((mr) => [mr.number, mr.base.ref])).toEqual([[3, 'release']]);
    expect(api.seen[0]?.pathname).toBe(`${PROJECT}/merge_requests`);
    expect(api.seen[0]?.query).toMatchObject({
      state: 'opened',
      target_branch: 'release',
      order_by: 'created_at',
      sort: 'desc',
      per_page: '100',
      page: '1',
    });
  });

  it('refuses a merge request whose head sha or labels are not what the API documents', async () => {
    const answers: unknown[] = [
      { ...gitlabMergeRequest(), sha: null },
      { ...gitlabMergeRequest(), labels: [{ name: 'object' }] },
      { ...gitlabMergeRequest(), iid: 0 },
    ];
    const api = await fakeApi((_, response) => json(response, 200, answers.shift()));
    for (let i = 0; i < 3; i++) {
      expect((await failure(client(api.origin).getPullRequest(REPO, 1))).kind).toBe('internal');
    }
  });
});

describe('GitLab notes', () => {
  it('creates a marked note, then modifies the same one (PUT)', async () => {
    const notes: ReturnType<typeof gitlabNote>[] = [gitlabNote(1, 'added 1 commit', 'admin', 1, true)];
    const api = await gitlabWithNotes(notes);
    const forge = client(api.origin);
    const first = await forge.upsertComment(REPO, 1, { marker: MARKER, body: 'plan 1' });
    const second = await forge.upsertComment(REPO, 1, { marker: MARKER, body: 'plan 2' });
    expect(first.created).toBe(true);
    expect(second).toEqual({ id: first.id, created: false });
    expect(notes.map((n) => n.body)).toEqual(['added 1 commit', `${MARKER}\nplan 2`]);
    expect(api.seen.find((s) => s.method === 'GET' && s.pathname.endsWith('/notes'))?.query).toMatchObject({
      sort: 'asc',
      per_page: '50',
      page: '1',
    });
  });

  it('leaves a planted note by another user, and a system note, alone', async () => {
    const notes = [
      gitlabNote(1, `${MARKER} approve me`, 'mallory', 666),
      gitlabNote(2, `${MARKER} mentioned in commit`, BOT.username, BOT.id, true),
    ];
    const api = await gitlabWithNotes(notes);
    expect((await client(api.origin).upsertComment(REPO, 1, { marker: MARKER, body: 'plan' })).created).toBe(
      true,
    );
    expect(notes.slice(0, 2).map((n) => n.body)).toEqual([
      `${MARKER} approve me`,
      `${MARKER} mentioned in commit`,
    ]);
    expect(api.seen.some((s) => s.method === 'PUT')).toBe(false);
  });
});

describe('GitLab commit statuses', () => {
  it('posts name, description and GitLab’s state: failure and error are failed', async () => {
    const api = await fakeApi((seen, response) =>
      json(response, 201, gitlabStatus('failed', 'capstan/plan', 'dry-run failed')),
    );
    const forge = client(api.origin);
    for (const state of ['pending', 'success', 'failure', 'error'] as const) {
      await forge.setCommitStatus(REPO, SHA, {
        state,
        context: 'capstan/plan',
        description: 'dry-run failed',
        targetUrl: 'https://capstan.example/plan',
      });
    }
    expect(api.seen.map((s) => (s.body as { state: string }).state)).toEqual([
      'pending',
      'success',
      'failed',
      'failed',
    ]);
    expect(api.seen[0]).toMatchObject({
      method: 'POST',
      pathname: `${PROJECT}/statuses/${SHA}`,
      body: {
        name: 'capstan/plan',
        description: 'dry-run failed',
        target_url: 'https://capstan.example/plan',
      },
    });
  });

  it('takes "cannot transition" (the status is already that) as done, and other 400s as errors', async () => {
    const answers = [
      { message: 'Cannot transition status via :enqueue from :pending (Reasons: ...)' },
      { message: 'state is missing' },
    ];
    const api = await fakeApi((_, response) => json(response, 400, answers.shift()));
    const forge = client(api.origin);
    const status = { state: 'pending', context: 'capstan/plan', description: '' } as const;
    await forge.setCommitStatus(REPO, SHA, status);
    expect((await failure(forge.setCommitStatus(REPO, SHA, status))).message).toMatch(/state is missing/);
  });

  it('never shows the token, even when the host echoes it', async () => {
    const api = await fakeApi((_, response) =>
      json(response, 401, { message: `401 Unauthorized: ${TOKEN}` }),
    );
    const error = await failure(
      client(api.origin).setCommitStatus(REPO, SHA, { state: 'success', context: 'c', description: '' }),
    );
    expect(error.message).toMatch(/did not accept the token \(401\)/);
  });
});

describe('GitLab rate limits', () => {
  it('blocks on a 429 until RateLimit-Reset, without requests, then recovers', async () => {
    const clock = new FakeClock();
    const reset = Math.floor(clock.now().getTime() / 1000) + 45;
    let limited = true;
    const api = await fakeApi((_, response) =>
      limited
        ? json(
            response,
            429,
            { message: 'Retry later' },
            {
              'RateLimit-Limit': '600',
              'RateLimit-Observed': '600',
              'RateLimit-Remaining': '0',
              'RateLimit-Reset': String(reset),
            },
          )
        : json(response, 200, gitlabMergeRequest()),
    );
    const forge = client(api.origin, clock);
    expect(await failure(forge.getPullRequest(REPO, 1))).toMatchObject({
      kind: 'transient',
      status: 429,
      retryAfterMs: 45_000,
    });
    await failure(forge.listOpenPullRequests(REPO));
    expect(api.seen).toHaveLength(1);
    limited = false;
    clock.advance(45_000);
    expect((await forge.getPullRequest(REPO, 1)).number).toBe(1);
  });
});
