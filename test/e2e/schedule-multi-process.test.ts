/**
 * Exactly once across servers (issue "Workflows start themselves"): two real server processes on
 * one PostgreSQL database both run the scheduler over an every-second schedule; halfway through,
 * one is SIGKILLed (possibly mid-pass, after a fire and before its cursor moved). Every tick
 * from the first to the last fired exactly once: no second, none skipped.
 */
import assert from 'node:assert/strict';
import pg from 'pg';
import { describe, it } from '../helpers/suite.ts';
import { skipFor } from '../helpers/dialects.ts';
import { eventually } from '../helpers/eventually.ts';
import { client } from '../helpers/http.ts';
import { freshPostgresDatabase, startServer } from '../helpers/process.ts';
import { scratchDir } from '../helpers/scratch.ts';

const token = `sy_${'f'.repeat(40)}`;

describe('schedules on two processes, one PostgreSQL', { skip: await skipFor('postgres') }, () => {
  it(
    'fires every tick of an every-second schedule once, also when one process is SIGKILLed',
    { timeout: 240_000 },
    async () => {
      const db = await freshPostgresDatabase();
      const env = {
        SWITCHYARD_ADMIN_TOKEN: token,
        DATABASE_URL: db.url,
        SWITCHYARD_LOCAL_ISOLATION: 'none',
        SWITCHYARD_RUNTIME: 'local',
        SWITCHYARD_SCHEDULER_INTERVAL_MS: '200',
      };
      const dirs = ['a', 'b'].map((n) => scratchDir(`switchyard-sched-${n}-`));
      const [a, b] = await Promise.all(dirs.map((d) => startServer(['--data-dir', d], env)));
      const sql = new pg.Client({ connectionString: db.url });
      await sql.connect();
      try {
        const api = client(a!.url, token);
        const created = await api.call('POST', '/api/v1/workflows', {
          name: 'every-second',
          triggerConfig: [{ type: 'schedule', every: '1s', overlap: 'allow_all' }],
          graph: { nodes: [{ id: 'tick', type: 'noop' }] },
        });
        assert.equal(created.status, 201, JSON.stringify(created.json));
        const wfId = created.json.id as string;
        const published = await api.call('POST', `/api/v1/workflows/${wfId}/publish`);
        assert.equal(published.status, 200);

        /** The scheduled times of the workflow's executions, as the database holds them. */
        const fired = async (): Promise<string[]> => {
          const res = await sql.query<{ trigger_info: string }>(
            `SELECT trigger_info FROM executions WHERE workflow_id = $1 AND trigger_type = 'schedule'`,
            [wfId],
          );
          return res.rows.map(
            (r) => (JSON.parse(r.trigger_info) as { scheduledAt: string }).scheduledAt,
          );
        };
        const atLeast = (n: number) =>
          eventually(
            `${n} ticks fired`,
            async () => ((await fired()).length >= n ? true : undefined),
            120_000,
          );

        await atLeast(25);
        // Halfway: one process dies at once, wherever it is.
        assert.equal(await b!.stop('SIGKILL'), null);
        await atLeast(55);
        await a!.stop('SIGTERM');

        const times = (await fired()).sort();
        const unique = new Set(times);
        assert.equal(unique.size, times.length, `a tick fired twice: ${times.join(' ')}`);
        for (let i = 1; i < times.length; i++) {
          const gap = Date.parse(times[i]!) - Date.parse(times[i - 1]!);
          assert.equal(gap, 1000, `ticks skipped between ${times[i - 1]} and ${times[i]}`);
        }
        assert.ok(times.length >= 55);
      } finally {
        await sql.end();
        await Promise.all([a!.stop('SIGKILL'), b!.stop('SIGKILL')]);
        await db.drop();
      }
    },
  );
});
