import type { Migration } from './migration.ts';

/**
 * Artifact content in the database (issue 9 §2): every server of a scale-out deployment reads
 * what any of them collected. A file is stored as chunks keyed by the byte offset they start
 * at, under a blob id; `artifacts.blob_id` names the blob of a record (null: the file is in the
 * data directory of the server that collected it). A new copy is a new blob, written in one
 * transaction with its record, so a half-written file is never visible and a download that
 * started on the old blob never reads a mix of both. Frozen: add a new migration instead.
 */
const tables = (t: { text: string; bigint: string; bytes: string }) => [
  `ALTER TABLE artifacts ADD COLUMN blob_id ${t.text}`,
  `CREATE TABLE artifact_chunks (
    execution_id ${t.text} NOT NULL,
    blob_id ${t.text} NOT NULL,
    byte_offset ${t.bigint} NOT NULL,
    data ${t.bytes} NOT NULL,
    PRIMARY KEY (execution_id, blob_id, byte_offset)
  )`,
];

export const migration0014: Migration = {
  id: 14,
  name: 'artifact-chunks',
  sqlite: tables({ text: 'TEXT', bigint: 'INTEGER', bytes: 'BLOB' }),
  postgres: tables({ text: 'text', bigint: 'bigint', bytes: 'bytea' }),
};
