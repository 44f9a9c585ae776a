/**
 * A Git server that never answers makes every git operation run into its timeout, and the runner
 * then kills git's whole process group. git's remote helper (git-remote-http) and the intermediate
 * git are orphaned by that and handed to PID 1 — in Capstan's container, node itself
 * (src/dev/image.ts), which never waits for processes it did not start: two zombies per timeout,
 * a PID each, until the pod's PID limit (or pid_max) is reached and no git can start for anyone.
 * A tenant needs only a Repository (or an ImagePolicy's write) with spec.timeout 1s pointing at
 * such a server. The image runs node under tini, which reaps them.
 *
 * Reproduced in a PID namespace of its own (as in the container): needs root, unshare and tini.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { capstanImageConfig } from '../dev/image.js';

const run = promisify(execFile);
const TINI = '/usr/bin/tini';
const UNSHARE = '/usr/bin/unshare';
const GIT_RUNNER = fileURLToPath(new URL('./git.ts', import.meta.url));

/** Three git operations against a silent server, each killed at its 1 s timeout; the zombies left. */
const SCRIPT = `
import { createServer } from 'node:net';
import { readdirSync, readFileSync } from 'node:fs';
import { createProcessRunner } from ${JSON.stringify(GIT_RUNNER)};
const server = createServer((socket) => { socket.on('error', () => {}); socket.resume(); });
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = 'http://127.0.0.1:' + server.address().port + '/repo.git';
const runner = createProcessRunner();
for (let i = 0; i < 3; i++) {
  const output = await runner({
    operation: 'ls-remote', args: ['ls-remote', url], cwd: '/tmp', timeoutMs: 1000,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp', GIT_TERMINAL_PROMPT: '0' },
  });
  if (!output.timedOut) throw new Error('the silent server answered');
}
await new Promise((resolve) => setTimeout(resolve, 500));
const zombies = readdirSync('/proc').filter((pid) => /^[0-9]+$/.test(pid)).filter((pid) => {
  try { return / Z /.test(readFileSync('/proc/' + pid + '/stat', 'utf8').replace(/\\(.*\\)/, '')); } catch { return false; }
});
console.log(JSON.stringify({ zombies: zombies.length }));
server.close();
process.exit(0);
`;

const unavailable =
  process.getuid?.() !== 0
    ? 'needs root for a PID namespace'
    : !existsSync(UNSHARE)
      ? `${UNSHARE} is missing`
      : !existsSync(TINI)
        ? `${TINI} is missing (Debian package "tini")`
        : undefined;

let script: string;

beforeAll(async () => {
  if (unavailable) return;
  const dir = await mkdtemp(join(tmpdir(), 'capstan-zombies-'));
  script = join(dir, 'zombies.mts');
  await writeFile(script, SCRIPT);
  return () => rm(dir, { recursive: true, force: true });
});

/** The zombies left when `init` (the container's ENTRYPOINT before node, if any) is PID 1. */
async function zombiesWith(init: readonly string[]): Promise<number> {
  const { stdout } = await run(
    UNSHARE,
    ['--pid', '--fork', '--mount-proc', ...init, process.execPath, '--import', 'tsx', script],
    { cwd: fileURLToPath(new URL('../..', import.meta.url)), timeout: 60_000 },
  );
  return (JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as { zombies: number }).zombies;
}

describe.skipIf(unavailable !== undefined)('git timed out by a silent server, in the container', () => {
  it('leaves zombies when node is PID 1, and none under tini, which the image runs node under', async () => {
    expect(await zombiesWith([])).toBeGreaterThanOrEqual(3);
    expect(await zombiesWith([TINI, '-s', '--'])).toBe(0);
    const image = capstanImageConfig({ version: '0', revision: undefined, source: undefined, inputs: '' });
    expect(image.entrypoint.slice(0, 3)).toEqual([TINI, '--', 'node']);
  });
});
