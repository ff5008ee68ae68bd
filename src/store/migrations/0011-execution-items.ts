import type { Migration } from './migration.ts';

/**
 * The children of a fan-out node in rows of their own (issue 23, stage 2): one row per map item,
 * parallel branch or loop iteration (`idx`), written when the child starts and when it ends, so a
 * new attempt of the node runs only the children that did not succeed (`input_hash` tells that
 * the child's input is the same) and the execution detail lists each child. Frozen: add a new
 * migration instead.
 */
const table = (t: { text: string; int: string; bigint: string }) =>
  `CREATE TABLE execution_items (
    execution_id ${t.text} NOT NULL,
    node_id ${t.text} NOT NULL,
    idx ${t.int} NOT NULL,
    item_key ${t.text},
    status ${t.text} NOT NULL,
    attempt ${t.int} NOT NULL,
    input_hash ${t.text} NOT NULL,
    outputs ${t.text},
    error ${t.text},
    compute_seconds REAL NOT NULL DEFAULT 0,
    prompt_tokens ${t.bigint} NOT NULL DEFAULT 0,
    completion_tokens ${t.bigint} NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0,
    started_at ${t.text},
    ended_at ${t.text},
    PRIMARY KEY (execution_id, node_id, idx)
  )`;

export const migration0011: Migration = {
  id: 11,
  name: 'execution_items',
  sqlite: [`${table({ text: 'TEXT', int: 'INTEGER', bigint: 'INTEGER' })} WITHOUT ROWID`],
  postgres: [table({ text: 'text', int: 'integer', bigint: 'bigint' })],
};
