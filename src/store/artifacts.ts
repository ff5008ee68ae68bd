/** SQL for artifacts: one row per stored file of an execution, kept as a tombstone after expiry. */
import type { Db } from './db.ts';
import type { ArtifactsTable } from './schema.ts';

export type ArtifactRow = ArtifactsTable;

/**
 * Inserts the row, or replaces the one at the same (execution, path): a file collected again
 * (the node retried, or collected at release after its node) is the newer file. The id stays.
 */
export async function upsertArtifact(db: Db, row: ArtifactRow): Promise<ArtifactRow> {
  await db
    .insertInto('artifacts')
    .values(row)
    .onConflict((oc) =>
      oc.columns(['execution_id', 'path']).doUpdateSet({
        node_id: row.node_id,
        size: row.size,
        sha256: row.sha256,
        content_type: row.content_type,
        created_at: row.created_at,
        expires_at: row.expires_at,
        deleted_at: null,
        blob_id: row.blob_id,
      }),
    )
    .execute();
  return (await getArtifact(db, row.execution_id, row.path)) ?? row;
}

export async function listArtifacts(db: Db, executionId: string): Promise<ArtifactRow[]> {
  return db
    .selectFrom('artifacts')
    .selectAll()
    .where('execution_id', '=', executionId)
    .orderBy('path')
    .execute();
}

export async function getArtifact(
  db: Db,
  executionId: string,
  path: string,
): Promise<ArtifactRow | undefined> {
  return db
    .selectFrom('artifacts')
    .selectAll()
    .where('execution_id', '=', executionId)
    .where('path', '=', path)
    .executeTakeFirst();
}

/** Rows whose retention ended (`expires_at <= now`) and whose file is still there, oldest first. */
export async function listExpired(db: Db, now: string, limit: number): Promise<ArtifactRow[]> {
  return db
    .selectFrom('artifacts')
    .selectAll()
    .where('expires_at', '<=', now)
    .where('deleted_at', 'is', null)
    .orderBy('expires_at')
    .orderBy('id')
    .limit(limit)
    .execute();
}

/**
 * Tombstones an expired row before its file is deleted; false when another reaper got there
 * first or a new collection renewed the row (its expiry moved past `now`).
 */
export async function markDeleted(db: Db, id: string, now: string): Promise<boolean> {
  const res = await db
    .updateTable('artifacts')
    .set({ deleted_at: now })
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .where('expires_at', '<=', now)
    .executeTakeFirst();
  return res.numUpdatedRows === 1n;
}

export async function deleteByExecutions(db: Db, executionIds: string[]): Promise<number> {
  let deleted = 0;
  for (let i = 0; i < executionIds.length; i += 500) {
    const res = await db
      .deleteFrom('artifacts')
      .where('execution_id', 'in', executionIds.slice(i, i + 500))
      .executeTakeFirst();
    deleted += Number(res.numDeletedRows);
  }
  return deleted;
}
