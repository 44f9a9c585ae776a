/**
 * Helpers for the real-node tests: a control plane with a real node (one per test file, see
 * test/setup/real-node.ts), images pushed to the run's registry, kubectl, and a census of what a
 * real node leaves on the host (processes, mounts, iptables rules, links, cgroups, folders).
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { buildScratchImage, pushLocalImage } from '../../src/dev/buildah.js';
import { startControlPlane, type ControlPlane } from '../../src/dev/controlplane.js';
import { buildDemoAppImage } from '../../src/dev/image.js';

export interface RealCluster {
  readonly controlPlane: ControlPlane;
  readonly registry: string;
  kubectl(args: readonly string[], input?: string): Promise<KubectlResult>;
  kubectlOk(args: readonly string[], input?: string): Promise<string>;
}

export interface KubectlResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number;
}

export async function startRealCluster(options: { stateDir?: string } = {}): Promise<RealCluster> {
  const registry = inject('nodeRegistry');
  const controlPlane = await startControlPlane({
    workloads: true,
    realNode: { registry },
    tools: inject('tools') as unknown as ControlPlane['tools'],
    handleSignals: false,
    ...(options.stateDir ? { stateDir: options.stateDir } : {}),
  });
  const kubectl = (args: readonly string[], input?: string): Promise<KubectlResult> =>
    runKubectl(controlPlane.tools.kubectl, controlPlane.kubeconfigPath, args, input);
  return {
    controlPlane,
    registry,
    kubectl,
    kubectlOk: async (args, input) => {
      const result = await kubectl(args, input);
      if (result.code !== 0)
        throw new Error(`kubectl ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
      return result.stdout;
    },
  };
}

export function runKubectl(
  binary: string,
  kubeconfigPath: string,
  args: readonly string[],
  input?: string,
): Promise<KubectlResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      binary,
      ['--kubeconfig', kubeconfigPath, ...args],
      { maxBuffer: 16 * 1024 * 1024, timeout: 120_000 },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') return reject(error);
        resolve({ stdout, stderr, code: typeof error?.code === 'number' ? error.code : 0 });
      },
    );
    child.stdin?.end(input ?? '');
  });
}

/** The busybox demo app (`sh`, `httpd` on 8080, `wget`), pushed to the registry. */
export async function pushDemoApp(registry: string): Promise<string> {
  const { reference } = await buildDemoAppImage();
  const destination = `${registry}/capstan-test/demo-app:1`;
  await pushLocalImage(reference, destination);
  return destination;
}

/**
 * The static kubectl in a scratch image: a real client-go in-cluster client (service account token,
 * `ca.crt`, `KUBERNETES_SERVICE_HOST`/`PORT`). busybox's wget cannot do the TLS the API server asks for.
 */
export async function pushKubectlImage(registry: string, kubectlBinary: string): Promise<string> {
  const stage = await mkdtemp(join(tmpdir(), 'capstan-kubectl-image-'));
  try {
    await mkdir(join(stage, 'bin'));
    await copyFile(kubectlBinary, join(stage, 'bin', 'kubectl'));
    await buildScratchImage(
      stage,
      { entrypoint: ['/bin/kubectl'], user: '65532:65532' },
      'localhost/capstan-test-kubectl:1',
    );
    const destination = `${registry}/capstan-test/kubectl:1`;
    await pushLocalImage('localhost/capstan-test-kubectl:1', destination);
    return destination;
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

/** The one polling helper of the tests (test/support/controller.ts). */
export { eventually } from '../support/controller.js';

/** Everything a real node of any run could leave on the host. Empty lists: nothing left. */
export interface HostTraces {
  readonly processes: string[];
  readonly mounts: string[];
  readonly iptables: string[];
  readonly links: string[];
  readonly cgroups: string[];
  readonly folders: string[];
}

export async function hostTraces(): Promise<HostTraces> {
  return {
    processes: await nodeProcesses(),
    mounts: (await readFile('/proc/self/mountinfo', 'utf8'))
      .split('\n')
      .filter((line) => line.includes('/capstan-node-')),
    iptables: (await run('iptables-save', []))
      .split('\n')
      .filter((line) => /KUBE-|name: \\"capstan-|10\.244\./.test(line)),
    links: (await run('ip', ['-o', 'link', 'show']))
      .split('\n')
      .filter((line) => / cap-[0-9a-f]+[:@]|master cap-/.test(line)),
    cgroups: await nodeCgroups(),
    folders: (await readdir(tmpdir()).catch(() => [] as string[])).filter((n) =>
      n.startsWith('capstan-node-'),
    ),
  };
}

/** Processes whose command line names a node folder: containerd, kubelet, kube-proxy, shims. */
async function nodeProcesses(): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmdline = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).replaceAll('\0', ' ');
    if (cmdline.includes('/capstan-node-')) found.push(`${entry}: ${cmdline.slice(0, 200)}`);
  }
  return found;
}

async function nodeCgroups(): Promise<string[]> {
  const found: string[] = [];
  for (const hierarchy of await readdir('/sys/fs/cgroup').catch(() => [] as string[])) {
    for (const name of await readdir(join('/sys/fs/cgroup', hierarchy)).catch(() => [] as string[]))
      if (name.startsWith('capstan-node-')) found.push(join('/sys/fs/cgroup', hierarchy, name));
  }
  return found;
}

function run(command: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(command, args, { timeout: 30_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout) =>
      error ? reject(error) : resolve(stdout),
    ),
  );
}
