/** SQL for executions: the snapshot row, compare-and-set on `rev`, lists and deletes. */
import { deleteChunksOfExecutions } from './artifact-chunks.ts';
import { deleteByExecutions as deleteArtifactRows } from './artifacts.ts';
import type { Db, Dialect } from './db.ts';
import type { ExecutionsTable } from './schema.ts';
import { type ExecutionStatus, terminalExecutionStatuses } from '../engine/status.ts';

export type ExecutionRow = ExecutionsTable;

export interface ExecutionFilter {
  workflowId?: string;
  status?: string;
  triggerType?: string;
  version?: number;
  since?: string;
  until?: string;
  beforeId?: string;
  limit: number;
}

export async function getExecution(db: Db, id: string): Promise<ExecutionRow | undefined> {
  return db.selectFrom('executions').selectAll().where('id', '=', id).executeTakeFirst();
}

/**
 * Reads an execution to decide on it. On PostgreSQL the row is locked for the transaction, so
 * concurrent decisions on one execution queue up instead of racing to the compare-and-set.
 */
export async function getExecutionForDecision(
  db: Db,
  dialect: Dialect,
  id: string,
): Promise<ExecutionRow | undefined> {
  let q = db.selectFrom('executions').selectAll().where('id', '=', id);
  if (dialect === 'postgres') q = q.forUpdate();
  return q.executeTakeFirst();
}

/**
 * Takes an execution's row lock for the transaction (PostgreSQL; SQLite has one writer): what
 * a decision takes, so writers of the execution's log lines and its decisions go one at a time.
 */
export async function lockExecution(db: Db, dialect: Dialect, id: string): Promise<void> {
  if (dialect === 'postgres')
    await db.selectFrom('executions').select('id').where('id', '=', id).forUpdate().execute();
}

export async function findByIdempotencyKey(
  db: Db,
  workflowId: string,
  key: string,
): Promise<ExecutionRow | undefined> {
  return db
    .selectFrom('executions')
    .selectAll()
    .where('workflow_id', '=', workflowId)
    .where('idempotency_key', '=', key)
    .executeTakeFirst();
}

export async function listExecutions(db: Db, f: ExecutionFilter): Promise<ExecutionRow[]> {
  let q = db.selectFrom('executions').selectAll();
  if (f.workflowId !== undefined) q = q.where('workflow_id', '=', f.workflowId);
  if (f.status !== undefined) q = q.where('status', '=', f.status);
  if (f.triggerType !== undefined) q = q.where('trigger_type', '=', f.triggerType);
  if (f.version !== undefined) q = q.where('version', '=', f.version);
  if (f.since !== undefined) q = q.where('created_at', '>=', f.since);
  if (f.until !== undefined) q = q.where('created_at', '<', f.until);
  if (f.beforeId !== undefined) q = q.where('id', '<', f.beforeId);
  return q.orderBy('id', 'desc').limit(f.limit).execute();
}

/** How a decision changes the execution row (written compare-and-set on its `rev`). */
export type ExecutionChanges = Pick<
  ExecutionRow,
  'status' | 'state' | 'error' | 'cost_usd' | 'last_seq' | 'started_at' | 'ended_at' | 'updated_at'
>;

/** Writes a decision's result if nobody else decided since `rev`; false on conflict. */
export async function updateExecutionCas(
  db: Db,
  id: string,
  rev: number,
  changes: ExecutionChanges,
): Promise<boolean> {
  const res = await updateExecutionCasQuery(db, id, rev, changes).executeTakeFirst();
  return res !== undefined;
}

/** The compare-and-set update returning the id it updated, to execute or to embed. */
export function updateExecutionCasQuery(
  db: Db,
  id: string,
  rev: number,
  changes: ExecutionChanges,
) {
  return db
    .updateTable('executions')
    .set({ ...changes, rev: rev + 1 })
    .where('id', '=', id)
    .where('rev', '=', rev)
    .returning('id');
}

/**
 * Deletes executions and everything they own (node states, events, logs, node runs, tasks, DLQ entries,
 * artifact rows; the artifact files are the caller's to remove once this commits).
 */
export async function deleteExecutions(db: Db, ids: string[]): Promise<number> {
  if (ids.length === 0) return 0;
  let deleted = 0;
  for (let i = 0; i < ids.length; i += 500) {
    const chunk = ids.slice(i, i + 500);
    await db.deleteFrom('execution_events').where('execution_id', 'in', chunk).execute();
    await db.deleteFrom('node_logs').where('execution_id', 'in', chunk).execute();
    await db.deleteFrom('node_runs').where('execution_id', 'in', chunk).execute();
    await db.deleteFrom('tasks').where('execution_id', 'in', chunk).execute();
    await db.deleteFrom('dlq').where('execution_id', 'in', chunk).execute();
    await deleteArtifactRows(db, chunk);
    await deleteChunksOfExecutions(db, chunk);
    await db.deleteFrom('execution_nodes').where('execution_id', 'in', chunk).execute();
    await db.deleteFrom('execution_items').where('execution_id', 'in', chunk).execute();
    await db.deleteFrom('execution_tokens').where('execution_id', 'in', chunk).execute();
    const res = await db.deleteFrom('executions').where('id', 'in', chunk).executeTakeFirst();
    deleted += Number(res.numDeletedRows);
  }
  return deleted;
}

/** Ids of terminal executions of a workflow, for bulk delete. */
export async function terminalExecutionIds(
  db: Db,
  workflowId: string,
  opts: { status?: ExecutionStatus; before?: string },
): Promise<string[]> {
  let q = db
    .selectFrom('executions')
    .select('id')
    .where('workflow_id', '=', workflowId)
    .where('status', 'in', terminalExecutionStatuses);
  if (opts.status !== undefined) q = q.where('status', '=', opts.status);
  if (opts.before !== undefined) q = q.where('created_at', '<', opts.before);
  return (await q.execute()).map((r) => r.id);
}
