/**
 * Capstan's chart published as an OCI artifact (`helm package` + `helm push`, as `capstan dev chart
 * --push` does) to the run's real distribution registry, read back with helm and crane — and
 * installed by Capstan itself: an OCI Repository and an Application rendering the chart into a
 * namespace of the test's own, synced by a controller; the Deployment turns Available (kwok).
 * The CRDs are left out (includeCrds: false): the shared control plane has them, and an app that
 * owned them would take every test's Applications with it when pruned.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import { parse } from 'yaml';
import { publishChart, readChartMetadata } from '../../src/dev/chart.js';
import { freshNamespace, kubectl, kubectlOk } from '../support/cluster.js';
import {
  application,
  condition,
  eventually,
  getApp,
  isolated,
  repository,
  startTestController,
  type TestController,
} from '../support/controller.js';
import { makeTempDir } from '../support/git-servers.js';
import { crane, craneDigest, sharedRegistry, uniqueRepo, type PushTarget } from '../support/registry.js';
import { helmOk } from './helm.js';

const HELM_CONFIG_MEDIA_TYPE = 'application/vnd.cncf.helm.config.v1+json';
const HELM_CONTENT_MEDIA_TYPE = 'application/vnd.cncf.helm.chart.content.v1.tar+gzip';

let registry: PushTarget;
let controllers: TestController[] = [];
beforeAll(async () => {
  registry = await sharedRegistry('none');
});
afterAll(async () => {
  await Promise.all(controllers.map((controller) => controller.stop()));
  controllers = [];
});

/** Publishes the chart under a path of this test's own; returns the chart's oci:// URL and version. */
async function publish(): Promise<{ url: string; version: string; digest: string; reference: string }> {
  const home = await makeTempDir('helm-push');
  const destination = `oci://${registry.host}/${uniqueRepo()}/charts`;
  const published = await publishChart({
    helm: inject('tools').helm!,
    destination,
    plainHttp: true,
    env: {
      ...process.env,
      HELM_REGISTRY_CONFIG: join(home, 'registry.json'),
      HELM_CACHE_HOME: join(home, 'cache'),
    },
  });
  return { ...published, url: `${destination}/capstan` };
}

describe("Capstan's chart as an OCI artifact", () => {
  it('is pushed with the chart version and read back as a Helm chart', async () => {
    const { version } = await readChartMetadata();
    const published = await publish();
    expect(published.version).toBe(version);
    expect(published.reference).toMatch(new RegExp(`/charts/capstan:${version.replaceAll('.', '\\.')}$`));
    expect(await craneDigest(registry, published.reference)).toBe(published.digest);

    const manifest = JSON.parse(await crane(registry, ['manifest', published.reference])) as {
      config: { mediaType: string };
      layers: { mediaType: string }[];
    };
    expect(manifest.config.mediaType).toBe(HELM_CONFIG_MEDIA_TYPE);
    expect(manifest.layers.map((layer) => layer.mediaType)).toContain(HELM_CONTENT_MEDIA_TYPE);

    const shown = parse(
      await helmOk(['show', 'chart', published.url, '--version', version, '--plain-http']),
    ) as {
      name: string;
      version: string;
      appVersion: string;
    };
    expect(shown).toMatchObject({ name: 'capstan', version, appVersion: version });
  });

  it('is installed by Capstan from an OCI Repository, and its controller Deployment is Available', async () => {
    const published = await publish();
    const namespace = await freshNamespace('chart');
    const controller = await startTestController({ namespace, resyncMs: 30_000 });
    controllers.push(controller);
    // The release name is the Application's: it names the ClusterRole and bindings, unique per test.
    const release = `capstan-${randomBytes(3).toString('hex')}`;
    onTestFinished(() => removeRelease(namespace, release));

    await controller.kube.apply(
      isolated(
        repository(namespace, 'capstan-charts', {
          type: 'oci',
          url: published.url,
          plainHttp: true,
          interval: '1s',
        }),
      ),
    );
    await controller.kube.apply(
      isolated(
        application(namespace, release, {
          sourceRef: { name: 'capstan-charts' },
          path: '',
          ref: published.version,
          render: {
            type: 'helm',
            helm: {
              valueFiles: [],
              includeCrds: false,
              values: {
                replicas: 1,
                tenancy: 'single-team',
                image: { repository: 'capstan', tag: 'chart-test' },
              },
            },
          },
          healthTimeout: '90s',
        }),
      ),
    );

    const ready = await eventually(
      `${release} Ready`,
      async () => {
        const state = condition(await getApp(controller.kube, namespace, release), 'Ready');
        if (state?.status === 'True') return state;
        throw new Error(`Ready ${state?.status}: ${state?.reason} ${state?.message}`);
      },
      100_000,
    );
    expect(ready.message).toContain(published.version);
    await kubectlOk([
      'wait',
      '-n',
      namespace,
      `deployment/${release}-controller`,
      '--for=condition=Available',
      '--timeout=60s',
    ]);
    const deployment = JSON.parse(
      await kubectlOk(['get', 'deployment', `${release}-controller`, '-n', namespace, '-o', 'json']),
    ) as {
      spec: { replicas: number; template: { spec: { containers: { image: string; args: string[] }[] } } };
    };
    expect(deployment.spec.replicas).toBe(1);
    expect(deployment.spec.template.spec.containers[0]).toMatchObject({
      image: 'capstan:chart-test',
      args: expect.arrayContaining([`--default-service-account=${namespace}/${release}-applier`]) as unknown,
    });
    // The cluster-wide RBAC, named after the release and bound to the release namespace.
    const binding = JSON.parse(
      await kubectlOk(['get', 'clusterrolebinding', `${release}-controller`, '-o', 'json']),
    ) as { roleRef: { name: string }; subjects: unknown[] };
    expect(binding.roleRef.name).toBe(`${release}-controller`);
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: `${release}-controller`, namespace }]);
    await kubectlOk(['get', 'serviceaccount', `${release}-applier`, '-n', namespace]);
  });
});

/** The app goes first (so nothing re-creates its objects), then its cluster-scoped objects. */
async function removeRelease(namespace: string, release: string): Promise<void> {
  await kubectl(['delete', 'applications.capstan.dev', release, '-n', namespace, '--timeout=60s']);
  await kubectl([
    'delete',
    `clusterrole/${release}-controller`,
    `clusterrolebinding/${release}-controller`,
    `clusterrolebinding/${release}-applier`,
    '--ignore-not-found',
  ]);
}
