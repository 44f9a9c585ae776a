/**
 * `capstan install` as a function: Capstan's objects (manifests.ts) applied in order with the
 * installer's credentials (apply.ts), then — unless told not to wait — the controller's rollout
 * awaited. Running it again changes nothing, or repairs what drifted.
 */
import type { KubeObject } from '../core/objects.js';
import type { KubeClient } from '../kube/index.js';
import { applyInOrder, waitForRollout, type AppliedObject, type InstallAction } from './apply.js';
import { CONTROLLER_NAME, DEFAULT_NAMESPACE, installManifests, type InstallOptions } from './manifests.js';

export interface InstallRun {
  /** How long to wait for the controller's rollout; 0: do not wait. */
  readonly waitMs: number;
  readonly progress?: (line: string) => void;
  readonly onApplied?: (applied: AppliedObject) => void;
}

export interface InstallReport {
  /** What was applied, in order (components.yaml of a bootstrap holds the same). */
  readonly objects: readonly KubeObject[];
  readonly results: readonly AppliedObject[];
  readonly counts: Readonly<Record<InstallAction, number>>;
}

export async function install(
  kube: KubeClient,
  options: InstallOptions,
  run: InstallRun,
): Promise<InstallReport> {
  const objects = await installManifests(options);
  const results = await applyInOrder(kube, objects, run.onApplied);
  if (run.waitMs > 0)
    await waitForRollout(
      kube,
      { namespace: options.namespace ?? DEFAULT_NAMESPACE, name: CONTROLLER_NAME },
      run.waitMs,
      run.progress,
    );
  return { objects, results, counts: countActions(results) };
}

export function countActions(results: readonly AppliedObject[]): Record<InstallAction, number> {
  const counts: Record<InstallAction, number> = { created: 0, configured: 0, unchanged: 0 };
  for (const result of results) counts[result.action]++;
  return counts;
}

/** `3 created, 1 configured, 8 unchanged`. */
export function describeCounts(counts: Readonly<Record<InstallAction, number>>): string {
  return `${counts.created} created, ${counts.configured} configured, ${counts.unchanged} unchanged`;
}
