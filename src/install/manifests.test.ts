import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { crds } from '../api/crds.js';
import type { KubeObject } from '../core/objects.js';
import { bootstrapFiles, credentialsSecret, syncObjects, type BootstrapTarget } from './bootstrap-files.js';
import { clusterScopedName, installManifests } from './manifests.js';

const IMAGE = '127.0.0.1:5000/capstan:1.2.3';
const deployment = (objects: readonly KubeObject[]) => objects.find((o) => o.kind === 'Deployment')!;
const container = (objects: readonly KubeObject[]) =>
  (deployment(objects).spec as { template: { spec: { containers: { image: string; args: string[] }[] } } })
    .template.spec.containers[0]!;

describe('installManifests', () => {
  it('is deploy/ in apply order: the CRDs, the namespace, RBAC, the Deployment, the Service', async () => {
    const objects = await installManifests({ image: IMAGE });
    expect(objects.map((o) => o.kind)).toEqual([
      ...crds().map(() => 'CustomResourceDefinition'),
      'Namespace',
      'ServiceAccount',
      'ClusterRole',
      'Role',
      'ClusterRoleBinding',
      'RoleBinding',
      'Deployment',
      'Service',
    ]);
    expect(objects.slice(0, crds().length)).toEqual(crds());
    expect(container(objects).image).toBe(IMAGE);
    expect((deployment(objects).spec as { replicas: number }).replicas).toBe(2);
    expect(
      objects.every(
        (o) =>
          o.kind === 'Namespace' ||
          o.kind.startsWith('Cluster') ||
          o.kind === 'CustomResourceDefinition' ||
          o.metadata.namespace === 'capstan-system',
      ),
    ).toBe(true);
  });

  it('sets replicas, log level and extra arguments, and is the same for the same options', async () => {
    const options = { image: IMAGE, replicas: 3, logLevel: 'debug', extraArgs: ['--concurrency=8'] };
    const objects = await installManifests(options);
    expect((deployment(objects).spec as { replicas: number }).replicas).toBe(3);
    expect(container(objects).args.slice(-2)).toEqual(['--log-level=debug', '--concurrency=8']);
    expect(await installManifests(options)).toEqual(objects);
  });

  it('moves everything to another namespace, and names its cluster-wide RBAC after it', async () => {
    const objects = await installManifests({ image: IMAGE, namespace: 'ops', tenancy: 'single-team' });
    const namespaced = objects.filter((o) => o.metadata.namespace !== undefined);
    expect(namespaced.every((o) => o.metadata.namespace === 'ops')).toBe(true);
    expect(objects.find((o) => o.kind === 'Namespace')!.metadata.name).toBe('ops');
    const bindings = objects.filter((o) => o.kind === 'ClusterRoleBinding');
    expect(bindings.map((b) => b.metadata.name).sort()).toEqual([
      'capstan-applier-ops',
      'capstan-controller-ops',
    ]);
    for (const binding of bindings) {
      expect(binding.subjects).toEqual([expect.objectContaining({ namespace: 'ops' })]);
    }
    const controllerBinding = bindings.find((b) => b.metadata.name === 'capstan-controller-ops')!;
    expect((controllerBinding.roleRef as { name: string }).name).toBe('capstan-controller-ops');
    const applierBinding = bindings.find((b) => b.metadata.name === 'capstan-applier-ops')!;
    expect((applierBinding.roleRef as { name: string }).name).toBe('cluster-admin');
    expect(container(objects).args).toContain('--default-service-account=ops/capstan-applier');
    expect(clusterScopedName('capstan-controller', 'capstan-system')).toBe('capstan-controller');
  });

  it('refuses options that would make a broken or hostile install', async () => {
    await expect(installManifests({ image: 'a b' })).rejects.toThrow(/--image/);
    await expect(installManifests({ image: IMAGE, namespace: 'Bad_NS' })).rejects.toThrow(/--namespace/);
    await expect(installManifests({ image: IMAGE, replicas: -1 })).rejects.toThrow(/--replicas/);
    await expect(installManifests({ image: IMAGE, logLevel: 'loud' })).rejects.toThrow(/--log-level/);
    await expect(installManifests({ image: IMAGE, extraArgs: ['rm -rf'] })).rejects.toThrow(/--arg/);
  });
});

describe('bootstrapFiles', () => {
  const target: BootstrapTarget = {
    url: 'https://git.example.com/ops/fleet.git',
    branch: 'main',
    path: 'clusters//prod/',
    namespace: 'capstan-system',
    interval: '1m',
    allowInsecureHttp: false,
  };

  it('holds what install applied, adoptable, the CRDs and namespace never pruned, and the sync objects', async () => {
    const installed = await installManifests({ image: IMAGE });
    const [components, sync] = bootstrapFiles(installed, target);
    expect(components!.path).toBe('clusters/prod/capstan-system/components.yaml');
    expect(sync!.path).toBe('clusters/prod/capstan-system/sync.yaml');
    const parsed = parseAllDocuments(components!.text).map((d) => d.toJS() as KubeObject);
    expect(parsed.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(
      installed.map((o) => `${o.kind}/${o.metadata.name}`),
    );
    for (const object of parsed) {
      expect(object.metadata.annotations?.['capstan.dev/adopt']).toBe('true');
      const kept = object.kind === 'CustomResourceDefinition' || object.kind === 'Namespace';
      expect(object.metadata.annotations?.['capstan.dev/prune']).toBe(kept ? 'disabled' : undefined);
    }
    const [repository, application] = parseAllDocuments(sync!.text).map((d) => d.toJS() as KubeObject);
    expect(repository).toMatchObject({
      kind: 'Repository',
      spec: { url: target.url, secretRef: { name: 'capstan-git-credentials' } },
    });
    expect(application).toMatchObject({
      kind: 'Application',
      spec: {
        path: 'clusters/prod',
        ref: 'main',
        serviceAccountName: 'capstan-self',
        render: { type: 'plain' },
      },
    });
    expect(syncObjects(target)[1].spec.rollback).toEqual({ automatic: true, gitRevert: 'none' });
  });

  it('keeps the password out of Git: it is only in the Secret', async () => {
    const password = 'hunter2-secret-value';
    const files = bootstrapFiles(await installManifests({ image: IMAGE }), target);
    for (const file of files) expect(file.text).not.toContain(password);
    const secret = credentialsSecret(target, { username: 'ops', password });
    expect(secret.metadata.annotations).toEqual({ 'capstan.dev/git-urls': target.url });
    expect(Buffer.from((secret.data as { password: string }).password, 'base64').toString()).toBe(password);
  });

  it('refuses the repository root as the cluster path', () => {
    expect(() => bootstrapFiles([], { ...target, path: '/' })).toThrow();
    expect(() => bootstrapFiles([], { ...target, path: '.' })).toThrow(/--path/);
  });
});
