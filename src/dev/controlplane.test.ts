import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startControlPlane } from './controlplane.js';
import type { ToolPaths } from './tools.js';

describe('startControlPlane', () => {
  let blocker: Server | undefined;
  afterEach(() => blocker?.close());

  it('says which port is taken before starting anything', async () => {
    blocker = createServer();
    const port = await new Promise<number>((resolve) =>
      blocker!.listen(0, '127.0.0.1', () => resolve((blocker!.address() as { port: number }).port)),
    );
    // No binary is started: the port is checked first, so these paths are never used.
    const tools = { etcd: '/nonexistent/etcd' } as unknown as ToolPaths;
    await expect(
      startControlPlane({ tools, ports: { apiserver: port }, handleSignals: false }),
    ).rejects.toThrow(`port 127.0.0.1:${port} (for apiserver) is not free: EADDRINUSE`);
  });
});
