/**
 * Two OCI registries per test run, one without auth and one behind basic auth, each started by the
 * first test that asks for it and stopped when the run ends: the pattern of test/setup/forge.ts (a
 * loopback broker in the process that owns the run; workers ask it through test/support/registry.ts).
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestProject } from 'vitest/node';
import { startRegistry, type DevRegistry, type RegistryConnection } from '../../src/dev/registry.js';
import type { ToolPaths } from '../../src/dev/tools.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Where workers ask for the run's registries (see test/support/registry.ts). */
    registryBroker: { url: string; secret: string };
  }
}

type RegistryAuthMode = 'none' | 'basic';

/** Serves the run's registries on demand; returns the teardown that stops those started. */
export async function provideRegistries(
  project: TestProject,
  options: { tools?: Pick<ToolPaths, 'registry'> } = {},
): Promise<() => Promise<void>> {
  const secret = randomBytes(16).toString('hex');
  const registries = new Map<RegistryAuthMode, Promise<DevRegistry>>();
  const start = (auth: RegistryAuthMode): Promise<DevRegistry> => {
    let registry = registries.get(auth);
    if (!registry) {
      registry = startRegistry({
        auth,
        ...(options.tools ? { tools: options.tools } : {}),
        progress: (line) => console.log(`[registry] ${line}`),
      });
      registries.set(auth, registry);
    }
    return registry;
  };

  const server = createServer((request, response) => {
    const auth = /^\/registry\/(none|basic)$/.exec(request.url ?? '')?.[1] as RegistryAuthMode | undefined;
    if (request.method !== 'POST' || auth === undefined) {
      response.writeHead(404).end();
      return;
    }
    if (request.headers.authorization !== `Bearer ${secret}`) {
      response.writeHead(401).end();
      return;
    }
    start(auth).then(
      (registry) => {
        const connection: RegistryConnection = {
          host: registry.host,
          ...(registry.username !== undefined ? { username: registry.username } : {}),
          ...(registry.password !== undefined ? { password: registry.password } : {}),
        };
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(connection));
      },
      // A failed start stays failed: every test that asks gets the same message at once.
      (error: unknown) =>
        response
          .writeHead(500, { 'content-type': 'text/plain' })
          .end(error instanceof Error ? error.message : String(error)),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.unref();
  const { port } = server.address() as AddressInfo;
  project.provide('registryBroker', { url: `http://127.0.0.1:${port}`, secret });

  return async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await Promise.all([...registries.values()].map((r) => r.then((s) => s.stop()).catch(() => {})));
  };
}
