/**
 * A tenant must not starve the other tenants' ApplicationGenerators (src/generate/component.ts): the
 * generator queue is fair across namespaces (one namespace runs one generator at a time, of four for
 * the controller), a reconcile's listings have a deadline, and a forge request waits 30 s at most
 * whatever the tenant's own Repository `spec.timeout` (src/controller/repository-forge.ts).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApplicationGenerator } from '../../src/api/generator.js';
import { API_VERSION, type Application } from '../../src/api/v1alpha1.js';
import { kubectl, kubectlOk } from '../support/cluster.js';
import { eventually, repository, startTestController, type TestController } from '../support/controller.js';

let t: TestController;
let stopped = false;
let tarpit: Server;
let tarpitUrl: string;
let hanging = 0;
const suffix = randomBytes(3).toString('hex');
const evil = `atk-gevil-${suffix}`;
const victim = `atk-gvictim-${suffix}`;

function generator(namespace: string, name: string, spec: Record<string, unknown>): ApplicationGenerator {
  return {
    apiVersion: API_VERSION,
    kind: 'ApplicationGenerator',
    metadata: { name, namespace },
    spec: { sourceRef: { name: 'apps' }, interval: '1h', ...spec } as ApplicationGenerator['spec'],
  };
}

beforeAll(async () => {
  tarpit = createServer(() => {
    hanging++;
  });
  await new Promise<void>((resolve) => tarpit.listen(0, '127.0.0.1', resolve));
  tarpitUrl = `http://127.0.0.1:${(tarpit.address() as AddressInfo).port}`;
  for (const name of [evil, victim]) await kubectlOk(['create', 'namespace', name]);
  t = await startTestController();
  await t.kube.apply({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: 'mine',
      namespace: evil,
      annotations: { 'capstan.dev/git-urls': `${tarpitUrl}/`, 'capstan.dev/allow-insecure-http': 'true' },
    },
    stringData: { token: 'evil-own-token' },
  });
  await t.kube.apply(
    repository(evil, 'apps', {
      url: `${tarpitUrl}/evil/apps.git`,
      secretRef: { name: 'mine' },
      forge: { kind: 'gitea' },
      timeout: '10h',
      suspend: true,
    }),
  );
  // The victim's generator needs no Git at all: a fixed list.
  await t.kube.apply(
    repository(victim, 'apps', { url: 'https://git.example.com/victim/apps.git', suspend: true }),
  );
}, 120_000);

afterAll(async () => {
  if (!stopped) await t?.stop();
  tarpit?.closeAllConnections();
  await new Promise((resolve) => tarpit?.close(resolve));
  for (const name of [evil, victim])
    await kubectl(['delete', 'namespace', name, '--ignore-not-found', '--wait=false']);
});

describe('generators across tenants', () => {
  // pullRequests generators whose forge API never answers hold their own namespace's worker only.
  it("a tenant's unresponsive Git host does not delay another tenant's generators", async () => {
    for (const name of ['hang-1', 'hang-2', 'hang-3'])
      await t.kube.apply(
        generator(evil, name, {
          interval: '1s',
          pullRequests: {},
          template: {
            metadata: { name: `${name}-{{number}}` },
            spec: { ref: '{{ref}}', path: 'x', suspend: true },
          },
        }),
      );
    await eventually('a generator hanging in the tarpit', async () => hanging >= 1, 30_000);
    await t.kube.apply(
      generator(victim, 'envs', {
        list: { elements: [{ name: 'qa' }] },
        template: { metadata: { name: 'web-{{name}}' }, spec: { path: 'web', suspend: true } },
      }),
    );
    // Made in a second or two; the bound is generous for a busy machine.
    const made = await eventually(
      "the victim's Application",
      () =>
        t.kube.get<Application>({
          group: 'capstan.dev',
          kind: 'Application',
          namespace: victim,
          name: 'web-qa',
        }),
      90_000,
    );
    expect(made).toBeDefined();
  }, 180_000);

  it('stops without waiting for the unresponsive host', async () => {
    const startedMs = Date.now();
    stopped = true;
    await t.stop();
    expect(Date.now() - startedMs).toBeLessThan(20_000);
  }, 60_000);
});
