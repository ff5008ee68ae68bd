/**
 * SQL for `trigger_rules` and `rule_deliveries`. A delivery attempt is claimed with a
 * compare-and-set on its state and due time, so two servers (or a loop pass and the send right
 * after matching) never send the same attempt at once; a claim lapses after its lease, so an
 * attempt a crashed server was sending is sent again.
 */
import type { Db } from './db.ts';
import type { RuleDeliveriesTable, TriggerRulesTable } from './schema.ts';

export type TriggerRuleRow = TriggerRulesTable;
export type RuleDeliveryRow = RuleDeliveriesTable;

export async function insertRule(db: Db, row: TriggerRuleRow): Promise<void> {
  await db.insertInto('trigger_rules').values(row).execute();
}

/** A live (not deleted) rule. */
export async function getRule(db: Db, id: string): Promise<TriggerRuleRow | undefined> {
  return db
    .selectFrom('trigger_rules')
    .selectAll()
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
}

export async function listRules(
  db: Db,
  opts: { enabledOnly?: boolean } = {},
): Promise<TriggerRuleRow[]> {
  let q = db.selectFrom('trigger_rules').selectAll().where('deleted_at', 'is', null);
  if (opts.enabledOnly === true) q = q.where('enabled', '=', 1);
  return q.orderBy('id', 'asc').execute();
}

export async function updateRule(
  db: Db,
  id: string,
  changes: Partial<
    Pick<
      TriggerRuleRow,
      | 'name'
      | 'enabled'
      | 'event_glob'
      | 'condition'
      | 'action'
      | 'secret'
      | 'updated_at'
      | 'deleted_at'
    >
  >,
): Promise<boolean> {
  const res = await db
    .updateTable('trigger_rules')
    .set(changes)
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  return res.numUpdatedRows === 1n;
}

export async function deleteRule(db: Db, id: string, now: string): Promise<boolean> {
  return updateRule(db, id, { deleted_at: now, updated_at: now });
}

/** Schedules an attempt; false when this (rule, event, attempt) exists already. */
export async function insertDelivery(db: Db, row: RuleDeliveryRow): Promise<boolean> {
  const res = await db
    .insertInto('rule_deliveries')
    .values(row)
    .onConflict((oc) => oc.columns(['rule_id', 'event_id', 'attempt']).doNothing())
    .executeTakeFirst();
  return Number(res.numInsertedOrUpdatedRows ?? 0n) === 1;
}

/** Attempts to send at `now`: scheduled ones that are due, and sending ones whose claim lapsed. */
export async function listDueDeliveries(
  db: Db,
  now: string,
  limit: number,
): Promise<RuleDeliveryRow[]> {
  return db
    .selectFrom('rule_deliveries')
    .selectAll()
    .where('next_attempt_at', 'is not', null)
    .where('next_attempt_at', '<=', now)
    .where('state', 'in', ['scheduled', 'sending'])
    .orderBy('next_attempt_at')
    .orderBy('id')
    .limit(limit)
    .execute();
}

/**
 * Claims an attempt for sending until `leaseUntil`: a compare-and-set on the state and due time
 * read, so only one sender wins.
 */
export async function claimDelivery(
  db: Db,
  row: Pick<RuleDeliveryRow, 'id' | 'state' | 'next_attempt_at'>,
  leaseUntil: string,
): Promise<boolean> {
  const res = await db
    .updateTable('rule_deliveries')
    .set({ state: 'sending', next_attempt_at: leaseUntil })
    .where('id', '=', row.id)
    .where('state', '=', row.state)
    .where('next_attempt_at', '=', row.next_attempt_at)
    .executeTakeFirst();
  return res.numUpdatedRows === 1n;
}

/** Records how a claimed attempt ended; false when the claim was lost (it lapsed meanwhile). */
export async function finishDelivery(
  db: Db,
  id: string,
  leaseUntil: string,
  result: Pick<RuleDeliveryRow, 'state' | 'http_status' | 'error' | 'finished_at'>,
): Promise<boolean> {
  const res = await db
    .updateTable('rule_deliveries')
    .set({ ...result, next_attempt_at: null })
    .where('id', '=', id)
    .where('state', '=', 'sending')
    .where('next_attempt_at', '=', leaseUntil)
    .executeTakeFirst();
  return res.numUpdatedRows === 1n;
}

export async function listRuleDeliveries(
  db: Db,
  ruleId: string,
  opts: { beforeId?: string; limit: number },
): Promise<RuleDeliveryRow[]> {
  let q = db.selectFrom('rule_deliveries').selectAll().where('rule_id', '=', ruleId);
  if (opts.beforeId !== undefined) q = q.where('id', '<', opts.beforeId);
  return q.orderBy('id', 'desc').limit(opts.limit).execute();
}
