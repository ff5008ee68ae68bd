/**
 * The worker's item checkpoints (src/worker/item-checkpoints.ts) over a real database: a child's
 * row is written only while the attempt holds its task, a succeeded row is never overwritten (a
 * later attempt reuses it when the input hash matches), an older attempt never overwrites a
 * newer one, and the rows go with their execution.
 */
import assert from 'node:assert/strict';
import { describe, it } from '../helpers/suite.ts';
import { defaultConfig } from '../../src/config.ts';
import type { ExecutionState } from '../../src/engine/types.ts';
import type { ExecResult } from '../../src/nodes/executor.ts';
import type { Database } from '../../src/store/db.ts';
import { listExecutionItems, writeItem } from '../../src/store/execution-items.ts';
import { deleteExecutions } from '../../src/store/executions.ts';
import { type TaskRow, taskId, upsertTasks } from '../../src/store/tasks.ts';
import type { WorkerContext } from '../../src/worker/context.ts';
import { itemCheckpoints } from '../../src/worker/item-checkpoints.ts';
import { dialectNames, freshPlace, openPlace, skipFor } from '../helpers/dialects.ts';

const at = '2026-12-01T00:00:00.000Z';
const execution = { id: 'exec_items', runtime: {} } as unknown as ExecutionState;

/** What itemCheckpoints reads of the worker: its id, database, clock, prices and commit retry. */
function workerOf(database: Database, workerId: string): WorkerContext {
  return {
    workerId,
    db: database,
    clock: { now: () => new Date(at) },
    config: { ...defaultConfig, cpuSecondPriceUsd: 0.5 },
    keepCommitting: <T>(fn: () => Promise<T>) => fn(),
  } as unknown as WorkerContext;
}

function runTask(attempt: number, owner: string | null): TaskRow {
  return {
    id: taskId(execution.id, 'run', 'each', attempt),
    execution_id: execution.id,
    kind: 'run',
    node_id: 'each',
    attempt,
    payload: null,
    available_at: at,
    lease_owner: owner,
    lease_expires_at: owner === null ? null : '2099-01-01T00:00:00.000Z',
    created_at: at,
  };
}

const ok = (outputs: Record<string, unknown>): ExecResult => ({
  status: 'succeeded',
  outputs,
  usage: { runtimeSeconds: 2 },
});
const bad: ExecResult = {
  status: 'failed',
  error: { code: 'ERR_X', message: 'no', retryable: true },
};

for (const dialect of dialectNames) {
  describe(`item checkpoints (${dialect})`, { skip: await skipFor(dialect) }, () => {
    it('writes while the attempt holds its task, keeps succeeded rows, reuses them by hash', async () => {
      const place = freshPlace(dialect);
      const database = await openPlace(place);
      try {
        const first = runTask(1, 'w_a');
        await upsertTasks(database.db, [first]);
        const a1 = itemCheckpoints(workerOf(database, 'w_a'), execution, 'each', first);
        await a1.started(0, 'h0');
        await a1.record(0, 'h0', ok({ v: 0 }));
        await a1.started(1, 'h1', 'b');
        await a1.record(1, 'h1', bad, 'b');
        await a1.started(2, 'h2');

        // Another worker took the task over: its writes (with the lost lease) change nothing.
        const lost = itemCheckpoints(workerOf(database, 'w_b'), execution, 'each', first);
        await lost.record(1, 'h1', ok({ v: 1 }), 'b');
        await lost.record(2, 'h2', ok({ v: 2 }));

        let rows = await listExecutionItems(database.db, execution.id);
        assert.deepEqual(
          rows.map((r) => [r.node_id, r.idx, r.item_key, r.status, r.attempt]),
          [
            ['each', 0, null, 'succeeded', 1],
            ['each', 1, 'b', 'failed', 1],
            ['each', 2, null, 'running', 1],
          ],
        );
        assert.equal(rows[0]!.compute_seconds, 2);
        assert.equal(rows[0]!.cost_usd, 1);
        assert.equal(rows[0]!.started_at, at);
        assert.equal(rows[0]!.ended_at, at);
        assert.equal(rows[2]!.ended_at, null);
        assert.equal(JSON.parse(rows[1]!.error!).code, 'ERR_X');

        // The next attempt reuses the succeeded item only with the same input hash.
        const second = runTask(2, 'w_a');
        await upsertTasks(database.db, [second]);
        const a2 = itemCheckpoints(workerOf(database, 'w_a'), execution, 'each', second);
        assert.deepEqual(await a2.done(0, 'h0'), { v: 0 });
        assert.equal(await a2.done(0, 'changed'), undefined);
        assert.equal(await a2.done(1, 'h1'), undefined);
        assert.equal(await a2.done(2, 'h2'), undefined);
        await a2.record(0, 'changed', bad);
        await a2.record(1, 'h1', ok({ v: 1 }), 'b');
        await a2.started(2, 'h2');
        // A late write of attempt 1 (past its lease) loses to attempt 2's row, running or done.
        const late = { ...rows[2]!, status: 'failed', attempt: 1 };
        assert.equal(await writeItem(database.db, late), false);
        assert.equal((await listExecutionItems(database.db, execution.id))[2]!.status, 'running');
        await a2.record(2, 'h2', ok({ v: 2 }));
        assert.equal(await writeItem(database.db, late), false);

        rows = await listExecutionItems(database.db, execution.id);
        assert.deepEqual(
          rows.map((r) => [r.idx, r.status, r.attempt, r.input_hash, r.outputs]),
          [
            [0, 'succeeded', 1, 'h0', '{"v":0}'],
            [1, 'succeeded', 2, 'h1', '{"v":1}'],
            [2, 'succeeded', 2, 'h2', '{"v":2}'],
          ],
        );

        await deleteExecutions(database.db, [execution.id]);
        assert.deepEqual(await listExecutionItems(database.db, execution.id), []);
      } finally {
        await database.close();
        await place.cleanup();
      }
    });
  });
}
