/**
 * The source stage over smart HTTP (git http-backend), with and without basic auth: credentials
 * work, and never show up in argv, environment, errors, causes or logs.
 */
import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TransientError, UserError, describeError } from '../../src/core/errors.js';
import {
  createGitSource,
  createProcessRunner,
  type GitInvocation,
  type GitLogEntry,
  type GitSource,
} from '../../src/source/index.js';
import {
  createTestRepo,
  makeTempDir,
  startCredentialTrap,
  startGitHttpServer,
  startRedirector,
  type GitHttpServer,
  type HttpStub,
  type TestRepo,
} from '../support/git-servers.js';

// Quotes, a dollar, a command substitution and URL-special characters: all must pass intact and inert.
const PASSWORD = `s3cr3t-'"$(touch /tmp/capstan-pwned)@:/?#%`;
const USERNAME = 'deployer';

/** The test servers speak plain http on loopback: the credentials' owner (the test) opts in. */
const basic = (password: string) =>
  ({ kind: 'basic', username: USERNAME, password, allowInsecureHttp: true }) as const;

let root: string;
let repo: TestRepo;
let open: GitHttpServer;
let guarded: GitHttpServer;
let head: string;

beforeAll(async () => {
  root = await makeTempDir('git-http');
  repo = await createTestRepo(root, 'apps');
  await repo.commit({ 'apps/a/deploy.yaml': 'kind: A\n' }, 'first');
  await repo.tag('v1.0.0', { annotated: true });
  head = await repo.commit({ 'apps/a/deploy.yaml': 'kind: A2\n' }, 'second');
  open = await startGitHttpServer({ root });
  guarded = await startGitHttpServer({ root, auth: { username: USERNAME, password: PASSWORD } });
});

afterAll(async () => {
  await open?.close();
  await guarded?.close();
  await rm(root, { recursive: true, force: true });
});

let cacheDir: string;
let tempDir: string;
let calls: GitInvocation[];
let logs: GitLogEntry[];
let source: GitSource;

beforeEach(async () => {
  cacheDir = await makeTempDir('git-cache');
  tempDir = await makeTempDir('git-temp');
  calls = [];
  logs = [];
  const real = createProcessRunner();
  source = createGitSource({
    cacheDir,
    tempDir,
    runner: (invocation) => {
      calls.push(invocation);
      return real(invocation);
    },
    log: (entry) => logs.push(entry),
  });
  return async () => {
    await rm(cacheDir, { recursive: true, force: true });
    await rm(tempDir, { recursive: true, force: true });
  };
});

/** Everything the source produced that a person or a log could see. */
function everythingVisible(error?: unknown): string {
  return [
    error === undefined ? '' : describeError(error),
    JSON.stringify(logs),
    JSON.stringify(calls.map((call) => [call.args, call.env])),
  ].join('\n');
}

describe('http without auth', () => {
  it('resolves branches and tags, shallow', async () => {
    expect((await source.resolve({ url: open.url('apps') }, 'main')).sha).toBe(head);
    expect((await source.resolve({ url: open.url('apps') }, '^1')).ref).toBe('refs/tags/v1.0.0');
    const fetch = calls.find((call) => call.operation === 'fetch');
    expect(fetch?.args).toContain('--depth=1');
  });
});

describe('http with basic auth', () => {
  it('fetches with the right credentials, passed through askpass files that are removed afterwards', async () => {
    const revision = await source.resolve({ url: guarded.url('apps'), credentials: basic(PASSWORD) }, 'main');
    expect(revision.sha).toBe(head);
    expect(everythingVisible()).not.toContain(PASSWORD);
    expect(existsSync('/tmp/capstan-pwned')).toBe(false);
    expect(await readdir(tempDir)).toEqual([]);
    expect(calls.filter((call) => call.operation === 'ls-remote')[0]?.env.GIT_ASKPASS).toMatch(
      /askpass\.sh$/,
    );
  });

  it('reports a wrong password clearly, without the password', async () => {
    const wrong = `${PASSWORD}-but-wrong`;
    const error = await source
      .resolve({ url: guarded.url('apps'), credentials: basic(wrong) }, 'main')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toMatch(
      new RegExp(
        `^authentication failed for http://127\\.0\\.0\\.1:${guarded.port}/apps\\.git: check the credentials`,
      ),
    );
    expect(everythingVisible(error)).not.toContain(wrong);
    expect(everythingVisible(error)).not.toContain(PASSWORD);
    expect(await readdir(tempDir)).toEqual([]);
  });

  it('reports missing credentials as an authentication failure, without prompting', async () => {
    const error = await source.resolve({ url: guarded.url('apps') }, 'main').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toMatch(/^authentication failed for /);
  });

  it('reports an unknown repository as a UserError', async () => {
    const error = await source.resolve({ url: open.url('nothing-here') }, 'main').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toMatch(/not found/);
  });
});

describe('unreachable servers', () => {
  it('are TransientErrors whose message carries no credentials', async () => {
    // A port that was just free: nothing listens there.
    const gone = await startGitHttpServer({ root });
    const url = `http://someone@127.0.0.1:${gone.port}/apps.git?private_token=tok-123456`;
    await gone.close();
    const error = await source
      .resolve({ url, credentials: basic(PASSWORD) }, 'main')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientError);
    expect((error as Error).message).toContain(
      `cannot reach http://***@127.0.0.1:${gone.port}/apps.git?private_token=***`,
    );
    const visible = describeError(error) + JSON.stringify(logs);
    expect(visible).not.toContain('tok-123456');
    expect(visible).not.toContain(PASSWORD);
  });
});

describe('where credentials may go', () => {
  let trap: HttpStub;
  let redirector: HttpStub | undefined;
  beforeEach(async () => {
    trap = await startCredentialTrap();
    return async () => {
      await trap.close();
      await redirector?.close();
      redirector = undefined;
    };
  });

  it('refuses a password over plain http:// unless its owner opted in, before any git command', async () => {
    const credentials = { kind: 'basic', username: USERNAME, password: PASSWORD } as const;
    const error = await source
      .resolve({ url: trap.url('apps'), credentials }, 'main')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toBe(
      `credentials for http://127.0.0.1:${trap.port}/apps.git: refusing to send a password over plain http://, where anyone on the way can read it; use https://`,
    );
    expect(calls).toEqual([]);
    expect(trap.requests).toEqual([]);
    expect(everythingVisible(error)).not.toContain(PASSWORD);
  });

  it('follows no redirect with credentials: the server redirected to gets nothing', async () => {
    // The allowed server answers with a redirect to another port: an attacker's, asking for a password.
    redirector = await startRedirector(`http://127.0.0.1:${trap.port}`);
    const error = await source
      .resolve({ url: redirector.url('apps'), credentials: basic(PASSWORD) }, 'main')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toMatch(
      new RegExp(
        `^http://127\\.0\\.0\\.1:${redirector.port}/apps\\.git answered with a redirect that was not followed \\(never with credentials, which would go wherever it points\\): use the URL it redirects to`,
      ),
    );
    expect(trap.requests).toEqual([]);
    expect(redirector.authorizations).toEqual([]);
    expect(everythingVisible(error)).not.toContain(PASSWORD);
  });

  it('gives the password to no other server even if git followed the redirect: askpass answers only its own', async () => {
    // As git did before: follow the first redirect, then ask for credentials for where it landed.
    const real = createProcessRunner();
    const following = createGitSource({
      cacheDir,
      tempDir,
      runner: (invocation) => {
        const env = { ...invocation.env };
        for (const name of ['GIT_CONFIG_COUNT', 'GIT_CONFIG_KEY_0', 'GIT_CONFIG_VALUE_0']) delete env[name];
        calls.push(invocation);
        return real({ ...invocation, env });
      },
    });
    redirector = await startRedirector(`http://127.0.0.1:${trap.port}`);
    const error = await following
      .resolve({ url: redirector.url('apps'), credentials: basic(PASSWORD) }, 'main')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toMatch(/^authentication failed for /);
    // git did land on the trap, and asked askpass for its credentials: askpass gave none.
    expect(trap.requests.length).toBeGreaterThan(0);
    expect(trap.authorizations).toEqual([]);
    expect(everythingVisible(error)).not.toContain(PASSWORD);
  });
});
