/**
 * A TCP forwarder: makes a loopback-only server (the test forge, a registry) reachable from pods on
 * the real node, which reach the host at the node's address but never at its 127.0.0.1.
 */
import { createConnection, createServer, type Socket } from 'node:net';

export interface TcpForward {
  /** The port it listens on, at the address it was given. */
  readonly port: number;
  close(): Promise<void>;
}

export async function forwardTcp(
  listen: { readonly host: string; readonly port?: number },
  target: { readonly host: string; readonly port: number },
): Promise<TcpForward> {
  const sockets = new Set<Socket>();
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  const server = createServer((client) => {
    const upstream = createConnection(target);
    track(client);
    track(upstream);
    // Either side failing or closing ends both: a half-dead pair would hold a git fetch forever.
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port ?? 0, listen.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
