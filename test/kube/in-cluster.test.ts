/**
 * In-cluster configuration, as a pod sees it: KUBERNETES_SERVICE_HOST/PORT and the service
 * account's token, CA and namespace files. The files live under a temporary root instead of `/`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { createKubeClient, isKubeApiError } from '../../src/kube/index.js';
import { freshNamespace, kubectlOk } from '../support/cluster.js';
import { makeTempDir } from '../support/git-servers.js';

const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
afterEach(() => {
  for (const [key, value] of [
    ['KUBERNETES_SERVICE_HOST', saved.host],
    ['KUBERNETES_SERVICE_PORT', saved.port],
  ] as const) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
});

describe('in-cluster configuration', () => {
  it('authenticates as the pod service account', async () => {
    const namespace = await freshNamespace('incluster');
    await kubectlOk(['create', 'serviceaccount', 'pod', '-n', namespace]);
    await kubectlOk(['create', 'role', 'read-cm', '-n', namespace, '--verb=list', '--resource=configmaps']);
    await kubectlOk([
      'create',
      'rolebinding',
      'read-cm',
      '-n',
      namespace,
      '--role=read-cm',
      `--serviceaccount=${namespace}:pod`,
    ]);
    const token = (await kubectlOk(['create', 'token', 'pod', '-n', namespace])).trim();

    const root = await makeTempDir('pod');
    const dir = join(root, 'var/run/secrets/kubernetes.io/serviceaccount');
    await mkdir(dir, { recursive: true });
    const ca = Buffer.from(
      /certificate-authority-data: (\S+)/.exec(inject('kubeconfig'))![1]!,
      'base64',
    ).toString();
    await writeFile(join(dir, 'token'), token);
    await writeFile(join(dir, 'ca.crt'), ca);
    await writeFile(join(dir, 'namespace'), namespace);
    const server = new URL(inject('server'));
    process.env.KUBERNETES_SERVICE_HOST = server.hostname;
    process.env.KUBERNETES_SERVICE_PORT = server.port;

    const kube = await createKubeClient({ inCluster: true, inClusterRoot: root });
    try {
      expect(kube.contextNamespace).toBe(namespace);
      const list = await kube.list('', 'v1', 'ConfigMap', { namespace });
      expect(list.items.map((i) => i.metadata.name)).toContain('kube-root-ca.crt');
      const refused = await kube.list('', 'v1', 'Secret', { namespace }).catch((error: unknown) => error);
      expect(isKubeApiError(refused) && refused.message).toContain(`system:serviceaccount:${namespace}:pod`);
    } finally {
      kube.close();
    }
  });
});
