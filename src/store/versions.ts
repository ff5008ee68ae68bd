/** SQL for `workflow_versions`. Versions are immutable but for their status. */
import type { Db } from './db.ts';
import type { WorkflowVersionsTable } from './schema.ts';

export type VersionRow = WorkflowVersionsTable;

export async function insertVersion(db: Db, row: VersionRow): Promise<void> {
  await db.insertInto('workflow_versions').values(row).execute();
}

export async function getVersion(
  db: Db,
  workflowId: string,
  version: number,
): Promise<VersionRow | undefined> {
  return db
    .selectFrom('workflow_versions')
    .selectAll()
    .where('workflow_id', '=', workflowId)
    .where('version', '=', version)
    .executeTakeFirst();
}

/** Whether a workflow has this version (without reading its definition). */
export async function hasVersion(db: Db, workflowId: string, version: number): Promise<boolean> {
  const row = await db
    .selectFrom('workflow_versions')
    .select('version')
    .where('workflow_id', '=', workflowId)
    .where('version', '=', version)
    .executeTakeFirst();
  return row !== undefined;
}

export async function listVersions(db: Db, workflowId: string): Promise<VersionRow[]> {
  return db
    .selectFrom('workflow_versions')
    .selectAll()
    .where('workflow_id', '=', workflowId)
    .orderBy('version', 'desc')
    .execute();
}

/** Compare-and-set draft → published. */
export async function publishVersion(
  db: Db,
  workflowId: string,
  version: number,
  now: string,
): Promise<boolean> {
  const res = await db
    .updateTable('workflow_versions')
    .set({ status: 'published', published_at: now })
    .where('workflow_id', '=', workflowId)
    .where('version', '=', version)
    .where('status', '=', 'draft')
    .executeTakeFirst();
  return res.numUpdatedRows === 1n;
}

export async function archiveVersions(db: Db, workflowId: string): Promise<void> {
  await db
    .updateTable('workflow_versions')
    .set({ status: 'archived' })
    .where('workflow_id', '=', workflowId)
    .execute();
}
