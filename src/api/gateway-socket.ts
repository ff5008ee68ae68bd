/**
 * The gateway socket (docs/runtimes.md): a unix socket per server that serves only what a
 * sandboxed command may ask for — the LLM gateway and reading an execution (its own, by the
 * execution token's scope) — through the same app, routes and auth as the API port. Sandboxes
 * get this socket mounted, never the API port.
 */
import { chmod, mkdir, rm } from 'node:fs/promises';
import { type Server, createServer } from 'node:http';
import path from 'node:path';
import type { App } from './types.ts';

/** The routes served on the socket (any other answers 404). */
const served = [
  /^POST \/api\/v1\/llm\/v1\/(chat\/completions|messages)(\?.*)?$/,
  /^GET \/api\/v1\/workflows\/[^/?]+\/executions\/[^/?]+(\/logs|\/stream)?(\?.*)?$/,
];

/** The socket's path under the data directory. */
export function gatewaySocketPath(dataDir: string): string {
  return path.join(path.resolve(dataDir), 'run', 'gateway.sock');
}

/**
 * Listens on `socketPath` (a stale file of a dead server is replaced). The socket is 0666 in a
 * 0700 directory: only the server's user reaches it on the host, while sandbox users reach the
 * copy of it mounted into their sandbox.
 */
export async function listenGatewaySocket(
  app: App,
  socketPath: string,
): Promise<{ close(): Promise<void> }> {
  await mkdir(path.dirname(socketPath), { recursive: true, mode: 0o700 });
  await chmod(path.dirname(socketPath), 0o700);
  await rm(socketPath, { force: true });
  const server: Server = createServer((req, res) => {
    if (!served.some((r) => r.test(`${req.method ?? ''} ${req.url ?? ''}`))) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          error: 'The gateway socket serves only the LLM gateway and reading an execution.',
          code: 'ERR_NOT_FOUND',
          details: [],
        }),
      );
      return;
    }
    app.routing(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  await chmod(socketPath, 0o666);
  return {
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      await rm(socketPath, { force: true });
    },
  };
}
