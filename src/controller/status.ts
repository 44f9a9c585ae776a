/**
 * Writing the status of Capstan's own objects: only when it differs from what is stored (an idle
 * cluster must see no writes), as a merge patch of the status subresource with removed fields set
 * to null, so a cleared `lastError` really disappears.
 *
 * The patch carries the resourceVersion the status was computed from: a status built from a copy
 * that someone else's write has overtaken (a live health update racing a reconcile, a revert
 * recorded after a slow push) is refused by the API server instead of putting old fields back.
 * The caller hears of it as a StatusConflictError and computes again from a fresh copy.
 */
import { isDeepStrictEqual } from 'node:util';
import { GROUP } from '../api/v1alpha1.js';
import { CapstanError } from '../core/errors.js';
import { isConflict, isNotFound, type KubeClient } from '../kube/index.js';

interface HasStatus<S> {
  kind: string;
  metadata: { name: string; namespace: string; resourceVersion?: string };
  status?: S;
}

/** The object changed since the status was computed from it: read it again and recompute. */
export class StatusConflictError extends CapstanError {
  constructor(kind: string, name: string, cause: unknown) {
    super('transient', `${kind} ${name} changed while its status was being computed`, { cause });
    this.name = 'StatusConflictError';
  }
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
    const version = object.metadata.resourceVersion;
    const updated = (await kube.patch(
      { group: GROUP, kind: object.kind, namespace: object.metadata.namespace, name: object.metadata.name },
      { ...(version ? { metadata: { resourceVersion: version } } : {}), status: patch },
      'merge',
      { subresource: 'status' },
    )) as unknown as HasStatus<S>;
    // Later steps of the same reconcile compare (and write) against what is now stored.
    object.status = (updated.status ?? status) as S;
    if (updated.metadata?.resourceVersion) object.metadata.resourceVersion = updated.metadata.resourceVersion;
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    if (isConflict(error)) throw new StatusConflictError(object.kind, object.metadata.name, error);
    throw error;
  }
}
