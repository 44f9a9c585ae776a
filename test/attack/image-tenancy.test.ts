/**
 * An ImagePolicy of team A reaching for team B's things: B's Application and Repository by name
 * (names are per namespace, and the controller sees every namespace), B's registry Secret by name
 * and namespace. Real control plane, real registry, real Git over HTTP with B's write credentials.
 * Nothing of B's may be used: no commit in B's repository, no byte of B's password anywhere.
 */
import { rm } from 'node:fs/promises';
import { describe, expect, it, onTestFinished } from 'vitest';
import { API_VERSION } from '../../src/api/v1alpha1.js';
import type { ImagePolicy } from '../../src/api/image-policy.js';
import { GIT_URLS_ANNOTATION, ALLOW_INSECURE_HTTP_ANNOTATION } from '../../src/source/credential-scope.js';
import { freshNamespace } from '../support/cluster.js';
import {
  application,
  eventually,
  repository,
  startTestController,
  type TestController,
} from '../support/controller.js';
import {
  createTestRepo,
  makeTempDir,
  startCredentialTrap,
  startGitHttpServer,
} from '../support/git-servers.js';
import { pushImage, sharedRegistry, uniqueRepo } from '../support/registry.js';

let t: TestController;

const B_WRITER = { username: 'team-b', password: 'team-b-git-password-never-lent' };
const B_REGISTRY_PASSWORD = 'team-b-registry-password-never-lent';

const policy = (namespace: string, name: string, spec: ImagePolicy['spec']): ImagePolicy => ({
  apiVersion: API_VERSION,
  kind: 'ImagePolicy',
  metadata: { name, namespace },
  spec,
});

async function judged(namespace: string, name: string): Promise<ImagePolicy> {
  return eventually(`ImagePolicy ${namespace}/${name} judged`, async () => {
    const p = await t.kube.get<ImagePolicy>({ group: 'capstan.dev', kind: 'ImagePolicy', namespace, name });
    return p?.status?.lastError ? p : undefined;
  });
}

describe("an ImagePolicy cannot reach another team's objects", () => {
  it("by naming B's Application, an Application on B's Repository name, or B's Secret", async () => {
    const teamA = await freshNamespace('img-team-a');
    const teamB = await freshNamespace('img-team-b');
    t = await startTestController(); // every namespace, as a shared cluster's controller
    onTestFinished(() => t.stop());

    const registry = await sharedRegistry();
    const imagePath = `${uniqueRepo()}/web`;
    const image = `${registry.host}/${imagePath}`;
    await pushImage(registry, imagePath, '1.1.0');
    await pushImage(registry, imagePath, '1.2.0');

    // Team B: its Git repository (pushes need B's password), Repository, suspended Application.
    const root = await makeTempDir('img-tenancy');
    onTestFinished(() => rm(root, { recursive: true, force: true }));
    const repo = await createTestRepo(root, 'team-b-apps');
    const first = await repo.commit({
      'web/deploy.yaml': `image: ${image}:1.1.0 # {"$imagepolicy": "${teamA}:steal"}\n`,
    });
    const server = await startGitHttpServer({ root, auth: B_WRITER, allowPush: true });
    onTestFinished(() => server.close());
    const url = server.url(repo.name);
    await t.kube.apply({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: 'git-creds',
        namespace: teamB,
        annotations: { [GIT_URLS_ANNOTATION]: url, [ALLOW_INSECURE_HTTP_ANNOTATION]: 'true' },
      },
      stringData: B_WRITER,
    });
    await t.kube.apply(repository(teamB, 'apps', { url, secretRef: { name: 'git-creds' }, interval: '1h' }));
    await t.kube.apply(
      application(teamB, 'web', { sourceRef: { name: 'apps' }, path: 'web', suspend: true }),
    );
    // B's registry Secret, for a host A controls.
    const trap = await startCredentialTrap();
    onTestFinished(() => trap.close());
    await t.kube.apply({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: 'regcred',
        namespace: teamB,
        annotations: { 'capstan.dev/image-registries': `127.0.0.1:${trap.port}` },
      },
      stringData: { username: 'team-b', password: B_REGISTRY_PASSWORD },
    });

    // Team A: an Application of its own whose Repository name is B's, and three policies.
    await t.kube.apply(
      application(teamA, 'mine', { sourceRef: { name: 'apps' }, path: 'web', suspend: true }),
    );
    // A reference can name no other namespace: the API server refuses the field outright.
    const cross = { name: 'web', namespace: teamB } as { name: string };
    const crossSecret = { name: 'regcred', namespace: teamB } as { name: string };
    const base = { image, insecure: true, interval: '1h', policy: { semver: { range: '1.x' } } };
    await expect(
      t.kube.apply(policy(teamA, 'cross', { ...base, update: { applications: [cross] } })),
    ).rejects.toThrow(/namespace: field not declared in schema/);
    await expect(t.kube.apply(policy(teamA, 'cross', { ...base, secretRef: crossSecret }))).rejects.toThrow(
      /namespace: field not declared in schema/,
    );
    // By name only, then: B's Application, and A's own Application on a Repository named as B's.
    await t.kube.apply(
      policy(teamA, 'steal', { ...base, update: { applications: [{ name: 'web' }, { name: 'mine' }] } }),
    );
    // B's registry Secret by name, for an image on A's own server.
    await t.kube.apply(
      policy(teamA, 'secret', {
        ...base,
        image: `127.0.0.1:${trap.port}/${imagePath}`,
        secretRef: { name: 'regcred' },
      }),
    );

    const steal = await judged(teamA, 'steal');
    expect(steal.status?.latest?.tag).toBe('1.2.0');
    expect(steal.status?.lastError).toContain(`the Application web does not exist in ${teamA}`);
    expect(steal.status?.lastError).toContain('the Repository apps of Application mine does not exist');
    expect(steal.status?.updates ?? []).toEqual([]);
    const secret = await judged(teamA, 'secret');
    expect(secret.status?.lastError).toContain(
      `the Secret ${teamA}/regcred named by spec.secretRef does not exist`,
    );

    expect(await repo.head()).toBe(first);
    expect(trap.authorizations).toEqual([]);
    const everything = JSON.stringify([steal, secret]);
    expect(everything).not.toContain(B_WRITER.password);
    expect(everything).not.toContain(B_REGISTRY_PASSWORD);
  });
});
