/**
 * Shared bits of the kube integration tests: clients for the shared control plane, and waiting on
 * a watch until a condition holds.
 */
import { afterAll, inject } from 'vitest';
import type { KubeObject } from '../../src/core/objects.js';
import { createKubeClient, type HttpKubeClient, type KubeClient } from '../../src/kube/index.js';

/** An admin client for the file; closed after its tests. */
export async function adminClient(): Promise<HttpKubeClient> {
  const client = await createKubeClient({ kubeconfig: inject('kubeconfig') });
  afterAll(() => client.close());
  return client;
}

export async function unprivilegedClient(): Promise<HttpKubeClient> {
  const client = await createKubeClient({ kubeconfig: inject('unprivilegedKubeconfig') });
  afterAll(() => client.close());
  return client;
}

/**
 * Watches one object (by name) until `done` holds for it, or fails after `timeoutMs` with the last
 * state seen.
 */
export async function watchUntil<T extends KubeObject>(
  client: KubeClient,
  type: { group: string; version: string; kind: string; namespace?: string },
  name: string,
  done: (object: T) => boolean,
  timeoutMs = 60_000,
): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error('timed out')), timeoutMs);
  let last: T | undefined;
  try {
    while (!controller.signal.aborted) {
      // A fresh list each round gives a resourceVersion to watch from and the current state.
      const { items, resourceVersion } = await client.list<T>(type.group, type.version, type.kind, {
        ...(type.namespace ? { namespace: type.namespace } : {}),
        fieldSelector: `metadata.name=${name}`,
      });
      last = items[0];
      if (last && done(last)) return last;
      for await (const event of client.watch<T>(type.group, type.version, type.kind, {
        ...(type.namespace ? { namespace: type.namespace } : {}),
        fieldSelector: `metadata.name=${name}`,
        resourceVersion,
        signal: controller.signal,
      })) {
        if (event.type === 'BOOKMARK') continue;
        last = event.object;
        if (event.type !== 'DELETED' && done(last)) return last;
      }
    }
    throw new Error(
      `timed out waiting for ${type.kind} ${name}; last seen: ${JSON.stringify(last?.status ?? last)}`,
    );
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}
