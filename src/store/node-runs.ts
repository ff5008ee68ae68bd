/** SQL for node_runs: one row per finished node attempt (history, cost and usage). */
import type { Db } from './db.ts';
import type { NodeRunsTable } from './schema.ts';

export type NodeRunRow = NodeRunsTable;

export async function insertNodeRuns(db: Db, rows: NodeRunRow[]): Promise<void> {
  if (rows.length > 0) await insertNodeRunsQuery(db, rows).execute();
}

/** The insert of node-run rows (not empty), to execute or to embed in a larger statement. */
export function insertNodeRunsQuery(db: Db, rows: NodeRunRow[]) {
  return db
    .insertInto('node_runs')
    .values(rows)
    .onConflict((oc) => oc.columns(['execution_id', 'node_id', 'attempt']).doNothing());
}

export async function listNodeRuns(db: Db, executionId: string): Promise<NodeRunRow[]> {
  return db
    .selectFrom('node_runs')
    .selectAll()
    .where('execution_id', '=', executionId)
    .orderBy('ended_at')
    .execute();
}

export async function usageRows(
  db: Db,
  workflowId: string,
  since?: string,
  until?: string,
): Promise<NodeRunRow[]> {
  let q = db.selectFrom('node_runs').selectAll().where('workflow_id', '=', workflowId);
  if (since !== undefined) q = q.where('ended_at', '>=', since);
  if (until !== undefined) q = q.where('ended_at', '<', until);
  return q.execute();
}
