/**
 * Many decisions per statement (PostgreSQL, src/worker/decision-writer.ts): decisions that queue
 * while a statement is in flight are written together; one that lost its compare-and-set or its
 * task's lease is undone alone, and the others of its statement still commit.
 */
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import type { Database } from '../../src/store/db.ts';
import type { OneStatementDecision } from '../../src/store/decisions.ts';
import { DecisionWriter } from '../../src/worker/decision-writer.ts';
import { freshPlace, openPlace, skipFor } from '../helpers/dialects.ts';
import { describe, it } from '../helpers/suite.ts';

const at = '2026-12-07T00:00:00.000Z';
const owner = 'w_test';

async function seed(db: Database, ids: string[]): Promise<void> {
  await sql`INSERT INTO workflows (id, name, description, type, status, runtime_config, latest_version, active_version, created_by, created_at, updated_at)
    VALUES ('wf_b', 'b', '', 'task', 'active', '{}', 1, 1, 'admin', ${at}, ${at})`.execute(db.db);
  for (const id of ids) {
    await sql`INSERT INTO executions (id, workflow_id, version, status, trigger_type, trigger_info, params, state, cost_usd, rev, last_seq, created_by, created_at, updated_at)
      VALUES (${id}, 'wf_b', 1, 'running', 'manual', '{}', '{}', '{}', 0, 3, 1, 'admin', ${at}, ${at})`.execute(
      db.db,
    );
    await sql`INSERT INTO tasks (id, execution_id, kind, node_id, attempt, payload, available_at, lease_owner, lease_expires_at, created_at)
      VALUES (${`t_${id}`}, ${id}, 'run', 'a', 1, NULL, ${at}, ${owner}, ${at}, ${at})`.execute(
      db.db,
    );
  }
}

/** A decision on `id` taken at `rev`: it finishes its task, writes one event and one line. */
function decision(id: string, rev: number): OneStatementDecision {
  const state = JSON.stringify({ id, decided: true });
  return {
    id,
    rev,
    taskIds: [`t_${id}`],
    events: 1,
    lines: [{ node_id: 'a', attempt: 1, stream: 'stdout', text: `done ${id}`, at }],
    rows: {
      changes: {
        status: 'running',
        state,
        error: null,
        cost_usd: 0,
        last_seq: 2,
        started_at: at,
        ended_at: null,
        updated_at: at,
      },
      nodes: {},
      changedNodes: new Set(),
      killNodes: [],
      clearTasks: false,
      tasks: [],
      events: [
        {
          execution_id: id,
          seq: 2,
          type: 'node.succeeded',
          node_id: 'a',
          data: '{}',
          at,
        },
      ],
      dlq: [],
      nodeRuns: [],
    },
  };
}

async function stateOf(db: Database, id: string) {
  const row = await db.db
    .selectFrom('executions')
    .select(['rev', 'last_seq'])
    .where('id', '=', id)
    .executeTakeFirstOrThrow();
  const count = async (table: 'tasks' | 'execution_events' | 'node_logs') =>
    Number(
      (
        await db.db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll<string>().as('n'))
          .where('execution_id', '=', id)
          .executeTakeFirstOrThrow()
      ).n,
    );
  return {
    rev: row.rev,
    lastSeq: row.last_seq,
    tasks: await count('tasks'),
    events: await count('execution_events'),
    lines: await count('node_logs'),
  };
}

const written = { rev: 4, lastSeq: 2, tasks: 0, events: 1, lines: 1 };
const untouched = { rev: 3, lastSeq: 1, tasks: 1, events: 0, lines: 0 };

describe(
  'decisions written many per statement (postgres)',
  { skip: await skipFor('postgres') },
  () => {
    it('commits decisions that queue together, and undoes only the one that lost', async () => {
      const place = freshPlace('postgres');
      const db = await openPlace(place);
      try {
        const ids = ['exec_1', 'exec_2', 'exec_3', 'exec_4', 'exec_5'];
        await seed(db, ids);
        // Another worker took exec_5's task over: its lease is no longer ours.
        await sql`UPDATE tasks SET lease_owner = 'w_other' WHERE id = 't_exec_5'`.execute(db.db);
        const writer = new DecisionWriter(db, owner);
        // The first goes at once; the four that queue meanwhile share the next statement, in which
        // exec_3 was decided at a stale rev and exec_5's task is not this worker's.
        const results = await Promise.all([
          writer.write(decision('exec_1', 3)),
          writer.write(decision('exec_2', 3)),
          writer.write(decision('exec_3', 2)),
          writer.write(decision('exec_4', 3)),
          writer.write(decision('exec_5', 3)),
        ]);
        assert.deepEqual(results, [true, true, false, true, false]);
        assert.deepEqual(await stateOf(db, 'exec_1'), written);
        assert.deepEqual(await stateOf(db, 'exec_2'), written);
        assert.deepEqual(await stateOf(db, 'exec_3'), untouched);
        assert.deepEqual(await stateOf(db, 'exec_4'), written);
        assert.deepEqual(await stateOf(db, 'exec_5'), untouched);
        // Each execution's line is numbered within it.
        const lines = await db.db
          .selectFrom('node_logs')
          .select(['execution_id', 'line', 'text'])
          .orderBy('execution_id')
          .execute();
        assert.deepEqual(lines, [
          { execution_id: 'exec_1', line: 1, text: 'done exec_1' },
          { execution_id: 'exec_2', line: 1, text: 'done exec_2' },
          { execution_id: 'exec_4', line: 1, text: 'done exec_4' },
        ]);
        // The one that lost is written once decided again at the current rev.
        assert.equal(await writer.write(decision('exec_3', 3)), true);
        assert.deepEqual(await stateOf(db, 'exec_3'), written);
      } finally {
        await db.close();
        await place.cleanup();
      }
    });

    it('fails the decisions it cannot write, rather than calling them lost', async () => {
      const place = freshPlace('postgres');
      const db = await openPlace(place);
      try {
        await seed(db, ['exec_1', 'exec_2']);
        const writer = new DecisionWriter(db, owner);
        // The pool is gone (as in an outage): an error the caller retries, not a lost decision.
        await db.close();
        const results = await Promise.allSettled([
          writer.write(decision('exec_1', 3)),
          writer.write(decision('exec_2', 3)),
        ]);
        assert.deepEqual(
          results.map((r) => r.status),
          ['rejected', 'rejected'],
        );
      } finally {
        await place.cleanup();
      }
    });
  },
);
