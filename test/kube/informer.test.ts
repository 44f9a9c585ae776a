import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../src/core/objects.js';
import { startInformer } from '../../src/kube/index.js';
import { freshNamespace } from '../support/cluster.js';
import { adminClient } from './helpers.js';

const client = await adminClient();

describe('informer against a real API server', () => {
  it('sees ConfigMaps added, updated and deleted', async () => {
    const namespace = await freshNamespace('kube-informer');
    await client.apply({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'before', namespace, labels: { watched: 'yes' } },
      data: { v: '0' },
    });

    const events: string[] = [];
    const errors: unknown[] = [];
    const waiters: { predicate: () => boolean; resolve: () => void }[] = [];
    const record = (line: string): void => {
      events.push(line);
      for (const w of waiters.splice(0))
        if (w.predicate()) w.resolve();
        else waiters.push(w);
    };
    const until = (line: string): Promise<void> =>
      events.includes(line)
        ? Promise.resolve()
        : new Promise((resolve) => waiters.push({ predicate: () => events.includes(line), resolve }));

    const controller = new AbortController();
    const informer = startInformer<KubeObject>(client, {
      group: '',
      version: 'v1',
      kind: 'ConfigMap',
      namespace,
      labelSelector: 'watched=yes',
      signal: controller.signal,
      onAdd: (o) => record(`add ${o.metadata.name} ${String((o.data as Record<string, string>).v)}`),
      onUpdate: (_old, o) =>
        record(`update ${o.metadata.name} ${String((o.data as Record<string, string>).v)}`),
      onDelete: (o) => record(`delete ${o.metadata.name}`),
      onError: (e) => errors.push(e),
    });
    try {
      await informer.synced;
      expect(events).toEqual(['add before 0']);

      await client.apply({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'later', namespace, labels: { watched: 'yes' } },
        data: { v: '1' },
      });
      await until('add later 1');
      await client.apply({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'later', namespace, labels: { watched: 'yes' } },
        data: { v: '2' },
      });
      await until('update later 2');
      await client.delete({ group: '', kind: 'ConfigMap', namespace, name: 'later' });
      await until('delete later');

      expect(informer.get('before', namespace)?.data).toEqual({ v: '0' });
      expect(informer.get('later', namespace)).toBeUndefined();
      expect(informer.list().map((o) => o.metadata.name)).toEqual(['before']);
      expect(errors).toEqual([]);
    } finally {
      controller.abort();
      await informer.stopped;
    }
  });
});
