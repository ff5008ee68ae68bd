/** SQL for `tokens`. Only SHA-256 hashes of secrets are stored. */
import type { Db } from './db.ts';
import type { TokensTable } from './schema.ts';

export type TokenRow = TokensTable;

export async function insertToken(db: Db, row: TokenRow): Promise<void> {
  await db.insertInto('tokens').values(row).execute();
}

export async function getTokenByHash(db: Db, hash: string): Promise<TokenRow | undefined> {
  return db.selectFrom('tokens').selectAll().where('hash', '=', hash).executeTakeFirst();
}

export async function getToken(db: Db, id: string): Promise<TokenRow | undefined> {
  return db.selectFrom('tokens').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function listTokens(db: Db, includeRevoked: boolean): Promise<TokenRow[]> {
  let q = db.selectFrom('tokens').selectAll();
  if (!includeRevoked) q = q.where('revoked_at', 'is', null);
  return q.orderBy('id', 'desc').execute();
}

export async function revokeToken(db: Db, id: string, now: string): Promise<boolean> {
  const res = await db
    .updateTable('tokens')
    .set({ revoked_at: now })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return res.numUpdatedRows === 1n;
}

export async function touchToken(db: Db, id: string, now: string): Promise<void> {
  await db.updateTable('tokens').set({ last_used_at: now }).where('id', '=', id).execute();
}

export async function countTokens(db: Db): Promise<number> {
  const r = await db
    .selectFrom('tokens')
    .select((eb) => eb.fn.countAll<string | number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

/**
 * The admin tokens the server itself made (`bootstrap`: name `admin`, by `system`), so that a
 * permission added by a later version (`secrets.admin`) reaches them on upgrade.
 */
export async function systemAdminTokens(db: Db): Promise<TokenRow[]> {
  return db
    .selectFrom('tokens')
    .selectAll()
    .where('name', '=', 'admin')
    .where('created_by', '=', 'system')
    .where('revoked_at', 'is', null)
    .execute();
}

export async function setTokenPermissions(db: Db, id: string, permissions: string): Promise<void> {
  await db.updateTable('tokens').set({ permissions }).where('id', '=', id).execute();
}

/** The live (unrevoked) API token of this name, if any: names are unique among live tokens. */
export async function getLiveTokenByName(db: Db, name: string): Promise<TokenRow | undefined> {
  return db
    .selectFrom('tokens')
    .selectAll()
    .where('name', '=', name)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
}
