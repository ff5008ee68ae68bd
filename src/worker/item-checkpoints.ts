/**
 * The worker's `ctx.items` (ItemCheckpoints): the children of a fan-out node attempt read from and
 * written to `execution_items`. Each write is a small commit of its own, retried while the
 * database is unavailable, and made only while this worker still holds the attempt's task: an
 * attempt that lost its lease (taken over, cancelled) writes nothing.
 */
import { price } from '../engine/cost.ts';
import { ItemStatus } from '../engine/status.ts';
import type { ExecutionState } from '../engine/types.ts';
import type { ExecResult, ItemCheckpoints } from '../nodes/executor.ts';
import * as itemsSql from '../store/execution-items.ts';
import type { ExecutionItemRow } from '../store/execution-items.ts';
import * as tasksSql from '../store/tasks.ts';
import type { TaskRow } from '../store/tasks.ts';
import type { WorkerContext } from './context.ts';

export function itemCheckpoints(
  ctx: WorkerContext,
  execution: ExecutionState,
  nodeId: string,
  task: TaskRow,
): ItemCheckpoints {
  // The rows earlier attempts left, read once on the first question.
  let stored: Promise<Map<number, ExecutionItemRow>> | undefined;
  const startedAt = new Map<number, string>();
  const now = () => ctx.clock.now().toISOString();
  const write = (row: ExecutionItemRow) =>
    ctx.keepCommitting(
      () =>
        ctx.db.transaction(async (trx) => {
          if (!(await tasksSql.holdsLease(trx, task.id, ctx.workerId))) return;
          await itemsSql.writeItem(trx, row);
        }),
      `the checkpoint of item ${row.idx} of ${task.id}`,
    );
  const base = (index: number, hash: string, key: string | undefined) => ({
    execution_id: execution.id,
    node_id: nodeId,
    idx: index,
    item_key: key ?? null,
    attempt: task.attempt,
    input_hash: hash,
  });
  return {
    async done(index, hash) {
      stored ??= ctx.keepCommitting(async () => {
        const rows = await itemsSql.listNodeItems(ctx.db.db, execution.id, nodeId);
        return new Map(rows.map((r) => [r.idx, r]));
      });
      const row = (await stored).get(index);
      if (row?.status !== ItemStatus.succeeded || row.input_hash !== hash || row.outputs === null)
        return undefined;
      return JSON.parse(row.outputs) as Record<string, unknown>;
    },
    async started(index, hash, key) {
      const at = now();
      startedAt.set(index, at);
      await write({
        ...base(index, hash, key),
        status: ItemStatus.running,
        outputs: null,
        error: null,
        compute_seconds: 0,
        prompt_tokens: 0,
        completion_tokens: 0,
        cost_usd: 0,
        started_at: at,
        ended_at: null,
      });
    },
    async record(index, hash, result, key) {
      const cost = price(result.usage, execution.runtime, ctx.config);
      await write({
        ...base(index, hash, key),
        status: statusOf(result),
        outputs: result.status === 'succeeded' ? JSON.stringify(result.outputs) : null,
        error: result.status === 'failed' ? JSON.stringify(result.error) : null,
        compute_seconds: cost.computeSeconds,
        prompt_tokens: cost.tokens.prompt,
        completion_tokens: cost.tokens.completion,
        cost_usd: cost.estimatedUsd,
        started_at: startedAt.get(index) ?? null,
        ended_at: now(),
      });
    },
  };
}

/** A child stopped by a cancel or a shutdown is `cancelled`; it runs again in the next attempt. */
function statusOf(result: ExecResult): ItemStatus {
  if (result.status === 'succeeded') return ItemStatus.succeeded;
  return result.error.code === 'ERR_CANCELLED' ? ItemStatus.cancelled : ItemStatus.failed;
}
