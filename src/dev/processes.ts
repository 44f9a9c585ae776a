/**
 * Supervision of the long-running processes of a local control plane.
 *
 * Three layers make sure nothing outlives its owner:
 * 1. `stopAll()` terminates every process (SIGTERM, then SIGKILL after a grace period) in reverse order.
 * 2. A watchdog — a tiny detached Node process whose stdin is a pipe from the owner — kills every
 *    process group it was told about when that pipe closes, which happens however the owner dies
 *    (SIGKILL, crash, `process.exit` from a signal handler we do not control).
 * 3. A run record on disk (pids, commands, data folder) lets the next run find and remove leftovers
 *    if even the watchdog was killed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EnvironmentError } from '../core/errors.js';

export interface ProcessExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface SupervisedProcess {
  readonly name: string;
  readonly pid: number;
  readonly command: string;
  readonly logPath: string;
  /** Settles when the process has exited, for whatever reason. */
  readonly exited: Promise<ProcessExit>;
  /** Whether it is still running. */
  running(): boolean;
  /** The last lines it wrote to stdout/stderr, for error messages. */
  lastLines(count: number): Promise<string>;
}

interface RunRecord {
  ownerPid: number;
  startedAt: string;
  dataDir: string;
  processes: { name: string; pid: number; command: string }[];
}

/** What `cleanLeftovers` found of runs whose owner died without stopping them. */
export interface Leftover {
  readonly runId: string;
  readonly ownerPid: number;
  readonly killed: readonly { name: string; pid: number }[];
  readonly dataDir: string;
}

export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Kills and forgets whatever dead owners left running. Returns what it found, for the caller to report. */
export async function cleanLeftovers(stateDir: string): Promise<Leftover[]> {
  const runsDir = join(stateDir, 'runs');
  const names = await readdir(runsDir).catch(() => [] as string[]);
  const found: Leftover[] = [];
  for (const name of names.filter((n) => n.endsWith('.json'))) {
    const path = join(runsDir, name);
    let record: RunRecord;
    try {
      record = JSON.parse(await readFile(path, 'utf8')) as RunRecord;
    } catch {
      await unlink(path).catch(() => {});
      continue;
    }
    if (isProcessAlive(record.ownerPid)) continue;
    const killed: { name: string; pid: number }[] = [];
    for (const proc of record.processes) {
      // Only kill a pid that still runs the binary we started: pids are reused.
      if (isProcessAlive(proc.pid) && (await commandOf(proc.pid)) === proc.command) {
        killGroup(proc.pid, 'SIGKILL');
        killed.push({ name: proc.name, pid: proc.pid });
      }
    }
    await rm(record.dataDir, { recursive: true, force: true }).catch(() => {});
    await unlink(path).catch(() => {});
    found.push({
      runId: name.replace(/\.json$/, ''),
      ownerPid: record.ownerPid,
      killed,
      dataDir: record.dataDir,
    });
  }
  return found;
}

async function commandOf(pid: number): Promise<string | undefined> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
  return cmdline?.split('\0')[0];
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/**
 * The watchdog's whole program. It reads `+PID` / `-PID` lines naming process groups to guard, and
 * when its stdin ends (the owner stopped or died) or it is told to terminate, it ends those groups.
 */
const WATCHDOG_SOURCE = `
const groups = new Set();
let pending = '';
let reaping = false;
const alive = (g) => { try { process.kill(-g, 0); return true; } catch (e) { return e.code === 'EPERM'; } };
const signal = (g, s) => { try { process.kill(-g, s); } catch {} };
function reap() {
  if (reaping) return;
  reaping = true;
  for (const g of groups) signal(g, 'SIGTERM');
  const deadline = Date.now() + 5000;
  const timer = setInterval(() => {
    const left = [...groups].filter(alive);
    if (left.length === 0 || Date.now() > deadline) {
      for (const g of left) signal(g, 'SIGKILL');
      clearInterval(timer);
      process.exit(0);
    }
  }, 50);
}
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  pending += chunk;
  let end;
  while ((end = pending.indexOf('\\n')) >= 0) {
    const line = pending.slice(0, end);
    pending = pending.slice(end + 1);
    const pid = Number(line.slice(1));
    if (line[0] === '+') groups.add(pid); else if (line[0] === '-') groups.delete(pid);
  }
});
process.stdin.on('end', reap);
process.stdin.on('error', reap);
process.on('SIGTERM', reap);
process.on('SIGINT', () => {});
process.on('SIGHUP', () => {});
`;

export interface ProcessGroupOptions {
  /** Holds `runs/<id>.json`, the record that lets a later run clean up after a crash. */
  readonly stateDir: string;
  /** The temporary folder of this run, removed by stop and by leftover cleaning. */
  readonly dataDir: string;
  /** Seconds between SIGTERM and SIGKILL when stopping. */
  readonly graceSeconds?: number;
}

/** The processes of one control plane, started and stopped together. */
export class ProcessGroup {
  readonly runId = `${process.pid}-${randomBytes(4).toString('hex')}`;
  private readonly children: { proc: SupervisedProcess; child: ChildProcess }[] = [];
  private readonly recordPath: string;
  private watchdog: ChildProcess | undefined;
  private stopping: Promise<void> | undefined;

  constructor(private readonly options: ProcessGroupOptions) {
    this.recordPath = join(options.stateDir, 'runs', `${this.runId}.json`);
  }

  get processes(): readonly SupervisedProcess[] {
    return this.children.map((c) => c.proc);
  }

  /**
   * Starts `command` in a process group of its own (so a terminal's Ctrl-C reaches us, not it, and we
   * decide the order of shutdown), with stdout and stderr going to `<dataDir>/logs/<name>.log`.
   */
  async start(
    name: string,
    command: string,
    args: readonly string[],
    env?: NodeJS.ProcessEnv,
  ): Promise<SupervisedProcess> {
    if (this.stopping) throw new Error(`cannot start ${name}: the process group is stopping`);
    await this.ensureWatchdog();
    const logDir = join(this.options.dataDir, 'logs');
    await mkdir(logDir, { recursive: true });
    const logPath = join(logDir, `${name}.log`);
    const log = await open(logPath, 'a');
    const child = spawn(command, args, {
      detached: true,
      stdio: ['ignore', log.fd, log.fd],
      env: env ?? process.env,
    });
    // Listen before any await: 'spawn', 'error' and even 'exit' may fire on the next tick.
    const spawned = new Promise<Error | undefined>((resolve) => {
      child.once('spawn', () => resolve(undefined));
      child.once('error', resolve);
    });
    let exitState: ProcessExit | undefined;
    const exited = new Promise<ProcessExit>((resolve) =>
      child.once('exit', (code, signal) => {
        exitState = { code, signal };
        if (child.pid !== undefined) this.watchdog?.stdin?.write(`-${child.pid}\n`);
        resolve(exitState);
      }),
    );
    // The child holds its own copy of the descriptor.
    await log.close();
    const spawnError = await spawned;
    if (spawnError || child.pid === undefined) {
      throw new EnvironmentError(`could not start ${name} (${command})`, { cause: spawnError });
    }
    const pid = child.pid;
    this.watchdog?.stdin?.write(`+${pid}\n`);
    child.unref();
    const proc: SupervisedProcess = {
      name,
      pid,
      command,
      logPath,
      exited,
      running: () => exitState === undefined,
      lastLines: async (count) => {
        const text = await readFile(logPath, 'utf8').catch(() => '');
        return text.trimEnd().split('\n').slice(-count).join('\n');
      },
    };
    this.children.push({ proc, child });
    await this.writeRecord();
    return proc;
  }

  /** Stops every process, newest first, then removes the data folder and the run record. Idempotent. */
  stopAll(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    const graceMs = (this.options.graceSeconds ?? 5) * 1000;
    // While stopping, the children keep this process alive (they are unref'd while they run), so
    // Node does not exit halfway through a shutdown that has nothing else to wait on.
    for (const { child } of this.children) child.ref();
    for (const { proc } of [...this.children].reverse()) {
      if (!proc.running()) continue;
      killGroup(proc.pid, 'SIGTERM');
      const timer = setTimeout(() => killGroup(proc.pid, 'SIGKILL'), graceMs);
      await proc.exited;
      clearTimeout(timer);
      // The process is gone; anything it forked in its group goes too.
      killGroup(proc.pid, 'SIGKILL');
    }
    this.watchdog?.stdin?.end();
    await rm(this.options.dataDir, { recursive: true, force: true });
    await unlink(this.recordPath).catch(() => {});
  }

  private async ensureWatchdog(): Promise<void> {
    if (this.watchdog) return;
    const watchdog = spawn(process.execPath, ['-e', WATCHDOG_SOURCE], {
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    await new Promise<void>((resolve, reject) => {
      watchdog.once('spawn', resolve);
      watchdog.once('error', reject);
    });
    watchdog.unref();
    // The pipe must not keep the owner alive; it only has to close when the owner goes.
    (watchdog.stdin as unknown as { unref(): void }).unref();
    watchdog.stdin?.on('error', () => {});
    this.watchdog = watchdog;
  }

  private async writeRecord(): Promise<void> {
    const record: RunRecord = {
      ownerPid: process.pid,
      startedAt: new Date().toISOString(),
      dataDir: this.options.dataDir,
      processes: this.children.map(({ proc }) => ({ name: proc.name, pid: proc.pid, command: proc.command })),
    };
    await mkdir(join(this.options.stateDir, 'runs'), { recursive: true });
    await writeFile(this.recordPath, JSON.stringify(record, null, 2));
  }
}
