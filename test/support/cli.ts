/**
 * The CLI run as a user runs it: a process, with KUBECONFIG pointing at the shared control plane.
 */
import { execFile } from 'node:child_process';
import { inject } from 'vitest';

const root = new URL('../../', import.meta.url).pathname;

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI from source (tsx), or the built bundle when `entry` names it. */
export function capstan(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  entry?: string,
): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      entry ? [entry, ...args] : ['--import', 'tsx', 'src/cli/main.ts', ...args],
      {
        cwd: root,
        env: { ...process.env, KUBECONFIG: inject('kubeconfigPath'), ...env },
        maxBuffer: 32 * 1024 * 1024,
      },
      (error, stdout, stderr) =>
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}
