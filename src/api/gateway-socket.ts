/**
 * The gateway socket (docs/runtimes.md): a unix socket per server that serves only what a
 * sandboxed command may ask for — the LLM gateway and reading an execution (its own, by the
 * execution token's scope) — through the same app, routes and auth as the API port. Sandboxes
 * get this socket mounted, never the API port.
 */
import { createHash } from 'node:crypto';
import { chmod, lstat, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { type Server, createServer } from 'node:http';
import path from 'node:path';
import type { App } from './types.ts';

/** The routes served on the socket (any other answers 404). */
const served = [
  /^POST \/api\/v1\/llm\/v1\/(chat\/completions|messages)(\?.*)?$/,
  /^GET \/api\/v1\/workflows\/[^/?]+\/executions\/[^/?]+(\/logs|\/stream)?(\?.*)?$/,
];

/** Longest unix socket path that binds everywhere (sun_path is 108 bytes on Linux, 104 on BSDs). */
const maxSocketPathBytes = 100;

/**
 * The socket's path: under the data directory, or, when that path is too long for a unix socket,
 * a directory of this data directory's own in the system's temporary directory (made 0700 and
 * checked to be the server's, see `listenGatewaySocket`).
 */
export function gatewaySocketPath(dataDir: string): string {
  const inData = path.join(path.resolve(dataDir), 'run', 'gateway.sock');
  if (Buffer.byteLength(inData) <= maxSocketPathBytes) return inData;
  const id = createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 16);
  return path.join(tmpdir(), `switchyard-gateway-${id}`, 'gateway.sock');
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
  const dir = path.dirname(socketPath);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // In a shared temporary directory someone else may have made it first.
  const st = await lstat(dir);
  if (!st.isDirectory() || st.uid !== (process.getuid?.() ?? st.uid)) {
    throw new Error(
      `${dir} is not a directory of the server's user: refusing to serve the gateway socket there`,
    );
  }
  await chmod(dir, 0o700);
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
