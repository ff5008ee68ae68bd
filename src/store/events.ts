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

/**
 * The execution's position (undefined when it does not exist) and its events with seq >=
 * `fromSeq`, read together in one statement, so one snapshot: every event up to the position's
 * `last_seq` is in it.
 */
export async function positionAndEvents(
  db: Db,
  executionId: string,
  fromSeq: number,
  limit: number,
): Promise<{ position: StreamPosition; events: StreamedEvent[] } | undefined> {
  const rows = await db
    .selectFrom('executions as x')
    .leftJoin('execution_events as e', (join) =>
      join.onRef('e.execution_id', '=', 'x.id').on('e.seq', '>=', fromSeq),
    )
    .select(['x.workflow_id', 'x.status', 'x.last_seq', 'e.seq', 'e.type', 'e.data', 'e.at'])
    .where('x.id', '=', executionId)
    .orderBy('e.seq')
    .limit(limit)
    .execute();
  const first = rows[0];
  if (first === undefined) return undefined;
  const position = {
    workflow_id: first.workflow_id,
    status: first.status,
    last_seq: first.last_seq,
  };
  const events: StreamedEvent[] = [];
  for (const r of rows)
    if (r.seq !== null) events.push({ seq: r.seq, type: r.type!, data: r.data!, at: r.at! });
  return { position, events };
}

type StreamedEvent = Pick<EventRow, 'seq' | 'type' | 'data' | 'at'>;
type StreamPosition = { workflow_id: string; status: string; last_seq: number };

export async function streamPosition(
  db: Db,
  executionId: string,
): Promise<StreamPosition | undefined> {
  return db
    .selectFrom('executions')
    .select(['workflow_id', 'status', 'last_seq'])
    .where('id', '=', executionId)
    .executeTakeFirst();
}
