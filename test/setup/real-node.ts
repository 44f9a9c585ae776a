/**
 * Vitest global setup for the `node` project (test/node): builds the real node's tools (kubelet,
 * kube-proxy, pause: once per go.sum) and starts one OCI registry the test files' nodes pull from.
 *
 * Each test file starts its own control plane with a real node (test/node/support.ts), one file at a
 * time: vitest runs every project's global setup before any test of any project, so a node started
 * here would idle through the whole integration run; and only one real node may run on a host at a
 * time (kube-proxy's iptables rules are host-wide), which the lifecycle tests need for themselves.
 */
import type { TestProject } from 'vitest/node';
import { startRegistry } from '../../src/dev/registry.js';
import { ensureTools } from '../../src/dev/tools.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** `127.0.0.1:PORT` of the registry (no auth, plain http) the real node pulls from. */
    nodeRegistry: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const progress = (line: string): void => console.log(`[real node] ${line}`);
  const tools = await ensureTools({ progress });
  const registry = await startRegistry({ auth: 'none', tools, progress });
  project.provide('tools', { ...tools });
  project.provide('nodeRegistry', registry.host);
  return () => registry.stop();
}
