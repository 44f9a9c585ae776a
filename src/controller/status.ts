/**
 * Writing the status of Capstan's own objects: only when it differs from what is stored (an idle
 * cluster must see no writes), as a merge patch of the status subresource with removed fields set
 * to null, so a cleared `lastError` really disappears.
 */
import { isDeepStrictEqual } from 'node:util';
import { GROUP } from '../api/v1alpha1.js';
import { isConflict, isNotFound, type KubeClient } from '../kube/index.js';

interface HasStatus<S> {
  kind: string;
  metadata: { name: string; namespace: string };
  status?: S;
}

/** Returns whether it wrote. A conflict or a vanished object is not an error: the next event looks again. */
export async function patchStatus<S extends object>(
  kube: KubeClient,
  object: HasStatus<S>,
  status: S,
): Promise<boolean> {
  const next = JSON.parse(JSON.stringify(status)) as Record<string, unknown>;
  const stored = JSON.parse(JSON.stringify(object.status ?? {})) as Record<string, unknown>;
  if (isDeepStrictEqual(next, stored)) return false;
  const patch: Record<string, unknown> = { ...next };
  for (const key of Object.keys(stored)) if (!(key in next)) patch[key] = null;
  try {
    const updated = await kube.patch(
      { group: GROUP, kind: object.kind, namespace: object.metadata.namespace, name: object.metadata.name },
      { status: patch },
      'merge',
      { subresource: 'status' },
    );
    // Later steps of the same reconcile compare against what is now stored.
    object.status = ((updated as unknown as HasStatus<S>).status ?? status) as S;
    return true;
  } catch (error) {
    if (isNotFound(error) || isConflict(error)) return false;
    throw error;
  }
}
