/**
 * SQL for concurrency groups (DESIGN §7). A group is every execution whose pinned
 * `concurrency_group` equals the key, across workflows. Its active runs are those pending,
 * running or waiting that are not queued; its queue is the queued pending ones, oldest first.
 * Deciding to start or queue reads the group and writes in one transaction under the group's
 * lock, so two servers never both take the last slot.
 */
import { sql } from 'kysely';
import { activeExecutionStatuses as activeStatuses } from '../engine/status.ts';
import type { Db, Dialect } from './db.ts';

/**
 * Serializes deciders of one group until the transaction ends: a transaction-scoped advisory
 * lock on PostgreSQL; SQLite runs one transaction at a time already.
 */
export async function lockGroup(db: Db, dialect: Dialect, key: string): Promise<void> {
  if (dialect !== 'postgres') return;
  await sql`SELECT pg_advisory_xact_lock(hashtextextended(${`concurrency:${key}`}, 0))`.execute(db);
}

/** Active (started or about to start) executions of the group: id and workflow, oldest first. */
export async function activeInGroup(
  db: Db,
  key: string,
): Promise<{ id: string; workflow_id: string }[]> {
  return db
    .selectFrom('executions')
    .select(['id', 'workflow_id'])
    .where('concurrency_group', '=', key)
    .where('status', 'in', activeStatuses)
    .where('concurrency_queued', '=', 0)
    .orderBy('id')
    .execute();
}

/** How many executions of the group are active (queued ones not counted). */
export async function countActive(db: Db, key: string): Promise<number> {
  const row = await db
    .selectFrom('executions')
    .select((eb) => eb.fn.countAll<string | number>().as('n'))
    .where('concurrency_group', '=', key)
    .where('status', 'in', activeStatuses)
    .where('concurrency_queued', '=', 0)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** The group's oldest queued execution, if any. */
export async function headOfQueue(
  db: Db,
  key: string,
): Promise<{ id: string; concurrency_max: number | null } | undefined> {
  return db
    .selectFrom('executions')
    .select(['id', 'concurrency_max'])
    .where('concurrency_group', '=', key)
    .where('status', '=', 'pending')
    .where('concurrency_queued', '=', 1)
    .orderBy('id')
    .limit(1)
    .executeTakeFirst();
}

/**
 * Compare-and-set: takes a queued, still pending execution out of the queue; false when
 * another server did, or it was cancelled meanwhile.
 */
export async function dequeue(db: Db, id: string, nowIso: string): Promise<boolean> {
  const res = await db
    .updateTable('executions')
    .set({ concurrency_queued: 0, status_reason: null, updated_at: nowIso })
    .where('id', '=', id)
    .where('concurrency_queued', '=', 1)
    .where('status', '=', 'pending')
    .executeTakeFirst();
  return res.numUpdatedRows === 1n;
}
