/**
 * The operator lends a Secret's credentials only where the Secret says (issue #8, finding 2): a
 * tenant that names a Secret in a Repository pointing at its own server receives nothing, and the
 * Repository's status says why without a byte of the Secret.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Repository } from '../../src/api/v1alpha1.js';
import { kubectlOk, freshNamespace } from '../support/cluster.js';
import {
  application,
  condition,
  eventually,
  repository,
  startTestController,
  type TestController,
} from '../support/controller.js';
import { configMap } from '../support/engine.js';
import {
  createTestRepo,
  makeTempDir,
  startCredentialTrap,
  startGitHttpServer,
  type HttpStub,
} from '../support/git-servers.js';

const USERNAME = 'deployer';
const PASSWORD = 'tenant-must-never-see-this-7f3a9c';
const SECRET_FORMS = [
  PASSWORD,
  Buffer.from(PASSWORD).toString('base64'),
  Buffer.from(`${USERNAME}:${PASSWORD}`).toString('base64'),
];

let t: TestController;
beforeAll(async () => {
  t = await startTestController({ resyncMs: 30_000 });
});
afterAll(() => t.stop());

async function credentialsSecret(namespace: string, name: string, annotations: Record<string, string>) {
  await t.kube.apply({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace, annotations },
    type: 'Opaque',
    data: {
      username: Buffer.from(USERNAME).toString('base64'),
      password: Buffer.from(PASSWORD).toString('base64'),
    },
  });
}

/** A Repository on `url` with `secret`, and an Application on it, so that the Repository fetches. */
async function repositoryWithApp(namespace: string, name: string, url: string, secret: string) {
  await t.kube.apply(repository(namespace, name, { url, secretRef: { name: secret }, interval: '1s' }));
  await t.kube.apply(application(namespace, `${name}-app`, { sourceRef: { name }, ref: 'main', path: '.' }));
}

async function getRepository(namespace: string, name: string): Promise<Repository | undefined> {
  return t.kube.get<Repository>({ group: 'capstan.dev', kind: 'Repository', namespace, name });
}

/** Waits for the Repository's Ready condition to become `status`, and returns it. */
function readiness(namespace: string, name: string, status: 'True' | 'False') {
  return eventually(`Repository ${name} Ready=${status}`, async () => {
    const ready = condition(await getRepository(namespace, name), 'Ready');
    return ready?.status === status ? ready : undefined;
  });
}

/** Everything a tenant can read in the namespace: every object's spec and status, and events. */
async function visibleToTenant(namespace: string): Promise<string> {
  return kubectlOk(['get', 'repositories,applications,events', '-n', namespace, '-o', 'json']);
}

describe('credentials Secrets', () => {
  let trap: HttpStub;
  beforeAll(async () => {
    trap = await startCredentialTrap();
  });
  afterAll(() => trap.close());

  it('are refused, before any Git command, for URLs their capstan.dev/git-urls does not list', async () => {
    const namespace = await freshNamespace('creds');
    const loot = trap.url('loot');
    // No annotation at all: the Secret was never meant for Capstan to lend.
    await credentialsSecret(namespace, 'unannotated', {});
    await repositoryWithApp(namespace, 'unannotated', loot, 'unannotated');
    // Listed for another server.
    await credentialsSecret(namespace, 'elsewhere', {
      'capstan.dev/git-urls': 'https://git.example.com/team-a/',
      'capstan.dev/allow-insecure-http': 'true',
    });
    await repositoryWithApp(namespace, 'elsewhere', loot, 'elsewhere');
    // Listed for this very server, but over plain http without the owner's opt-in.
    await credentialsSecret(namespace, 'plain-http', {
      'capstan.dev/git-urls': `http://127.0.0.1:${trap.port}/`,
    });
    await repositoryWithApp(namespace, 'plain-http', loot, 'plain-http');

    const refused = (secret: string) =>
      `the Secret ${namespace}/${secret} may not be used for http://127.0.0.1:${trap.port}/loot.git: `;
    expect(await readiness(namespace, 'unannotated', 'False')).toMatchObject({
      reason: 'CredentialsNotAllowed',
      message: expect.stringMatching(
        new RegExp(`^${escape(refused('unannotated'))}it has no annotation capstan\\.dev/git-urls`),
      ),
    });
    expect(await readiness(namespace, 'elsewhere', 'False')).toMatchObject({
      reason: 'CredentialsNotAllowed',
      message: expect.stringMatching(
        new RegExp(
          `^${escape(refused('elsewhere'))}no prefix in its annotation capstan\\.dev/git-urls covers`,
        ),
      ),
    });
    expect(await readiness(namespace, 'plain-http', 'False')).toMatchObject({
      reason: 'CredentialsNotAllowed',
      message: expect.stringMatching(
        new RegExp(
          `^${escape(refused('plain-http'))}it would be sent over plain http://.*allow-insecure-http`,
        ),
      ),
    });
    expect((await getRepository(namespace, 'unannotated'))?.status?.lastError).toMatch(/has no annotation/);

    // Nothing reached the tenant's server, let alone a password; nothing readable holds one.
    expect(trap.requests).toEqual([]);
    expect(trap.authorizations).toEqual([]);
    const visible = await visibleToTenant(namespace);
    for (const form of SECRET_FORMS) expect(visible).not.toContain(form);
  });

  it('are lent for a URL their annotation covers (plain http with the owner opting in)', async () => {
    const namespace = await freshNamespace('creds');
    const root = await makeTempDir('git-root');
    const repo = await createTestRepo(root, 'apps');
    const sha = await repo.commit({ 'cm.yaml': configMap('settings', { color: 'blue' }) });
    const server = await startGitHttpServer({ root, auth: { username: USERNAME, password: PASSWORD } });
    try {
      await credentialsSecret(namespace, 'git-creds', {
        'capstan.dev/git-urls': `https://git.example.com/other/,\nhttp://127.0.0.1:${server.port}/apps`,
        'capstan.dev/allow-insecure-http': 'true',
      });
      await repositoryWithApp(namespace, 'apps', server.url('apps'), 'git-creds');
      const fetched = await eventually('Repository apps fetched main', async () => {
        const fetched = await getRepository(namespace, 'apps');
        return fetched?.status?.revisions?.some((r) => r.sha === sha) ? fetched : undefined;
      });
      expect(condition(fetched, 'Ready')).toMatchObject({ status: 'True', reason: 'Fetched' });
      const visible = await visibleToTenant(namespace);
      for (const form of SECRET_FORMS) expect(visible).not.toContain(form);
    } finally {
      await server.close();
    }
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
