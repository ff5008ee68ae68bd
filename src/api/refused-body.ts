/**
 * A request refused before its body was read (413) is answered on a connection that stays open
 * while the rest of the body is read and discarded, up to `maxDiscardBytes`. Closing at once, as
 * Node does for a `Connection: close` answer, resets the connection under a client that is still
 * sending, and its kernel may drop the 413 it had not read yet: the client sees ECONNRESET or
 * EPIPE instead of the answer. Past the bound the connection is closed anyway, so a client cannot
 * make the server read an endless body.
 */
import type { IncomingMessage } from 'node:http';
import type { FastifyReply } from 'fastify';

/** Most bytes of a refused body read and discarded before the connection is closed. */
const maxDiscardBytes = 64 * 1024 * 1024;

export function discardRefusedBody(
  req: IncomingMessage,
  reply: FastifyReply,
  maxBytes = maxDiscardBytes,
): void {
  if (req.complete || req.readableEnded) return;
  // Kept alive, Node leaves the socket open after the answer; the parser reads the rest of this
  // body (discarded here), and the connection can serve the client's next request.
  reply.removeHeader('connection');
  let discarded = 0;
  req.on('data', (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > maxBytes) req.socket.destroy();
  });
  req.resume();
}
