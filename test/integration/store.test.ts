import assert from 'node:assert/strict';
import { describe, it } from '../helpers/suite.ts';
import { sql } from 'kysely';
import { readExecutionWithNodes } from '../../src/store/execution-nodes.ts';
import { lockExecution } from '../../src/store/executions.ts';
import { insertLines, listLogs } from '../../src/store/logs.ts';
import { migrations } from '../../src/store/migrations/index.ts';
import { claimSetting } from '../../src/store/settings.ts';
import { dialectNames, freshPlace, openPlace, skipFor } from '../helpers/dialects.ts';

for (const dialect of dialectNames) {
  describe(`storage (${dialect})`, { skip: await skipFor(dialect) }, () => {
    it('migrates once even when several processes start at the same moment', async () => {
      const place = freshPlace(dialect);
      const open = () => openPlace(place);
      try {
        // Separate connections (pools / SQLite handles) racing through the migration runner.
        const dbs = await Promise.all([open(), open(), open(), open()]);
        const applied = await dbs[0].db
          .selectFrom('schema_migrations')
          .select(['id', 'name'])
          .orderBy('id')
          .execute();
        assert.deepEqual(
          applied,
          migrations.map((m) => ({ id: m.id, name: m.name })),
        );
        // A reopen applies nothing new.
        const again = await open();
        const count = await again.db
          .selectFrom('schema_migrations')
          .select((eb) => eb.fn.countAll<string | number>().as('n'))
          .executeTakeFirstOrThrow();
        assert.equal(Number(count.n), migrations.length);
        await again.ping();
        // Exactly one of many claimers wins a setting.
        const wins = await Promise.all(dbs.map((d) => claimSetting(d.db, 'once', 'x')));
        assert.equal(wins.filter(Boolean).length, 1);
        await Promise.all([...dbs, again].map((d) => d.close()));
      } finally {
        await place.cleanup();
      }
    });

    it('moves the node map of an execution made before node rows into rows, in its order', async () => {
      const place = freshPlace(dialect);
      try {
        const old = await openPlace(
          place,
          migrations.filter((m) => m.id < 10),
        );
        const at = '2026-12-01T00:00:00.000Z';
        const node = (status: string, outputs: unknown) => ({
          status,
          attempt: 1,
          budgetFrom: 1,
          outputs,
          error: null,
          startedAt: at,
          endedAt: at,
          cost: { computeSeconds: 0, tokens: { prompt: 0, completion: 0 }, estimatedUsd: 0 },
        });
        // Not in alphabetical order: the order is the graph's, and it must survive.
        const nodes = {
          zeta: node('succeeded', { text: 'a "quoted" ünïcode line\nand another' }),
          alpha: node('running', null),
          mid: node('pending', null),
        };
        await sql`INSERT INTO workflows (id, name, description, type, status, runtime_config, latest_version, active_version, created_by, created_at, updated_at)
          VALUES ('wf_old', 'old', '', 'task', 'active', '{}', 1, 1, 'admin', ${at}, ${at})`.execute(
          old.db,
        );
        await sql`INSERT INTO executions (id, workflow_id, version, status, trigger_type, trigger_info, params, state, nodes, cost_usd, rev, last_seq, created_by, created_at, updated_at)
          VALUES ('exec_old', 'wf_old', 1, 'running', 'manual', '{}', '{}', '{}', ${JSON.stringify(nodes)}, 0, 7, 3, 'admin', ${at}, ${at})`.execute(
          old.db,
        );
        await old.close();

        const database = await openPlace(place);
        try {
          const found = await readExecutionWithNodes(database.db, 'exec_old');
          assert.ok(found);
          assert.equal(found.row.rev, 7);
          assert.deepEqual(Object.keys(found.nodes), ['zeta', 'alpha', 'mid']);
          assert.deepEqual(found.nodes, nodes);
          assert.equal('nodes' in found.row, false);
        } finally {
          await database.close();
        }
      } finally {
        await place.cleanup();
      }
    });

    it('numbers the log lines of concurrent writers of one execution apart, in commit order', async () => {
      const place = freshPlace(dialect);
      const dbs = await Promise.all([openPlace(place), openPlace(place)]);
      try {
        const at = '2026-12-01T00:00:00.000Z';
        await sql`INSERT INTO workflows (id, name, description, type, status, runtime_config, latest_version, active_version, created_by, created_at, updated_at)
          VALUES ('wf_l', 'l', '', 'task', 'active', '{}', 1, 1, 'admin', ${at}, ${at})`.execute(
          dbs[0].db,
        );
        await sql`INSERT INTO executions (id, workflow_id, version, status, trigger_type, trigger_info, params, state, cost_usd, rev, last_seq, created_by, created_at, updated_at)
          VALUES ('exec_l', 'wf_l', 1, 'running', 'manual', '{}', '{}', '{}', 0, 0, 1, 'admin', ${at}, ${at})`.execute(
          dbs[0].db,
        );
        // Two handles (two pools / two SQLite connections) write batches of one execution at once.
        const writer = (w: number) => async () => {
          for (let b = 0; b < 15; b++) {
            const lines = Array.from({ length: 4 }, (_, i) => ({
              node_id: `n${w}`,
              attempt: 1,
              stream: 'stdout',
              text: `w${w} b${b} l${i}`,
              at,
            }));
            await dbs[w]!.transaction(async (trx) => {
              await lockExecution(trx, dialect, 'exec_l');
              await insertLines(trx, 'exec_l', lines);
            });
          }
        };
        await Promise.all([writer(0)(), writer(1)()]);
        const rows = await listLogs(dbs[0].db, 'exec_l', { limit: 1000 });
        assert.deepEqual(
          rows.map((r) => r.line),
          Array.from({ length: 120 }, (_, i) => i + 1),
        );
        // Each writer's lines keep their order.
        for (const w of [0, 1]) {
          const mine = rows.filter((r) => r.node_id === `n${w}`).map((r) => r.text);
          const want = Array.from({ length: 15 }, (_, b) =>
            Array.from({ length: 4 }, (_, i) => `w${w} b${b} l${i}`),
          ).flat();
          assert.deepEqual(mine, want);
        }
      } finally {
        await Promise.all(dbs.map((d) => d.close()));
        await place.cleanup();
      }
    });

    it('rolls a failed transaction back', async () => {
      const place = freshPlace(dialect);
      const database = await openPlace(place);
      try {
        await assert.rejects(
          database.transaction(async (trx) => {
            await trx.insertInto('settings').values({ key: 'k', value: 'v' }).execute();
            throw new Error('boom');
          }),
          /boom/,
        );
        const rows = await sql<{ n: number }>`select count(*) as n from settings`.execute(
          database.db,
        );
        assert.equal(Number(rows.rows[0]!.n), 0);
      } finally {
        await database.close();
        await place.cleanup();
      }
    });
  });
}
