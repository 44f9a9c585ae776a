import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UserError } from '../core/errors.js';
import { aggregatedDiscovery, sendJson, startFakeApiServer } from '../../test/kube/fake-apiserver.js';
import { loadConnection } from './config.js';
import { createKubeClient } from './index.js';

function kubeconfig(
  user: Record<string, unknown>,
  cluster: Record<string, unknown> = { server: 'https://127.0.0.1:6443' },
): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c', cluster }],
    users: [{ name: 'u', user }],
    contexts: [
      { name: 'main', context: { cluster: 'c', user: 'u', namespace: 'apps' } },
      { name: 'other', context: { cluster: 'c', user: 'u' } },
    ],
    'current-context': 'main',
  });
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'capstan-kubeconfig-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** An exec plugin (node itself) that leaves a marker file and prints a token numbered by run. */
function execPlugin(marker: string): Record<string, unknown> {
  const script =
    `const fs=require('fs');const n=fs.existsSync(${JSON.stringify(marker)})?2:1;fs.writeFileSync(${JSON.stringify(marker)},'x');` +
    `console.log(JSON.stringify({apiVersion:'client.authentication.k8s.io/v1',kind:'ExecCredential',status:{token:'exec-token-'+n}}))`;
  return {
    exec: { apiVersion: 'client.authentication.k8s.io/v1', command: process.execPath, args: ['-e', script] },
  };
}

describe('loadConnection', () => {
  it('reads server, CA, bearer token and the context namespace', async () => {
    const connection = await loadConnection({
      kubeconfig: kubeconfig(
        { token: 'abc' },
        {
          server: 'https://127.0.0.1:6443',
          'certificate-authority-data': Buffer.from('PEM').toString('base64'),
        },
      ),
    });
    expect(connection.server).toBe('https://127.0.0.1:6443');
    expect(String(connection.tls.ca)).toBe('PEM');
    expect(await connection.credentials.current()).toEqual({ headers: { authorization: 'Bearer abc' } });
    expect(connection.credentials.rotates).toBe(false);
    expect(connection.namespace).toBe('apps');
  });

  it('turns basic auth into a header and honours another context', async () => {
    const connection = await loadConnection({
      kubeconfig: kubeconfig({ username: 'admin', password: 'pw' }),
      context: 'other',
    });
    expect((await connection.credentials.current()).headers.authorization).toBe(
      `Basic ${Buffer.from('admin:pw').toString('base64')}`,
    );
    expect(connection.namespace).toBeUndefined();
    await expect(loadConnection({ kubeconfig: kubeconfig({ token: 'x' }), context: 'nope' })).rejects.toThrow(
      'no context "nope"',
    );
  });

  it('runs exec plugins for our own kubeconfig, caching the credential until invalidated', async () => {
    const marker = join(dir, 'ran');
    const connection = await loadConnection({ kubeconfig: kubeconfig(execPlugin(marker)) });
    expect(connection.credentials.rotates).toBe(true);
    expect((await connection.credentials.current()).headers.authorization).toBe('Bearer exec-token-1');
    expect((await connection.credentials.current()).headers.authorization).toBe('Bearer exec-token-1');
    connection.credentials.invalidate?.();
    expect((await connection.credentials.current()).headers.authorization).toBe('Bearer exec-token-2');
  });

  it('refuses exec plugins and auth providers in tenant kubeconfigs without running anything', async () => {
    const marker = join(dir, 'ran');
    const refused = await loadConnection({
      kubeconfig: kubeconfig(execPlugin(marker)),
      allowExecPlugins: false,
    }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(UserError);
    expect(String(refused)).toContain('exec plugin');
    expect(existsSync(marker)).toBe(false);
    await expect(
      loadConnection({
        kubeconfig: kubeconfig({ 'auth-provider': { name: 'gcp', config: { 'cmd-path': '/bin/sh' } } }),
        allowExecPlugins: false,
      }),
    ).rejects.toThrow('auth provider "gcp"');
  });

  it('can refuse kubeconfigs that point at local files', async () => {
    await expect(
      loadConnection({
        kubeconfig: kubeconfig({ 'client-certificate': '/etc/passwd', 'client-key': '/etc/shadow' }),
        allowFileReferences: false,
      }),
    ).rejects.toThrow('local files');
  });

  it('explains what is wrong with unusable kubeconfigs', async () => {
    await expect(
      loadConnection({ kubeconfig: kubeconfig({ token: 'x' }, { server: 'http://127.0.0.1:8080' }) }),
    ).rejects.toThrow('plain HTTP');
    await expect(loadConnection({ kubeconfig: 'a: [' })).rejects.toBeInstanceOf(UserError);
    await expect(loadConnection({ kubeconfig: 'x', kubeconfigPath: '/x' })).rejects.toThrow('at most one');
  });
});

describe('createKubeClient', () => {
  it('talks to the server a kubeconfig names, with its token', async () => {
    const server = await startFakeApiServer((request, response) => {
      if (request.url === '/api')
        return sendJson(
          response,
          200,
          aggregatedDiscovery({
            '': { v1: [{ resource: 'namespaces', kind: 'Namespace', namespaced: false }] },
          }),
        );
      if (request.url === '/apis') return sendJson(response, 200, aggregatedDiscovery({}));
      sendJson(response, 200, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'apps' } });
    });
    try {
      const client = await createKubeClient({
        kubeconfig: kubeconfig({ token: 'sekret' }, { server: server.url, 'insecure-skip-tls-verify': true }),
        userAgent: 'capstan-test',
      });
      expect(client.contextNamespace).toBe('apps');
      expect(await client.get({ group: '', kind: 'Namespace', name: 'apps' })).toMatchObject({
        metadata: { name: 'apps' },
      });
      expect(
        server.requests.every(
          (r) => r.headers.authorization === 'Bearer sekret' && r.headers['user-agent'] === 'capstan-test',
        ),
      ).toBe(true);
      client.close();
    } finally {
      await server.close();
    }
  });
});
