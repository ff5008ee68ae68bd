/**
 * The `secret` columns sealed under the secrets key (hook HMAC keys, webhook-rule signing keys):
 * read all of them, and replace one compare-and-set (start-time sealing, key rotation).
 */
import type { Db } from './db.ts';

/** The tables whose `secret` column holds a sealed value. */
export type SealedTable = 'hooks' | 'trigger_rules';

/** Every stored secret of a table (rows without one left out). */
export async function listSealedColumn(
  db: Db,
  table: SealedTable,
): Promise<{ id: string; secret: string }[]> {
  const rows = await db
    .selectFrom(table)
    .select(['id', 'secret'])
    .where('secret', 'is not', null)
    .orderBy('id', 'asc')
    .execute();
  return rows.flatMap((r) => (r.secret === null ? [] : [{ id: r.id, secret: r.secret }]));
}

/** Replaces a row's stored secret if it is still `from` (compare-and-set). */
export async function replaceSealedColumn(
  db: Db,
  table: SealedTable,
  id: string,
  from: string,
  to: string,
): Promise<boolean> {
  const res = await db
    .updateTable(table)
    .set({ secret: to })
    .where('id', '=', id)
    .where('secret', '=', from)
    .executeTakeFirst();
  return res.numUpdatedRows === 1n;
}
