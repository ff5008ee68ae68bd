/** SQL for the `workflows` aggregate. Every state change is compare-and-set. */
import { sql } from 'kysely';
import type { Db } from './db.ts';
import type { WorkflowsTable } from './schema.ts';

export type WorkflowRow = WorkflowsTable;

export interface WorkflowFilter {
  type?: string;
  status?: string;
  /** Case-insensitive substring of the name. */
  q?: string;
  createdBy?: string;
  includeArchived?: boolean;
  /** Return rows with an id below this one (newest first). */
  beforeId?: string;
  limit: number;
}

export async function insertWorkflow(db: Db, row: WorkflowRow): Promise<void> {
  await db.insertInto('workflows').values(row).execute();
}

export async function getWorkflow(db: Db, id: string): Promise<WorkflowRow | undefined> {
  return db.selectFrom('workflows').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function findLiveWorkflowByName(
  db: Db,
  name: string,
): Promise<WorkflowRow | undefined> {
  return db
    .selectFrom('workflows')
    .selectAll()
    .where('name', '=', name)
    .where('status', '<>', 'archived')
    .executeTakeFirst();
}

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

export async function listWorkflows(db: Db, f: WorkflowFilter): Promise<WorkflowRow[]> {
  let q = db.selectFrom('workflows').selectAll();
  if (f.type !== undefined) q = q.where('type', '=', f.type);
  if (f.status !== undefined) q = q.where('status', '=', f.status);
  else if (!f.includeArchived) q = q.where('status', '<>', 'archived');
  if (f.createdBy !== undefined) q = q.where('created_by', '=', f.createdBy);
  if (f.q !== undefined && f.q !== '') {
    const pattern = `%${escapeLike(f.q.toLowerCase())}%`;
    q = q.where(sql<boolean>`lower(name) like ${pattern} escape '\\'`);
  }
  if (f.beforeId !== undefined) q = q.where('id', '<', f.beforeId);
  return q.orderBy('id', 'desc').limit(f.limit).execute();
}

/** Compare-and-set on `latest_version`: false when another writer appended first. */
export async function bumpLatestVersion(
  db: Db,
  id: string,
  from: number,
  to: number,
  now: string,
): Promise<boolean> {
  const res = await db
    .updateTable('workflows')
    .set({ latest_version: to, updated_at: now })
    .where('id', '=', id)
    .where('latest_version', '=', from)
    .where('status', '<>', 'archived')
    .executeTakeFirst();
  return res.numUpdatedRows === 1n;
}

export async function updateWorkflowMeta(
  db: Db,
  id: string,
  changes: Partial<Pick<WorkflowRow, 'name' | 'description' | 'runtime_config'>>,
  now: string,
): Promise<boolean> {
  const res = await db
    .updateTable('workflows')
    .set({ ...changes, updated_at: now })
    .where('id', '=', id)
    .where('status', '<>', 'archived')
    .executeTakeFirst();
  return res.numUpdatedRows === 1n;
}

/** Sets the active version and marks the workflow published, unless it was archived meanwhile. */
export async function setActiveVersion(
  db: Db,
  id: string,
  version: number,
  now: string,
): Promise<boolean> {
  const res = await db
    .updateTable('workflows')
    .set({ active_version: version, status: 'published', updated_at: now })
    .where('id', '=', id)
    .where('status', '<>', 'archived')
    .executeTakeFirst();
  return res.numUpdatedRows === 1n;
}

export async function archiveWorkflow(db: Db, id: string, now: string): Promise<boolean> {
  const res = await db
    .updateTable('workflows')
    .set({ status: 'archived', archived_at: now, updated_at: now })
    .where('id', '=', id)
    .where('status', '<>', 'archived')
    .executeTakeFirst();
  return res.numUpdatedRows === 1n;
}
