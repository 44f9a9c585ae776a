import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { NODE_HEARTBEAT, startControlPlane } from './controlplane.js';
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

  it('lets kwok renew the node Lease several times within the controller-manager grace period', () => {
    // kwok renews every quarter of the lease duration; the kubelet's defaults (40 s, 50 s) allow five
    // misses. Fewer, and one slow moment marks every pod not Ready for good (issue 9).
    const renewSeconds = NODE_HEARTBEAT.leaseDurationSeconds / 4;
    expect(NODE_HEARTBEAT.monitorGracePeriodSeconds / renewSeconds).toBeGreaterThanOrEqual(4);
    // The controller-manager's help: more than the HTTP/2 ping and read-idle timeouts (15 s + 30 s).
    expect(NODE_HEARTBEAT.monitorGracePeriodSeconds).toBeGreaterThan(45);
  });
});
