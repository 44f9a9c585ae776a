/**
 * Capstan's chart renders exactly deploy/ — the manifests `capstan install` applies — so the two can
 * never drift: with default values deploy/crds.yaml + deploy/shared/controller.yaml, with
 * tenancy: single-team `kustomize build deploy/single-team`. Compared object by object (kind,
 * namespace, name and everything else), Helm's bookkeeping labels aside. Rendered with the real helm
 * and kustomize of the run; nothing is applied.
 */
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../src/core/objects.js';
import { byIdentity, deployFiles, helm, imageValues, kustomizeBuild, renderChart } from './helm.js';
import { CHART_DIR } from '../../src/dev/chart.js';
import { installManifests } from '../../src/install/index.js';

function expectSameObjects(chart: readonly KubeObject[], deploy: readonly KubeObject[]): void {
  const rendered = byIdentity(chart);
  const expected = byIdentity(deploy);
  expect([...rendered.keys()].sort()).toEqual([...expected.keys()].sort());
  for (const [key, object] of expected) expect(rendered.get(key), key).toEqual(object);
}

type Deployment = KubeObject & {
  spec: {
    replicas: number;
    strategy?: unknown;
    template: {
      metadata: { annotations?: Record<string, string> };
      spec: {
        serviceAccountName: string;
        nodeSelector?: unknown;
        volumes: { name: string; secret?: unknown }[];
        containers: { args: string[]; image: string; ports: unknown[]; resources: unknown }[];
      };
    };
  };
};

/** The one object of `kind`, typed as the test reads it. */
function ofKind<T>(objects: readonly KubeObject[], kind: string): T {
  const found = objects.filter((object) => object.kind === kind);
  if (found.length !== 1) throw new Error(`${found.length} objects of kind ${kind}`);
  return found[0] as unknown as T;
}

const deploymentOf = (objects: readonly KubeObject[]) => ofKind<Deployment>(objects, 'Deployment');

describe("Capstan's chart and deploy/", () => {
  it('renders deploy/crds.yaml + deploy/shared/controller.yaml with default values', async () => {
    const deploy = await deployFiles('crds.yaml', 'shared/controller.yaml');
    const image = imageValues(deploy);
    // The Namespace too when asked: by default `helm install --create-namespace` makes it.
    expectSameObjects(await renderChart({ set: [...image, 'createNamespace=true'] }), deploy);
    expectSameObjects(
      await renderChart({ set: image }),
      deploy.filter((object) => object.kind !== 'Namespace'),
    );
    // The comparison bites: one field off is a failure.
    const drifted = await renderChart({
      set: [...image, 'createNamespace=true', 'resources.requests.cpu=1'],
    });
    expect(() => expectSameObjects(drifted, deploy)).toThrow(/Deployment capstan-system\/capstan-controller/);
  });

  it('renders deploy/single-team (kustomize) with tenancy single-team', async () => {
    const deploy = [...(await deployFiles('crds.yaml')), ...(await kustomizeBuild('single-team'))];
    const chart = await renderChart({
      set: [...imageValues(deploy), 'createNamespace=true', 'tenancy=single-team'],
    });
    expectSameObjects(chart, deploy);
  });

  it.each([
    { tenancy: 'shared' as const, replicas: 2 },
    { tenancy: 'single-team' as const, replicas: 1 },
  ])('renders what `capstan install` applies (installManifests, $tenancy)', async ({ tenancy, replicas }) => {
    const options = {
      image: 'registry.example.com/capstan:1.2.3',
      replicas,
      logLevel: 'debug',
      tenancy,
      extraArgs: ['--resync=5m'],
    };
    const chart = await renderChart({
      set: [
        'image.repository=registry.example.com/capstan',
        'image.tag=1.2.3',
        `replicas=${replicas}`,
        'logLevel=debug',
        `tenancy=${tenancy}`,
        'extraArgs={--resync=5m}',
        'createNamespace=true',
      ],
    });
    expectSameObjects(chart, await installManifests(options));
  });

  it('names cluster-wide objects after the release and binds the release namespace', async () => {
    const objects = await renderChart({
      release: 'ops',
      namespace: 'ops-system',
      set: ['tenancy=single-team'],
    });
    const names = objects
      .filter((o) => o.kind !== 'CustomResourceDefinition')
      .map((o) => `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`);
    expect(names.sort()).toEqual(
      [
        'ClusterRole /ops-controller',
        'ClusterRoleBinding /ops-applier',
        'ClusterRoleBinding /ops-controller',
        'Deployment ops-system/ops-controller',
        'Role ops-system/ops-leader-election',
        'RoleBinding ops-system/ops-leader-election',
        'Service ops-system/ops-controller',
        'ServiceAccount ops-system/ops-applier',
        'ServiceAccount ops-system/ops-controller',
      ].sort(),
    );
    for (const binding of objects.filter((o) => o.kind.endsWith('Binding')))
      expect((binding as unknown as { subjects: { namespace: string }[] }).subjects).toMatchObject([
        { namespace: 'ops-system' },
      ]);
    const deployment = deploymentOf(objects);
    expect(deployment.spec.template.spec.containers[0]!.args).toContain(
      '--default-service-account=ops-system/ops-applier',
    );
    expect(deployment.spec.template.spec.containers[0]!.image).toBe('localhost/capstan:0.1.0'); // the appVersion
  });

  it('applies each value where it belongs', async () => {
    const objects = await renderChart({
      set: [
        'image.repository=registry.example.com/capstan',
        'image.tag=1.2.3',
        'image.pullPolicy=Always',
        'replicas=1',
        'logLevel=debug',
        'dashboard.enabled=true',
        'webhook.secret=hook-secret-4d1c',
        'extraArgs={--resync=5m,--concurrency=8}',
        'serviceAccount.name=ops',
        'podAnnotations.team=platform',
        'nodeSelector.disk=ssd',
        'resources.requests.cpu=50m',
      ],
    });
    const deployment = deploymentOf(objects);
    const pod = deployment.spec.template.spec;
    const container = pod.containers[0]!;
    expect(deployment.spec.replicas).toBe(1);
    expect(deployment.spec.strategy).toBeUndefined(); // leader election stays on with one replica
    expect(container).toMatchObject({
      image: 'registry.example.com/capstan:1.2.3',
      imagePullPolicy: 'Always',
    });
    expect(container.args.slice(4)).toEqual([
      '--log-level=debug',
      '--dashboard-address=0.0.0.0:8081',
      '--resync=5m',
      '--concurrency=8',
    ]);
    expect(container.ports).toContainEqual({ name: 'dashboard', containerPort: 8081 });
    expect(container.resources).toMatchObject({ requests: { cpu: '50m' } });
    expect(pod.serviceAccountName).toBe('ops');
    expect(pod.nodeSelector).toEqual({ disk: 'ssd' });
    expect(deployment.spec.template.metadata.annotations).toEqual({ team: 'platform' });
    const service = ofKind<{ spec: { ports: unknown[] } }>(objects, 'Service');
    expect(service.spec.ports).toContainEqual({ name: 'dashboard', port: 8081, targetPort: 'dashboard' });
    const secret = ofKind<{
      metadata: { name: string };
      data: Record<string, string>;
    }>(objects, 'Secret');
    expect(secret.metadata.name).toBe('capstan-webhook');
    expect(Buffer.from(secret.data.secret!, 'base64').toString()).toBe('hook-secret-4d1c');
    expect(objects.filter((o) => o.kind === 'ServiceAccount').map((o) => o.metadata.name)).toEqual(['ops']);
  });

  it('mounts an existing webhook Secret, and runs without a Lease only as one replica', async () => {
    const objects = await renderChart({
      set: [
        'webhook.existingSecret=git-hooks',
        'webhook.existingSecretKey=token',
        'replicas=1',
        'leaderElection=false',
      ],
    });
    expect(objects.some((o) => o.kind === 'Secret')).toBe(false);
    const deployment = deploymentOf(objects);
    expect(deployment.spec.template.spec.volumes).toContainEqual({
      name: 'webhook',
      secret: { secretName: 'git-hooks', items: [{ key: 'token', path: 'secret' }] },
    });
    expect(deployment.spec.template.spec.containers[0]!.args).toContain('--no-leader-elect');
    expect(deployment.spec.strategy).toEqual({ type: 'Recreate', rollingUpdate: null });
  });

  it('refuses bad values with a clear message, never echoing the webhook secret', async () => {
    const refused = async (set: string[]) => {
      const result = await helm([
        'template',
        'capstan',
        CHART_DIR,
        ...set.flatMap((value) => ['--set', value]),
      ]);
      expect(result.code).not.toBe(0);
      return result.stderr;
    };
    expect(await refused(['tenancy=everyone'])).toMatch(/tenancy.*must be one of 'shared', 'single-team'/s);
    expect(await refused(['logLevel=loud'])).toMatch(/logLevel/);
    expect(await refused(['replicas=101'])).toMatch(/replicas/);
    expect(await refused(['extraArgs={rm -rf}'])).toMatch(/extraArgs/);
    expect(await refused(['replicas=2', 'leaderElection=false'])).toMatch(
      /leaderElection=false .* replicas to 1/,
    );
    const both = await refused(['webhook.secret=hook-secret-77aa', 'webhook.existingSecret=git-hooks']);
    expect(both).toMatch(/set one of them, not both/);
    expect(both).not.toContain('hook-secret-77aa');
  });

  it('passes helm lint', async () => {
    const result = await helm(['lint', CHART_DIR, '--strict']);
    expect(result.stdout).toContain('0 chart(s) failed');
    expect(result.code).toBe(0);
  });
});
