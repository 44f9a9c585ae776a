/**
 * `capstan controller` as a process, the way deploy/shared/controller.yaml runs it: installed from
 * deploy/, acting as its own ServiceAccount (a token in a kubeconfig), not as the test's admin.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inject, onTestFailed } from 'vitest';
import { freePort } from '../../src/dev/controlplane.js';
import { kubectlOk } from './cluster.js';
import { makeTempDir } from './git-servers.js';

const root = new URL('../../', import.meta.url).pathname;

export interface ControllerProcess {
  readonly child: ChildProcess;
  readonly port: number;
  /** Everything it printed so far. */
  output(): string;
}

/** deploy/crds.yaml and deploy/shared/controller.yaml, applied as a user would. */
export async function installFromDeploy(): Promise<void> {
  await kubectlOk([
    'apply',
    '--server-side',
    '--force-conflicts',
    '-f',
    join(root, 'deploy/crds.yaml'),
    '-f',
    join(root, 'deploy/shared/controller.yaml'),
  ]);
}

/** A kubeconfig for a ServiceAccount: the admin's, with the ServiceAccount's token instead. */
export async function serviceAccountKubeconfig(namespace: string, name: string): Promise<string> {
  const token = (await kubectlOk(['create', 'token', name, '-n', namespace, '--duration=1h'])).trim();
  const path = join(await makeTempDir('sa-kubeconfig'), 'config');
  await writeFile(path, inject('kubeconfig').replace(/token: .*/, `token: ${token}`));
  return path;
}

/**
 * The controller as deploy/shared/controller.yaml's ServiceAccount, watching `namespace`, its Lease
 * in capstan-system (where that ServiceAccount may write one). Its output is printed if the test fails.
 */
export async function spawnDeployedController(
  kubeconfig: string,
  namespace: string,
  extra: readonly string[] = [],
): Promise<ControllerProcess> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'src/cli/main.ts',
      'controller',
      '--kubeconfig',
      kubeconfig,
      '--namespace',
      namespace,
      '--lease-namespace',
      'capstan-system',
      '--lease-duration',
      '3s',
      '--http-address',
      `127.0.0.1:${port}`,
      '--state-dir',
      await makeTempDir('state'),
      ...extra,
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  onTestFailed(() => console.log(`controller output:\n${output}`));
  return { child, port, output: () => output };
}
