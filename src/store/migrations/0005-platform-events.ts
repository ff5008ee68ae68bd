import type { Migration } from './migration.ts';

/**
 * Platform events (DESIGN §7): one row per event posted to `POST /api/v1/events`, published by a
 * hook, or emitted by Switchyard itself (`execution.*`). `outcome` is null until the event was
 * matched against the listening workflows; then it holds the executions the event started and,
 * per listening workflow, why it did not match. An `execution.*` event is written in the same
 * transaction as the execution's end, so a crash before matching leaves a pending row that the
 * next start matches. Frozen: add a new migration instead.
 */
const tables = (t: { text: string }) => [
  `CREATE TABLE platform_events (
    id ${t.text} PRIMARY KEY,
    type ${t.text} NOT NULL,
    subject ${t.text},
    data ${t.text} NOT NULL,
    source ${t.text} NOT NULL,
    actor ${t.text} NOT NULL,
    created_at ${t.text} NOT NULL,
    chain_depth integer NOT NULL,
    outcome ${t.text},
    processed_at ${t.text}
  )`,
  `CREATE INDEX platform_events_type ON platform_events (type, id)`,
  `CREATE INDEX platform_events_pending ON platform_events (id) WHERE processed_at IS NULL`,
];

export const migration0005: Migration = {
  id: 5,
  name: 'platform events',
  sqlite: tables({ text: 'TEXT' }),
  postgres: tables({ text: 'text' }),
};
