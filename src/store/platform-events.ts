/**
 * SQL for platform events (the event bus of DESIGN §7) and for finding the workflows that listen
 * to them. Execution events (`execution_events`) live in events.ts.
 */
import type { Db } from './db.ts';
import type { PlatformEventsTable } from './schema.ts';

export type PlatformEventRow = PlatformEventsTable;

export async function insertPlatformEvent(db: Db, row: PlatformEventRow): Promise<void> {
  await db.insertInto('platform_events').values(row).execute();
}

export async function getPlatformEvent(db: Db, id: string): Promise<PlatformEventRow | undefined> {
  return db.selectFrom('platform_events').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Newest first, below `beforeId` when paging. */
export async function listPlatformEvents(
  db: Db,
  f: { type?: string; beforeId?: string; limit: number },
): Promise<PlatformEventRow[]> {
  let q = db.selectFrom('platform_events').selectAll();
  if (f.type !== undefined) q = q.where('type', '=', f.type);
  if (f.beforeId !== undefined) q = q.where('id', '<', f.beforeId);
  return q.orderBy('id', 'desc').limit(f.limit).execute();
}

/**
 * Records the outcome once: false when another server recorded it first (both computed it from
 * the same rows, and the executions they started share idempotency keys).
 */
export async function recordOutcome(
  db: Db,
  id: string,
  outcome: string,
  now: string,
): Promise<boolean> {
  const res = await db
    .updateTable('platform_events')
    .set({ outcome, processed_at: now })
    .where('id', '=', id)
    .where('processed_at', 'is', null)
    .executeTakeFirst();
  return res.numUpdatedRows === 1n;
}

/** Events whose matching never finished (the server stopped in between), oldest first. */
export async function listPendingPlatformEvents(
  db: Db,
  limit: number,
): Promise<PlatformEventRow[]> {
  return db
    .selectFrom('platform_events')
    .selectAll()
    .where('processed_at', 'is', null)
    .orderBy('id')
    .limit(limit)
    .execute();
}

export interface ListenerRow {
  workflow_id: string;
  workflow_name: string;
  workflow_status: string;
  /** The active version when published, else the latest (a draft, or an archived one). */
  version: number;
  version_status: string;
  trigger_config: string;
}

/**
 * Every workflow whose current version declares an event trigger: the active version of a
 * published workflow, the latest version of a draft or archived one (those never fire, but the
 * event says why). A substring test narrows the scan; the matcher reads the triggers properly.
 */
export async function listEventListeners(db: Db): Promise<ListenerRow[]> {
  return db
    .selectFrom('workflows as w')
    .innerJoin('workflow_versions as v', (join) =>
      join
        .onRef('v.workflow_id', '=', 'w.id')
        .on((eb) => eb('v.version', '=', eb.fn.coalesce('w.active_version', 'w.latest_version'))),
    )
    .select([
      'w.id as workflow_id',
      'w.name as workflow_name',
      'w.status as workflow_status',
      'v.version as version',
      'v.status as version_status',
      'v.trigger_config as trigger_config',
    ])
    .where('v.trigger_config', 'like', '%"event"%')
    .orderBy('w.id')
    .execute();
}
