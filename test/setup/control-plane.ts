/**
 * Vitest global setup for the integration project: one real control plane (etcd, kube-apiserver,
 * controller-manager, scheduler, kwok with a fake node) for the whole run, shared by every test
 * file; tests isolate themselves with a namespace each (see test/support/cluster.ts). Also one Gitea
 * forge, started only if a test asks for it (test/setup/forge.ts, test/support/forge.ts), and two
 * OCI registries likewise (test/setup/registry.ts, test/support/registry.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startControlPlane } from '../../src/dev/controlplane.js';
import { provideForge } from './forge.js';
import { provideRegistries } from './registry.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The admin's kubeconfig (YAML). */
    kubeconfig: string;
    kubeconfigPath: string;
    /** A kubeconfig for a user RBAC grants nothing. */
    unprivilegedKubeconfig: string;
    unprivilegedUser: string;
    server: string;
    /** Paths of the binaries built by ensureTools(): kubectl, helm, kustomize, … */
    tools: Record<string, string>;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  // Every temporary folder the tests (and the processes they start) make lands in one folder of
  // this run, removed at the end: workers inherit TMPDIR, os.tmpdir() follows it.
  const runTmp = await mkdtemp(join(tmpdir(), 'capstan-test-run-'));
  const controlPlane = await startControlPlane({
    workloads: true,
    progress: (line) => console.log(`[control plane] ${line}`),
  });
  console.log(
    `[control plane] ready in ${((Date.now() - started) / 1000).toFixed(1)} s at ${controlPlane.server}`,
  );
  project.provide('kubeconfig', controlPlane.kubeconfig);
  project.provide('kubeconfigPath', controlPlane.kubeconfigPath);
  project.provide('unprivilegedKubeconfig', controlPlane.users.unprivileged.kubeconfig);
  project.provide('unprivilegedUser', controlPlane.users.unprivileged.name);
  project.provide('server', controlPlane.server);
  project.provide('tools', { ...controlPlane.tools });
  process.env.TMPDIR = runTmp;
  // ensureTools() above built Gitea with the rest; the forge starts when a test first asks.
  const stopForge = await provideForge(project, { tools: controlPlane.tools });
  // Likewise the OCI registries (no auth, basic auth), started when a test first asks.
  const stopRegistries = await provideRegistries(project, { tools: controlPlane.tools });
  return async () => {
    await stopRegistries();
    await stopForge();
    await controlPlane.stop();
    await rm(runTmp, { recursive: true, force: true });
  };
}
