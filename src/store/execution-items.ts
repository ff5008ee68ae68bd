/**
 * SQL for execution_items: the children of fan-out nodes (map items, parallel branches, loop
 * iterations), one row each, written by the attempt that runs them so a later attempt reuses
 * the ones that succeeded.
 */
import { ItemStatus } from '../engine/status.ts';
import type { Db } from './db.ts';
import type { ExecutionItemsTable } from './schema.ts';

export type ExecutionItemRow = ExecutionItemsTable;

/** The children of one node of an execution, by index. */
export async function listNodeItems(
  db: Db,
  executionId: string,
  nodeId: string,
): Promise<ExecutionItemRow[]> {
  return db
    .selectFrom('execution_items')
    .selectAll()
    .where('execution_id', '=', executionId)
    .where('node_id', '=', nodeId)
    .orderBy('idx')
    .execute();
}

/** The children of every node of an execution (the detail view), by node and index. */
export async function listExecutionItems(db: Db, executionId: string): Promise<ExecutionItemRow[]> {
  return db
    .selectFrom('execution_items')
    .selectAll()
    .where('execution_id', '=', executionId)
    .orderBy('node_id')
    .orderBy('idx')
    .execute();
}

/**
 * Writes a child's row. A row that succeeded stays as it is (its outputs are what later attempts
 * reuse), and an older attempt never overwrites a newer one's row; false when nothing was written.
 */
export async function writeItem(db: Db, row: ExecutionItemRow): Promise<boolean> {
  const res = await db
    .insertInto('execution_items')
    .values(row)
    .onConflict((oc) =>
      oc
        .columns(['execution_id', 'node_id', 'idx'])
        .doUpdateSet((eb) => ({
          item_key: eb.ref('excluded.item_key'),
          status: eb.ref('excluded.status'),
          attempt: eb.ref('excluded.attempt'),
          input_hash: eb.ref('excluded.input_hash'),
          outputs: eb.ref('excluded.outputs'),
          error: eb.ref('excluded.error'),
          compute_seconds: eb.ref('excluded.compute_seconds'),
          prompt_tokens: eb.ref('excluded.prompt_tokens'),
          completion_tokens: eb.ref('excluded.completion_tokens'),
          cost_usd: eb.ref('excluded.cost_usd'),
          started_at: eb.ref('excluded.started_at'),
          ended_at: eb.ref('excluded.ended_at'),
        }))
        .where('execution_items.status', '<>', ItemStatus.succeeded)
        .where('execution_items.attempt', '<=', row.attempt),
    )
    .executeTakeFirst();
  return Number(res.numInsertedOrUpdatedRows ?? 0n) > 0;
}
