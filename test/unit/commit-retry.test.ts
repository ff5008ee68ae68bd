/**
 * The worker's commit retry: a result is written again while the database is unavailable (here a
 * real refused connection), and a bug is thrown at once.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import pg from 'pg';
import { commitUntilDone } from '../../src/worker/commit-retry.ts';

/** A port nothing listens on: a connection to it is refused. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

async function refusedConnection(port: number): Promise<never> {
  const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'x' });
  c.on('error', () => {});
  await c.connect();
  throw new Error('connected to a closed port');
}

describe('commitUntilDone', () => {
  it('tries again while the database refuses connections, then returns what commits', async () => {
    const port = await closedPort();
    let tries = 0;
    const retried: number[] = [];
    const out = await commitUntilDone(
      async () => {
        tries++;
        if (tries < 4) return refusedConnection(port);
        return 'committed';
      },
      { keepTrying: () => true, onRetry: (_err, n) => retried.push(n), firstDelayMs: 1 },
    );
    assert.equal(out, 'committed');
    assert.equal(tries, 4);
    assert.deepEqual(retried, [1, 2, 3]);
  });

  it('throws a bug at once', async () => {
    let tries = 0;
    await assert.rejects(
      commitUntilDone(
        () => {
          tries++;
          return Promise.reject(new TypeError('not a database problem'));
        },
        { keepTrying: () => true, firstDelayMs: 1 },
      ),
      TypeError,
    );
    assert.equal(tries, 1);
  });

  it('gives up once the worker stops', async () => {
    const port = await closedPort();
    let tries = 0;
    await assert.rejects(
      commitUntilDone(
        () => {
          tries++;
          return refusedConnection(port);
        },
        { keepTrying: () => tries < 3, firstDelayMs: 1 },
      ),
      (err: Error & { code?: string }) =>
        err.code === 'ECONNREFUSED' || /ECONNREFUSED/.test(String(err)),
    );
    assert.equal(tries, 3);
  });
});
