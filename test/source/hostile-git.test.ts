/**
 * The source stage against a hostile Git server (test/support/hostile-git.ts, in a process of its
 * own): a 64 KB error line, megabytes of side-band stderr, 1.5 million advertised tags, a
 * byte-a-second drip. Each is refused or times out with a clear, typed error.
 *
 * The event loop's delay is recorded for each (a test annotation: `--reporter=verbose` shows it),
 * never asserted: timing belongs to bench/hostile-git.bench.ts, which measures the controller
 * process end to end.
 */
import { rm } from 'node:fs/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { beforeAll, beforeEach, describe, expect, it, type TestContext } from 'vitest';
import { CapstanError, TransientError, UserError } from '../../src/core/errors.js';
import {
  createGitSource,
  createProcessRunner,
  type GitRunner,
  type GitSource,
} from '../../src/source/index.js';
import { makeTempDir } from '../support/git-servers.js';
import { startHostileGitProcess, type HostileGitServer } from '../support/hostile-git.js';

let server: HostileGitServer;

beforeAll(async () => {
  server = await startHostileGitProcess({ dripMs: 300, progressBytes: 4 * 1024 * 1024 });
  return () => server.close();
});

let cacheDir: string;
let source: GitSource;

beforeEach(async () => {
  cacheDir = await makeTempDir('hostile-cache');
  source = createGitSource({ cacheDir, timeouts: { remoteMs: 3_000 } });
  return () => rm(cacheDir, { recursive: true, force: true });
});

/** Runs `resolve` and returns what it threw, with the event loop's delay meanwhile recorded. */
async function refusal(
  context: TestContext,
  url: string,
  ref: string,
  repository: { timeoutMs?: number } = {},
): Promise<Error> {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const started = performance.now();
  const error = await source.resolve({ url, ...repository }, ref).then(
    () => new Error('resolved, but should have been refused'),
    (thrown: unknown) => thrown as Error,
  );
  delay.disable();
  const ms = (nanoseconds: number) => `${(nanoseconds / 1e6).toFixed(1)} ms`;
  await context.annotate(
    `${Math.round(performance.now() - started)} ms; event-loop delay max ${ms(delay.max)}, p99 ${ms(delay.percentile(99))}`,
  );
  return error;
}

describe('a hostile Git server', () => {
  it('sends a 64 KB error line: a short, typed error carries a line of it', async (context) => {
    const url = server.url('error-line');
    const error = await refusal(context, url, 'main');
    expect(error).toBeInstanceOf(CapstanError);
    expect(error.message).toMatch(
      new RegExp(`^git ls-remote failed for ${escape(url)} \\(fatal: remote error: (b\\.)+b?…\\)$`),
    );
    expect(error.message.length).toBeLessThan(1024);
  });

  it('floods stderr on the side band while fetching: the error keeps its last lines, cut short', async (context) => {
    const url = server.url('sideband-error');
    const error = await refusal(context, url, 'main');
    expect(error).toBeInstanceOf(CapstanError);
    expect(error.message).toBe(`git fetch failed for ${url} (fatal: protocol error: bad pack header)`);
    const stderr = (error.cause as { stderr: string }).stderr.split('\n');
    expect(stderr.length).toBeLessThanOrEqual(21);
    for (const line of stderr) expect(line.length).toBeLessThanOrEqual(513);
    expect(stderr.at(-1)).toBe('fatal: protocol error: bad pack header');
  });

  it('advertises 1.5 million tags: git is stopped and the repository refused', async (context) => {
    const error = await refusal(context, server.url('many-refs'), '>=1.0.0');
    expect(error).toBeInstanceOf(UserError);
    // Where prlimit is (the image, CI), git runs out of the memory it may use before it prints a
    // line; elsewhere it prints every tag, and the reader stops at 100,000.
    expect(error.message).toMatch(
      /ran out of the 256 MiB of memory Capstan allows it|advertises more than 100000 refs/,
    );
  });

  it('advertises 150,000 tags: the reader stops at 100,000', async (context) => {
    const url = server.url('many-refs', 150_000);
    const error = await refusal(context, url, '>=1.0.0');
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toBe(
      `repository ${url} advertises more than 100000 refs; Capstan stops reading there (only a semver range lists every tag: name a branch or tag instead, or prune old tags)`,
    );
  });

  it('is read with the same limits when a stand-in runner returns the whole output', async () => {
    const sha = '1234567890abcdef1234567890abcdef12345678';
    const tags = Array.from({ length: 100_001 }, (_, i) => `${sha}\trefs/tags/v1.0.${i}\n`).join('');
    const real = createProcessRunner();
    const standIn: GitRunner = (invocation) =>
      invocation.operation === 'ls-remote'
        ? Promise.resolve({ exitCode: 0, stdout: tags, stderr: '', timedOut: false })
        : real(invocation);
    const url = 'https://git.example.invalid/r.git';
    const error = await createGitSource({ cacheDir, runner: standIn })
      .resolve({ url }, '>=1.0.0')
      .catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toMatch(
      /^repository https:\/\/git\.example\.invalid\/r\.git advertises more than 100000 refs;/,
    );
  });

  it('drips its answer a byte at a time: git is stopped at the timeout', async (context) => {
    const url = server.url('slow-drip');
    const error = await refusal(context, url, 'main');
    expect(error).toBeInstanceOf(TransientError);
    expect(error.message).toBe(`git ls-remote for ${url} timed out after 3s`);
  });

  it("stops a drip at the Repository's own timeout, not the source's default", async (context) => {
    const url = server.url('slow-drip');
    const error = await refusal(context, url, 'main', { timeoutMs: 1_000 });
    expect(error).toBeInstanceOf(TransientError);
    expect(error.message).toBe(`git ls-remote for ${url} timed out after 1s`);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
