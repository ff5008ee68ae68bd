/**
 * The work queue. A task is ready when `available_at <= now` and it has no live lease. Claims
 * set a lease (owner + expiry); the owner heartbeats it while working and deletes the task in
 * the transaction that records the result. A lease that expires (dead worker) is claimed again.
 * PostgreSQL claims with FOR UPDATE SKIP LOCKED; SQLite has one writer.
 */
import { sql } from 'kysely';
import type { Db, Dialect } from './db.ts';
import type { TasksTable } from './schema.ts';

export type TaskRow = TasksTable;

export function taskId(
  executionId: string,
  kind: string,
  nodeId: string | null,
  attempt: number,
): string {
  return `${executionId}:${kind}:${nodeId ?? ''}:${attempt}`;
}

/** Inserts tasks; an existing task with the same id gets the new time and loses its lease. */
export async function upsertTasks(db: Db, rows: TaskRow[]): Promise<void> {
  if (rows.length > 0) await upsertTasksQuery(db, rows).execute();
}

/** The upsert of task rows (`rows` not empty), to execute or to embed in a larger statement. */
export function upsertTasksQuery(db: Db, rows: TaskRow[]) {
  return db
    .insertInto('tasks')
    .values(rows)
    .onConflict((oc) =>
      oc.column('id').doUpdateSet((eb) => ({
        available_at: eb.ref('excluded.available_at'),
        lease_owner: eb.ref('excluded.lease_owner'),
        lease_expires_at: eb.ref('excluded.lease_expires_at'),
        payload: eb.ref('excluded.payload'),
      })),
    );
}

export async function claimTasks(
  db: Db,
  dialect: Dialect,
  owner: string,
  nowIso: string,
  leaseUntil: string,
  limit: number,
): Promise<TaskRow[]> {
  const lock = dialect === 'postgres' ? sql`FOR UPDATE SKIP LOCKED` : sql``;
  const res = await sql<TaskRow>`
    UPDATE tasks SET lease_owner = ${owner}, lease_expires_at = ${leaseUntil}
    WHERE id IN (
      SELECT id FROM tasks
      WHERE available_at <= ${nowIso} AND (lease_owner IS NULL OR lease_expires_at < ${nowIso})
      ORDER BY available_at
      LIMIT ${limit}
      ${lock}
    )
    RETURNING *`.execute(db);
  return res.rows;
}

/** Extends leases this owner holds; returns the ids it still holds. */
export async function heartbeat(
  db: Db,
  owner: string,
  ids: string[],
  leaseUntil: string,
): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db
    .updateTable('tasks')
    .set({ lease_expires_at: leaseUntil })
    .where('id', 'in', ids)
    .where('lease_owner', '=', owner)
    .returning('id')
    .execute();
  return new Set(rows.map((r) => r.id));
}

/**
 * True while `owner` holds the task's lease. Inside a transaction the row stays locked until the
 * commit (PostgreSQL), so a write made with it cannot race a takeover.
 */
export async function holdsLease(db: Db, id: string, owner: string): Promise<boolean> {
  const rows = await db
    .updateTable('tasks')
    .set((eb) => ({ lease_owner: eb.ref('lease_owner') }))
    .where('id', '=', id)
    .where('lease_owner', '=', owner)
    .returning('id')
    .execute();
  return rows.length === 1;
}

/** Deletes a task this owner holds; false when the lease was lost (the result must be dropped). */
export async function completeTask(db: Db, id: string, owner: string): Promise<boolean> {
  const res = await db
    .deleteFrom('tasks')
    .where('id', '=', id)
    .where('lease_owner', '=', owner)
    .executeTakeFirst();
  return res.numDeletedRows === 1n;
}

export async function deleteTasksOf(db: Db, executionId: string, except?: string): Promise<void> {
  let q = db.deleteFrom('tasks').where('execution_id', '=', executionId);
  if (except !== undefined) q = q.where('id', '<>', except);
  await q.execute();
}

export async function deleteNodeTasks(db: Db, executionId: string, nodeId: string): Promise<void> {
  await db
    .deleteFrom('tasks')
    .where('execution_id', '=', executionId)
    .where('node_id', '=', nodeId)
    .where('kind', '=', 'run')
    .execute();
}

/** Drops every lease of an owner (a restarted single-process server re-claims its own work). */
export async function releaseLeases(db: Db, owner?: string): Promise<number> {
  let q = db
    .updateTable('tasks')
    .set({ lease_owner: null, lease_expires_at: null })
    .where('lease_owner', 'is not', null);
  if (owner !== undefined) q = q.where('lease_owner', '=', owner);
  const res = await q.executeTakeFirst();
  return Number(res.numUpdatedRows);
}

/** Deletes a task (only while `owner` holds its lease, with `owner`). */
export async function deleteTask(db: Db, id: string, owner?: string): Promise<void> {
  let q = db.deleteFrom('tasks').where('id', '=', id);
  if (owner !== undefined) q = q.where('lease_owner', '=', owner);
  await q.execute();
}

/** Tasks due and not leased (waiting for a worker slot), and when the oldest became due. */
export async function queueDepth(
  db: Db,
  nowIso: string,
): Promise<{ due: number; oldestDueAt: string | null }> {
  const r = await db
    .selectFrom('tasks')
    .select((eb) => [
      eb.fn.countAll<string | number>().as('n'),
      eb.fn.min('available_at').as('oldest'),
    ])
    .where('lease_owner', 'is', null)
    .where('available_at', '<=', nowIso)
    .executeTakeFirst();
  return { due: Number(r?.n ?? 0), oldestDueAt: (r?.oldest as string | null | undefined) ?? null };
}
