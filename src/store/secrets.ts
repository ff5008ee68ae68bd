/** SQL for `secrets` (sealed values; the store never sees a plaintext). */
import type { Db } from './db.ts';
import type { SecretsTable } from './schema.ts';

export type SecretRow = SecretsTable;
/** A secret without its ciphertext: what listings need. */
export type SecretMetaRow = Omit<SecretRow, 'ciphertext' | 'key_fingerprint'>;

const metaColumns = [
  'scope',
  'name',
  'created_by',
  'created_at',
  'updated_by',
  'updated_at',
] as const;

/**
 * Inserts the secret, or replaces the value of the one of that scope and name (keeping who
 * created it and when). True when this call created it.
 */
export async function upsertSecret(db: Db, row: SecretRow): Promise<boolean> {
  // Insert-or-update without a transaction: a concurrent delete between the two only makes the
  // loop insert again.
  for (;;) {
    const inserted = await db
      .insertInto('secrets')
      .values(row)
      .onConflict((oc) => oc.columns(['scope', 'name']).doNothing())
      .executeTakeFirst();
    if ((inserted.numInsertedOrUpdatedRows ?? 0n) === 1n) return true;
    const updated = await db
      .updateTable('secrets')
      .set({
        ciphertext: row.ciphertext,
        key_fingerprint: row.key_fingerprint,
        updated_by: row.updated_by,
        updated_at: row.updated_at,
      })
      .where('scope', '=', row.scope)
      .where('name', '=', row.name)
      .executeTakeFirst();
    if (updated.numUpdatedRows === 1n) return false;
  }
}

export async function getSecretMeta(
  db: Db,
  scope: string,
  name: string,
): Promise<SecretMetaRow | undefined> {
  return db
    .selectFrom('secrets')
    .select(metaColumns)
    .where('scope', '=', scope)
    .where('name', '=', name)
    .executeTakeFirst();
}

export async function listSecretMeta(db: Db, scope: string): Promise<SecretMetaRow[]> {
  return db
    .selectFrom('secrets')
    .select(metaColumns)
    .where('scope', '=', scope)
    .orderBy('name', 'asc')
    .execute();
}

/** Names of workflow-scoped secrets, per workflow: they win over global ones of the same name. */
export async function listScopedSecretNames(db: Db): Promise<{ scope: string; name: string }[]> {
  return db.selectFrom('secrets').select(['scope', 'name']).where('scope', '<>', '').execute();
}

export async function deleteSecret(db: Db, scope: string, name: string): Promise<boolean> {
  const res = await db
    .deleteFrom('secrets')
    .where('scope', '=', scope)
    .where('name', '=', name)
    .executeTakeFirst();
  return res.numDeletedRows === 1n;
}

/** The graph JSON of each live workflow's newest version (or of one workflow's): what `usedBy` scans. */
export async function listLatestGraphs(
  db: Db,
  workflowId?: string,
): Promise<{ workflow_id: string; graph: string }[]> {
  let q = db
    .selectFrom('workflows as w')
    .innerJoin('workflow_versions as v', (join) =>
      join.onRef('v.workflow_id', '=', 'w.id').onRef('v.version', '=', 'w.latest_version'),
    )
    .select(['w.id as workflow_id', 'v.graph'])
    .where('w.archived_at', 'is', null)
    .where('v.graph', 'like', '%secrets%');
  if (workflowId !== undefined) q = q.where('w.id', '=', workflowId);
  return q.orderBy('w.id', 'asc').execute();
}

/** Every stored value with its key: what key rotation re-seals. */
export async function listSealedValues(
  db: Db,
): Promise<Pick<SecretRow, 'scope' | 'name' | 'ciphertext'>[]> {
  return db
    .selectFrom('secrets')
    .select(['scope', 'name', 'ciphertext'])
    .orderBy('scope', 'asc')
    .orderBy('name', 'asc')
    .execute();
}

/** Replaces a value's ciphertext (key rotation; `updated_*` stay: the value did not change). */
export async function replaceSealedValue(
  db: Db,
  row: Pick<SecretRow, 'scope' | 'name' | 'ciphertext' | 'key_fingerprint'>,
): Promise<void> {
  await db
    .updateTable('secrets')
    .set({ ciphertext: row.ciphertext, key_fingerprint: row.key_fingerprint })
    .where('scope', '=', row.scope)
    .where('name', '=', row.name)
    .execute();
}

/** The sealed values of the named secrets of a workflow and the global ones (`scope` ''). */
export async function listSealedSecrets(
  db: Db,
  workflowId: string,
  names: readonly string[],
): Promise<Pick<SecretRow, 'scope' | 'name' | 'ciphertext'>[]> {
  if (names.length === 0) return [];
  return db
    .selectFrom('secrets')
    .select(['scope', 'name', 'ciphertext'])
    .where('scope', 'in', [workflowId, ''])
    .where('name', 'in', [...names])
    .execute();
}
