/** SQL for node_logs: stdout/stderr lines with a per-execution line number. */
import type { Db } from './db.ts';
import type { NodeLogsTable } from './schema.ts';

export type LogRow = NodeLogsTable;

export async function insertLogs(db: Db, rows: LogRow[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 200)
    await db
      .insertInto('node_logs')
      .values(rows.slice(i, i + 200))
      .execute();
}

export async function maxLogLine(db: Db, executionId: string): Promise<number> {
  const r = await db
    .selectFrom('node_logs')
    .select((eb) => eb.fn.max('line').as('m'))
    .where('execution_id', '=', executionId)
    .executeTakeFirst();
  return Number(r?.m ?? 0);
}

/** The last `n` lines of a node (all attempts), oldest first. */
export async function tailLogs(
  db: Db,
  executionId: string,
  nodeId: string,
  n: number,
): Promise<LogRow[]> {
  const rows = await db
    .selectFrom('node_logs')
    .selectAll()
    .where('execution_id', '=', executionId)
    .where('node_id', '=', nodeId)
    .orderBy('line', 'desc')
    .limit(n)
    .execute();
  return rows.reverse();
}

export async function listLogs(
  db: Db,
  executionId: string,
  opts: { nodeId?: string; attempt?: number; after?: number; limit: number },
): Promise<LogRow[]> {
  let q = db.selectFrom('node_logs').selectAll().where('execution_id', '=', executionId);
  if (opts.nodeId !== undefined) q = q.where('node_id', '=', opts.nodeId);
  if (opts.attempt !== undefined) q = q.where('attempt', '=', opts.attempt);
  if (opts.after !== undefined) q = q.where('line', '>', opts.after);
  return q.orderBy('line').limit(opts.limit).execute();
}
