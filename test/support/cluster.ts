/**
 * Helpers for integration tests against the shared control plane of test/setup/control-plane.ts.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { inject, onTestFinished } from 'vitest';

export interface KubectlResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number;
}

/** Runs the built kubectl against the shared control plane (admin unless another kubeconfig path is given). */
export function kubectl(
  args: readonly string[],
  options: { input?: string; kubeconfigPath?: string } = {},
): Promise<KubectlResult> {
  const { kubectl: binary } = inject('tools');
  return new Promise((resolve, reject) => {
    const child = execFile(
      binary!,
      ['--kubeconfig', options.kubeconfigPath ?? inject('kubeconfigPath'), ...args],
      { maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') return reject(error);
        resolve({ stdout, stderr, code: typeof error?.code === 'number' ? error.code : 0 });
      },
    );
    child.stdin?.end(options.input ?? '');
  });
}

/** Like kubectl(), but fails the test with kubectl's message when it exits non-zero. */
export async function kubectlOk(
  args: readonly string[],
  options: { input?: string; kubeconfigPath?: string } = {},
): Promise<string> {
  const result = await kubectl(args, options);
  if (result.code !== 0)
    throw new Error(`kubectl ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
  return result.stdout;
}

/**
 * A namespace of the test's own, deleted (without waiting) when the test finishes, so tests sharing
 * the control plane never see each other's objects.
 */
export async function freshNamespace(prefix = 'test'): Promise<string> {
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  await kubectlOk(['create', 'namespace', name]);
  onTestFinished(async () => {
    await kubectl(['delete', 'namespace', name, '--wait=false']);
  });
  return name;
}
