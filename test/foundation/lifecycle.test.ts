/**
 * Nothing of a control plane outlives its owner: not on Ctrl-C of `capstan dev cluster`, not on
 * SIGTERM of a test run, not when the owner is SIGKILLed (the watchdog reaps), and a run whose
 * owner and watchdog both died is cleaned up by the next one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { cleanLeftovers } from '../../src/dev/processes.js';
import { sleep } from '../../src/core/time.js';

const root = new URL('../../', import.meta.url).pathname;

function startNode(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Resolves with the first stdout line that `pick` accepts; rejects with stderr if the child exits first. */
function firstLine<T>(child: ChildProcess, pick: (line: string) => T | undefined): Promise<T> {
  let stderr = '';
  child.stderr?.on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const picked = pick(line);
      if (picked !== undefined) resolve(picked);
    });
    child.once('exit', (code, signal) =>
      reject(new Error(`child exited (${signal ?? code}) before it was ready:\n${stderr}`)),
    );
  });
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null)
      resolve({ code: child.exitCode, signal: child.signalCode });
    else child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

/** A pid whose /proc entry is gone (or a zombie, which runs nothing). */
function isGone(pid: number): boolean {
  if (!existsSync(`/proc/${pid}`)) return true;
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z') ?? true;
  } catch {
    return true;
  }
}

/** Waits (bounded) for every pid to be gone: the watchdog needs a moment after its owner dies. */
async function waitGone(pids: number[], timeoutMs = 20_000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  while (pids.some((p) => !isGone(p)) && Date.now() < deadline) await sleep(100);
  return pids.filter((p) => !isGone(p));
}

async function childrenOf(pid: number): Promise<number[]> {
  const children: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.split(') ')[1]?.split(' ')[1]) === pid) children.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return children;
}

const ownerOutput = (line: string): { owner: number; pids: number[] } | undefined =>
  line.startsWith('{"owner"') ? JSON.parse(line) : undefined;

describe('control plane lifecycle', () => {
  it('capstan dev cluster stops every process on Ctrl-C (SIGINT)', async () => {
    const child = startNode(['src/cli/main.ts', 'dev', 'cluster']);
    const pids = await firstLine(child, (line) =>
      line.startsWith('pids: ')
        ? line
            .slice(6)
            .split(' ')
            .map((entry) => Number(entry.split('=')[1]))
        : undefined,
    );
    expect(pids).toHaveLength(5);
    expect(pids.every((p) => !isGone(p))).toBe(true);
    child.kill('SIGINT');
    expect(await exitOf(child)).toEqual({ code: 0, signal: null });
    expect(pids.filter((p) => !isGone(p))).toEqual([]);
  });

  it.each(['SIGINT', 'SIGTERM'] as const)(
    'a test run that gets %s stops its control plane, then dies of the signal',
    async (signal) => {
      const stateDir = await mkdtemp(join(tmpdir(), 'capstan-state-'));
      const child = startNode(['test/support/control-plane-child.ts'], { CAPSTAN_TEST_STATE_DIR: stateDir });
      const { pids } = await firstLine(child, ownerOutput);
      child.kill(signal);
      expect(await exitOf(child)).toEqual({ code: null, signal });
      expect(pids.filter((p) => !isGone(p))).toEqual([]);
      expect(await readdir(join(stateDir, 'runs'))).toEqual([]);
    },
  );

  it('the watchdog stops the control plane when its owner is SIGKILLed', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'capstan-state-'));
    const child = startNode(['test/support/control-plane-child.ts'], {
      CAPSTAN_TEST_STATE_DIR: stateDir,
      CAPSTAN_TEST_WORKLOADS: '1',
    });
    const { pids } = await firstLine(child, ownerOutput);
    expect(pids).toHaveLength(5);
    child.kill('SIGKILL');
    await exitOf(child);
    expect(await waitGone(pids)).toEqual([]);
  });

  it('a run whose owner and watchdog both died is found and cleaned by the next one', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'capstan-state-'));
    const child = startNode(['test/support/control-plane-child.ts'], { CAPSTAN_TEST_STATE_DIR: stateDir });
    const { owner, pids } = await firstLine(child, ownerOutput);
    const watchdogs = (await childrenOf(owner)).filter((p) => !pids.includes(p));
    expect(watchdogs.length).toBeGreaterThan(0);
    for (const pid of watchdogs) process.kill(pid, 'SIGKILL');
    child.kill('SIGKILL');
    await exitOf(child);
    // Orphaned now: nobody is left to stop them.
    expect(pids.every((p) => !isGone(p))).toBe(true);

    const leftovers = await cleanLeftovers(stateDir);
    expect(leftovers).toHaveLength(1);
    expect(leftovers[0]!.ownerPid).toBe(owner);
    expect(leftovers[0]!.killed.map((k) => k.name).sort()).toEqual(['etcd', 'kube-apiserver']);
    expect(await waitGone(pids)).toEqual([]);
    expect(existsSync(leftovers[0]!.dataDir)).toBe(false);
    expect(await cleanLeftovers(stateDir)).toEqual([]);
  });
});
