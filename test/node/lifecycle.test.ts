/**
 * No orphans: a real node leaves nothing on the host — no process, mount, iptables rule, link,
 * cgroup or folder — whether it is stopped or its owner is killed (the next start cleans up).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { cleanNodeLeftovers } from '../../src/dev/node.js';
import { cleanLeftovers } from '../../src/dev/processes.js';
import { eventually, hostTraces, pushDemoApp, startRealCluster, type HostTraces } from './support.js';

const NOTHING: HostTraces = { processes: [], mounts: [], iptables: [], links: [], cgroups: [], folders: [] };
const root = fileURLToPath(new URL('../..', import.meta.url));

describe('a real node leaves nothing behind', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('when stopped: processes, mounts, iptables rules, bridge and veths, cgroups and folders are gone', async () => {
    expect(await hostTraces()).toEqual(NOTHING);
    const cluster = await startRealCluster();
    cleanups.push(() => cluster.controlPlane.stop());
    const app = await pushDemoApp(cluster.registry);
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web', namespace: 'default' },
      spec: {
        containers: [{ name: 'web', image: app, volumeMounts: [{ name: 'scratch', mountPath: '/srv' }] }],
        volumes: [{ name: 'scratch', emptyDir: { medium: 'Memory' } }],
      },
    };
    await cluster.kubectlOk(['apply', '-f', '-'], JSON.stringify(pod));
    await cluster.kubectlOk(['wait', '--for=condition=Ready', 'pod/web', '--timeout=120s']);
    expectEverywhere(await hostTraces());

    await cluster.controlPlane.stop();
    expect(await hostTraces()).toEqual(NOTHING);
  });

  it("when its owner is killed: the next start's leftover cleaning removes everything", async () => {
    expect(await hostTraces()).toEqual(NOTHING);
    const stateDir = await mkdtemp(join(tmpdir(), 'capstan-test-state-'));
    cleanups.push(() => rm(stateDir, { recursive: true, force: true }));
    const registry = inject('nodeRegistry');
    const image = await pushDemoApp(registry);
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/node/owner-child.ts'], {
      cwd: root,
      env: {
        ...process.env,
        CAPSTAN_TEST_STATE_DIR: stateDir,
        CAPSTAN_TEST_REGISTRY: registry,
        CAPSTAN_TEST_IMAGE: image,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    cleanups.push(async () => {
      child.kill('SIGKILL');
      await cleanNodeLeftovers(stateDir);
      await cleanLeftovers(stateDir);
    });
    await firstLine(child);

    child.kill('SIGKILL');
    // The owner's watchdog stops kubelet, containerd and kube-proxy; the shims and containers stay.
    const orphaned = await eventually('the watchdog to stop the node processes', async () => {
      const traces = await hostTraces();
      return traces.processes.every((p) => p.includes('containerd-shim')) ? traces : undefined;
    });
    expectEverywhere(orphaned);

    const cleaned = await cleanNodeLeftovers(stateDir);
    await cleanLeftovers(stateDir);
    expect(cleaned).toHaveLength(1);
    expect(cleaned[0]).not.toContain('could not finish');
    expect(await hostTraces()).toEqual(NOTHING);
  });
});

/** Every kind of trace is there: the census would notice if one stayed. */
function expectEverywhere(traces: HostTraces): void {
  for (const [kind, found] of Object.entries(traces)) expect(found.length, kind).toBeGreaterThan(0);
}

function firstLine(child: ChildProcess): Promise<string> {
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('{')) resolve(line);
    });
    child.once('exit', (code, signal) =>
      reject(
        new Error(`the owner exited (${signal ?? code}) before its node was ready:\n${stderr.slice(-4000)}`),
      ),
    );
  });
}
