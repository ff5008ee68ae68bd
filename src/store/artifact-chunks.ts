/**
 * SQL for artifact content kept in the database: chunks of a blob keyed by the byte offset they
 * start at. The streaming around these statements is `src/runtime/artifacts/database-store.ts`.
 */
import { sql } from 'kysely';
import type { Db } from './db.ts';

/**
 * Runs `fn` in one transaction on a connection of its own, without the transient-error retry of
 * `Database.transaction`: a copy streams from a file and cannot be replayed.
 */
export async function inBlobTransaction<T>(db: Db, fn: (trx: Db) => Promise<T>): Promise<T> {
  return db.transaction().execute(fn);
}

export async function insertChunk(
  db: Db,
  chunk: { execution_id: string; blob_id: string; byte_offset: number; data: Buffer },
): Promise<void> {
  await db.insertInto('artifact_chunks').values(chunk).execute();
}

/** The blob of an artifact's record, or undefined when there is no record. */
export async function blobOfArtifact(
  db: Db,
  executionId: string,
  path: string,
): Promise<{ blob_id: string | null } | undefined> {
  return db
    .selectFrom('artifacts')
    .select('blob_id')
    .where('execution_id', '=', executionId)
    .where('path', '=', path)
    .executeTakeFirst();
}

/** Whether the blob's first chunk is there (every blob has one, an empty file's is empty). */
export async function blobExists(db: Db, executionId: string, blobId: string): Promise<boolean> {
  const row = await db
    .selectFrom('artifact_chunks')
    .select('byte_offset')
    .where('execution_id', '=', executionId)
    .where('blob_id', '=', blobId)
    .where('byte_offset', '=', 0)
    .executeTakeFirst();
  return row !== undefined;
}

/** The chunk holding byte `at`: the one starting at or before it. */
export async function chunkHolding(
  db: Db,
  executionId: string,
  blobId: string,
  at: number,
): Promise<{ byte_offset: number; data: Buffer } | undefined> {
  const row = await db
    .selectFrom('artifact_chunks')
    .select(['byte_offset', 'data'])
    .where('execution_id', '=', executionId)
    .where('blob_id', '=', blobId)
    .where('byte_offset', '<=', at)
    .orderBy('byte_offset', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row && { byte_offset: Number(row.byte_offset), data: row.data };
}

/** The chunk starting exactly at `offset`. */
export async function chunkAt(
  db: Db,
  executionId: string,
  blobId: string,
  offset: number,
): Promise<Buffer | undefined> {
  const row = await db
    .selectFrom('artifact_chunks')
    .select('data')
    .where('execution_id', '=', executionId)
    .where('blob_id', '=', blobId)
    .where('byte_offset', '=', offset)
    .executeTakeFirst();
  return row?.data;
}

/** Deletes a blob's chunks; returns the bytes they held. */
export async function deleteBlob(db: Db, executionId: string, blobId: string): Promise<number> {
  const rows = await db
    .deleteFrom('artifact_chunks')
    .where('execution_id', '=', executionId)
    .where('blob_id', '=', blobId)
    .returning(sql<number | string>`length(data)`.as('n'))
    .execute();
  return rows.reduce((sum, r) => sum + Number(r.n), 0);
}

/** Deletes every chunk of these executions. */
export async function deleteChunksOfExecutions(db: Db, executionIds: string[]): Promise<void> {
  for (let i = 0; i < executionIds.length; i += 500) {
    await db
      .deleteFrom('artifact_chunks')
      .where('execution_id', 'in', executionIds.slice(i, i + 500))
      .execute();
  }
}
