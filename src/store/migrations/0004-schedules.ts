import type { Migration } from './migration.ts';

/**
 * Schedules: the state of each schedule trigger of a workflow, kept outside versions so that
 * pausing does not make a new version and publish/promote keep the cursor of a schedule id.
 * `cursor_at` is the last scheduled time considered (fired or dropped); every fire also has a
 * unique idempotency key on its execution, so the cursor's compare-and-set is only progress.
 * Frozen: add a new migration instead.
 */
const tables = (t: { text: string; int: string }) => [
  `CREATE TABLE schedules (
    workflow_id ${t.text} NOT NULL,
    trigger_id ${t.text} NOT NULL,
    paused ${t.int} NOT NULL DEFAULT 0,
    cursor_at ${t.text},
    last_fired_at ${t.text},
    last_execution_id ${t.text},
    buffered ${t.text} NOT NULL DEFAULT '[]',
    rev ${t.int} NOT NULL DEFAULT 0,
    updated_at ${t.text} NOT NULL,
    PRIMARY KEY (workflow_id, trigger_id)
  )`,
];

export const migration0004: Migration = {
  id: 4,
  name: 'schedules',
  sqlite: tables({ text: 'TEXT', int: 'INTEGER' }),
  postgres: tables({ text: 'text', int: 'integer' }),
};
