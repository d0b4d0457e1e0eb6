import { createServer, connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A loopback TCP proxy in front of a stand-in that can be taken down: `down()` resets every open connection
 * and refuses new ones, which is what a client sees of a stopped process; `up()` lets connections through again.
 */
export interface FaultProxy {
  readonly endpoint: string;
  /**
   * Where connections go (set once the stand-in's port is known). With `rewriteOwnPort`, the proxy's own
   * `127.0.0.1:<port>` in requests becomes the target's (the SQS emulator resolves queue URLs by their exact
   * origin); both ports have the same number of digits, so no Content-Length changes.
   */
  target(port: number, options?: { rewriteOwnPort?: boolean }): void;
  down(): void;
  up(): void;
  stop(): Promise<void>;
}

export async function startFaultProxy(): Promise<FaultProxy> {
  let isDown = false;
  let targetPort = 1;
  let rewrite: { from: string; to: string } | undefined;
  let ownPort = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    if (isDown) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(targetPort, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (chunk: Buffer) => {
      upstream.write(
        rewrite
          ? Buffer.from(chunk.toString('latin1').replaceAll(rewrite.from, rewrite.to), 'latin1')
          : chunk,
      );
    });
    client.on('end', () => upstream.end());
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  ownPort = port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    target(port, options) {
      targetPort = port;
      const from = `127.0.0.1:${ownPort}`;
      const to = `127.0.0.1:${port}`;
      rewrite = options?.rewriteOwnPort === true && from.length === to.length ? { from, to } : undefined;
    },
    down() {
      isDown = true;
      for (const socket of sockets) socket.resetAndDestroy();
    },
    up() {
      isDown = false;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
