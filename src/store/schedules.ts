/**
 * SQL for schedules: the per-trigger state beside the versions (paused, cursor, buffered ticks)
 * and the reads the scheduler makes each pass. Updates are compare-and-set on `rev`.
 */
import { activeExecutionStatuses } from '../engine/status.ts';
import type { Db } from './db.ts';
import type { SchedulesTable } from './schema.ts';

export type ScheduleRow = SchedulesTable;

/** An active published version that may hold schedule triggers. */
export interface ScheduleSource {
  workflow_id: string;
  version: number;
  trigger_config: string;
}

/**
 * Active published versions of live workflows whose triggers mention a schedule. Read every
 * pass, so publish, promote and archive change what fires at the next pass.
 */
export async function listScheduleSources(db: Db): Promise<ScheduleSource[]> {
  return db
    .selectFrom('workflows')
    .innerJoin('workflow_versions', (j) =>
      j
        .onRef('workflow_versions.workflow_id', '=', 'workflows.id')
        .onRef('workflow_versions.version', '=', 'workflows.active_version'),
    )
    .select([
      'workflows.id as workflow_id',
      'workflow_versions.version as version',
      'workflow_versions.trigger_config as trigger_config',
    ])
    .where('workflows.status', '!=', 'archived')
    .where('workflow_versions.status', '=', 'published')
    .where('workflow_versions.trigger_config', 'like', '%"schedule"%')
    .orderBy('workflows.id')
    .execute();
}

export async function getSchedule(
  db: Db,
  workflowId: string,
  triggerId: string,
): Promise<ScheduleRow | undefined> {
  return db
    .selectFrom('schedules')
    .selectAll()
    .where('workflow_id', '=', workflowId)
    .where('trigger_id', '=', triggerId)
    .executeTakeFirst();
}

export async function listSchedules(db: Db, workflowId: string): Promise<ScheduleRow[]> {
  return db.selectFrom('schedules').selectAll().where('workflow_id', '=', workflowId).execute();
}

/** Inserts the row unless one exists (another server saw the schedule first); returns the row. */
export async function ensureSchedule(db: Db, row: ScheduleRow): Promise<ScheduleRow> {
  await db
    .insertInto('schedules')
    .values(row)
    .onConflict((oc) => oc.columns(['workflow_id', 'trigger_id']).doNothing())
    .execute();
  return (await getSchedule(db, row.workflow_id, row.trigger_id)) ?? row;
}

export type ScheduleChanges = Partial<
  Pick<
    ScheduleRow,
    'paused' | 'cursor_at' | 'last_fired_at' | 'last_execution_id' | 'buffered' | 'updated_at'
  >
>;

/** Compare-and-set on `rev`: false when another writer changed the row first. */
export async function updateScheduleCas(
  db: Db,
  workflowId: string,
  triggerId: string,
  rev: number,
  changes: ScheduleChanges,
): Promise<boolean> {
  const res = await db
    .updateTable('schedules')
    .set({ ...changes, rev: rev + 1 })
    .where('workflow_id', '=', workflowId)
    .where('trigger_id', '=', triggerId)
    .where('rev', '=', rev)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/**
 * Active executions a schedule started, oldest first. Its fires carry idempotency keys that
 * start with `keyPrefix`; the prefix is compared here rather than with LIKE because trigger ids
 * may hold `_`, a LIKE wildcard.
 */
export async function activeScheduleRuns(
  db: Db,
  workflowId: string,
  keyPrefix: string,
): Promise<{ id: string; idempotency_key: string }[]> {
  const rows = await db
    .selectFrom('executions')
    .select(['id', 'idempotency_key'])
    .where('workflow_id', '=', workflowId)
    .where('trigger_type', '=', 'schedule')
    .where('status', 'in', activeExecutionStatuses)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  return rows.flatMap((r) =>
    r.idempotency_key?.startsWith(keyPrefix) === true
      ? [{ id: r.id, idempotency_key: r.idempotency_key }]
      : [],
  );
}

/**
 * Restarts the cursors of schedules that a newly active version brings back (publish, promote):
 * the ticks of the time another version was active must not fire as late or missed ones.
 */
export async function restartSchedules(
  db: Db,
  workflowId: string,
  triggerIds: string[],
  now: string,
): Promise<void> {
  if (triggerIds.length === 0) return;
  await db
    .updateTable('schedules')
    .set((eb) => ({ cursor_at: now, buffered: '[]', updated_at: now, rev: eb('rev', '+', 1) }))
    .where('workflow_id', '=', workflowId)
    .where('trigger_id', 'in', triggerIds)
    .execute();
}
