/** SQL for node_logs: stdout/stderr lines with a per-execution line number. */
import { type RawBuilder, sql } from 'kysely';
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
    const [v, last, insert] = insertLinesParts(executionId, lines.slice(i, i + linesPerStatement));
    await sql`WITH v (i, node_id, attempt, stream, text, at) AS (${v}), last (m) AS (${last}) ${insert}`.execute(
      db,
    );
  }
}

/**
 * The parts of one statement writing up to `linesPerStatement` lines: the values as `v`, the
 * execution's last line number as `last`, and the insert reading both; a caller that writes
 * them inside a larger statement names the first two `valuesName` and `lastName` in its WITH list.
 */
export function insertLinesParts(
  executionId: string,
  lines: readonly NewLogLine[],
  valuesName = 'v',
  lastName = 'last',
): [RawBuilder<unknown>, RawBuilder<unknown>, RawBuilder<unknown>] {
  const values = lines.map(
    (l, j) =>
      sql`(CAST(${j + 1} AS integer), ${l.node_id}, CAST(${l.attempt} AS integer), ${l.stream}, ${l.text}, ${l.at})`,
  );
  return [
    sql`VALUES ${sql.join(values)}`,
    sql`SELECT coalesce(max(line), 0) FROM node_logs WHERE execution_id = ${executionId}`,
    sql`INSERT INTO node_logs (execution_id, line, node_id, attempt, stream, text, at)
      SELECT ${executionId}, l.m + v.i, v.node_id, v.attempt, v.stream, v.text, v.at
      FROM ${sql.id(valuesName)} v, ${sql.id(lastName)} l`,
  ];
}

/** Lines one statement writes at most. */
export const maxLinesPerStatement = linesPerStatement;

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
