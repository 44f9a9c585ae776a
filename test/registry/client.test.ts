/**
 * The registry client against real registries: the CNCF distribution registry without auth and
 * behind basic auth (htpasswd), and Gitea's container registry (Bearer tokens from its /v2/token
 * realm). Images are pushed with the real crane.
 */
import { extract } from 'tar-stream';
import { gunzipSync } from 'node:zlib';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { describeError } from '../../src/core/errors.js';
import {
  RegistryError,
  createRegistryClient,
  parseImageName,
  type RegistryClient,
} from '../../src/registry/index.js';
import { sharedForge } from '../support/forge.js';
import {
  craneDigest,
  giteaRegistry,
  pushImage,
  sharedRegistry,
  tagImage,
  uniqueRepo,
  type PushTarget,
} from '../support/registry.js';

interface Manifest {
  readonly layers: readonly { readonly digest: string; readonly size: number }[];
}

/** Pushes 1.0.0, 1.1.0, 1.2.0 (annotated with its creation time) and tags 1.0.0 as latest. */
async function pushVersions(target: PushTarget, repository: string): Promise<void> {
  await pushImage(target, repository, '1.0.0');
  await pushImage(target, repository, '1.1.0');
  await pushImage(target, repository, '1.2.0', {
    annotations: { 'org.opencontainers.image.created': '2026-11-30T12:00:00Z' },
  });
  await tagImage(target, repository, '1.0.0', 'latest');
}

/** The files of a gzipped layer tarball. */
async function filesOf(layer: Buffer): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  const tar = extract();
  tar.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: unknown) => chunks.push(chunk as Buffer));
    stream.on('end', () => {
      files[header.name] = Buffer.concat(chunks).toString('utf8');
      next();
    });
  });
  const done = new Promise<void>((resolve, reject) => tar.on('finish', () => resolve()).on('error', reject));
  Readable.from([gunzipSync(layer)]).pipe(tar);
  await done;
  return files;
}

/** Lists, resolves, reads and fetches as every registry must allow. */
async function expectFullAccess(
  client: RegistryClient,
  target: PushTarget,
  repository: string,
): Promise<void> {
  const image = parseImageName(`${target.host}/${repository}`);
  expect([...(await client.listTags(image))].sort()).toEqual(['1.0.0', '1.1.0', '1.2.0', 'latest']);

  const resolved = await client.resolve(image, '1.2.0');
  expect(resolved.digest).toBe(await craneDigest(target, `${target.host}/${repository}:1.2.0`));
  expect(resolved.mediaType).toMatch(/manifest/);

  const { info, json } = await client.getManifest(image, resolved.digest);
  expect(info).toEqual(resolved);
  const layer = (json as Manifest).layers[0];
  expect(layer).toBeDefined();
  const blob = await client.fetchBlob(image, layer!.digest, { maxBytes: 1024 * 1024 });
  expect(blob.length).toBe(layer!.size);
  expect(await filesOf(blob)).toEqual({ 'version.txt': `${repository}:1.2.0\n` });

  expect((await client.createdAt(image, '1.2.0'))?.toISOString()).toBe('2026-11-30T12:00:00.000Z');
  // crane's empty base records no creation time.
  expect(await client.createdAt(image, '1.1.0')).toBeUndefined();
}

describe('the registry client against the CNCF distribution registry', () => {
  it('lists tags page by page (n=2), resolves digests as crane does and fetches a layer', async () => {
    const target = await sharedRegistry();
    const repository = `${uniqueRepo()}/app`;
    await pushVersions(target, repository);
    await expectFullAccess(createRegistryClient({ plainHttp: true, tagPageSize: 2 }), target, repository);
  });

  it('says clearly what is missing', async () => {
    const target = await sharedRegistry();
    const repository = `${uniqueRepo()}/app`;
    await pushImage(target, repository, '1.0.0');
    const client = createRegistryClient({ plainHttp: true });
    const image = parseImageName(`${target.host}/${repository}`);
    const missing = await client.resolve(image, '9.9.9').catch((error: unknown) => error);
    expect(missing).toBeInstanceOf(RegistryError);
    expect(missing).toMatchObject({ reason: 'notFound', kind: 'notFound' });
    expect((missing as Error).message).toBe(
      `registry ${target.host}: manifest '9.9.9' was not found (HTTP 404)`,
    );
    // A GET has a body: the spec's error code comes along (never the registry's free text).
    await expect(client.getManifest(image, '9.9.9')).rejects.toThrow(
      `registry ${target.host}: manifest '9.9.9' was not found (HTTP 404, MANIFEST_UNKNOWN)`,
    );
    const wrongDigest = `sha256:${'0'.repeat(64)}`;
    await expect(client.fetchBlob(image, wrongDigest, { maxBytes: 1024 })).rejects.toMatchObject({
      reason: 'notFound',
    });
    await expect(
      client.listTags(parseImageName(`${target.host}/${uniqueRepo()}/none`)),
    ).rejects.toMatchObject({ reason: 'notFound' });
  });

  it('authenticates with basic auth, and refuses without credentials or with wrong ones', async () => {
    const target = await sharedRegistry('basic');
    expect(target.username).toBeDefined();
    const repository = `${uniqueRepo()}/app`;
    await pushVersions(target, repository);
    const auth = { username: target.username!, password: target.password! };
    await expectFullAccess(
      createRegistryClient({ plainHttp: true, tagPageSize: 2, auth }),
      target,
      repository,
    );

    const image = parseImageName(`${target.host}/${repository}`);
    const anonymous = await createRegistryClient({ plainHttp: true })
      .listTags(image)
      .catch((error: unknown) => error);
    expect(anonymous).toMatchObject({ reason: 'auth', kind: 'user' });
    expect((anonymous as Error).message).toMatch(
      /access refused \(HTTP 401, UNAUTHORIZED\); credentials may be needed/,
    );

    const wrongPassword = `${target.password!}-wrong`;
    const refused = await createRegistryClient({
      plainHttp: true,
      auth: { username: target.username!, password: wrongPassword },
    })
      .resolve(image, '1.0.0')
      .catch((error: unknown) => error);
    expect(refused).toMatchObject({ reason: 'auth' });
    expect(describeError(refused)).not.toContain(wrongPassword);
  });
});

describe('the registry client against Gitea’s container registry (token auth)', () => {
  it('gets a Bearer token from the realm on the registry’s host and reads the image', async () => {
    const forge = await sharedForge();
    const user = await forge.createUser();
    const target = giteaRegistry(forge, user);
    const repository = `${user.username}/app`;
    await pushVersions(target, repository);
    const client = createRegistryClient({
      plainHttp: true,
      tagPageSize: 2,
      auth: { username: user.username, password: user.password },
    });
    await expectFullAccess(client, target, repository);

    const refused = await createRegistryClient({
      plainHttp: true,
      auth: { username: user.username, password: 'not-the-password' },
    })
      .listTags(parseImageName(`${target.host}/${repository}`))
      .catch((error: unknown) => error);
    expect(refused).toMatchObject({ reason: 'auth' });
    expect((refused as Error).message).toMatch(/token service refused the credentials/);
  });
});
