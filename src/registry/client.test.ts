/**
 * The client against a fake registry on loopback that misbehaves on purpose: what a hostile
 * registry (or its token service, or a CDN) can make Capstan do, and what it cannot.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../test/support/fake-clock.js';
import { describeError } from '../core/errors.js';
import { createRegistryClient, type RegistryClientOptions } from './client.js';
import { RegistryError } from './errors.js';
import { parseImageName } from './names.js';

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

interface FakeServer {
  readonly host: string;
  readonly requests: { url: string; authorization: string | undefined; method: string }[];
  handle: Handler;
}

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function fakeServer(handle: Handler = (_, res) => res.writeHead(404).end()): Promise<FakeServer> {
  const fake: FakeServer = { host: '', requests: [], handle };
  const server = createServer((request, response) => {
    fake.requests.push({
      url: request.url ?? '',
      authorization: request.headers.authorization,
      method: request.method ?? '',
    });
    fake.handle(request, response);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(fake, { host: `127.0.0.1:${(server.address() as AddressInfo).port}` });
}

const PASSWORD = 'hunter2-secret-password';
const TOKEN = 'tok-3f9a8b7c6d5e-secret';
const auth = { username: 'robot', password: PASSWORD };
const basic = `Basic ${Buffer.from(`robot:${PASSWORD}`).toString('base64')}`;

function json(response: ServerResponse, body: unknown, headers: Record<string, string> = {}): void {
  response.writeHead(200, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

function client(options: RegistryClientOptions = {}) {
  return createRegistryClient({ plainHttp: true, ...options });
}

/** The failure of `promise`, which must fail with a RegistryError. */
async function failure(promise: Promise<unknown>): Promise<RegistryError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RegistryError);
  // Whatever it says, it never carries a credential.
  expect(describeError(error)).not.toContain(PASSWORD);
  expect(describeError(error)).not.toContain(TOKEN);
  expect(describeError(error)).not.toContain(basic.slice(6));
  return error as RegistryError;
}

/** A registry that needs no auth and serves `routes` (path → handler), 404 elsewhere. */
async function openRegistry(routes: Record<string, Handler>): Promise<FakeServer> {
  return fakeServer((request, response) => {
    const path = (request.url ?? '').split('?')[0] ?? '';
    if (path === '/v2/') return json(response, {});
    const route = routes[path];
    if (route) return route(request, response);
    response.writeHead(404).end();
  });
}

describe('tag lists', () => {
  it('follows same-origin next links and keeps every tag once', async () => {
    const registry = await openRegistry({
      '/v2/app/tags/list': (request, response) => {
        const last = new URL(request.url ?? '', 'http://x').searchParams.get('last');
        if (last === null)
          return json(
            response,
            { tags: ['1.0.0', '1.1.0'] },
            { link: '</v2/app/tags/list?last=1.1.0&n=2>; rel="next"' },
          );
        if (last === '1.1.0')
          return json(
            response,
            { tags: ['1.1.0', '2.0.0', '../evil', 'a b'] },
            {
              link: `<http://${registry.host}/v2/app/tags/list?last=2.0.0&n=2>; rel="next"`,
            },
          );
        return json(response, { tags: null });
      },
    });
    const tags = await client({ tagPageSize: 2 }).listTags(parseImageName(`${registry.host}/app`));
    // Names that are not tags cannot be pulled, nor written into a manifest: dropped.
    expect(tags).toEqual(['1.0.0', '1.1.0', '2.0.0']);
    expect(registry.requests.map((r) => r.url)).toEqual([
      '/v2/',
      '/v2/app/tags/list?n=2',
      '/v2/app/tags/list?last=1.1.0&n=2',
      '/v2/app/tags/list?last=2.0.0&n=2',
    ]);
  });

  it('refuses a tag list larger than its byte bound', async () => {
    const huge = Array.from({ length: 5000 }, (_, i) => `v${i}-${'x'.repeat(40)}`);
    const registry = await openRegistry({
      '/v2/app/tags/list': (_, response) => json(response, { tags: huge }),
    });
    const error = await failure(
      client({ limits: { maxTagListBytes: 64 * 1024 } }).listTags(parseImageName(`${registry.host}/app`)),
    );
    expect(error.reason).toBe('tooLarge');
    expect(error.message).toBe(`registry ${registry.host}: the tag list is larger than 65536 bytes; refused`);
  });

  it('refuses more tags than its tag bound, over all pages', async () => {
    const registry = await openRegistry({
      '/v2/app/tags/list': (request, response) => {
        const page = Number(new URL(request.url ?? '', 'http://x').searchParams.get('page') ?? '0');
        json(
          response,
          { tags: Array.from({ length: 100 }, (_, i) => `p${page}-${i}`) },
          {
            link: `</v2/app/tags/list?page=${page + 1}>; rel="next"`,
          },
        );
      },
    });
    const error = await failure(
      client({ limits: { maxTags: 250 } }).listTags(parseImageName(`${registry.host}/app`)),
    );
    expect(error.reason).toBe('tooLarge');
    expect(error.message).toMatch(/more than 250 tags/);
  });

  it('stops endless pagination: empty pages forever, and a link back to a page seen', async () => {
    const endless = await openRegistry({
      '/v2/app/tags/list': (request, response) => {
        const page = Number(new URL(request.url ?? '', 'http://x').searchParams.get('page') ?? '0');
        json(response, { tags: [] }, { link: `</v2/app/tags/list?page=${page + 1}>; rel="next"` });
      },
    });
    const error = await failure(
      client({ limits: { maxTagPages: 20 } }).listTags(parseImageName(`${endless.host}/app`)),
    );
    expect(error.reason).toBe('tooLarge');
    expect(error.message).toMatch(/more than 20 pages/);
    expect(endless.requests.length).toBe(21);

    const loop = await openRegistry({
      '/v2/app/tags/list': (_, response) =>
        json(response, { tags: ['a'] }, { link: '</v2/app/tags/list?last=a>; rel="next"' }),
    });
    const looped = await failure(client().listTags(parseImageName(`${loop.host}/app`)));
    expect(looped.message).toMatch(/go round in a loop/);
  });

  it('refuses a next link to another host or another path, without following it', async () => {
    const elsewhere = await fakeServer((_, response) => json(response, { tags: ['stolen'] }));
    const registry = await openRegistry({
      '/v2/app/tags/list': (_, response) =>
        json(
          response,
          { tags: ['1.0.0'] },
          { link: `<http://${elsewhere.host}/v2/app/tags/list>; rel="next"` },
        ),
      '/v2/other/tags/list': (_, response) =>
        json(response, { tags: ['1.0.0'] }, { link: '</v2/secret/tags/list>; rel="next"' }),
    });
    const error = await failure(client({ auth }).listTags(parseImageName(`${registry.host}/app`)));
    expect(error.reason).toBe('protocol');
    expect(error.message).toBe(
      `registry ${registry.host}: its next-page link points elsewhere ('${elsewhere.host}'); refused`,
    );
    expect(elsewhere.requests).toEqual([]);
    const otherPath = await failure(client().listTags(parseImageName(`${registry.host}/other`)));
    expect(otherPath.message).toMatch(/points elsewhere .*another path/);
  });
});

describe('manifests and blobs', () => {
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256('{}'), size: 2 },
    layers: [],
  });
  const manifestDigest = sha256(manifest);
  const ociType = 'application/vnd.oci.image.manifest.v1+json';

  it('resolves by HEAD when the registry names the digest, by GET and sha256 when it does not', async () => {
    const registry = await openRegistry({
      '/v2/app/manifests/1.0.0': (request, response) => {
        response.writeHead(200, {
          'content-type': ociType,
          'content-length': String(manifest.length),
          'docker-content-digest': manifestDigest,
        });
        response.end(request.method === 'HEAD' ? undefined : manifest);
      },
      '/v2/app/manifests/2.0.0': (request, response) => {
        if (request.method === 'HEAD') return response.writeHead(405).end();
        response.writeHead(200, { 'content-type': ociType }).end(manifest);
      },
    });
    const image = parseImageName(`${registry.host}/app`);
    const expected = { digest: manifestDigest, mediaType: ociType, size: manifest.length };
    expect(await client().resolve(image, '1.0.0')).toEqual(expected);
    expect(await client().resolve(image, '2.0.0')).toEqual(expected);
    expect(
      registry.requests.filter((r) => r.url.includes('manifests')).map((r) => `${r.method} ${r.url}`),
    ).toEqual([
      'HEAD /v2/app/manifests/1.0.0',
      'HEAD /v2/app/manifests/2.0.0',
      'GET /v2/app/manifests/2.0.0',
    ]);
  });

  it('refuses a manifest that does not match the digest asked for, or the digest the registry named', async () => {
    const tampered = manifest.replace('"layers":[]', '"layers":[ ]');
    const registry = await openRegistry({
      [`/v2/app/manifests/${manifestDigest}`]: (_, response) =>
        response.writeHead(200, { 'content-type': ociType }).end(tampered),
      '/v2/app/manifests/1.0.0': (_, response) =>
        response
          .writeHead(200, { 'content-type': ociType, 'docker-content-digest': manifestDigest })
          .end(tampered),
    });
    const image = parseImageName(`${registry.host}/app`);
    const byDigest = await failure(client().getManifest(image, manifestDigest));
    expect(byDigest.reason).toBe('digest');
    expect(byDigest.message).toBe(
      `registry ${registry.host}: manifest '${manifestDigest}' does not match its digest (got ${sha256(tampered)}); refused`,
    );
    expect((await failure(client().getManifest(image, '1.0.0'))).reason).toBe('digest');
  });

  it('refuses a manifest over 4 MiB (declared or streamed) and one of an unknown media type', async () => {
    const big = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
    const registry = await openRegistry({
      '/v2/app/manifests/declared': (_, response) =>
        response.writeHead(200, { 'content-type': ociType, 'content-length': String(big.length) }).end(big),
      '/v2/app/manifests/streamed': (_, response) => {
        response.writeHead(200, { 'content-type': ociType });
        response.write(big.subarray(0, 2 * 1024 * 1024));
        response.end(big.subarray(2 * 1024 * 1024));
      },
      '/v2/app/manifests/schema1': (_, response) =>
        response
          .writeHead(200, { 'content-type': 'application/vnd.docker.distribution.manifest.v1+prettyjws' })
          .end(JSON.stringify({ schemaVersion: 2, layers: [] })),
    });
    const image = parseImageName(`${registry.host}/app`);
    for (const tag of ['declared', 'streamed']) {
      const error = await failure(client().getManifest(image, tag));
      expect(error.reason).toBe('tooLarge');
      expect(error.message).toBe(
        `registry ${registry.host}: the manifest '${tag}' is larger than the limit of 4 MiB`,
      );
    }
    expect((await failure(client().getManifest(image, 'schema1'))).message).toMatch(
      /media type 'application\/vnd\.docker\.distribution\.manifest\.v1\+prettyjws', not an OCI or Docker v2/,
    );
  });

  it('fetches a blob redirected to another host without the Authorization header, and checks it', async () => {
    const layer = Buffer.from('layer bytes');
    const cdn = await fakeServer((request, response) => {
      if (request.url === '/good') return response.writeHead(200).end(layer);
      response.writeHead(200).end('something else');
    });
    const registry = await fakeServer((request, response) => {
      if (request.headers.authorization !== basic)
        return response.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end();
      if (request.url === '/v2/') return json(response, {});
      const good = request.url === `/v2/app/blobs/${sha256(layer)}`;
      response.writeHead(307, { location: `http://${cdn.host}/${good ? 'good' : 'bad'}` }).end();
    });
    const image = parseImageName(`${registry.host}/app`);
    const blob = await client({ auth }).fetchBlob(image, sha256(layer), { maxBytes: 1024 });
    expect(blob.equals(layer)).toBe(true);
    expect(cdn.requests).toEqual([{ url: '/good', authorization: undefined, method: 'GET' }]);

    const wrong = await failure(client({ auth }).fetchBlob(image, sha256('other'), { maxBytes: 1024 }));
    expect(wrong.reason).toBe('digest');
    expect(cdn.requests.every((r) => r.authorization === undefined)).toBe(true);
  });

  it('refuses more than five redirects', async () => {
    const registry = await openRegistry({
      '/v2/app/blobs/sha256:1111111111111111111111111111111111111111111111111111111111111111': (
        request,
        response,
      ) => response.writeHead(302, { location: request.url ?? '/' }).end(),
    });
    const error = await failure(
      client().fetchBlob(parseImageName(`${registry.host}/app`), `sha256:${'1'.repeat(64)}`, {
        maxBytes: 10,
      }),
    );
    expect(error.message).toMatch(/more than 5 redirects/);
  });

  it('cuts a blob off at maxBytes, declared or not', async () => {
    const data = Buffer.alloc(10_000, 1);
    const registry = await openRegistry({
      [`/v2/app/blobs/${sha256(data)}`]: (_, response) => {
        response.writeHead(200);
        response.write(data.subarray(0, 5000));
        response.end(data.subarray(5000));
      },
    });
    const error = await failure(
      client().fetchBlob(parseImageName(`${registry.host}/app`), sha256(data), { maxBytes: 4096 }),
    );
    expect(error.reason).toBe('tooLarge');
    expect(error.message).toMatch(/the blob sha256:[0-9a-f]{64} is larger than the limit of 4 KiB/);
  });

  it('gives up on a registry that drips its answer, and when the caller aborts', async () => {
    const registry = await openRegistry({
      '/v2/app/tags/list': (_, response) => {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.write('{"tags":[');
        const drip = setInterval(() => response.write('"a",'), 20);
        response.on('close', () => clearInterval(drip));
      },
    });
    const image = parseImageName(`${registry.host}/app`);
    const slow = await failure(client({ timeoutMs: 300 }).listTags(image));
    expect(slow.reason).toBe('unreachable');
    expect(slow.message).toBe(`registry ${registry.host}: no complete answer in time`);

    const controller = new AbortController();
    const pending = client().listTags(image, { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    expect((await failure(pending)).message).toBe(`registry ${registry.host}: the request was cancelled`);
  });

  it('passes on how long a rate-limited registry asks to wait', async () => {
    const registry = await openRegistry({
      '/v2/app/tags/list': (_, response) => response.writeHead(429, { 'retry-after': '17' }).end(),
    });
    const error = await failure(client().listTags(parseImageName(`${registry.host}/app`)));
    expect(error).toMatchObject({
      reason: 'unreachable',
      kind: 'transient',
      retryAfterMs: 17_000,
      status: 429,
    });
  });

  it('refuses link-local and metadata addresses unless allowed', async () => {
    const error = await client()
      .listTags(parseImageName('169.254.169.254/app'))
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: 'user' });
    expect((error as Error).message).toMatch(/refusing to connect to a link-local or cloud metadata address/);
  });
});

describe('token auth', () => {
  /** A registry whose token service is at `realm` (default its own /token). */
  async function tokenRegistry(options: { realm?: string; expiresIn?: number } = {}) {
    const registry = await fakeServer((request, response) => {
      const url = new URL(request.url ?? '', 'http://x');
      if (url.pathname === '/token') {
        if (request.headers.authorization !== basic) return response.writeHead(401).end();
        return json(response, { access_token: TOKEN, expires_in: options.expiresIn ?? 300 });
      }
      const realm = options.realm ?? `http://${registry.host}/token`;
      if (request.headers.authorization !== `Bearer ${TOKEN}`)
        return response
          .writeHead(401, {
            'www-authenticate': `Bearer realm="${realm}",service="fake",scope="repository:app:pull"`,
          })
          .end();
      if (url.pathname === '/v2/') return json(response, {});
      if (url.pathname === '/v2/app/tags/list') return json(response, { tags: ['1.0.0'] });
      response.writeHead(404).end();
    });
    return registry;
  }

  it('gets a token with the credentials, caches it per scope until it expires (at least 60 s)', async () => {
    const registry = await tokenRegistry({ expiresIn: 5 });
    const clock = new FakeClock();
    const registryClient = client({ auth, clock });
    const image = parseImageName(`${registry.host}/app`);
    expect(await registryClient.listTags(image)).toEqual(['1.0.0']);
    expect(await registryClient.listTags(image)).toEqual(['1.0.0']);
    const tokenRequests = () => registry.requests.filter((r) => r.url.startsWith('/token'));
    expect(tokenRequests()).toEqual([
      { url: '/token?service=fake&scope=repository%3Aapp%3Apull', authorization: basic, method: 'GET' },
    ]);
    clock.advance(59_000);
    await registryClient.listTags(image);
    expect(tokenRequests().length).toBe(1);
    clock.advance(2_000);
    await registryClient.listTags(image);
    expect(tokenRequests().length).toBe(2);
  });

  it('sends no credentials to a token realm on another host, and refuses to go on', async () => {
    const realm = await fakeServer((_, response) => json(response, { token: 'anonymous' }));
    const registry = await tokenRegistry({ realm: `http://${realm.host}/token` });
    const image = parseImageName(`${registry.host}/app`);
    const error = await failure(client({ auth }).listTags(image));
    expect(error.reason).toBe('auth');
    expect(error.message).toBe(
      `registry ${registry.host}: its token service is on another host, '${realm.host}', which may not receive the credentials (allow that host as a token realm if it is the registry’s own)`,
    );
    expect(realm.requests).toEqual([]);

    // Without credentials an anonymous token is all that can be asked for, from anywhere.
    await failure(client().listTags(image));
    expect(realm.requests.length).toBeGreaterThan(0);
    expect(realm.requests.every((r) => r.authorization === undefined)).toBe(true);
  });

  it('says the token service refused wrong credentials', async () => {
    const registry = await tokenRegistry();
    const image = parseImageName(`${registry.host}/app`);
    const wrong = await failure(
      client({ auth: { username: 'robot', password: 'wrong-password' } }).listTags(image),
    );
    expect(wrong.message).toBe(
      `registry ${registry.host}: its token service refused the credentials (HTTP 401)`,
    );
  });

  it('uses credentials for one registry host only', async () => {
    const registry = await tokenRegistry();
    const registryClient = client({ auth, registry: registry.host });
    const other = await openRegistry({});
    const error = await failure(registryClient.listTags(parseImageName(`${other.host}/app`)));
    expect(error.reason).toBe('auth');
    expect(other.requests.every((r) => r.authorization === undefined)).toBe(true);
  });
});
