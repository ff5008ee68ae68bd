import type { Migration } from './migration.ts';

/**
 * Webhooks: `hooks` are a workflow's inbound endpoints (generic or GitHub) with their secret;
 * `hook_deliveries` records every delivery, accepted or not. A delivery's `dedupe_key` (GitHub's
 * delivery id, or a generic signature) is unique per hook, so a redelivery or a replay inside the
 * signature window starts nothing twice. Frozen: add a new migration instead.
 */
const tables = (t: { text: string; int: string }) => [
  `CREATE TABLE hooks (
    id ${t.text} PRIMARY KEY,
    workflow_id ${t.text} NOT NULL,
    name ${t.text} NOT NULL,
    kind ${t.text} NOT NULL,
    secret ${t.text} NOT NULL,
    created_by ${t.text} NOT NULL,
    created_at ${t.text} NOT NULL,
    deleted_at ${t.text}
  )`,
  `CREATE INDEX hooks_workflow ON hooks (workflow_id)`,
  `CREATE TABLE hook_deliveries (
    id ${t.text} PRIMARY KEY,
    hook_id ${t.text} NOT NULL,
    dedupe_key ${t.text},
    received_at ${t.text} NOT NULL,
    outcome ${t.text} NOT NULL,
    http_status ${t.int} NOT NULL,
    source_event ${t.text},
    event_type ${t.text},
    event_id ${t.text},
    detail ${t.text} NOT NULL
  )`,
  `CREATE UNIQUE INDEX hook_deliveries_dedupe ON hook_deliveries (hook_id, dedupe_key)`,
  `CREATE INDEX hook_deliveries_hook ON hook_deliveries (hook_id, id)`,
];

export const migration0006: Migration = {
  id: 6,
  name: 'hooks',
  sqlite: tables({ text: 'TEXT', int: 'INTEGER' }),
  postgres: tables({ text: 'text', int: 'integer' }),
};
