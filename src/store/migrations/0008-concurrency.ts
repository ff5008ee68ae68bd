import type { Migration } from './migration.ts';

/**
 * Concurrency groups (DESIGN §7). `workflow_versions.concurrency` holds the version's
 * `concurrency` block as JSON (null: none), so it is versioned with the graph. An execution pins
 * the group key rendered when it was created (`concurrency_group`) and its version's `max`
 * (`concurrency_max`: a queued execution starts only while fewer of its group are active);
 * `concurrency_queued` is 1 while it waits for a slot (pending, with no start task yet) and
 * `status_reason` says why. The queue is the executions table itself, oldest first.
 * Frozen: add a new migration instead.
 */
const statements = (t: { text: string; int: string }) => [
  `ALTER TABLE workflow_versions ADD COLUMN concurrency ${t.text}`,
  `ALTER TABLE executions ADD COLUMN concurrency_group ${t.text}`,
  `ALTER TABLE executions ADD COLUMN concurrency_max ${t.int}`,
  `ALTER TABLE executions ADD COLUMN concurrency_queued ${t.int} NOT NULL DEFAULT 0`,
  `ALTER TABLE executions ADD COLUMN status_reason ${t.text}`,
  // Counting a group's active runs and finding its oldest queued one.
  `CREATE INDEX executions_concurrency ON executions (concurrency_group, status, id)`,
];

export const migration0008: Migration = {
  id: 8,
  name: 'concurrency',
  sqlite: statements({ text: 'TEXT', int: 'INTEGER' }),
  postgres: statements({ text: 'text', int: 'integer' }),
};
