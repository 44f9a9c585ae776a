/**
 * `capstan controller` as a process of its own for the benches: from source with tsx (as
 * `npm run capstan` runs it), its output in a log file, ready when `/readyz` answers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep } from '../src/core/time.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const READY_WITHIN_MS = 120_000;

export interface ControllerProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly port: number;
  readonly logPath: string;
  /** SIGTERM, then SIGKILL after 15 s; resolves once it exited. */
  stop(): Promise<void>;
}

/** Starts `capstan controller ARGS` (with `--http-address 127.0.0.1:PORT` added) and waits until ready. */
export async function startControllerProcess(options: {
  readonly port: number;
  readonly logPath: string;
  readonly args: readonly string[];
}): Promise<ControllerProcess> {
  const { port, logPath } = options;
  const fd = openSync(logPath, 'a');
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'src/cli/main.ts',
      'controller',
      '--http-address',
      `127.0.0.1:${port}`,
      ...options.args,
    ],
    { cwd: ROOT, env: { ...process.env }, stdio: ['ignore', fd, fd] },
  );
  closeSync(fd);
  const exited = new Promise<void>((r) =>
    child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', () => r()),
  );
  const deadline = Date.now() + READY_WITHIN_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`the controller exited (${child.exitCode ?? child.signalCode}); see ${logPath}`);
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) throw new Error(`the controller was not ready after 120 s; see ${logPath}`);
    await sleep(200);
  }
  return {
    child,
    pid: child.pid!,
    port,
    logPath,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
