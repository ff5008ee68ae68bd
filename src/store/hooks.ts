/** SQL for `hooks` and `hook_deliveries`. */
import type { Db } from './db.ts';
import type { HookDeliveriesTable, HooksTable } from './schema.ts';

export type HookRow = HooksTable;
export type HookDeliveryRow = HookDeliveriesTable;

export async function insertHook(db: Db, row: HookRow): Promise<void> {
  await db.insertInto('hooks').values(row).execute();
}

/** A live hook by id (deleted ones are gone for their URL). */
export async function getHook(db: Db, id: string): Promise<HookRow | undefined> {
  return db
    .selectFrom('hooks')
    .selectAll()
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
}

export async function listHooks(db: Db, workflowId: string): Promise<HookRow[]> {
  return db
    .selectFrom('hooks')
    .selectAll()
    .where('workflow_id', '=', workflowId)
    .where('deleted_at', 'is', null)
    .orderBy('id', 'asc')
    .execute();
}

export async function findLiveHookByName(
  db: Db,
  workflowId: string,
  name: string,
): Promise<HookRow | undefined> {
  return db
    .selectFrom('hooks')
    .selectAll()
    .where('workflow_id', '=', workflowId)
    .where('name', '=', name)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
}

export async function deleteHook(
  db: Db,
  workflowId: string,
  id: string,
  now: string,
): Promise<boolean> {
  const res = await db
    .updateTable('hooks')
    .set({ deleted_at: now })
    .where('id', '=', id)
    .where('workflow_id', '=', workflowId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  return res.numUpdatedRows === 1n;
}

/** Records a delivery; false when one with the same dedupe key was recorded before. */
export async function insertDelivery(db: Db, row: HookDeliveryRow): Promise<boolean> {
  const res = await db
    .insertInto('hook_deliveries')
    .values(row)
    .onConflict((oc) => oc.columns(['hook_id', 'dedupe_key']).doNothing())
    .executeTakeFirst();
  return Number(res.numInsertedOrUpdatedRows ?? 0n) === 1;
}

export async function updateDelivery(
  db: Db,
  id: string,
  changes: Partial<
    Pick<HookDeliveryRow, 'outcome' | 'http_status' | 'event_type' | 'event_id' | 'detail'>
  >,
): Promise<void> {
  await db.updateTable('hook_deliveries').set(changes).where('id', '=', id).execute();
}

export async function listDeliveries(
  db: Db,
  hookId: string,
  opts: { beforeId?: string; limit: number },
): Promise<HookDeliveryRow[]> {
  let q = db.selectFrom('hook_deliveries').selectAll().where('hook_id', '=', hookId);
  if (opts.beforeId !== undefined) q = q.where('id', '<', opts.beforeId);
  return q.orderBy('id', 'desc').limit(opts.limit).execute();
}
