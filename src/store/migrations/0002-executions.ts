import type { Migration } from './migration.ts';

/**
 * Executions and everything they produce. `executions.nodes` holds the engine's node states
 * (the snapshot, one JSON document updated compare-and-set on `rev`); `node_runs` keeps one row
 * per finished attempt; `tasks` is the work queue with leases. Frozen: add a new migration instead.
 */
const tables = (t: { text: string; int: string; bigint: string; serial: string }) => [
  `CREATE TABLE executions (
    id ${t.text} PRIMARY KEY,
    workflow_id ${t.text} NOT NULL REFERENCES workflows (id),
    version ${t.int} NOT NULL,
    status ${t.text} NOT NULL,
    trigger_type ${t.text} NOT NULL,
    trigger_info ${t.text} NOT NULL,
    params ${t.text} NOT NULL,
    state ${t.text} NOT NULL,
    nodes ${t.text} NOT NULL,
    error ${t.text},
    cost_usd REAL NOT NULL DEFAULT 0,
    rev ${t.int} NOT NULL,
    last_seq ${t.int} NOT NULL,
    idempotency_key ${t.text},
    parent_execution_id ${t.text},
    created_by ${t.text} NOT NULL,
    created_at ${t.text} NOT NULL,
    started_at ${t.text},
    ended_at ${t.text},
    updated_at ${t.text} NOT NULL
  )`,
  `CREATE UNIQUE INDEX executions_idempotency ON executions (workflow_id, idempotency_key) WHERE idempotency_key IS NOT NULL`,
  `CREATE INDEX executions_workflow ON executions (workflow_id, id)`,
  `CREATE INDEX executions_status ON executions (status, id)`,
  `CREATE INDEX executions_parent ON executions (parent_execution_id) WHERE parent_execution_id IS NOT NULL`,
  `CREATE TABLE tasks (
    id ${t.text} PRIMARY KEY,
    execution_id ${t.text} NOT NULL,
    kind ${t.text} NOT NULL,
    node_id ${t.text},
    attempt ${t.int} NOT NULL,
    payload ${t.text},
    available_at ${t.text} NOT NULL,
    lease_owner ${t.text},
    lease_expires_at ${t.text},
    created_at ${t.text} NOT NULL
  )`,
  `CREATE INDEX tasks_available ON tasks (available_at)`,
  `CREATE INDEX tasks_execution ON tasks (execution_id)`,
  `CREATE TABLE execution_events (
    execution_id ${t.text} NOT NULL,
    seq ${t.int} NOT NULL,
    type ${t.text} NOT NULL,
    node_id ${t.text},
    data ${t.text} NOT NULL,
    at ${t.text} NOT NULL,
    PRIMARY KEY (execution_id, seq)
  )`,
  `CREATE TABLE node_runs (
    execution_id ${t.text} NOT NULL,
    node_id ${t.text} NOT NULL,
    attempt ${t.int} NOT NULL,
    workflow_id ${t.text} NOT NULL,
    version ${t.int} NOT NULL,
    status ${t.text} NOT NULL,
    started_at ${t.text},
    ended_at ${t.text} NOT NULL,
    error ${t.text},
    compute_seconds REAL NOT NULL DEFAULT 0,
    prompt_tokens ${t.bigint} NOT NULL DEFAULT 0,
    completion_tokens ${t.bigint} NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (execution_id, node_id, attempt)
  )`,
  `CREATE INDEX node_runs_usage ON node_runs (workflow_id, ended_at)`,
  `CREATE TABLE node_logs (
    execution_id ${t.text} NOT NULL,
    line ${t.int} NOT NULL,
    node_id ${t.text} NOT NULL,
    attempt ${t.int} NOT NULL,
    stream ${t.text} NOT NULL,
    text ${t.text} NOT NULL,
    at ${t.text} NOT NULL,
    PRIMARY KEY (execution_id, line)
  )`,
  `CREATE TABLE dlq (
    id ${t.text} PRIMARY KEY,
    execution_id ${t.text} NOT NULL,
    workflow_id ${t.text} NOT NULL,
    version ${t.int} NOT NULL,
    node_id ${t.text} NOT NULL,
    attempts ${t.int} NOT NULL,
    error ${t.text} NOT NULL,
    log_tail ${t.text} NOT NULL,
    inputs ${t.text} NOT NULL,
    status ${t.text} NOT NULL,
    created_at ${t.text} NOT NULL,
    resolved_at ${t.text},
    resolved_by ${t.text},
    note ${t.text}
  )`,
  `CREATE INDEX dlq_status ON dlq (status, id)`,
  `CREATE INDEX dlq_execution ON dlq (execution_id)`,
];

export const migration0002: Migration = {
  id: 2,
  name: 'executions',
  sqlite: tables({ text: 'TEXT', int: 'INTEGER', bigint: 'INTEGER', serial: 'INTEGER' }),
  postgres: tables({ text: 'text', int: 'integer', bigint: 'bigint', serial: 'bigserial' }).map(
    (s) => s.replace(/REAL/g, 'double precision'),
  ),
};
