/**
 * An oversized body gets its 413 over a real socket while the client is still sending: the server
 * reads and discards the rest (up to a bound) instead of closing under the upload, which reset
 * the connection (EPIPE / ECONNRESET on the client, the answer possibly lost).
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { type Harness, adminToken, startHarness } from '../helpers/harness.ts';
import { after, before, describe, it } from '../helpers/suite.ts';

const total = 20 * 1024 * 1024;

/** Sends a 20 MB JSON body in 64 KiB chunks, paced by the socket; answers the status line and any socket error. */
function postHuge(
  port: number,
  chunked: boolean,
): Promise<{ status: string; error?: string; sent: number }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let response = '';
    let error: string | undefined;
    let sent = 0;
    s.on('data', (d: Buffer) => {
      response += d.toString();
      // Everything sent and the answer read: the test is over.
      if (sent >= total && response.includes('\r\n\r\n')) s.end();
    });
    s.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    s.on('close', () =>
      resolve({ status: response.split('\r\n')[0] ?? '', ...(error && { error }), sent }),
    );
    const length = chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${total}`;
    s.write(
      `POST /api/v1/workflows HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${adminToken}\r\nContent-Type: application/json\r\n${length}\r\n\r\n`,
    );
    const chunk = Buffer.alloc(64 * 1024, 'a');
    const frame = (b: Buffer) =>
      chunked
        ? Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n')])
        : b;
    const pump = () => {
      while (sent < total) {
        sent += chunk.length;
        const last = sent >= total;
        const ok = s.write(
          last && chunked ? Buffer.concat([frame(chunk), Buffer.from('0\r\n\r\n')]) : frame(chunk),
        );
        if (!ok) return void s.once('drain', pump);
      }
      if (response.includes('\r\n\r\n')) s.end();
    };
    pump();
  });
}

describe('oversized request bodies over a real socket', () => {
  let h: Harness;
  let port = 0;
  before(async () => {
    h = await startHarness('sqlite', { config: { bodyLimitBytes: 1024 * 1024 } });
    port = Number(new URL(await h.yard.app.listen({ port: 0, host: '127.0.0.1' })).port);
  });
  after(() => h.close());

  for (const chunked of [false, true]) {
    it(`answers 413 to a client still sending 20 MB (${chunked ? 'chunked' : 'Content-Length'}), five times in a row`, async () => {
      for (let i = 0; i < 5; i++) {
        const got = await postHuge(port, chunked);
        assert.equal(got.status, 'HTTP/1.1 413 Payload Too Large', JSON.stringify(got));
        assert.equal(got.error, undefined, `the connection was not reset: ${JSON.stringify(got)}`);
        assert.equal(got.sent, total);
      }
    });
  }
});
