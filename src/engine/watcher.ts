/**
 * The health stage's `ObjectWatcher` on a real cluster: for one object, its current state (a
 * field-selected LIST) and then every change (a WATCH from the list's resourceVersion), relisting
 * whenever the watch ends or expires. Event-driven throughout: nothing polls.
 */
import { isCapstanError } from '../core/errors.js';
import { splitApiVersion, type KubeObject, type ObjectRef } from '../core/objects.js';
import { backoffDelay, sleep } from '../core/time.js';
import type { ObjectWatcher } from '../health/index.js';
import { isGone, UnknownKindError, type KubeClient } from '../kube/index.js';

/** After a dropped connection: from 250 ms, doubling to 5 s. */
const RELIST_BACKOFF = { initialMs: 250, maxMs: 5_000 } as const;

export function kubeObjectWatcher(
  kube: KubeClient,
  versions: ReadonlyMap<string, string> = new Map(),
): ObjectWatcher {
  return {
    async *watch(ref: ObjectRef, signal: AbortSignal): AsyncIterable<KubeObject | undefined> {
      const version =
        versions.get(`${ref.group}/${ref.kind}`) ?? (await kube.mapper.mapping(ref.group, ref.kind)).version;
      const scope = {
        ...(ref.namespace ? { namespace: ref.namespace } : {}),
        fieldSelector: `metadata.name=${ref.name}`,
        signal,
      };
      let failures = 0;
      while (!signal.aborted) {
        let list;
        try {
          list = await kube.list(ref.group, version, ref.kind, scope);
        } catch (error) {
          // A kind that is not served (yet) means the object is not there (yet).
          if (error instanceof UnknownKindError) {
            yield undefined;
            return;
          }
          throw error;
        }
        yield list.items[0];
        try {
          for await (const event of kube.watch(ref.group, version, ref.kind, {
            ...scope,
            resourceVersion: list.resourceVersion,
          })) {
            if (event.type === 'BOOKMARK') continue;
            yield event.type === 'DELETED' ? undefined : event.object;
          }
          failures = 0;
        } catch (error) {
          if (signal.aborted) return;
          // 410 Gone: our resourceVersion is too old; the relist below starts afresh. A dropped
          // connection: relist after a backoff. Anything else is the caller's to see.
          if (isGone(error)) continue;
          if (!(isCapstanError(error) && error.kind === 'transient')) throw error;
          await sleep(backoffDelay(failures++, RELIST_BACKOFF), { signal });
        }
      }
    },
  };
}

/** `group/Kind` → version, from the objects a sync applied: watch them as applied. */
export function versionsOf(objects: readonly KubeObject[]): Map<string, string> {
  return new Map(
    objects.map((o) => {
      const { group, version } = splitApiVersion(o.apiVersion);
      return [`${group}/${o.kind}`, version];
    }),
  );
}
