import type { Migration } from './migration.ts';

/**
 * Artifacts: one row per stored file of an execution. Rows outlive their files: after the
 * reaper deletes an expired file, `deleted_at` is set and the row answers 410 to a download.
 * Frozen: add a new migration instead.
 */
const tables = (t: { text: string; bigint: string }) => [
  `CREATE TABLE artifacts (
    id ${t.text} PRIMARY KEY,
    execution_id ${t.text} NOT NULL,
    workflow_id ${t.text} NOT NULL,
    node_id ${t.text},
    path ${t.text} NOT NULL,
    size ${t.bigint} NOT NULL,
    sha256 ${t.text} NOT NULL,
    content_type ${t.text} NOT NULL,
    created_at ${t.text} NOT NULL,
    expires_at ${t.text} NOT NULL,
    deleted_at ${t.text}
  )`,
  `CREATE UNIQUE INDEX artifacts_execution_path ON artifacts (execution_id, path)`,
  `CREATE INDEX artifacts_expiry ON artifacts (expires_at) WHERE deleted_at IS NULL`,
];

export const migration0003: Migration = {
  id: 3,
  name: 'artifacts',
  sqlite: tables({ text: 'TEXT', bigint: 'INTEGER' }),
  postgres: tables({ text: 'text', bigint: 'bigint' }),
};
