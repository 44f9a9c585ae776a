/**
 * Red team of `capstan uninstall` in a cluster where a second Capstan runs (another namespace, its
 * own self-managing Application, watching its team's namespace): uninstalling the first must not
 * delete the CRDs they share (the second controller would then prune every object its
 * Applications applied), delete the second's Applications, or strip its finalizers.
 */
import { describe, expect, it } from 'vitest';
import { FINALIZER } from '../api/v1alpha1.js';
import { UserError } from '../core/errors.js';
import type { KubeObject, ObjectRef } from '../core/objects.js';
import type { KubeClient } from '../kube/index.js';
import { uninstall } from './uninstall.js';

/** Enough of a cluster for uninstall: get, list (by namespace and labels), merge patch, delete. */
function memoryCluster(initial: KubeObject[]) {
  const objects = initial.map((o) => structuredClone(o));
  const deleted: string[] = [];
  const patched: string[] = [];
  const key = (r: { kind: string; namespace?: string | undefined; name?: string | undefined }) =>
    `${r.kind}:${r.namespace ?? ''}/${r.name ?? ''}`;
  const find = (ref: ObjectRef) => objects.find((o) => key({ kind: o.kind, ...o.metadata }) === key(ref));
  const labelsMatch = (object: KubeObject, selector = '') =>
    selector
      .split(',')
      .filter(Boolean)
      .every((term) => {
        const [k, v] = term.split('=');
        return object.metadata.labels?.[k!] === v;
      });
  const kube = {
    get: async (ref: ObjectRef) => structuredClone(find(ref)),
    list: async (
      _group: string,
      _version: string,
      kind: string,
      options: { namespace?: string; labelSelector?: string } = {},
    ) => ({
      items: objects
        .filter(
          (o) =>
            o.kind === kind &&
            (options.namespace === undefined || o.metadata.namespace === options.namespace) &&
            labelsMatch(o, options.labelSelector),
        )
        .map((o) => structuredClone(o)),
      resourceVersion: '1',
    }),
    patch: async (ref: ObjectRef, patch: { metadata?: { finalizers?: string[] } }) => {
      const object = find(ref);
      if (!object) throw Object.assign(new Error('not found'), { status: 404 });
      patched.push(key(ref));
      if (patch.metadata?.finalizers) object.metadata.finalizers = patch.metadata.finalizers;
      return object;
    },
    delete: async (ref: ObjectRef) => {
      const index = objects.findIndex((o) => key({ kind: o.kind, ...o.metadata }) === key(ref));
      if (index < 0) return false;
      objects.splice(index, 1);
      deleted.push(key(ref));
      return true;
    },
  } as unknown as KubeClient;
  return { kube, objects, deleted, patched, find };
}

const controller = (namespace: string, args: string[] = []): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: {
    name: 'capstan-controller',
    namespace,
    labels: { 'app.kubernetes.io/name': 'capstan-controller' },
  },
  spec: { template: { spec: { containers: [{ name: 'controller', args: ['controller', ...args] }] } } },
  status: { availableReplicas: 1 },
});

const application = (namespace: string, name: string, selfManaged = false): KubeObject => ({
  apiVersion: 'capstan.dev/v1alpha1',
  kind: 'Application',
  metadata: {
    name,
    namespace,
    uid: `${namespace}/${name}`,
    resourceVersion: '1',
    finalizers: [FINALIZER],
    ...(selfManaged ? { labels: { 'app.kubernetes.io/part-of': 'capstan' } } : {}),
  },
});

const crd: KubeObject = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'applications.capstan.dev' },
};

/** Capstan A in capstan-system watching every namespace; Capstan B in team-b-system watching team-b. */
function twoCapstans() {
  return memoryCluster([
    controller('capstan-system'),
    controller('team-b-system', ['--namespace=team-b']),
    application('capstan-system', 'capstan', true),
    application('team-a', 'web'),
    application('team-b-system', 'capstan', true),
    application('team-b', 'api'),
    crd,
  ]);
}

describe('uninstall leaves another Capstan in the cluster alone', () => {
  it('refuses --crds while another Capstan runs, changing nothing', async () => {
    const cluster = twoCapstans();
    const error = await uninstall(cluster.kube, { crds: true, timeoutMs: 1000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toContain('team-b-system/capstan-controller');
    expect(cluster.deleted).toEqual([]);
    expect(cluster.patched).toEqual([]);
  });

  it("releases its own Applications' finalizers, never those the other Capstan answers for", async () => {
    const cluster = twoCapstans();
    const report = await uninstall(cluster.kube, { timeoutMs: 1000 });
    expect(report.released).toBe(2); // capstan-system/capstan and team-a/web
    for (const name of ['team-b-system/capstan', 'team-b/api'])
      expect(cluster.patched).not.toContain(`Application:${name}`);
    expect(
      cluster.find({ group: 'capstan.dev', kind: 'Application', namespace: 'team-b', name: 'api' })?.metadata
        .finalizers,
    ).toEqual([FINALIZER]);
    expect(cluster.deleted).not.toContain('Deployment:team-b-system/capstan-controller');
    expect(cluster.deleted).not.toContain('CustomResourceDefinition:/applications.capstan.dev');
  });

  it("--prune-applications deletes neither the other Capstan's self-managing Application nor its team's", async () => {
    const cluster = twoCapstans();
    // The other Applications vanish once deleted here (no finalizer runs in memory): the prune wait ends.
    const report = await uninstall(cluster.kube, { pruneApplications: true, timeoutMs: 1000 });
    expect(report.pruned).toBe(1); // team-a/web
    expect(cluster.deleted).toContain('Application:team-a/web');
    expect(cluster.deleted).not.toContain('Application:team-b-system/capstan');
    expect(cluster.deleted).not.toContain('Application:team-b/api');
  });

  it('--crds with no other Capstan still deletes them', async () => {
    const cluster = memoryCluster([controller('capstan-system'), crd]);
    await uninstall(cluster.kube, { crds: true, timeoutMs: 1000 });
    expect(cluster.deleted).toContain('CustomResourceDefinition:/applications.capstan.dev');
  });
});

describe('uninstall checks --namespace before changing anything', () => {
  it.each([['Capstan-System'], ['a/../b'], ['-n'], ['x'.repeat(64)]])('%s', async (namespace) => {
    const cluster = twoCapstans();
    const error = await uninstall(cluster.kube, { namespace, timeoutMs: 1000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect(cluster.deleted).toEqual([]);
    expect(cluster.patched).toEqual([]);
  });
});
