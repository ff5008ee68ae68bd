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
  /** JSON of the `concurrency` block (camelCase), or null when the version sets none. */
  concurrency: string | null;
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

/** A browser session (`POST /api/v1/session`), bounded by its API token's life. */
export interface SessionsTable {
  id: string;
  /** SHA-256 hex of the cookie's value; the value itself is never stored. */
  hash: string;
  token_id: string;
  /** Stored as it is: no credential without the cookie, and the UI reads it again on reload. */
  csrf_token: string;
  created_at: string;
  /** Already bounded by the token's own expiry. */
  expires_at: string;
  revoked_at: string | null;
}

export interface ExecutionTokensTable {
  id: string;
  /** SHA-256 hex of the secret; the secret itself is never stored. */
  hash: string;
  execution_id: string;
  workflow_id: string;
  /** The node attempt the token was made for: gateway calls are billed to it. */
  node_id: string;
  attempt: number;
  /** JSON list: what `runtime_config.permissions` grants beyond reading the own execution. */
  permissions: string;
  created_at: string;
  expires_at: string;
  revoked_at: string | null;
}

interface SettingsTable {
  key: string;
  value: string;
}

interface MigrationsTable {
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
  executions: ExecutionsTable;
  execution_nodes: ExecutionNodesTable;
  execution_items: ExecutionItemsTable;
  tasks: TasksTable;
  execution_events: ExecutionEventsTable;
  node_runs: NodeRunsTable;
  node_logs: NodeLogsTable;
  dlq: DlqTable;
  artifacts: ArtifactsTable;
  artifact_chunks: ArtifactChunksTable;
  platform_events: PlatformEventsTable;
  hooks: HooksTable;
  hook_deliveries: HookDeliveriesTable;
  schedules: SchedulesTable;
  trigger_rules: TriggerRulesTable;
  rule_deliveries: RuleDeliveriesTable;
  secrets: SecretsTable;
  execution_tokens: ExecutionTokensTable;
  sessions: SessionsTable;
}

export interface ExecutionsTable {
  id: string;
  workflow_id: string;
  version: number;
  status: string;
  trigger_type: string;
  /** JSON: {type, eventType?, subject?, actor?, scheduledAt?}. */
  trigger_info: string;
  params: string;
  /** JSON: the engine's ExecutionState. */
  state: string;
  error: string | null;
  cost_usd: number;
  /** Bumped by every decision; updates are compare-and-set on it. */
  rev: number;
  /** Highest execution_events.seq written. */
  last_seq: number;
  idempotency_key: string | null;
  parent_execution_id: string | null;
  created_by: string;
  created_at: string;
  started_at: string | null;
  ended_at: string | null;
  updated_at: string;
  /** The rendered concurrency group key this execution counts against (null: none). */
  concurrency_group: string | null;
  /** The `max` of the execution's version: it starts only while fewer of its group are active. */
  concurrency_max: number | null;
  /** 1 while the execution waits for a slot in its group (pending, no start task yet). */
  concurrency_queued: number;
  /** Why the execution is where it is (e.g. waiting for its concurrency group), or null. */
  status_reason: string | null;
}

export interface TasksTable {
  id: string;
  execution_id: string;
  kind: string;
  node_id: string | null;
  attempt: number;
  payload: string | null;
  available_at: string;
  lease_owner: string | null;
  lease_expires_at: string | null;
  created_at: string;
}

export interface ExecutionEventsTable {
  execution_id: string;
  seq: number;
  type: string;
  node_id: string | null;
  data: string;
  at: string;
}

/** One node of an execution: the engine's state of it (issue 23, stage 2). */
interface ExecutionNodesTable {
  execution_id: string;
  node_id: string;
  /** The node's place in the graph's order. */
  ord: number;
  /** JSON: the engine's NodeState. */
  state: string;
}

/**
 * One child of a fan-out node (a map item, a parallel branch, a loop iteration) as its last
 * attempt left it (issue 23, stage 2).
 */
export interface ExecutionItemsTable {
  execution_id: string;
  node_id: string;
  /** The item's index, the branch's place among the branches, the iteration. */
  idx: number;
  /** The parallel branch's id; null for map items and loop iterations. */
  item_key: string | null;
  /** running | succeeded | failed | cancelled */
  status: string;
  /** The node attempt that ran it last. */
  attempt: number;
  /** SHA-256 of the child's input (template and item, branch, iteration and previous outputs). */
  input_hash: string;
  /** JSON of the child's outputs once it succeeded. */
  outputs: string | null;
  /** JSON of the child's NodeError once it failed or was cancelled. */
  error: string | null;
  compute_seconds: number;
  /** bigint on PostgreSQL, read back as a string there. */
  prompt_tokens: number | string;
  completion_tokens: number | string;
  cost_usd: number;
  started_at: string | null;
  ended_at: string | null;
}

export interface NodeRunsTable {
  execution_id: string;
  node_id: string;
  attempt: number;
  workflow_id: string;
  version: number;
  status: string;
  started_at: string | null;
  ended_at: string;
  error: string | null;
  compute_seconds: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost_usd: number;
  /** JSON: the attempt's tokens and USD per model (`Cost.models`); null without tokens. */
  models: string | null;
  /** 1 when some of the attempt's tokens were spent on a model without a price. */
  unpriced: number;
}

export interface NodeLogsTable {
  execution_id: string;
  line: number;
  node_id: string;
  attempt: number;
  stream: string;
  text: string;
  at: string;
}

export interface DlqTable {
  id: string;
  execution_id: string;
  workflow_id: string;
  version: number;
  node_id: string;
  attempts: number;
  error: string;
  log_tail: string;
  inputs: string;
  status: string;
  created_at: string;
  resolved_at: string | null;
  resolved_by: string | null;
  note: string | null;
}

export interface ArtifactsTable {
  id: string;
  execution_id: string;
  workflow_id: string;
  /** The node whose success collected the file; null when collected at release. */
  node_id: string | null;
  /** Relative to the workspace, '/'-separated, never with '.', '..' or empty segments. */
  path: string;
  /** Bytes (bigint on PostgreSQL, read back as a string there). */
  size: number | string;
  sha256: string;
  content_type: string;
  created_at: string;
  expires_at: string;
  /** Set when the reaper removed the file; the row stays so downloads answer 410. */
  deleted_at: string | null;
  /**
   * The blob in `artifact_chunks` holding the content; null when the file is in the data
   * directory of the server that collected it.
   */
  blob_id: string | null;
}

/** A piece of an artifact's content (the database artifact store). */
interface ArtifactChunksTable {
  execution_id: string;
  blob_id: string;
  /** Where in the file the chunk starts (bigint on PostgreSQL, read back as a string there). */
  byte_offset: number | string;
  data: Buffer;
}

export interface PlatformEventsTable {
  /** `evt_…` */
  id: string;
  type: string;
  subject: string | null;
  /** JSON text of the event's data object. */
  data: string;
  /** `api`, `hook:<hookId>` or `switchyard`. */
  source: string;
  /** The token name that posted it, or `switchyard`. */
  actor: string;
  created_at: string;
  /** How many `execution.*` events led to this one (0 for anything else); the loop guard. */
  chain_depth: number;
  /** JSON text of the match outcome (started executions, unmatched listeners); null while pending. */
  outcome: string | null;
  processed_at: string | null;
}

export interface HooksTable {
  id: string;
  workflow_id: string;
  name: string;
  /** `generic` or `github`. */
  kind: string;
  /**
   * The HMAC key, sealed under the secrets key (`sealed:v1:…`, src/secrets/crypto.ts); plaintext
   * when an earlier version wrote it, until the next start seals it.
   */
  secret: string;
  created_by: string;
  created_at: string;
  deleted_at: string | null;
}

export interface HookDeliveriesTable {
  id: string;
  hook_id: string;
  /** GitHub's X-GitHub-Delivery or a generic delivery's signature; unique per hook. */
  dedupe_key: string | null;
  received_at: string;
  /** `accepted`, `ignored`, `duplicate`, `rejected`. */
  outcome: string;
  http_status: number;
  /** GitHub's X-GitHub-Event, when the hook is a GitHub one. */
  source_event: string | null;
  event_type: string | null;
  event_id: string | null;
  /** Why (rejections, ignored events) or what it started, as text. */
  detail: string;
}

export interface SchedulesTable {
  workflow_id: string;
  trigger_id: string;
  /** 0/1: a paused schedule fires nothing; resuming starts from the time of the resume. */
  paused: number;
  /** The last scheduled time considered (fired or dropped); null until first seen. */
  cursor_at: string | null;
  /** The scheduled time of the newest fire, and the execution it started. */
  last_fired_at: string | null;
  last_execution_id: string | null;
  /** JSON list of scheduled times waiting for the running execution to end (buffer policies). */
  buffered: string;
  /** Bumped by every update; updates are compare-and-set on it. */
  rev: number;
  updated_at: string;
}

export interface TriggerRulesTable {
  id: string;
  name: string;
  /** 0/1: a disabled rule matches nothing and sends none of its waiting deliveries. */
  enabled: number;
  /** A glob over the event type (`pr.*`). */
  event_glob: string;
  /** CEL over `event`; null: every event of the type. */
  condition: string | null;
  /** JSON text of the action: `{type: run, workflowId, params?}` or `{type: webhook, url}`. */
  action: string;
  /** The HMAC key of webhook deliveries, sealed like `hooks.secret`; null for run rules. */
  secret: string | null;
  created_by: string;
  created_at: string;
  updated_at: string;
  deleted_at: string | null;
}

export interface RuleDeliveriesTable {
  id: string;
  rule_id: string;
  event_id: string;
  /** 1-based; (rule, event, attempt) is unique. */
  attempt: number;
  /** `scheduled`, `sending`, `delivered`, `retried` (a later attempt follows) or `failed`. */
  state: string;
  /** Where this attempt goes (the rule's URL when it was scheduled). */
  url: string;
  http_status: number | null;
  error: string | null;
  /** When a `scheduled` attempt is due, or when a `sending` one's claim lapses; else null. */
  next_attempt_at: string | null;
  created_at: string;
  finished_at: string | null;
}

export interface SecretsTable {
  /** '' for a global secret, else the id of the workflow it belongs to. */
  scope: string;
  name: string;
  /** base64 of nonce, AES-256-GCM ciphertext and tag; never the value. */
  ciphertext: string;
  /** Fingerprint of the key that sealed it. */
  key_fingerprint: string;
  created_by: string;
  created_at: string;
  updated_by: string;
  updated_at: string;
}
