import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Listens on `port` (0 picks a free one) and `host`; resolves with the port bound, rejects on EADDRINUSE. */
export async function listen(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

/** `http://host:port`, with an IPv6 host in brackets. */
export function httpOrigin(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export interface CloseOptions {
  /**
   * How long in-flight requests may run before their sockets are closed. Without it every socket is closed at
   * once (keep-alive connections would otherwise hold `close` open).
   */
  readonly graceMs?: number;
}

/** Stops accepting connections and resolves once the server is closed, open sockets included. */
export function closeServer(server: Server, options: CloseOptions = {}): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    if (options.graceMs === undefined) {
      server.closeAllConnections();
    } else {
      server.closeIdleConnections();
      setTimeout(() => server.closeAllConnections(), options.graceMs).unref();
    }
  });
}

/**
 * Reads a request body as UTF-8 text. Past `maxBytes` it rejects with `tooLarge()` and destroys the request,
 * so a client cannot make the server buffer without bound.
 */
export function readBodyText(req: IncomingMessage, maxBytes: number, tooLarge: () => Error): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        reject(tooLarge());
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
