import type { Migration } from './migration.ts';

/**
 * Execution tokens (issue 11, the LLM gateway): a short-lived credential per node attempt that
 * runs a process, stored as the SHA-256 of its secret. It is scoped to one execution (and names
 * the node attempt that gateway calls are billed to); `permissions` are the extra ones the
 * workflow's `runtime_config.permissions` grants, already capped. Revoked when the attempt or
 * the execution ends. Frozen: add a new migration instead.
 */
const tables = (t: { text: string; int: string }) => [
  `CREATE TABLE execution_tokens (
    id ${t.text} PRIMARY KEY,
    hash ${t.text} NOT NULL UNIQUE,
    execution_id ${t.text} NOT NULL,
    workflow_id ${t.text} NOT NULL,
    node_id ${t.text} NOT NULL,
    attempt ${t.int} NOT NULL,
    permissions ${t.text} NOT NULL,
    created_at ${t.text} NOT NULL,
    expires_at ${t.text} NOT NULL,
    revoked_at ${t.text}
  )`,
  `CREATE INDEX execution_tokens_execution ON execution_tokens (execution_id)`,
];

export const migration0013: Migration = {
  id: 13,
  name: 'execution-tokens',
  sqlite: tables({ text: 'TEXT', int: 'INTEGER' }),
  postgres: tables({ text: 'text', int: 'integer' }),
};
