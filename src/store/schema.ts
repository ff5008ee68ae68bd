/**
 * Table shapes as Kysely sees them. The schema is portable on purpose: times are RFC 3339 UTC
 * text with milliseconds (so they sort as text), JSON is text, booleans are 0/1 integers. One
 * query layer then serves SQLite and PostgreSQL alike.
 */
export interface WorkflowsTable {
  id: string;
  name: string;
  description: string;
  type: string;
  status: string;
  /** JSON text of the runtime config (camelCase). */
  runtime_config: string;
  latest_version: number;
  active_version: number | null;
  created_by: string;
  created_at: string;
  updated_at: string;
  archived_at: string | null;
}

export interface WorkflowVersionsTable {
  workflow_id: string;
  version: number;
  status: string;
  graph: string;
  variables: string;
  trigger_config: string;
  /** How the version came to be: create, patch, restore, import. */
  source: string;
  restored_from: number | null;
  created_by: string;
  created_at: string;
  published_at: string | null;
}

export interface TokensTable {
  id: string;
  name: string;
  /** SHA-256 hex of the secret; the secret itself is never stored. */
  hash: string;
  permissions: string;
  created_by: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
  expires_at: string | null;
}

export interface SettingsTable {
  key: string;
  value: string;
}

export interface MigrationsTable {
  id: number;
  name: string;
  applied_at: string;
}

export interface DatabaseSchema {
  workflows: WorkflowsTable;
  workflow_versions: WorkflowVersionsTable;
  tokens: TokensTable;
  settings: SettingsTable;
  schema_migrations: MigrationsTable;
}
