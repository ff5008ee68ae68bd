import type { Migration } from './migration.ts';

/**
 * Trigger rules (DESIGN §7): `trigger_rules` maps an event filter (a type glob and an optional CEL
 * `if`) to an action (JSON: run a workflow, or POST the event to a URL signed with `secret`).
 * `rule_deliveries` holds one row per outbound attempt of a webhook rule; the row waiting to be
 * sent carries `next_attempt_at`, so retries survive a restart. (rule, event, attempt) is unique,
 * so matching an event again never sends a delivery twice. Frozen: add a new migration instead.
 */
const tables = (t: { text: string; int: string }) => [
  `CREATE TABLE trigger_rules (
    id ${t.text} PRIMARY KEY,
    name ${t.text} NOT NULL,
    enabled ${t.int} NOT NULL,
    event_glob ${t.text} NOT NULL,
    condition ${t.text},
    action ${t.text} NOT NULL,
    secret ${t.text},
    created_by ${t.text} NOT NULL,
    created_at ${t.text} NOT NULL,
    updated_at ${t.text} NOT NULL,
    deleted_at ${t.text}
  )`,
  `CREATE TABLE rule_deliveries (
    id ${t.text} PRIMARY KEY,
    rule_id ${t.text} NOT NULL,
    event_id ${t.text} NOT NULL,
    attempt ${t.int} NOT NULL,
    state ${t.text} NOT NULL,
    url ${t.text} NOT NULL,
    http_status ${t.int},
    error ${t.text},
    next_attempt_at ${t.text},
    created_at ${t.text} NOT NULL,
    finished_at ${t.text}
  )`,
  `CREATE UNIQUE INDEX rule_deliveries_attempt ON rule_deliveries (rule_id, event_id, attempt)`,
  `CREATE INDEX rule_deliveries_rule ON rule_deliveries (rule_id, id)`,
  `CREATE INDEX rule_deliveries_due ON rule_deliveries (next_attempt_at) WHERE next_attempt_at IS NOT NULL`,
];

export const migration0007: Migration = {
  id: 7,
  name: 'trigger rules',
  sqlite: tables({ text: 'TEXT', int: 'INTEGER' }),
  postgres: tables({ text: 'text', int: 'integer' }),
};
