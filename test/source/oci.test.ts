/**
 * OCI artifacts as sources, end to end: a chart pushed with the real `helm push` and artifacts of
 * manifests pushed with crane to the run's real distribution registry; a controller applies them
 * to the real control plane.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pack } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import { stringify } from 'yaml';
import { freshNamespace, kubectl } from '../support/cluster.js';
import {
  application,
  condition,
  eventually,
  getApp,
  readyAt,
  repository,
  startTestController,
  type TestController,
} from '../support/controller.js';
import { makeTempDir } from '../support/git-servers.js';
import {
  crane,
  craneDigest,
  pushImage,
  registryTools,
  sharedRegistry,
  startRegistry,
  uniqueRepo,
  type PushTarget,
} from '../support/registry.js';

const run = promisify(execFile);

let t: TestController;
let registry: PushTarget;
beforeAll(async () => {
  registry = await sharedRegistry();
  t = await startTestController({ resyncMs: 30_000 });
});
afterAll(() => t.stop());

/** Packages chart `web` at `version` with the real helm and pushes it to `oci://<registry>/<path>`. */
async function pushChart(path: string, version: string): Promise<string> {
  const helm = inject('tools').helm!;
  const work = await makeTempDir('chart');
  const chartDir = join(work, 'web');
  await mkdir(join(chartDir, 'templates'), { recursive: true });
  await writeFile(join(chartDir, 'Chart.yaml'), stringify({ apiVersion: 'v2', name: 'web', version }));
  await writeFile(
    join(chartDir, 'templates', 'settings.yaml'),
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\ndata:\n  version: {{ .Chart.Version | quote }}\n',
  );
  await run(helm, ['package', chartDir, '--destination', work]);
  const env = {
    ...process.env,
    HELM_REGISTRY_CONFIG: join(work, 'registry.json'),
    HELM_CACHE_HOME: join(work, 'cache'),
  };
  await run(
    helm,
    ['push', join(work, `web-${version}.tgz`), `oci://${registry.host}/${path}`, '--plain-http'],
    {
      env,
    },
  );
  return `${version}@${await craneDigest(registry, `${registry.host}/${path}/web:${version}`)}`;
}

async function configMap(namespace: string, name: string): Promise<Record<string, unknown> | undefined> {
  const result = await kubectl(['get', 'configmap', name, '-n', namespace, '-o', 'json']);
  return result.code === 0 ? (JSON.parse(result.stdout) as Record<string, unknown>) : undefined;
}

function failedWith(namespace: string, name: string, pattern: RegExp) {
  return eventually(`${name} failing with ${pattern}`, async () => {
    const ready = condition(await getApp(t.kube, namespace, name), 'Ready');
    if (ready?.status === 'False' && pattern.test(ready.message)) return ready;
    throw new Error(`Ready ${ready?.status}: ${ready?.message}`);
  });
}

const annotationsOf = (object: Record<string, unknown> | undefined) =>
  (object?.metadata as { annotations?: Record<string, string> } | undefined)?.annotations ?? {};

describe('OCI sources', () => {
  it('applies a Helm chart pushed with helm push, within a range, and upgrades it', async () => {
    const path = `${uniqueRepo()}/charts`;
    const first = await pushChart(path, '1.0.0');
    await pushChart(path, '2.0.0'); // outside the range
    const namespace = await freshNamespace('oci');
    await t.kube.apply(
      repository(namespace, 'charts', {
        type: 'oci',
        url: `oci://${registry.host}/${path}/web`,
        plainHttp: true,
        interval: '1s',
      }),
    );
    await t.kube.apply(
      application(namespace, 'web', {
        sourceRef: { name: 'charts' },
        path: '',
        ref: '>=1.0.0 <2',
        healthTimeout: '60s',
      }),
    );
    await readyAt(t.kube, namespace, 'web', first);
    const settings = await configMap(namespace, 'web-settings');
    expect(settings).toMatchObject({ data: { version: '1.0.0' } });
    expect(annotationsOf(settings)['capstan.dev/revision']).toBe(first);

    const second = await pushChart(path, '1.1.0');
    await readyAt(t.kube, namespace, 'web', second);
    expect(await configMap(namespace, 'web-settings')).toMatchObject({ data: { version: '1.1.0' } });
    const repo = await t.kube.get({ group: 'capstan.dev', kind: 'Repository', namespace, name: 'charts' });
    expect(JSON.stringify(repo?.status)).toContain(second);
  });

  it('applies a plain artifact of manifests, pinned by tag and by digest', async () => {
    const name = `${uniqueRepo()}/manifests`;
    const manifests = {
      'deploy/settings.yaml':
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain-settings\ndata:\n  color: blue\n',
    };
    const pushed = await pushImage(registry, name, 'v1', { files: manifests, oci: true });
    const namespace = await freshNamespace('oci');
    await t.kube.apply(
      repository(namespace, 'manifests', {
        type: 'oci',
        url: `oci://${registry.host}/${name}`,
        plainHttp: true,
        interval: '1s',
      }),
    );
    await t.kube.apply(
      application(namespace, 'by-tag', { sourceRef: { name: 'manifests' }, path: 'deploy', ref: 'v1' }),
    );
    await readyAt(t.kube, namespace, 'by-tag', `v1@${pushed.digest}`);
    expect(annotationsOf(await configMap(namespace, 'plain-settings'))['capstan.dev/revision']).toBe(
      `v1@${pushed.digest}`,
    );

    const other = await freshNamespace('oci');
    await t.kube.apply(
      repository(other, 'manifests', { type: 'oci', url: `oci://${registry.host}/${name}`, plainHttp: true }),
    );
    await t.kube.apply(
      application(other, 'by-digest', {
        sourceRef: { name: 'manifests' },
        path: 'deploy',
        ref: pushed.digest,
      }),
    );
    await readyAt(t.kube, other, 'by-digest', pushed.digest);
  });

  it('applies nothing from a hostile artifact, and names a missing tag', async () => {
    const name = `${uniqueRepo()}/hostile`;
    const work = await makeTempDir('hostile');
    const layer = join(work, 'layer.tar');
    await writeFile(layer, await hostileTar());
    const reference = `${registry.host}/${name}:1.0.0`;
    await crane(registry, ['append', '--new_layer', layer, '--new_tag', reference, '--oci-empty-base']);
    const namespace = await freshNamespace('oci');
    await t.kube.apply(
      repository(namespace, 'hostile', {
        type: 'oci',
        url: `oci://${registry.host}/${name}`,
        plainHttp: true,
        interval: '1s',
      }),
    );
    await t.kube.apply(
      application(namespace, 'evil', { sourceRef: { name: 'hostile' }, path: '', ref: '1.0.0' }),
    );
    await t.kube.apply(
      application(namespace, 'missing', { sourceRef: { name: 'hostile' }, path: '', ref: '^3.0.0' }),
    );
    const refused = await failedWith(namespace, 'evil', /refused/);
    expect(refused.message).toMatch(/is a symlink|leaves the artifact/);
    const missing = await failedWith(namespace, 'missing', /no tag/);
    expect(missing.message).toMatch(/no tag of .* satisfies '\^3.0.0' \(its newest versions are 1.0.0\)/);
    expect(await configMap(namespace, 'before-the-link')).toBeUndefined();
    expect((await getApp(t.kube, namespace, 'evil')).status?.lastAppliedRevision).toBeUndefined();
  });
});

describe('OCI sources from a registry that lies', () => {
  it('refuses a layer larger than Capstan downloads, and a blob whose bytes are not its digest; nothing applied', async () => {
    const own = await startRegistry({ tools: { registry: registryTools().registry } });
    onTestFinished(() => own.stop());
    const target: PushTarget = { host: own.host, crane: registryTools().crane };
    const manifest = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-the-artifact\ndata:\n  a: b\n';
    // 70 MiB that gzip cannot shrink: over the 64 MiB an artifact may be.
    await pushImage(target, 'team/huge', '1.0.0', {
      files: { 'settings.yaml': manifest, 'padding.bin': randomBytes(70 * 1024 * 1024).toString('base64') },
      oci: true,
    });
    // A small artifact whose layer the registry then serves with other bytes (its disk was tampered with).
    await pushImage(target, 'team/tampered', '1.0.0', { files: { 'settings.yaml': manifest }, oci: true });
    await tamperWithLayers(own.dataDir, 'team/tampered');

    const namespace = await freshNamespace('oci-lies');
    for (const name of ['huge', 'tampered']) {
      await t.kube.apply(
        repository(namespace, name, {
          type: 'oci',
          url: `oci://${own.host}/team/${name}`,
          plainHttp: true,
          interval: '1s',
        }),
      );
      await t.kube.apply(application(namespace, name, { sourceRef: { name }, path: '', ref: '1.0.0' }));
    }
    const huge = await failedWith(namespace, 'huge', /larger|too large|exceeds|more than/i);
    const tampered = await failedWith(namespace, 'tampered', /digest/i);
    expect(`${huge.message} ${tampered.message}`).not.toMatch(/from-the-artifact/);
    expect(await configMap(namespace, 'from-the-artifact')).toBeUndefined();
    for (const name of ['huge', 'tampered'])
      expect((await getApp(t.kube, namespace, name)).status?.lastAppliedRevision).toBeUndefined();
  });
});

/** Overwrites, on the registry's disk, every layer blob of `repository` with other bytes of the same size. */
async function tamperWithLayers(dataDir: string, repository: string): Promise<void> {
  const layers = join(
    dataDir,
    'storage',
    'docker',
    'registry',
    'v2',
    'repositories',
    repository,
    '_layers',
    'sha256',
  );
  const blobs = join(dataDir, 'storage', 'docker', 'registry', 'v2', 'blobs', 'sha256');
  for (const digest of await readdir(layers)) {
    const data = join(blobs, digest.slice(0, 2), digest, 'data');
    const size = (await stat(data)).size;
    await writeFile(data, Buffer.alloc(size, 0x42));
  }
}

/** A layer with a good manifest, then a symlink out of the artifact and a file through it. */
async function hostileTar(): Promise<Buffer> {
  const archive = pack();
  archive.entry(
    { name: 'settings.yaml' },
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: before-the-link\ndata:\n  a: b\n',
  );
  archive.entry({ name: 'etc', type: 'symlink', linkname: '/etc' });
  archive.entry({ name: 'etc/owned.yaml' }, 'x: 1\n');
  archive.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of archive) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
