/**
 * Every PostgreSQL client the process holds survives its connection dying: a client checked out
 * by a transaction, idle pooled clients and the LISTEN connection. An unhandled 'error' event
 * on any of them would crash this test process. Runs on a private cluster, since it restarts it.
 */
import { eventually } from '../helpers/eventually.ts';
import assert from 'node:assert/strict';
import { after, before, describe, it } from '../helpers/suite.ts';
import { sql } from 'kysely';
import pg from 'pg';
import { coerceError, isUnavailable } from '../../src/errors.ts';
import { type Database, openDatabase } from '../../src/store/db.ts';
import { type PgCluster, skipWithoutCluster, startPgCluster } from '../helpers/pg-cluster.ts';

/** Counts pokes; `next()` resolves at the next one. */
function signal(): { poke(): void; next(): Promise<void>; count: number } {
  let waiters: (() => void)[] = [];
  const s = {
    count: 0,
    poke() {
      s.count++;
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    },
    next: () => new Promise<void>((resolve) => waiters.push(resolve)),
  };
  return s;
}

async function untilAnswers(database: Database): Promise<void> {
  await eventually(
    'the database to answer again',
    () =>
      database.ping().then(
        () => true,
        () => undefined,
      ),
    60_000,
  );
}

describe('PostgreSQL connection loss', { skip: skipWithoutCluster() }, () => {
  let cluster: PgCluster;
  let database: Database;
  let admin: pg.Client;

  before(async () => {
    cluster = await startPgCluster();
    database = await openDatabase({ databaseUrl: cluster.url, poolSize: 4 });
  });

  after(async () => {
    await admin?.end().catch(() => {});
    await database?.close();
    await cluster?.destroy();
  });

  it('a checked-out client whose backend is terminated fails its transaction, not the process', async () => {
    admin = new pg.Client({ connectionString: cluster.url });
    admin.on('error', () => {});
    await admin.connect();
    const failed = await database
      .transaction(async (trx) => {
        const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
        const pid = rows[0]!.pid;
        // 57P01 "terminating connection due to administrator command", as on a restart.
        await admin.query('select pg_terminate_backend($1)', [pid]);
        for (;;) {
          const gone = await admin.query('select 1 from pg_stat_activity where pid = $1', [pid]);
          if (gone.rowCount === 0) break;
        }
        await sql`select 1`.execute(trx);
        return 'committed';
      })
      .catch((err: unknown) => err);
    assert.ok(failed instanceof Error, `the transaction failed (${String(failed)})`);
    assert.ok(isUnavailable(failed), `a lost connection is unavailability: ${String(failed)}`);
    assert.equal(coerceError(failed).code, 'ERR_UNAVAILABLE');
    assert.equal(coerceError(new Error('a bug')).code, 'ERR_INTERNAL');
    // The pool discarded the dead client; the next transactions get live ones.
    for (let i = 0; i < 8; i++) await database.ping();
  });

  it('idle clients, a running transaction and the LISTEN connection survive a restart', async () => {
    const wakes = signal();
    const stop = await database.listenForWork(() => wakes.poke());
    try {
      // Fill the pool with idle clients, and keep one checked out across the restart.
      await Promise.all(Array.from({ length: 4 }, () => database.ping()));
      const running = database
        .transaction((trx) => sql`select pg_sleep(60)`.execute(trx))
        .then(
          () => undefined,
          (err: unknown) => err,
        );
      for (;;) {
        const r = await admin
          .query(`select 1 from pg_stat_activity where query like 'select pg_sleep%'`)
          .catch(() => ({ rowCount: 0 }));
        if (r.rowCount) break;
      }
      await admin.end().catch(() => {});
      const reconnected = wakes.next();
      await cluster.restart();
      const lost = await running;
      assert.ok(
        isUnavailable(lost),
        `the running transaction failed as unavailable: ${String(lost)}`,
      );

      await untilAnswers(database);
      // The listener came back by itself and says so (work announced meanwhile was missed).
      await reconnected;
      // And it hears notifications again.
      const heard = wakes.next();
      await database.transaction((trx) => database.announceWork(trx));
      await heard;
      for (let i = 0; i < 8; i++) await database.ping();
    } finally {
      await stop();
    }
  });

  it('while the database is down every query fails as unavailable, and works once it is back', async () => {
    await cluster.stop();
    try {
      for (let i = 0; i < 3; i++) {
        const err = await database.ping().then(
          () => undefined,
          (e: unknown) => e,
        );
        assert.ok(isUnavailable(err), `down: ${String(err)}`);
        assert.equal(coerceError(err).code, 'ERR_UNAVAILABLE');
      }
    } finally {
      await cluster.start();
    }
    await untilAnswers(database);
  });
});
