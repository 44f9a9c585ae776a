/**
 * https with a custom CA: trusted when given (besides Node's bundle), refused when not. The
 * certificate is made by the openssl command for this test only.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistryClient } from './client.js';
import { parseImageName } from './names.js';

let server: Server;
let host: string;
let cert: string;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'capstan-registry-tls-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=capstan-test-registry',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
    const key = readFileSync(join(dir, 'key.pem'), 'utf8');
    server = createServer({ cert, key }, (request, response) => {
      if (request.url === '/v2/') return response.writeHead(200).end('{}');
      if (request.url?.startsWith('/v2/app/blobs/'))
        return response.writeHead(302, { location: 'http://127.0.0.1:9/blob' }).end();
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"tags":["1.0.0"]}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('https registries', () => {
  it('trusts a custom CA when given one, and nothing unknown otherwise', async () => {
    const image = parseImageName(`${host}/app`);
    expect(await createRegistryClient({ caPem: cert }).listTags(image)).toEqual(['1.0.0']);
    await expect(createRegistryClient().listTags(image)).rejects.toMatchObject({
      reason: 'unreachable',
      message: expect.stringMatching(
        /TLS failed \((DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN)\)/,
      ),
    });
  });

  it('refuses a redirect from https to plain http', async () => {
    const image = parseImageName(`${host}/app`);
    await expect(
      createRegistryClient({ caPem: cert }).fetchBlob(image, `sha256:${'a'.repeat(64)}`, { maxBytes: 10 }),
    ).rejects.toMatchObject({
      reason: 'protocol',
      message: `registry ${host}: a redirect from https:// to plain http://; refused`,
    });
  });
});
