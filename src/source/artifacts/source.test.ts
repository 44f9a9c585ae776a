import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as openpgp from 'openpgp';
import { pack } from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RegistryClient } from '../../registry/index.js';
import { artifactRepository, scopeUrlOf } from './access.js';
import { contentLayer, parseOciRef, parseOciUrl, HELM_CHART_LAYER, FLUX_CONTENT_LAYER } from './oci.js';
import { parseHelmRef, shortRevision, sourceRefOf } from './revision.js';
import { routeSources } from './route.js';
import { createArtifactSource } from './source.js';
import type { ArtifactRepository } from './types.js';

async function chartArchive(name: string, version: string): Promise<Buffer> {
  const archive = pack();
  archive.entry({ name: `${name}/Chart.yaml` }, `apiVersion: v2\nname: ${name}\nversion: ${version}\n`);
  archive.entry({ name: `${name}/templates/cm.yaml` }, 'kind: ConfigMap\n');
  archive.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of archive) chunks.push(chunk as Buffer);
  return gzipSync(Buffer.concat(chunks));
}

const hex = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

interface Served {
  url: string;
  files: Map<string, Buffer | string>;
  requests: IncomingMessage[];
}

let server: Server;
let served: Served;
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'capstan-artifacts-'));
  const files = new Map<string, Buffer | string>();
  const requests: IncomingMessage[] = [];
  server = createServer((req, res) => {
    requests.push(req);
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const redirect = /^\/redirect(\/.*)$/.exec(path);
    if (redirect)
      return void res.writeHead(302, { Location: `http://localhost:${port()}${redirect[1]}` }).end();
    const body = files.get(path);
    if (body === undefined) return void res.writeHead(404).end();
    res.writeHead(200).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  served = { url: `http://127.0.0.1:${port()}`, files, requests };
});

afterEach(async () => {
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

const port = () => (server.address() as AddressInfo).port;

function indexYaml(entries: { version: string; url: string; digest?: string }[]): string {
  const lines = ['apiVersion: v1', 'entries:', '  web:'];
  for (const e of entries) {
    lines.push(`  - version: ${e.version}`, `    urls: [${JSON.stringify(e.url)}]`);
    if (e.digest) lines.push(`    digest: ${e.digest}`);
  }
  return `${lines.join('\n')}\n`;
}

const helmRepo = (extra: Partial<ArtifactRepository['artifact']> = {}): ArtifactRepository => ({
  url: `${served.url}/charts`,
  kind: 'helm',
  artifact: extra,
});

describe('Helm repositories', () => {
  it('resolves a range to the newest version, verified, and checks it out', async () => {
    const v1 = await chartArchive('web', '1.0.0');
    const v11 = await chartArchive('web', '1.1.0');
    served.files.set('/charts/web-1.0.0.tgz', v1);
    served.files.set('/charts/web-1.1.0.tgz', v11);
    served.files.set(
      '/charts/index.yaml',
      indexYaml([
        { version: '1.0.0', url: 'web-1.0.0.tgz', digest: hex(v1) },
        { version: '1.1.0', url: 'web-1.1.0.tgz', digest: hex(v11) },
        { version: '2.0.0-rc.1', url: 'web-2.0.0-rc.1.tgz' },
      ]),
    );
    const source = createArtifactSource({ cacheDir: dir });
    const revision = await source.resolve(helmRepo(), 'web@^1.0.0');
    expect(revision.sha).toBe(`1.1.0@sha256:${hex(v11)}`);
    expect(revision.message).toBe('chart web 1.1.0');
    expect(shortRevision(revision.sha)).toBe(`1.1.0@sha256:${hex(v11).slice(0, 12)}`);

    // A second resolve reads the index only: the chart is kept by digest.
    const before = served.requests.length;
    await source.resolve(helmRepo(), 'web@^1.0.0');
    expect(served.requests.slice(before).map((r) => r.url)).toEqual(['/charts/index.yaml']);

    const out = join(dir, 'out');
    await source.checkout(helmRepo(), revision.sha, out);
    expect(await readFile(join(out, 'web', 'Chart.yaml'), 'utf8')).toContain('version: 1.1.0');
  });

  describe('with a keyring', () => {
    async function signer(): Promise<{ keyring: Uint8Array; prov(archive: Buffer): Promise<string> }> {
      const { privateKey, publicKey } = await openpgp.generateKey({
        type: 'ecc',
        curve: 'curve25519Legacy',
        userIDs: [{ name: 'Capstan Test', email: 'test@example.com' }],
        format: 'object',
      });
      return {
        keyring: publicKey.write(),
        prov: async (archive) => {
          const text = `apiVersion: v2\nname: web\nversion: 1.0.0\n\n...\nfiles:\n  web-1.0.0.tgz: sha256:${hex(archive)}\n`;
          const message = await openpgp.createCleartextMessage({ text });
          return openpgp.sign({ message, signingKeys: privateKey });
        },
      };
    }

    it('checks a chart cached before the keyring was given, and says who signed it', async () => {
      const key = await signer();
      const v1 = await chartArchive('web', '1.0.0');
      served.files.set('/charts/web-1.0.0.tgz', v1);
      served.files.set(
        '/charts/index.yaml',
        indexYaml([{ version: '1.0.0', url: 'web-1.0.0.tgz', digest: hex(v1) }]),
      );
      const source = createArtifactSource({ cacheDir: dir });
      await source.resolve(helmRepo(), 'web@1.0.0');
      await expect(source.resolve(helmRepo({ keyring: key.keyring }), 'web@1.0.0')).rejects.toThrow(
        /has no provenance file \(web-1.0.0.tgz.prov\)/,
      );
      served.files.set('/charts/web-1.0.0.tgz.prov', await key.prov(v1));
      const revision = await source.resolve(helmRepo({ keyring: key.keyring }), 'web@1.0.0');
      expect(revision.message).toMatch(/^chart web 1.0.0 \(provenance signed by [0-9A-F]{40}\)$/);
      // A pinned revision is served from the store once checked; a fresh controller must check it.
      await source.resolve(helmRepo({ keyring: key.keyring }), revision.sha);
      await expect(
        createArtifactSource({ cacheDir: dir }).resolve(helmRepo({ keyring: key.keyring }), revision.sha),
      ).rejects.toThrow(/has not had its provenance checked/);
    });

    it('does not let a signed archive vouch for another the index names', async () => {
      const key = await signer();
      const signed = await chartArchive('web', '1.0.0');
      const evil = await chartArchive('web', '1.0.0-evil');
      served.files.set('/charts/web-1.0.0.tgz.prov', await key.prov(signed));
      served.files.set(
        '/charts/index.yaml',
        indexYaml([{ version: '1.0.0', url: 'web-1.0.0.tgz', digest: hex(evil) }]),
      );
      const source = createArtifactSource({ cacheDir: dir });
      served.files.set('/charts/web-1.0.0.tgz', signed);
      await expect(source.resolve(helmRepo({ keyring: key.keyring }), 'web@1.0.0')).rejects.toThrow(/digest/);
      served.files.set('/charts/web-1.0.0.tgz', evil);
      await expect(source.resolve(helmRepo({ keyring: key.keyring }), 'web@1.0.0')).rejects.toThrow(
        /not the one its provenance signs/,
      );
    });
  });

  it('refuses a chart whose bytes are not the digest the index gives', async () => {
    served.files.set('/charts/web-1.0.0.tgz', await chartArchive('web', '1.0.0'));
    served.files.set(
      '/charts/index.yaml',
      indexYaml([{ version: '1.0.0', url: 'web-1.0.0.tgz', digest: hex('other') }]),
    );
    const source = createArtifactSource({ cacheDir: dir });
    await expect(source.resolve(helmRepo(), 'web@1.0.0')).rejects.toThrow(
      /chart web 1.0.0 is refused: its content has digest sha256:/,
    );
    expect(await readdir(dir).catch(() => [])).not.toContain('sha256');
  });

  it('names the versions there are when none satisfies the range', async () => {
    served.files.set('/charts/index.yaml', indexYaml([{ version: '1.0.0', url: 'web-1.0.0.tgz' }]));
    const source = createArtifactSource({ cacheDir: dir });
    await expect(source.resolve(helmRepo(), 'web@>=2')).rejects.toThrow(
      /no version of chart 'web' in .* satisfies '>=2' \(it has 1.0.0\)/,
    );
    await expect(source.resolve(helmRepo(), 'api@1.0.0')).rejects.toThrow(/chart 'api' is not in/);
  });

  it('sends credentials to the repository only: not across a redirect to another origin', async () => {
    const v1 = await chartArchive('web', '1.0.0');
    served.files.set('/other/web-1.0.0.tgz', v1);
    served.files.set(
      '/charts/index.yaml',
      indexYaml([{ version: '1.0.0', url: `${served.url}/redirect/other/web-1.0.0.tgz`, digest: hex(v1) }]),
    );
    const source = createArtifactSource({ cacheDir: dir });
    const repo = helmRepo({ auth: { username: 'u', password: 'pw' }, allowInsecureHttp: true });
    await source.resolve(repo, 'web@1.0.0');
    const auth = served.requests.map((r) => [r.url, r.headers.authorization !== undefined]);
    expect(auth).toEqual([
      ['/charts/index.yaml', true],
      ['/redirect/other/web-1.0.0.tgz', false],
      ['/other/web-1.0.0.tgz', false],
    ]);
  });

  it('refuses credentials over plain http unless the Secret allows it, and an index past its size', async () => {
    served.files.set('/charts/index.yaml', 'x'.repeat(2048));
    const source = createArtifactSource({ cacheDir: dir, maxIndexBytes: 1024 });
    await expect(
      source.resolve(helmRepo({ auth: { username: 'u', password: 'pw' } }), 'web@1.0.0'),
    ).rejects.toThrow(/would go over plain http/);
    expect(served.requests).toEqual([]);
    await expect(source.resolve(helmRepo(), 'web@1.0.0')).rejects.toThrow(/larger than 1 KiB/);
  });

  it('refuses link-local and metadata addresses', async () => {
    const source = createArtifactSource({ cacheDir: dir });
    const repo: ArtifactRepository = { url: 'http://169.254.169.254/charts', kind: 'helm', artifact: {} };
    await expect(source.resolve(repo, 'web@1.0.0')).rejects.toThrow(/link-local or cloud metadata/);
  });
});

describe('refs and URLs', () => {
  it('puts the chart of a Helm Application in front of its ref', () => {
    expect(sourceRefOf('helm', { ref: '>=1.0 <2', path: 'web' })).toBe('web@>=1.0 <2');
    expect(sourceRefOf('git', { ref: 'main', path: 'web' })).toBe('main');
    expect(parseHelmRef('web@main')).toEqual({ chart: 'web', range: '*' });
    expect(() => parseHelmRef('@1.0.0')).toThrow(/names its chart in spec.path/);
  });

  it('parses oci:// URLs and refs', () => {
    expect(parseOciUrl('oci://127.0.0.1:5000/charts/web')).toEqual({
      registry: '127.0.0.1:5000',
      repository: 'charts/web',
    });
    expect(() => parseOciUrl('oci://host/Upper')).toThrow(/lowercase/);
    expect(() => parseOciUrl('https://host/x')).toThrow(/oci:\/\/host/);
    expect(parseOciRef('1.2.3')).toEqual({ kind: 'tag', tag: '1.2.3' });
    expect(parseOciRef('>=1.0.0 <2')).toEqual({ kind: 'range', range: '>=1.0.0 <2' });
    expect(parseOciRef(`sha256:${'a'.repeat(64)}`)).toEqual({
      kind: 'digest',
      digest: `sha256:${'a'.repeat(64)}`,
    });
    expect(scopeUrlOf({ type: 'oci', url: 'oci://ghcr.io/o/r', plainHttp: false })).toBe(
      'https://ghcr.io/o/r',
    );
    expect(scopeUrlOf({ type: 'helm', url: 'https://charts.example.com/' })).toBe(
      'https://charts.example.com/index.yaml',
    );
  });

  it('reads a Secret only for a URL it allows', () => {
    const data = {
      username: Buffer.from('u').toString('base64'),
      password: Buffer.from('pw').toString('base64'),
    };
    const secret = { namespace: 'ns', name: 's', annotations: {}, data };
    expect(() => artifactRepository({ type: 'helm', url: 'https://charts.example.com' }, secret)).toThrow(
      /capstan.dev\/git-urls/,
    );
    const allowed = { ...secret, annotations: { 'capstan.dev/git-urls': 'https://charts.example.com/' } };
    expect(
      artifactRepository({ type: 'helm', url: 'https://charts.example.com' }, allowed).artifact.auth,
    ).toEqual({
      username: 'u',
      password: 'pw',
    });
  });

  it('picks the content layer of a manifest and refuses a huge one', () => {
    const layer = (mediaType: string, size = 10) => ({ mediaType, size, digest: `sha256:${'b'.repeat(64)}` });
    expect(contentLayer({ layers: [layer(FLUX_CONTENT_LAYER)] }, 'x', 100).stripComponents).toBe(0);
    expect(contentLayer({ layers: [layer('x/y'), layer(HELM_CHART_LAYER)] }, 'x', 100).stripComponents).toBe(
      1,
    );
    expect(
      contentLayer({ layers: [layer('application/vnd.oci.image.layer.v1.tar+gzip')] }, 'x', 100),
    ).toBeTruthy();
    expect(() => contentLayer({ layers: [layer(FLUX_CONTENT_LAYER, 2 ** 31)] }, 'x', 100)).toThrow(
      /declares 2048 MiB, more than the 100 bytes allowed/,
    );
    expect(() => contentLayer({ manifests: [] }, 'x', 100)).toThrow(/image index/);
    expect(() => contentLayer({ layers: [layer('application/json')] }, 'x', 100)).toThrow(/no layer/);
  });
});

describe('OCI artifacts', () => {
  /** A registry stand-in holding one artifact: what H3's client returns, digests as given. */
  function fakeRegistry(layerData: Buffer, layerDigest: string, manifestDigest: string): RegistryClient {
    const manifest = {
      schemaVersion: 2,
      layers: [{ mediaType: FLUX_CONTENT_LAYER, digest: layerDigest, size: layerData.length }],
    };
    return {
      listTags: async () => ['1.0.0', '1.2.0', '2.0.0', 'latest'],
      resolve: async () => ({
        digest: manifestDigest,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        size: 1,
      }),
      getManifest: async () => ({
        info: { digest: manifestDigest, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 1 },
        json: manifest,
      }),
      fetchBlob: async () => layerData,
      createdAt: async () => undefined,
    } as RegistryClient;
  }

  it('resolves a range over tags, and checks out the layer', async () => {
    const archive = await chartArchive('app', '1.0.0');
    const manifestDigest = `sha256:${'c'.repeat(64)}`;
    const source = createArtifactSource({
      cacheDir: dir,
      registryClient: () => fakeRegistry(archive, `sha256:${hex(archive)}`, manifestDigest),
    });
    const repo: ArtifactRepository = { url: 'oci://registry.example/app', kind: 'oci', artifact: {} };
    const revision = await source.resolve(repo, '^1.0.0');
    expect(revision.sha).toBe(`1.2.0@${manifestDigest}`);
    const out = join(dir, 'out');
    await source.checkout(repo, revision.sha, out);
    expect(await readdir(out)).toEqual(['app']);
  });

  it('refuses a layer whose bytes are not its digest', async () => {
    const archive = await chartArchive('app', '1.0.0');
    const source = createArtifactSource({
      cacheDir: dir,
      registryClient: () => fakeRegistry(archive, `sha256:${hex('other')}`, `sha256:${'c'.repeat(64)}`),
    });
    const repo: ArtifactRepository = { url: 'oci://registry.example/app', kind: 'oci', artifact: {} };
    await expect(source.resolve(repo, '1.0.0')).rejects.toThrow(/is refused: its content has digest/);
  });

  it('is routed beside Git, which keeps what only Git has', async () => {
    const git = { listBranches: async () => new Map() } as never;
    const routed = routeSources(git, createArtifactSource({ cacheDir: dir }));
    const repo: ArtifactRepository = { url: 'oci://registry.example/app', kind: 'oci', artifact: {} };
    await expect(routed.listBranches(repo)).rejects.toThrow(
      /needs a Git repository; oci:\/\/registry.example\/app is an OCI/,
    );
    expect(await routed.changedPaths(repo, 'a', 'b')).toBeUndefined();
    expect(await routed.treeId(repo, `1.0.0@sha256:${'c'.repeat(64)}`, './web/')).toBe(
      `1.0.0@sha256:${'c'.repeat(64)}:web`,
    );
  });
});
