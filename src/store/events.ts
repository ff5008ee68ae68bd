/** SQL for execution_events: gap-free per-execution sequence numbers (assigned under the execution's CAS). */
import type { Db } from './db.ts';
import type { ExecutionEventsTable } from './schema.ts';

export type EventRow = ExecutionEventsTable;

export async function insertEvents(db: Db, rows: EventRow[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 200)
    await insertEventsQuery(db, rows.slice(i, i + 200)).execute();
}

/** The insert of event rows (not empty), to execute or to embed in a larger statement. */
export function insertEventsQuery(db: Db, rows: EventRow[]) {
  return db.insertInto('execution_events').values(rows);
}

/** Events with seq >= fromSeq, in order. */
export async function listEvents(
  db: Db,
  executionId: string,
  fromSeq: number,
  limit: number,
): Promise<EventRow[]> {
  return db
    .selectFrom('execution_events')
    .selectAll()
    .where('execution_id', '=', executionId)
    .where('seq', '>=', fromSeq)
    .orderBy('seq')
    .limit(limit)
    .execute();
}

/** Where an execution's event stream stands: its workflow, status and last event seq. */
export async function streamPosition(
  db: Db,
  executionId: string,
): Promise<{ workflow_id: string; status: string; last_seq: number } | undefined> {
  return db
    .selectFrom('executions')
    .select(['workflow_id', 'status', 'last_seq'])
    .where('id', '=', executionId)
    .executeTakeFirst();
}
