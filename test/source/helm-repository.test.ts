/**
 * Helm repositories as sources, end to end: charts packaged with the real `helm package`, indexed
 * with `helm repo index`, served over HTTP by a small local server; a controller applies them to
 * the real control plane.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { parse, stringify } from 'yaml';
import { kubectl } from '../support/cluster.js';
import { freshNamespace } from '../support/cluster.js';
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

const run = promisify(execFile);

let t: TestController;
beforeAll(async () => {
  t = await startTestController({ resyncMs: 30_000 });
});
afterAll(() => t.stop());

/** A folder served over HTTP; with `auth`, only to that user (basic auth). */
async function serveFolder(
  root: string,
  auth?: { username: string; password: string },
): Promise<{ url: string; requests: string[]; close(): Promise<void> }> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const expected = auth && `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
    if (expected && req.headers.authorization !== expected) {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="charts"' }).end();
      return;
    }
    const name = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).replace(/^\/+/, '');
    if (name.includes('..') || name.includes('/')) return void res.writeHead(404).end();
    readFile(join(root, name)).then(
      (data) => res.writeHead(200).end(data),
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * Packages chart `name` at `version` into `repoDir` with the real helm, and re-indexes it; with
 * `sign`, `helm package --sign` writes its .prov beside it.
 */
async function publishChart(
  repoDir: string,
  name: string,
  version: string,
  sign?: SigningKey,
): Promise<string> {
  const helm = inject('tools').helm!;
  const chartDir = join(await makeTempDir('chart'), name);
  await mkdir(join(chartDir, 'templates'), { recursive: true });
  await writeFile(
    join(chartDir, 'Chart.yaml'),
    stringify({ apiVersion: 'v2', name, version, description: `${name} for tests` }),
  );
  await writeFile(join(chartDir, 'values.yaml'), 'color: blue\n');
  await writeFile(
    join(chartDir, 'templates', 'settings.yaml'),
    [
      'apiVersion: v1',
      'kind: ConfigMap',
      'metadata:',
      '  name: {{ .Release.Name }}-settings',
      'data:',
      '  version: {{ .Chart.Version | quote }}',
      '  color: {{ .Values.color | quote }}',
      '',
    ].join('\n'),
  );
  const signing = sign ? ['--sign', '--key', sign.name, '--keyring', sign.secretKeyring] : [];
  await run(helm, ['package', chartDir, '--destination', repoDir, ...signing]);
  await run(helm, ['repo', 'index', repoDir]);
  const archive = await readFile(join(repoDir, `${name}-${version}.tgz`));
  return `${version}@sha256:${createHash('sha256').update(archive).digest('hex')}`;
}

interface SigningKey {
  readonly name: string;
  /** Path of the secret keyring `helm package --sign` reads (gpg's legacy format). */
  readonly secretKeyring: string;
  /** The public key, ASCII-armored, as a Repository Secret's `keyring`. */
  readonly publicArmored: string;
}

/** An RSA signing key made with the real gpg in its own GNUPGHOME, exported as helm wants it. */
async function makeSigningKey(name: string): Promise<SigningKey> {
  const home = await makeTempDir('gnupg');
  const env = { ...process.env, GNUPGHOME: home };
  const gpg = (args: string[]) =>
    run('gpg', ['--batch', ...args], { env, encoding: 'buffer', maxBuffer: 1024 * 1024 });
  await gpg([
    '--passphrase',
    '',
    '--quick-gen-key',
    `${name} <test@example.com>`,
    'rsa2048',
    'sign',
    'never',
  ]);
  const secretKeyring = join(home, 'secring.gpg');
  await writeFile(secretKeyring, (await gpg(['--export-secret-keys'])).stdout);
  const publicArmored = (await gpg(['--export', '--armor'])).stdout.toString('utf8');
  return { name, secretKeyring, publicArmored };
}

async function configMap(namespace: string, name: string): Promise<Record<string, unknown> | undefined> {
  const result = await kubectl(['get', 'configmap', name, '-n', namespace, '-o', 'json']);
  return result.code === 0 ? (JSON.parse(result.stdout) as Record<string, unknown>) : undefined;
}

describe('Helm repository sources', () => {
  it('applies a chart version within the range, upgrades to a newer one, and records the digest', async () => {
    const repoDir = await makeTempDir('helm-repo');
    const first = await publishChart(repoDir, 'web', '1.0.0');
    await publishChart(repoDir, 'web', '2.0.0'); // outside the range
    const server = await serveFolder(repoDir);
    try {
      const namespace = await freshNamespace('helm');
      await t.kube.apply(repository(namespace, 'charts', { type: 'helm', url: server.url, interval: '1s' }));
      await t.kube.apply(
        application(namespace, 'web', {
          sourceRef: { name: 'charts' },
          path: 'web',
          ref: '>=1.0.0 <2.0.0',
          healthTimeout: '60s',
        }),
      );
      const applied = await readyAt(t.kube, namespace, 'web', first);
      expect(applied.status?.lastAppliedRevision?.message).toContain('chart web 1.0.0');
      const settings = await configMap(namespace, 'web-settings');
      expect(settings).toMatchObject({ data: { version: '1.0.0', color: 'blue' } });
      const annotations = (settings?.metadata as { annotations?: Record<string, string> }).annotations;
      expect(annotations?.['capstan.dev/revision']).toBe(first);

      const second = await publishChart(repoDir, 'web', '1.1.0');
      await readyAt(t.kube, namespace, 'web', second);
      expect(await configMap(namespace, 'web-settings')).toMatchObject({ data: { version: '1.1.0' } });
      const repo = await t.kube.get({
        group: 'capstan.dev',
        kind: 'Repository',
        namespace,
        name: 'charts',
      });
      expect(JSON.stringify(repo?.status)).toContain(second);
    } finally {
      await server.close();
    }
  });

  it('says clearly when no chart version satisfies the ref, and when the chart is missing', async () => {
    const repoDir = await makeTempDir('helm-repo');
    await publishChart(repoDir, 'web', '1.0.0');
    const server = await serveFolder(repoDir);
    try {
      const namespace = await freshNamespace('helm');
      await t.kube.apply(repository(namespace, 'charts', { type: 'helm', url: server.url, interval: '1s' }));
      await t.kube.apply(
        application(namespace, 'missing-version', {
          sourceRef: { name: 'charts' },
          path: 'web',
          ref: '3.1.4',
        }),
      );
      await t.kube.apply(
        application(namespace, 'missing-chart', { sourceRef: { name: 'charts' }, path: 'api', ref: '1.0.0' }),
      );
      const version = await eventually('a failed Ready condition', async () => {
        const ready = condition(await getApp(t.kube, namespace, 'missing-version'), 'Ready');
        return ready?.status === 'False' && ready.message !== '' ? ready : undefined;
      });
      expect(version.message).toMatch(/no version of chart 'web' in .* satisfies '3.1.4' \(it has 1.0.0\)/);
      const chart = await eventually('a failed Ready condition', async () => {
        const ready = condition(await getApp(t.kube, namespace, 'missing-chart'), 'Ready');
        return ready?.status === 'False' && ready.message !== '' ? ready : undefined;
      });
      expect(chart.message).toMatch(/chart 'api' is not in the Helm repository/);
    } finally {
      await server.close();
    }
  });

  it('sends basic auth from a Secret that allows this URL, and refuses it without the annotation', async () => {
    const repoDir = await makeTempDir('helm-repo');
    const revision = await publishChart(repoDir, 'web', '1.0.0');
    const auth = { username: 'charts', password: 's3cret-chart-password' };
    const server = await serveFolder(repoDir, auth);
    try {
      const namespace = await freshNamespace('helm');
      const secret = (annotations: Record<string, string>) => ({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'charts-auth', namespace, annotations },
        stringData: auth,
      });
      await t.kube.apply(secret({}));
      await t.kube.apply(
        repository(namespace, 'charts', {
          type: 'helm',
          url: server.url,
          interval: '1s',
          secretRef: { name: 'charts-auth' },
        }),
      );
      await t.kube.apply(
        application(namespace, 'web', { sourceRef: { name: 'charts' }, path: 'web', ref: '1.x' }),
      );
      const refused = await eventually('the Secret refused', async () => {
        const ready = condition(await getApp(t.kube, namespace, 'web'), 'Ready');
        return ready?.status === 'False' && /capstan.dev\/git-urls/.test(ready.message) ? ready : undefined;
      });
      expect(refused.message).not.toContain(auth.password);
      expect(server.requests).toEqual([]);

      await t.kube.apply(
        secret({ 'capstan.dev/git-urls': `${server.url}/`, 'capstan.dev/allow-insecure-http': 'true' }),
      );
      const app = await readyAt(t.kube, namespace, 'web', revision);
      expect(JSON.stringify(app.status)).not.toContain(auth.password);
    } finally {
      await server.close();
    }
  });

  it('checks provenance when the Secret gives a keyring: signed charts applied, others refused', async () => {
    const trusted = await makeSigningKey('Capstan Test');
    const stranger = await makeSigningKey('Someone Else');
    const repoDir = await makeTempDir('helm-repo');
    const signed = await publishChart(repoDir, 'web', '1.0.0', trusted);
    await publishChart(repoDir, 'api', '1.0.0'); // no .prov
    await publishChart(repoDir, 'db', '1.0.0', stranger);
    const server = await serveFolder(repoDir);
    try {
      const namespace = await freshNamespace('helm');
      await t.kube.apply({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: {
          name: 'charts-keyring',
          namespace,
          // A keyring is no credential, but the Secret's scope rules are the same for every key.
          annotations: {
            'capstan.dev/git-urls': `${server.url}/`,
            'capstan.dev/allow-insecure-http': 'true',
          },
        },
        stringData: { keyring: trusted.publicArmored },
      });
      await t.kube.apply(
        repository(namespace, 'charts', {
          type: 'helm',
          url: server.url,
          interval: '1s',
          secretRef: { name: 'charts-keyring' },
        }),
      );
      for (const chart of ['web', 'api', 'db'])
        await t.kube.apply(
          application(namespace, chart, { sourceRef: { name: 'charts' }, path: chart, ref: '1.0.0' }),
        );
      const applied = await readyAt(t.kube, namespace, 'web', signed);
      expect(applied.status?.lastAppliedRevision?.message).toMatch(/provenance signed by [0-9A-F]{40}/);
      expect(await configMap(namespace, 'web-settings')).toMatchObject({ data: { version: '1.0.0' } });
      expect(server.requests).toContain('/web-1.0.0.tgz.prov');

      const refusal = (name: string, pattern: RegExp) =>
        eventually(`${name} refused`, async () => {
          const ready = condition(await getApp(t.kube, namespace, name), 'Ready');
          return ready?.status === 'False' && pattern.test(ready.message) ? ready : undefined;
        });
      const unsigned = await refusal('api', /provenance/);
      expect(unsigned.message).toMatch(
        /chart api 1.0.0 in .* has no provenance file \(api-1.0.0.tgz.prov\); the Repository's Secret gives a keyring/,
      );
      const foreign = await refusal('db', /provenance/);
      expect(foreign.message).toMatch(
        /the provenance of chart 'db' version '1.0.0' is signed by key [0-9A-F]{16}, which is not in the keyring/,
      );
      for (const name of ['api', 'db']) {
        expect(await configMap(namespace, `${name}-settings`)).toBeUndefined();
        expect((await getApp(t.kube, namespace, name)).status?.lastAppliedRevision).toBeUndefined();
      }
    } finally {
      await server.close();
    }
  });

  it('applies nothing from a chart whose digest is wrong, or that escapes its folder', async () => {
    const repoDir = await makeTempDir('helm-repo');
    await publishChart(repoDir, 'web', '1.0.0');
    // The index promises one archive, the server sends another.
    const index = parse(await readFile(join(repoDir, 'index.yaml'), 'utf8')) as {
      entries: Record<string, { digest: string; version: string; urls: string[] }[]>;
    };
    index.entries.web![0]!.digest = createHash('sha256').update('something else').digest('hex');
    // A chart archive with a ../ entry, listed with its true digest.
    const hostile = await evilChart();
    await writeFile(join(repoDir, 'evil-1.0.0.tgz'), hostile);
    index.entries.evil = [
      {
        version: '1.0.0',
        urls: ['evil-1.0.0.tgz'],
        digest: createHash('sha256').update(hostile).digest('hex'),
      },
    ];
    await writeFile(join(repoDir, 'index.yaml'), stringify(index));
    const server = await serveFolder(repoDir);
    try {
      const namespace = await freshNamespace('helm');
      await t.kube.apply(repository(namespace, 'charts', { type: 'helm', url: server.url, interval: '1s' }));
      await t.kube.apply(
        application(namespace, 'web', { sourceRef: { name: 'charts' }, path: 'web', ref: '1.0.0' }),
      );
      await t.kube.apply(
        application(namespace, 'evil', { sourceRef: { name: 'charts' }, path: 'evil', ref: '1.0.0' }),
      );
      const wrong = await eventually('the digest refused', async () => {
        const ready = condition(await getApp(t.kube, namespace, 'web'), 'Ready');
        return ready?.status === 'False' && /digest/.test(ready.message) ? ready : undefined;
      });
      expect(wrong.message).toMatch(/chart web 1.0.0 is refused: its content has digest sha256:/);
      const escape = await eventually('the archive refused', async () => {
        const ready = condition(await getApp(t.kube, namespace, 'evil'), 'Ready');
        return ready?.status === 'False' && /refused/.test(ready.message) ? ready : undefined;
      });
      expect(escape.message).toMatch(/leaves the artifact/);
      expect(await configMap(namespace, 'web-settings')).toBeUndefined();
      expect(await configMap(namespace, 'evil-settings')).toBeUndefined();
      for (const name of ['web', 'evil'])
        expect((await getApp(t.kube, namespace, name)).status?.lastAppliedRevision).toBeUndefined();
    } finally {
      await server.close();
    }
  });
});

/** A chart archive whose second entry climbs out of the chart (`evil/../../escaped.yaml`). */
async function evilChart(): Promise<Buffer> {
  const archive = pack();
  archive.entry({ name: 'evil/Chart.yaml' }, 'apiVersion: v2\nname: evil\nversion: 1.0.0\n');
  archive.entry(
    { name: 'evil/templates/settings.yaml' },
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: evil-settings\n',
  );
  archive.entry(
    { name: 'evil/../../escaped.yaml' },
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: escaped\n',
  );
  archive.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of archive) chunks.push(chunk as Buffer);
  return gzipSync(Buffer.concat(chunks));
}
