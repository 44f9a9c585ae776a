/**
 * One Gitea forge per test run, started by the first test that asks for it (most runs and files
 * need none) and stopped when the run ends.
 *
 * Vitest's global setup runs in the main process and can only hand workers plain data, up front. So
 * it hands them the address of a tiny loopback "broker": the first `POST /forge` starts the forge
 * here, in the process that owns the run (and so stops it, and whose ProcessGroup watchdog reaps it
 * should the run be killed); every later call, from any worker, gets the same connection.
 * Workers use it through test/support/forge.ts.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestProject } from 'vitest/node';
import { startForge, type Forge, type ForgeConnection } from '../../src/dev/forge.js';
import type { ToolPaths } from '../../src/dev/tools.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Where workers ask for the run's forge (see test/support/forge.ts). */
    forgeBroker: { url: string; secret: string };
  }
}

/** Serves the run's forge on demand; returns the teardown that stops it (if it was started). */
export async function provideForge(
  project: TestProject,
  options: { tools?: Pick<ToolPaths, 'gitea' | 'giteaStaticRoot'> } = {},
): Promise<() => Promise<void>> {
  const secret = randomBytes(16).toString('hex');
  let forge: Promise<Forge> | undefined;
  const start = (): Promise<Forge> => {
    forge ??= (async () => {
      const started = Date.now();
      const f = await startForge({
        ...(options.tools ? { tools: options.tools } : {}),
        progress: (line) => console.log(`[forge] ${line}`),
      });
      console.log(`[forge] ready in ${((Date.now() - started) / 1000).toFixed(1)} s at ${f.url}`);
      return f;
    })();
    return forge;
  };

  const server = createServer((request, response) => {
    if (request.method !== 'POST' || request.url !== '/forge') {
      response.writeHead(404).end();
      return;
    }
    if (request.headers.authorization !== `Bearer ${secret}`) {
      response.writeHead(401).end();
      return;
    }
    start().then(
      (f) => {
        const connection: ForgeConnection = f.connection;
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
  // Workers' keep-alive sockets must not hold the run open at the end.
  server.unref();
  const { port } = server.address() as AddressInfo;
  project.provide('forgeBroker', { url: `http://127.0.0.1:${port}`, secret });

  return async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    if (forge) await forge.then((f) => f.stop()).catch(() => {});
  };
}
