/**
 * The run's shared OCI registries, for integration tests:
 *
 *   import { sharedRegistry } from '../support/registry.js';
 *   const registry = await sharedRegistry();          // no auth; sharedRegistry('basic') for basic auth
 *   const { digest } = await pushImage(registry, `${uniqueRepo()}/app`, '1.2.0');
 *   // the image is `${registry.host}/<repo>:1.2.0`, over plain http
 *
 * Tests share the registries: use repository names of their own (`uniqueRepo()`). Token auth: the
 * run's Gitea has a container registry (`giteaRegistry(forge, user)`, images `<user>/<name>`).
 * A test that needs a registry of its own (notifications to its own receiver) calls startRegistry
 * with `registryTools()`.
 */
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import type { ForgeClient, ForgeUser } from '../../src/dev/forge.js';
import type { PushTarget, RegistryConnection } from '../../src/dev/registry.js';

export { craneDigest, crane, pushImage, tagImage, startRegistry } from '../../src/dev/registry.js';
export type { PushTarget, PushedImage } from '../../src/dev/registry.js';

const connections = new Map<'none' | 'basic', Promise<PushTarget>>();

/** The run's registry without auth (or behind basic auth: `username`/`password` set), with crane. */
export function sharedRegistry(auth: 'none' | 'basic' = 'none'): Promise<PushTarget> {
  let connection = connections.get(auth);
  if (!connection) {
    connection = connect(auth).catch((error: unknown) => {
      connections.delete(auth);
      throw error;
    });
    connections.set(auth, connection);
  }
  return connection;
}

async function connect(auth: 'none' | 'basic'): Promise<PushTarget> {
  const broker = inject('registryBroker');
  const response = await fetch(`${broker.url}/registry/${auth}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${broker.secret}` },
  });
  const body = await response.text();
  if (!response.ok) throw new Error(`the test registry could not be started: ${body}`);
  return { ...(JSON.parse(body) as RegistryConnection), crane: registryTools().crane };
}

/** The registry and crane binaries ensureTools() built for this run. */
export function registryTools(): { registry: string; crane: string } {
  const tools = inject('tools');
  const registry = tools.registry;
  const crane = tools.crane;
  if (!registry || !crane) throw new Error('the run has no registry tools (ensureTools() should build them)');
  return { registry, crane };
}

/** Gitea's container registry (Bearer token auth), pushed to as `user`: images are `<user>/<name>`. */
export function giteaRegistry(forge: Pick<ForgeClient, 'url'>, user: ForgeUser): PushTarget {
  return {
    host: new URL(forge.url).host,
    username: user.username,
    password: user.password,
    crane: registryTools().crane,
  };
}

/** A repository path no other test uses: `t-<random>`. */
export function uniqueRepo(prefix = 't'): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}
