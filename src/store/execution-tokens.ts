/** SQL for `execution_tokens`. Only SHA-256 hashes of secrets are stored. */
import type { Db } from './db.ts';
import type { ExecutionTokensTable } from './schema.ts';

export type ExecutionTokenRow = ExecutionTokensTable;

export async function insertExecutionToken(db: Db, row: ExecutionTokenRow): Promise<void> {
  await db.insertInto('execution_tokens').values(row).execute();
}

export async function getExecutionTokenByHash(
  db: Db,
  hash: string,
): Promise<ExecutionTokenRow | undefined> {
  return db.selectFrom('execution_tokens').selectAll().where('hash', '=', hash).executeTakeFirst();
}

/** Revokes one token (its attempt ended). */
export async function revokeExecutionToken(db: Db, id: string, now: string): Promise<void> {
  await db
    .updateTable('execution_tokens')
    .set({ revoked_at: now })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .execute();
}

/** Revokes every token of an execution (it ended); returns how many were still live. */
export async function revokeExecutionTokens(
  db: Db,
  executionId: string,
  now: string,
): Promise<number> {
  const res = await db
    .updateTable('execution_tokens')
    .set({ revoked_at: now })
    .where('execution_id', '=', executionId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(res.numUpdatedRows);
}
