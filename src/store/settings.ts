/** SQL for `settings`: small process-wide facts such as whether the admin token was bootstrapped. */
import type { Db } from './db.ts';

/** Inserts the key unless present; true when this call inserted it (a once-only claim across processes). */
export async function claimSetting(db: Db, key: string, value: string): Promise<boolean> {
  const res = await db
    .insertInto('settings')
    .values({ key, value })
    .onConflict((oc) => oc.column('key').doNothing())
    .executeTakeFirst();
  return (res.numInsertedOrUpdatedRows ?? 0n) === 1n;
}

export async function getSetting(db: Db, key: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('settings')
    .select('value')
    .where('key', '=', key)
    .executeTakeFirst();
  return row?.value;
}

/** Sets the key to `to` if it holds `from` (compare-and-set); false when it holds another value. */
export async function replaceSetting(
  db: Db,
  key: string,
  from: string,
  to: string,
): Promise<boolean> {
  const res = await db
    .updateTable('settings')
    .set({ value: to })
    .where('key', '=', key)
    .where('value', '=', from)
    .executeTakeFirst();
  return res.numUpdatedRows === 1n;
}
