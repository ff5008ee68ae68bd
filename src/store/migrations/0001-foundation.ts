import type { Migration } from './migration.ts';

/** Workflows, their immutable versions, tokens and settings. Frozen: add a new migration instead. */
export const migration0001: Migration = {
  id: 1,
  name: 'foundation',
  sqlite: [
    `CREATE TABLE workflows (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      description TEXT NOT NULL DEFAULT '',
      type TEXT NOT NULL,
      status TEXT NOT NULL,
      runtime_config TEXT NOT NULL,
      latest_version INTEGER NOT NULL,
      active_version INTEGER,
      created_by TEXT NOT NULL,
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL,
      archived_at TEXT
    )`,
    `CREATE UNIQUE INDEX workflows_live_name ON workflows (name) WHERE status <> 'archived'`,
    `CREATE INDEX workflows_status ON workflows (status, id)`,
    `CREATE TABLE workflow_versions (
      workflow_id TEXT NOT NULL REFERENCES workflows (id),
      version INTEGER NOT NULL,
      status TEXT NOT NULL,
      graph TEXT NOT NULL,
      variables TEXT NOT NULL,
      trigger_config TEXT NOT NULL,
      source TEXT NOT NULL,
      restored_from INTEGER,
      created_by TEXT NOT NULL,
      created_at TEXT NOT NULL,
      published_at TEXT,
      PRIMARY KEY (workflow_id, version)
    )`,
    `CREATE TABLE tokens (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      hash TEXT NOT NULL UNIQUE,
      permissions TEXT NOT NULL,
      created_by TEXT NOT NULL,
      created_at TEXT NOT NULL,
      last_used_at TEXT,
      revoked_at TEXT,
      expires_at TEXT
    )`,
    `CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
  ],
  postgres: [
    `CREATE TABLE workflows (
      id text PRIMARY KEY,
      name text NOT NULL,
      description text NOT NULL DEFAULT '',
      type text NOT NULL,
      status text NOT NULL,
      runtime_config text NOT NULL,
      latest_version integer NOT NULL,
      active_version integer,
      created_by text NOT NULL,
      created_at text NOT NULL,
      updated_at text NOT NULL,
      archived_at text
    )`,
    `CREATE UNIQUE INDEX workflows_live_name ON workflows (name) WHERE status <> 'archived'`,
    `CREATE INDEX workflows_status ON workflows (status, id)`,
    `CREATE TABLE workflow_versions (
      workflow_id text NOT NULL REFERENCES workflows (id),
      version integer NOT NULL,
      status text NOT NULL,
      graph text NOT NULL,
      variables text NOT NULL,
      trigger_config text NOT NULL,
      source text NOT NULL,
      restored_from integer,
      created_by text NOT NULL,
      created_at text NOT NULL,
      published_at text,
      PRIMARY KEY (workflow_id, version)
    )`,
    `CREATE TABLE tokens (
      id text PRIMARY KEY,
      name text NOT NULL,
      hash text NOT NULL UNIQUE,
      permissions text NOT NULL,
      created_by text NOT NULL,
      created_at text NOT NULL,
      last_used_at text,
      revoked_at text,
      expires_at text
    )`,
    `CREATE TABLE settings (key text PRIMARY KEY, value text NOT NULL)`,
  ],
};
