/**
 * ImagePolicies as a tenant would abuse them: naming another team's registry Secret for an image on
 * a registry of its own, sending credentials over plain http, and reading them back from status.
 * And the honest path beside it: a docker-config Secret for a basic-auth registry works.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { API_VERSION } from '../../src/api/v1alpha1.js';
import type { ImagePolicy } from '../../src/api/image-policy.js';
import { sleep } from '../../src/core/time.js';
import { freshNamespace, kubectlOk } from '../support/cluster.js';
import { eventually, startTestController, type TestController } from '../support/controller.js';
import { startCredentialTrap } from '../support/git-servers.js';
import { pushImage, sharedRegistry, uniqueRepo } from '../support/registry.js';

let t: TestController;

const policy = (namespace: string, name: string, spec: ImagePolicy['spec']): ImagePolicy => ({
  apiVersion: API_VERSION,
  kind: 'ImagePolicy',
  metadata: { name, namespace },
  spec,
});

async function settled(namespace: string, name: string): Promise<ImagePolicy> {
  return eventually(`ImagePolicy ${name} judged`, async () => {
    const p = await t.kube.get<ImagePolicy>({ group: 'capstan.dev', kind: 'ImagePolicy', namespace, name });
    return p?.status?.conditions?.some((c) => c.type === 'Ready') ? p : undefined;
  });
}

function secret(
  namespace: string,
  name: string,
  data: Record<string, string>,
  annotations: Record<string, string> = {},
) {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace, annotations },
    stringData: data,
  };
}

describe('ImagePolicy credentials go only where their Secret says', () => {
  it('scans a basic-auth registry with a docker-config Secret; refuses the same Secret for another host', async () => {
    const namespace = await freshNamespace('imgauth');
    t = await startTestController({ namespace });
    onTestFinished(() => t.stop());
    const registry = await sharedRegistry('basic');
    const repo = `${uniqueRepo()}/app`;
    await pushImage(registry, repo, '1.0.0');
    await pushImage(registry, repo, '1.4.2');
    const trap = await startCredentialTrap();
    onTestFinished(() => trap.close());
    const auth = Buffer.from(`${registry.username}:${registry.password}`).toString('base64');
    const dockerConfig = JSON.stringify({ auths: { [registry.host]: { auth } } });
    await t.kube.apply(
      secret(
        namespace,
        'regcred',
        { '.dockerconfigjson': dockerConfig },
        { 'capstan.dev/allow-insecure-http': 'true' },
      ),
    );
    await t.kube.apply(
      policy(namespace, 'good', {
        image: `${registry.host}/${repo}`,
        insecure: true,
        secretRef: { name: 'regcred' },
        policy: { semver: { range: '1.x' } },
      }),
    );
    const good = await settled(namespace, 'good');
    expect(good.status?.latest?.tag).toBe('1.4.2');
    expect(good.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True' });

    // The same Secret named for an image on the attacker's server: its entry is for another host.
    await t.kube.apply(
      policy(namespace, 'steal', {
        image: `127.0.0.1:${trap.port}/${repo}`,
        insecure: true,
        secretRef: { name: 'regcred' },
        policy: { semver: { range: '1.x' } },
      }),
    );
    const stolen = await settled(namespace, 'steal');
    expect(stolen.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({
      status: 'False',
      reason: 'RegistryRefused',
    });
    expect(stolen.status?.lastError).toMatch(/holds no credentials for the registry 127\.0\.0\.1:/);
    expect(trap.authorizations).toEqual([]);
    expect(JSON.stringify(stolen)).not.toContain(registry.password!);
  });

  it('refuses a username/password Secret for a registry it does not list, and plain http unless its owner allows it', async () => {
    const namespace = await freshNamespace('imgsteal');
    t = await startTestController({ namespace });
    onTestFinished(() => t.stop());
    const trap = await startCredentialTrap();
    onTestFinished(() => trap.close());
    const password = 'platform-registry-password-4b1d';
    // The platform team's Secret: for its registry only, allowed over http there.
    await t.kube.apply(
      secret(
        namespace,
        'platform',
        { username: 'platform', password },
        {
          'capstan.dev/image-registries': 'registry.platform.example',
          'capstan.dev/allow-insecure-http': 'true',
        },
      ),
    );
    await t.kube.apply(
      policy(namespace, 'steal', {
        image: `127.0.0.1:${trap.port}/team/app`,
        insecure: true,
        secretRef: { name: 'platform' },
        policy: { alphabetical: { order: 'asc' } },
      }),
    );
    const stolen = await settled(namespace, 'steal');
    expect(stolen.status?.lastError).toMatch(/capstan\.dev\/image-registries must list that host/);
    // A Secret that lists the host but never allowed plain http is not sent over it either.
    await t.kube.apply(
      secret(
        namespace,
        'listed',
        { username: 'u', password },
        { 'capstan.dev/image-registries': `127.0.0.1:${trap.port}` },
      ),
    );
    await t.kube.apply(
      policy(namespace, 'plain', {
        image: `127.0.0.1:${trap.port}/team/app`,
        insecure: true,
        secretRef: { name: 'listed' },
        policy: { alphabetical: { order: 'asc' } },
      }),
    );
    const plain = await settled(namespace, 'plain');
    expect(plain.status?.lastError).toMatch(/plain http/);
    await sleep(1000);
    expect(trap.authorizations).toEqual([]);
    const everything = await kubectlOk(['get', 'imagepolicies,events', '-n', namespace, '-o', 'yaml']);
    expect(everything).not.toContain(password);
  });

  it('refuses a policy naming two kinds of tag policy, or a pattern RE2 cannot run, before any registry is asked', async () => {
    const namespace = await freshNamespace('imgspec');
    t = await startTestController({ namespace });
    onTestFinished(() => t.stop());
    const trap = await startCredentialTrap();
    onTestFinished(() => trap.close());
    await t.kube.apply(
      policy(namespace, 'two', {
        image: `127.0.0.1:${trap.port}/team/app`,
        insecure: true,
        policy: { semver: { range: '1.x' }, alphabetical: { order: 'asc' } },
      }),
    );
    await t.kube.apply(
      policy(namespace, 'backref', {
        image: `127.0.0.1:${trap.port}/team/app`,
        insecure: true,
        policy: { alphabetical: { order: 'asc' } },
        filterTags: { pattern: '^(a+)\\1$' },
      }),
    );
    for (const name of ['two', 'backref']) {
      const p = await settled(namespace, name);
      expect(p.status?.conditions?.find((c) => c.type === 'Stalled')).toMatchObject({
        status: 'True',
        reason: 'InvalidSpec',
      });
    }
    expect(trap.requests).toEqual([]);
  });
});
