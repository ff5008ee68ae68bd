import type { Migration } from './migration.ts';

/**
 * Node states in rows of their own (issue 23, stage 2): one row per node of an execution, so a
 * decision writes the nodes it changed instead of rewriting the execution's whole node map.
 * `ord` keeps the graph's order (the order the execution detail lists its nodes in). The node
 * maps of existing executions move into rows and `executions.nodes` is dropped. Frozen: add a
 * new migration instead.
 */
export const migration0010: Migration = {
  id: 10,
  name: 'execution_nodes',
  sqlite: [
    `CREATE TABLE execution_nodes (
      execution_id TEXT NOT NULL,
      node_id TEXT NOT NULL,
      ord INTEGER NOT NULL,
      state TEXT NOT NULL,
      PRIMARY KEY (execution_id, node_id)
    ) WITHOUT ROWID`,
    // json_each's `id` grows in document order, which is the order the map was written in.
    `INSERT INTO execution_nodes (execution_id, node_id, ord, state)
      SELECT e.id, j.key, j.id, j.value FROM executions e, json_each(e.nodes) j`,
    `ALTER TABLE executions DROP COLUMN nodes`,
  ],
  postgres: [
    `CREATE TABLE execution_nodes (
      execution_id text NOT NULL,
      node_id text NOT NULL,
      ord integer NOT NULL,
      state text NOT NULL,
      PRIMARY KEY (execution_id, node_id)
    )`,
    `INSERT INTO execution_nodes (execution_id, node_id, ord, state)
      SELECT e.id, j.key, j.ord::integer, j.value::text
      FROM executions e CROSS JOIN LATERAL json_each(e.nodes::json) WITH ORDINALITY AS j(key, value, ord)`,
    `ALTER TABLE executions DROP COLUMN nodes`,
  ],
};
