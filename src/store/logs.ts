/** SQL for node_logs: stdout/stderr lines with a per-execution line number. */
import { sql } from 'kysely';
import type { Db } from './db.ts';
import type { NodeLogsTable } from './schema.ts';

export type LogRow = NodeLogsTable;

/** A line to write; its number is given when it is written, after the execution's last one. */
export type NewLogLine = Omit<LogRow, 'execution_id' | 'line'>;

/** Lines per statement. */
const linesPerStatement = 200;

/**
 * Writes an execution's new lines numbered after its last line, each batch in one statement.
 * Callers hold what serializes the execution's writers (its row lock on PostgreSQL, the one
 * writer on SQLite), so two writers never take the same numbers.
 */
export async function insertLines(
  db: Db,
  executionId: string,
  lines: readonly NewLogLine[],
): Promise<void> {
  for (let i = 0; i < lines.length; i += linesPerStatement) {
    const values = lines
      .slice(i, i + linesPerStatement)
      .map(
        (l, j) =>
          sql`(CAST(${j + 1} AS integer), ${l.node_id}, CAST(${l.attempt} AS integer), ${l.stream}, ${l.text}, ${l.at})`,
      );
    await sql`WITH v (i, node_id, attempt, stream, text, at) AS (VALUES ${sql.join(values)}),
        last (m) AS (SELECT coalesce(max(line), 0) FROM node_logs WHERE execution_id = ${executionId})
      INSERT INTO node_logs (execution_id, line, node_id, attempt, stream, text, at)
      SELECT ${executionId}, last.m + v.i, v.node_id, v.attempt, v.stream, v.text, v.at
      FROM v, last`.execute(db);
  }
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
