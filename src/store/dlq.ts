/** SQL for the dead letter queue. Status changes are compare-and-set. */
import type { Db } from './db.ts';
import type { DlqTable } from './schema.ts';

export type DlqRow = DlqTable;

export interface DlqFilter {
  workflowId?: string;
  status?: string;
  nodeId?: string;
  executionId?: string;
  beforeId?: string;
  limit: number;
}

export async function insertDlq(db: Db, rows: DlqRow[]): Promise<void> {
  if (rows.length > 0) await insertDlqQuery(db, rows).execute();
}

/** The insert of DLQ rows (not empty), to execute or to embed in a larger statement. */
export function insertDlqQuery(db: Db, rows: DlqRow[]) {
  return db.insertInto('dlq').values(rows);
}

export async function getDlq(db: Db, id: string): Promise<DlqRow | undefined> {
  return db.selectFrom('dlq').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function listDlq(db: Db, f: DlqFilter): Promise<DlqRow[]> {
  let q = db.selectFrom('dlq').selectAll();
  if (f.workflowId !== undefined) q = q.where('workflow_id', '=', f.workflowId);
  if (f.status !== undefined) q = q.where('status', '=', f.status);
  if (f.nodeId !== undefined) q = q.where('node_id', '=', f.nodeId);
  if (f.executionId !== undefined) q = q.where('execution_id', '=', f.executionId);
  if (f.beforeId !== undefined) q = q.where('id', '<', f.beforeId);
  return q.orderBy('id', 'desc').limit(f.limit).execute();
}

export async function setDlqStatus(
  db: Db,
  id: string,
  from: string,
  to: string,
  fields: { resolvedAt: string | null; resolvedBy: string | null; note: string | null },
): Promise<boolean> {
  const res = await db
    .updateTable('dlq')
    .set({
      status: to,
      resolved_at: fields.resolvedAt,
      resolved_by: fields.resolvedBy,
      note: fields.note,
    })
    .where('id', '=', id)
    .where('status', '=', from)
    .executeTakeFirst();
  return res.numUpdatedRows === 1n;
}

/** Marks open entries of a node as retried when the node is retried another way. */
export async function markNodeEntriesRetried(
  db: Db,
  executionId: string,
  nodeId: string | undefined,
  now: string,
  actor: string,
): Promise<void> {
  let q = db
    .updateTable('dlq')
    .set({ status: 'retried', resolved_at: now, resolved_by: actor })
    .where('execution_id', '=', executionId)
    .where('status', '=', 'open');
  if (nodeId !== undefined) q = q.where('node_id', '=', nodeId);
  await q.execute();
}

/** DLQ entries still open (neither retried nor dismissed). */
export async function countOpenDlq(db: Db): Promise<number> {
  const r = await db
    .selectFrom('dlq')
    .select((eb) => eb.fn.countAll<string | number>().as('n'))
    .where('status', '=', 'open')
    .executeTakeFirst();
  return Number(r?.n ?? 0);
}
