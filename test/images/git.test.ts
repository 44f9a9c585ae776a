/**
 * Image updates written to Git (commitImageUpdates) against real git over HTTP (git http-backend
 * with pushes, basic auth and a read-only user) and, for pull requests, the run's real Gitea: one
 * commit changing only the marked line, no duplicate on a rerun, no lost update when two policies
 * or someone else write the same branch, refusals without credentials in them, one pull request
 * per policy kept up to date with a lease. No Kubernetes involved.
 */
import { rm } from 'node:fs/promises';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ForgeClient, ForgeUser } from '../../src/dev/forge.js';
import { ForgeError, forgeTargetFor } from '../../src/forge/index.js';
import { FakeForge } from '../forge/fake-forge.js';
import { commitImageUpdates, type ImageCommitRequest, type ImageCommitResult } from '../../src/images/git.js';
import { imageCommitMessage, imagePullRequestText, imageUpdateBranch } from '../../src/images/message.js';
import { updateImagesInYaml, type ImageChoice } from '../../src/images/setters.js';
import { createProcessRunner } from '../../src/source/index.js';
import { sharedForge } from '../support/forge.js';
import {
  createTestRepo,
  git,
  makeTempDir,
  startGitHttpServer,
  type GitHttpServer,
  type TestRepo,
} from '../support/git-servers.js';
import { changedLines, markerEdit, markerLine } from './edit.js';

const WRITER = { username: 'deployer', password: `w-s3cr3t-'"$(touch /tmp/capstan-pwned)@:/?#%` };
const READER = { username: 'reader', password: 'r-s3cr3t-read-only-password' };
const basic = (user: { username: string; password: string }) =>
  ({ kind: 'basic', ...user, allowInsecureHttp: true }) as const;

const IMAGE = '127.0.0.1:5000/app';
const WEB: ImageChoice = { policy: { namespace: 'team-a', name: 'web' }, image: IMAGE, tag: '1.2.0' };
const WORKER: ImageChoice = {
  policy: { namespace: 'team-a', name: 'worker' },
  image: '127.0.0.1:5000/worker',
  tag: '2.0.1',
  digest: `sha256:${'ab'.repeat(32)}`,
};

let root: string;
let server: GitHttpServer;
let tempDir: string;
let count = 0;

beforeAll(async () => {
  root = await makeTempDir('images-git');
  server = await startGitHttpServer({ root, auth: WRITER, readOnlyUsers: [READER], allowPush: true });
  return async () => {
    await server.close();
    await rm(root, { recursive: true, force: true });
  };
});

beforeEach(async () => {
  tempDir = await makeTempDir('images-git-temp');
  return () => rm(tempDir, { recursive: true, force: true });
});

const DEPLOY = (webTag: string, workerTag: string) =>
  [
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    '  name: web   # keep this comment',
    'spec:',
    '  template:',
    '    spec:',
    '      containers:',
    '        - name: web',
    markerLine(WEB, webTag, '          '),
    '        - name: worker',
    markerLine(WORKER, workerTag, '          '),
    '',
  ].join('\n');

interface Fixture {
  repo: TestRepo;
  url: string;
  start: string;
}

async function fixture(): Promise<Fixture> {
  const repo = await createTestRepo(root, `images-${++count}`);
  const start = await repo.commit({
    'README.md': 'apps\n',
    'apps/web/deploy.yaml': DEPLOY('1.1.0', '2.0.0'),
    'apps/web/notes.txt': `image: ${IMAGE}:1.1.0 # {"$imagepolicy": "team-a:web"}\n`,
    'apps/other/deploy.yaml': DEPLOY('1.1.0', '2.0.0'),
  });
  return { repo, url: server.url(repo.name), start };
}

function request(
  f: Fixture,
  choice: ImageChoice,
  overrides: Partial<ImageCommitRequest> = {},
): ImageCommitRequest {
  return {
    repository: { url: f.url, credentials: basic(WRITER), timeoutMs: 30_000 },
    branch: 'main',
    paths: ['apps/web'],
    edit: markerEdit(choice),
    message: (files) => imageCommitMessage([choice], files),
    mode: 'push',
    ...overrides,
  };
}

const show = (f: Fixture, rev: string) => git(f.repo.bareDir, 'show', rev);
const commitsSince = async (f: Fixture, from: string, ref = 'main') =>
  (await git(f.repo.bareDir, 'rev-list', `${from}..${ref}`)).split('\n').filter(Boolean);

function pushed(result: ImageCommitResult): Extract<ImageCommitResult, { outcome: 'pushed' }> {
  if (result.outcome !== 'pushed') throw new Error(`expected a push, got ${JSON.stringify(result)}`);
  return result;
}

describe('commitImageUpdates, push mode', () => {
  it('lands one commit by Capstan changing only the marked line; a rerun changes nothing', async () => {
    const f = await fixture();
    const result = pushed(await commitImageUpdates(request(f, WEB), { tempDir }));
    expect(await f.repo.head()).toBe(result.commit);
    expect(await commitsSince(f, f.start)).toEqual([result.commit]);
    expect(changedLines(result.files)).toEqual([`apps/web/deploy.yaml:10 ${IMAGE}:1.1.0 → ${IMAGE}:1.2.0`]);
    // Only that line, only that file: not the other app's, not a non-YAML file.
    const diff = await git(f.repo.bareDir, 'diff', '--unified=0', f.start, result.commit);
    expect(diff.split('\n').filter((l) => /^[-+][^-+]/.test(l))).toEqual([
      `-${markerLine(WEB, '1.1.0', '          ')}`,
      `+${markerLine(WEB, '1.2.0', '          ')}`,
    ]);
    expect(await show(f, 'main:apps/web/deploy.yaml')).toBe(DEPLOY('1.2.0', '2.0.0').trimEnd());

    const log = await git(f.repo.bareDir, 'log', '-1', '--format=%an <%ae>|%cn <%ce>%n%B', 'main');
    expect(log).toContain('Capstan <capstan@localhost>|Capstan <capstan@localhost>');
    expect(log).toContain(`images: team-a/web ${IMAGE} 1.1.0 → 1.2.0`);
    expect(log).toContain(`apps/web/deploy.yaml:10 ${IMAGE}:1.1.0 → ${IMAGE}:1.2.0 (setter)`);
    expect(log).toMatch(/\nCapstan-Image-Policy: team-a\/web$/);
    expect(
      await git(
        f.repo.bareDir,
        'log',
        '-1',
        '--format=%(trailers:key=Capstan-Image-Policy,valueonly)',
        'main',
      ),
    ).toBe('team-a/web');

    const again = await commitImageUpdates(request(f, WEB), { tempDir });
    expect(again).toEqual({ outcome: 'upToDate', head: result.commit });
    expect(await f.repo.head()).toBe(result.commit);
  });

  it('two policies writing different lines of the same file at once: both land, two commits, none lost', async () => {
    const f = await fixture();
    const [web, worker] = await Promise.all([
      commitImageUpdates(request(f, WEB), { tempDir }),
      commitImageUpdates(request(f, WORKER), { tempDir }),
    ]);
    expect(web.outcome).toBe('pushed');
    expect(worker.outcome).toBe('pushed');
    expect(await commitsSince(f, f.start)).toHaveLength(2);
    expect(await show(f, 'main:apps/web/deploy.yaml')).toBe(DEPLOY('1.2.0', '2.0.1').trimEnd());
    const subjects = (await git(f.repo.bareDir, 'log', '--format=%s', `${f.start}..main`)).split('\n').sort();
    expect(subjects).toEqual([
      `images: team-a/web ${IMAGE} 1.1.0 → 1.2.0`,
      `images: team-a/worker ${WORKER.image} 2.0.0 → 2.0.1`,
    ]);
    expect(await git(f.repo.bareDir, 'log', '-1', '--format=%B', 'main')).toMatch(
      /Capstan-Image-Policy: team-a\//,
    );
  });

  it('redoes the edits on a branch that moved before the push, keeping the commit pushed meanwhile', async () => {
    const f = await fixture();
    const real = createProcessRunner();
    let raced = '';
    let pushes = 0;
    const result = pushed(
      await commitImageUpdates(request(f, WEB), {
        tempDir,
        random: () => 0,
        runner: async (invocation) => {
          if (invocation.operation === 'push' && pushes++ === 0)
            // Another policy, by hand: the worker's line of the same file, between our fetch and push.
            raced = await f.repo.commit(
              { 'apps/web/deploy.yaml': DEPLOY('1.1.0', '2.0.5'), 'apps/web/extra.txt': 'meanwhile\n' },
              'someone else',
            );
          return real(invocation);
        },
      }),
    );
    expect(pushes).toBe(2);
    expect(await git(f.repo.bareDir, 'rev-parse', `${result.commit}^`)).toBe(raced);
    expect(await commitsSince(f, f.start)).toEqual([result.commit, raced]);
    expect(await show(f, 'main:apps/web/deploy.yaml')).toBe(DEPLOY('1.2.0', '2.0.5').trimEnd());
    expect(await show(f, 'main:apps/web/extra.txt')).toBe('meanwhile');
  });

  it('makes no duplicate commit when the branch moved to a head that already holds the value', async () => {
    const f = await fixture();
    const real = createProcessRunner();
    let raced = '';
    const result = await commitImageUpdates(request(f, WEB), {
      tempDir,
      random: () => 0,
      runner: async (invocation) => {
        if (invocation.operation === 'push' && raced === '')
          raced = await f.repo.commit(
            { 'apps/web/deploy.yaml': DEPLOY('1.2.0', '2.0.0') },
            'same value by hand',
          );
        return real(invocation);
      },
    });
    expect(result).toEqual({ outcome: 'upToDate', head: raced });
    expect(await commitsSince(f, f.start)).toEqual([raced]);
  });

  it('gives up with a transient error on a branch that moves during every attempt', async () => {
    const f = await fixture();
    const real = createProcessRunner();
    let n = 0;
    await expect(
      commitImageUpdates(request(f, WEB), {
        tempDir,
        maxAttempts: 2,
        random: () => 0,
        runner: async (invocation) => {
          if (invocation.operation === 'push')
            await f.repo.commit({ [`moving-${++n}.txt`]: 'x\n' }, 'moving');
          return real(invocation);
        },
      }),
    ).rejects.toMatchObject({
      kind: 'transient',
      message: expect.stringMatching(/moved during each of 2 attempts/),
    });
  });

  it('refuses read-only credentials clearly, with no password anywhere', async () => {
    const f = await fixture();
    const result = await commitImageUpdates(
      request(f, WEB, { repository: { url: f.url, credentials: basic(READER) } }),
      { tempDir },
    );
    expect(result.outcome).toBe('refused');
    if (result.outcome !== 'refused') return;
    expect(result.message).toMatch(/may not push to branch 'main'/);
    expect(JSON.stringify(result)).not.toContain(READER.password);
    expect(await f.repo.head()).toBe(f.start);

    const wrong = await commitImageUpdates(
      request(f, WEB, {
        repository: { url: f.url, credentials: basic({ ...WRITER, password: 'wrong-pass-123' }) },
      }),
      { tempDir },
    );
    expect(wrong.outcome).toBe('refused');
    expect(JSON.stringify(wrong)).not.toContain('wrong-pass-123');
  });

  it('reads only regular YAML files under the allowed paths, skipping and reporting the rest', async () => {
    const f = await fixture();
    const big = `${markerLine(WEB, '1.1.0')}\n${'# padding\n'.repeat(110_000)}`;
    await f.repo.commit({
      'apps/web/big.yaml': big,
      'apps/web/link.yaml': { symlink: '../other/deploy.yaml' },
      'apps/web/Kustomization': `${markerLine(WEB, '1.1.0', '')}\n`,
      'apps/linked': { symlink: 'other' },
      'apps/web/crlf.yml': `a: 1\r\n${markerLine(WEB, '1.1.0', '')}\r\nb: 2\r\n`,
    });
    const base = await f.repo.head();
    const seen: string[] = [];
    const result = pushed(
      await commitImageUpdates(
        request(f, WEB, {
          paths: ['./apps/web/', 'apps/linked', 'apps/linked/deploy.yaml', 'nowhere'],
          edit: markerEdit(WEB, seen),
        }),
        { tempDir },
      ),
    );
    expect(seen.sort()).toEqual(['apps/web/Kustomization', 'apps/web/crlf.yml', 'apps/web/deploy.yaml']);
    expect(result.files.map((x) => x.file)).toEqual([
      'apps/web/Kustomization',
      'apps/web/crlf.yml',
      'apps/web/deploy.yaml',
    ]);
    expect(result.skipped).toEqual(
      expect.arrayContaining([
        { file: 'apps/web/big.yaml', reason: expect.stringMatching(/larger than 1048576 bytes/) },
        { file: 'apps/web/link.yaml', reason: 'a symlink' },
        { file: 'apps/linked', reason: 'a symlink' },
        { file: 'apps/linked/deploy.yaml', reason: expect.stringMatching(/no such file/) },
        { file: 'nowhere', reason: expect.stringMatching(/no such file/) },
      ]),
    );
    // CRLF kept, byte for byte (the helper trims the last line's ending; the size counts it).
    const crlf = `a: 1\r\n${markerLine(WEB, '1.2.0', '')}\r\nb: 2\r\n`;
    expect(await show(f, 'main:apps/web/crlf.yml')).toBe(crlf.trim());
    expect(await git(f.repo.bareDir, 'cat-file', '-s', 'main:apps/web/crlf.yml')).toBe(String(crlf.length));
    // The symlink's target and the other app stay as they were.
    expect(await git(f.repo.bareDir, 'diff', '--name-only', base, 'main')).toBe(
      ['apps/web/Kustomization', 'apps/web/crlf.yml', 'apps/web/deploy.yaml'].join('\n'),
    );
    expect(await show(f, 'main:apps/other/deploy.yaml')).toBe(DEPLOY('1.1.0', '2.0.0').trimEnd());
  });

  it('writes what the real setters change: a marked field and a Kustomize images entry, nothing else', async () => {
    const f = await fixture();
    const kustomization = [
      'resources: [deploy.yaml]',
      'images:',
      `  - name: ${IMAGE}`,
      "    newTag: '1.1.0' # quoted on purpose",
      '',
    ].join('\n');
    const base = await f.repo.commit({ 'apps/web/kustomization.yaml': kustomization });
    const choices = [{ ...WEB, digest: `sha256:${'cd'.repeat(32)}` }];
    const result = pushed(
      await commitImageUpdates(
        request(f, WEB, {
          edit: (file, text) => {
            const update = updateImagesInYaml({ file, text, choices });
            return update.changes.length > 0 ? update : undefined;
          },
          message: (files) => imageCommitMessage(choices, files),
        }),
        { tempDir },
      ),
    );
    expect(result.files.map((x) => x.file)).toEqual(['apps/web/deploy.yaml', 'apps/web/kustomization.yaml']);
    expect(await show(f, 'main:apps/web/deploy.yaml')).toBe(DEPLOY('1.2.0', '2.0.0').trimEnd());
    expect(await show(f, 'main:apps/web/kustomization.yaml')).toBe(
      kustomization.replace("'1.1.0'", "'1.2.0'").trimEnd(),
    );
    const message = await git(f.repo.bareDir, 'log', '-1', '--format=%B', 'main');
    expect(message.split('\n')[0]).toBe(`images: team-a/web ${IMAGE} 1.1.0 → 1.2.0`);
    expect(message).toContain(`digest sha256:${'cd'.repeat(32)}`);
    expect(await commitsSince(f, base)).toEqual([result.commit]);
  });

  it("throws the source stage's error for an unreachable server, without the password in it", async () => {
    const f = await fixture();
    const closed = await startGitHttpServer({ root });
    const url = closed.url(f.repo.name);
    await closed.close();
    const error: unknown = await commitImageUpdates(
      request(f, WEB, { repository: { url, credentials: basic(WRITER), timeoutMs: 10_000 } }),
      { tempDir },
    ).catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: 'transient' });
    expect(`${(error as Error).message}\n${(error as Error).stack}`).not.toContain(WRITER.password);
  });

  it('refuses paths outside the repository and bad branch names before touching the network', async () => {
    const f = await fixture();
    for (const paths of [['../x'], ['/etc'], ['apps/../..'], []]) {
      await expect(commitImageUpdates(request(f, WEB, { paths }), { tempDir })).rejects.toMatchObject({
        kind: 'user',
      });
    }
    for (const branch of ['-x', 'a..b', 'refs/heads/main', 'a b']) {
      await expect(commitImageUpdates(request(f, WEB, { branch }), { tempDir })).rejects.toMatchObject({
        kind: 'user',
      });
    }
    await expect(
      commitImageUpdates(request(f, WEB, { author: { name: 'x>\nevil', email: 'a@b' } }), { tempDir }),
    ).rejects.toMatchObject({ kind: 'user' });
    await expect(commitImageUpdates(request(f, WEB, { branch: 'gone' }), { tempDir })).rejects.toThrow(
      /branch 'gone' does not exist/,
    );
  });
});

describe('commitImageUpdates, pull-request mode', () => {
  const prRequest = (f: Fixture, choice: ImageChoice, forge: FakeForge): ImageCommitRequest =>
    request(f, choice, {
      mode: 'pullRequest',
      pullRequestBranch: imageUpdateBranch(choice.policy),
      forge: { forge, repo: 'team-a/apps' },
    });

  it('opens the pull request on the next run when the forge failed after the push, without a new commit', async () => {
    const f = await fixture();
    const forge = new FakeForge();
    forge.failWith = new ForgeError('user', 'forbidden: the token may not open pull requests', {
      status: 403,
    });
    const failed = await commitImageUpdates(prRequest(f, WEB, forge), { tempDir });
    expect(failed).toMatchObject({
      outcome: 'refused',
      message: expect.stringMatching(
        /pushed the image updates to branch 'capstan\/images\/team-a\/web'.*cannot open a pull request/,
      ),
    });
    const carried = await f.repo.head('capstan/images/team-a/web');
    expect(await f.repo.head()).toBe(f.start);

    forge.failWith = undefined;
    const opened = await commitImageUpdates(prRequest(f, WEB, forge), { tempDir });
    expect(opened).toMatchObject({ outcome: 'pullRequest', commit: carried, number: 1 });
    expect(await f.repo.head('capstan/images/team-a/web')).toBe(carried);
    expect(forge.pullRequests).toHaveLength(1);
    expect(forge.opened[0]).toMatchObject({
      head: 'capstan/images/team-a/web',
      base: 'main',
      title: `images: team-a/web ${IMAGE} 1.1.0 → 1.2.0`,
    });
    // The default body: the commit message in a code block.
    expect(forge.opened[0]!.body).toContain('```text\nimages: team-a/web');

    expect(await commitImageUpdates(prRequest(f, WEB, forge), { tempDir })).toEqual({
      outcome: 'upToDate',
      head: carried,
    });
    expect(forge.comments).toHaveLength(0);
  });

  it('rebuilds the branch on a base that moved, keeps the pull request, and says so in one comment', async () => {
    const f = await fixture();
    const forge = new FakeForge();
    const first = await commitImageUpdates(prRequest(f, WEB, forge), { tempDir });
    if (first.outcome !== 'pullRequest') throw new Error(JSON.stringify(first));
    const moved = await f.repo.commit({ 'README.md': 'moved on\n' }, 'unrelated');
    const next = await commitImageUpdates(prRequest(f, WEB, forge), { tempDir });
    if (next.outcome !== 'pullRequest') throw new Error(JSON.stringify(next));
    expect(next.number).toBe(first.number);
    expect(next.commit).not.toBe(first.commit);
    expect(await git(f.repo.bareDir, 'rev-parse', `${next.commit}^`)).toBe(moved);
    expect(await f.repo.head()).toBe(moved);
    expect(await commitImageUpdates(prRequest(f, WEB, forge), { tempDir })).toEqual({
      outcome: 'upToDate',
      head: next.commit,
    });
    expect(forge.pullRequests).toHaveLength(1);
    expect(forge.comments).toHaveLength(1);
    expect(forge.comments[0]!.body).toContain('<!-- capstan:images -->');
  });

  it('does not overwrite a pull-request branch that moved after it was read (lease), but rebuilds it', async () => {
    const f = await fixture();
    const forge = new FakeForge();
    const real = createProcessRunner();
    let raced = '';
    const result = await commitImageUpdates(prRequest(f, WEB, forge), {
      tempDir,
      random: () => 0,
      runner: async (invocation) => {
        if (invocation.operation === 'push' && raced === '')
          raced = await f.repo.commit(
            { 'pushed-by-hand.txt': 'x\n' },
            'by hand',
            'capstan/images/team-a/web',
          );
        return real(invocation);
      },
    });
    if (result.outcome !== 'pullRequest') throw new Error(JSON.stringify(result));
    // The second push, leased on what it saw: the branch is the policy's again, on main.
    expect(await f.repo.head('capstan/images/team-a/web')).toBe(result.commit);
    expect(await git(f.repo.bareDir, 'rev-parse', `${result.commit}^`)).toBe(f.start);
    expect(raced).not.toBe('');
  });

  it('is up to date, without a pull request, when the base already holds the value', async () => {
    const f = await fixture();
    const forge = new FakeForge();
    const head = await f.repo.commit({ 'apps/web/deploy.yaml': DEPLOY('1.2.0', '2.0.0') }, 'by hand');
    expect(await commitImageUpdates(prRequest(f, WEB, forge), { tempDir })).toEqual({
      outcome: 'upToDate',
      head,
    });
    expect(forge.opened).toHaveLength(0);
  });
});

describe('commitImageUpdates, pull-request mode on Gitea', () => {
  let forge: ForgeClient;
  let owner: ForgeUser;
  let token: string;

  beforeAll(async () => {
    forge = await sharedForge();
    owner = await forge.createUser();
    token = await forge.token(owner, ['write:repository', 'write:issue', 'read:user']);
  });

  it('opens one pull request from capstan/images/<ns>/<policy>, reuses it, and moves its branch with a lease', async () => {
    const repo = await forge.createRepo(owner.username, `images-${Date.now().toString(36)}`);
    const localRoot = await makeTempDir('images-gitea');
    const local = await createTestRepo(localRoot, 'local');
    const start = await local.commit({ 'apps/web/deploy.yaml': DEPLOY('1.1.0', '2.0.0') });
    await git(local.bareDir, 'push', '--quiet', forge.cloneUrl(repo.owner, repo.name, owner), 'main:main');
    await rm(localRoot, { recursive: true, force: true });
    const target = forgeTargetFor(repo.cloneUrl, {
      kind: 'gitea',
      auth: { kind: 'token', token },
      allowInsecureHttp: true,
    });
    const branch = imageUpdateBranch(WEB.policy);
    expect(branch).toBe('capstan/images/team-a/web');
    const prRequest = (choice: ImageChoice): ImageCommitRequest => ({
      repository: {
        url: repo.cloneUrl,
        credentials: { kind: 'basic', username: owner.username, password: token, allowInsecureHttp: true },
      },
      branch: 'main',
      paths: ['apps'],
      edit: markerEdit(choice),
      message: (files) => imageCommitMessage([choice], files),
      pullRequestText: (files) => imagePullRequestText([choice], files),
      mode: 'pullRequest',
      pullRequestBranch: branch,
      forge: target,
    });
    const branchHead = async () =>
      (
        await forge.api<{ commit: { id: string } }>(
          'GET',
          `/repos/${repo.fullName}/branches/${encodeURIComponent(branch)}`,
        )
      ).commit.id;
    const openPulls = () =>
      forge.api<{ number: number; title: string; body: string; head: { ref: string } }[]>(
        'GET',
        `/repos/${repo.fullName}/pulls?state=open`,
      );

    const first = await commitImageUpdates(prRequest(WEB), { tempDir });
    if (first.outcome !== 'pullRequest') throw new Error(JSON.stringify(first));
    expect(await branchHead()).toBe(first.commit);
    let pulls = await openPulls();
    expect(pulls).toHaveLength(1);
    expect(pulls[0]).toMatchObject({
      number: first.number,
      title: `images: team-a/web ${IMAGE} 1.1.0 → 1.2.0`,
      head: { ref: branch },
    });
    expect(pulls[0]!.body).toContain('| ` 127.0.0.1:5000/app ` |');
    expect(JSON.stringify(first)).not.toContain(token);
    // main itself is untouched.
    expect(
      (await forge.api<{ commit: { id: string } }>('GET', `/repos/${repo.fullName}/branches/main`)).commit.id,
    ).toBe(start);

    const again = await commitImageUpdates(prRequest(WEB), { tempDir });
    expect(again).toEqual({ outcome: 'upToDate', head: first.commit });
    expect(await branchHead()).toBe(first.commit);
    expect(await openPulls()).toHaveLength(1);

    const newer = await commitImageUpdates(prRequest({ ...WEB, tag: '1.3.0' }), { tempDir });
    if (newer.outcome !== 'pullRequest') throw new Error(JSON.stringify(newer));
    expect(newer.number).toBe(first.number);
    expect(newer.commit).not.toBe(first.commit);
    expect(await branchHead()).toBe(newer.commit);
    pulls = await openPulls();
    expect(pulls).toHaveLength(1);
    const file = await forge.api<{ content: string }>(
      'GET',
      `/repos/${repo.fullName}/contents/apps/web/deploy.yaml?ref=${encodeURIComponent(branch)}`,
    );
    expect(Buffer.from(file.content, 'base64').toString('utf8')).toBe(DEPLOY('1.3.0', '2.0.0'));
    // One commit on main's head, not stacked on the earlier one.
    const commit = await forge.api<{ parents: { sha: string }[] }>(
      'GET',
      `/repos/${repo.fullName}/git/commits/${newer.commit}`,
    );
    expect(commit.parents.map((p) => p.sha)).toEqual([start]);
    // The reused pull request tells of the new tag in its one comment.
    const comments = await forge.api<{ body: string }[]>(
      'GET',
      `/repos/${repo.fullName}/issues/${first.number}/comments`,
    );
    expect(comments).toHaveLength(1);
    expect(comments[0]!.body).toContain('<!-- capstan:images -->');
    expect(comments[0]!.body).toContain('| ` 1.1.0 ` | ` 1.3.0 ` |');
  });
});
