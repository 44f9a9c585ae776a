/**
 * podman as ../shared/NODE.md runs it on this machine: runc (crun cannot do its hybrid cgroups),
 * cgroupfs, and ulimits the sandbox allows — set through CONTAINERS_CONF in a file of the test run,
 * never by editing /etc. It shares buildah's storage, so it runs what src/dev/buildah.ts built.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { makeTempDir } from '../support/git-servers.js';

const run = promisify(execFile);

const CONTAINERS_CONF = `[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
`;

let env: Promise<NodeJS.ProcessEnv> | undefined;

function podmanEnv(): Promise<NodeJS.ProcessEnv> {
  env ??= makeTempDir('podman').then(async (dir) => {
    const path = join(dir, 'containers.conf');
    await writeFile(path, CONTAINERS_CONF);
    return { ...process.env, CONTAINERS_CONF: path };
  });
  return env;
}

/** Runs podman with `args`; rejects (with `code`, `stdout`, `stderr`) when it fails or takes too long. */
export async function podman(
  args: readonly string[],
  timeoutMs = 60_000,
): Promise<{ stdout: string; stderr: string }> {
  return run('podman', args, { env: await podmanEnv(), timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 });
}
