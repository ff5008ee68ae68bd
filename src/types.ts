/**
 * Terminology.
 *
 * - Workflow: one logical pipeline (a row in `workflows`). Its revisions are versions.
 * - Version: an immutable revision of a workflow's graph, variables and triggers. A version is
 *   `draft` until published; `activeVersion` points at the published version that triggers run.
 * - Graph: the nodes of a version and the edges between them (`needs` is sugar for edges).
 * - Node: one step of a graph (a shell command, an HTTP call, an approval, ...). Its `type` names a
 *   node-type module in `src/nodes/`.
 * - Execution: one run of one version of a workflow; node runs are its nodes' attempts.
 * - Token: a bearer credential with a list of permissions.
 *
 * Status strings are lowercase exactly as they appear on the wire.
 */

/** What a workflow is for; each type gives runtime defaults (DESIGN §3). */
export const WorkflowType = {
  /** An agent run: LLM calls and tools, per-execution sandbox. */
  agent: 'agent',
  /** A CI pipeline: builds and tests in a per-execution container. */
  ci: 'ci',
  /** A chat handler: turns answered in a shared runtime. */
  chat: 'chat',
  /** A triggered or scheduled automation (the default). */
  automation: 'automation',
} as const;
export type WorkflowType = (typeof WorkflowType)[keyof typeof WorkflowType];
export const workflowTypes = [
  'agent',
  'ci',
  'chat',
  'automation',
] as const satisfies readonly WorkflowType[];

/** Lifecycle of a workflow row. */
export const WorkflowStatus = {
  /** Never published: only explicit runs may start it. */
  draft: 'draft',
  /** Has an active published version that triggers and schedules fire. */
  published: 'published',
  /** Soft-deleted: hidden from the default list, cannot run, publish or change. */
  archived: 'archived',
} as const;
export type WorkflowStatus = (typeof WorkflowStatus)[keyof typeof WorkflowStatus];
export const workflowStatuses = [
  'draft',
  'published',
  'archived',
] as const satisfies readonly WorkflowStatus[];

/** Lifecycle of a version. */
export const VersionStatus = {
  /** Written but not published: runs only through an explicit POST /run. */
  draft: 'draft',
  /** Published: may be (or have been) the active version. */
  published: 'published',
  /** Its workflow was deleted. */
  archived: 'archived',
} as const;
export type VersionStatus = (typeof VersionStatus)[keyof typeof VersionStatus];
export const versionStatuses = [
  'draft',
  'published',
  'archived',
] as const satisfies readonly VersionStatus[];

/** How a version came to be. */
export const versionSources = ['create', 'patch', 'restore', 'import'] as const;
export type VersionSource = (typeof versionSources)[number];

/** How the runtime broker hands out environments (DESIGN §6). */
export const RuntimeMode = {
  per_execution: 'per_execution',
  per_workflow: 'per_workflow',
  shared: 'shared',
} as const;
export type RuntimeMode = (typeof RuntimeMode)[keyof typeof RuntimeMode];

/** Runtime defaults per workflow type (DESIGN §3). */
export const runtimeDefaults: Record<
  WorkflowType,
  { mode: RuntimeMode; cpu: string; memory: string; network: 'none' | 'outbound' }
> = {
  // CI and agents fetch code and packages; handlers and automations call out through `http`.
  agent: { mode: 'per_execution', cpu: '2', memory: '2Gi', network: 'outbound' },
  ci: { mode: 'per_execution', cpu: '2', memory: '1Gi', network: 'outbound' },
  chat: { mode: 'shared', cpu: '1', memory: '512Mi', network: 'none' },
  automation: { mode: 'per_execution', cpu: '1', memory: '512Mi', network: 'none' },
};

/** Permissions a token may hold (DESIGN §8). */
export const Permission = {
  workflowsRead: 'workflows.read',
  workflowsCreate: 'workflows.create',
  workflowsEdit: 'workflows.edit',
  workflowsRun: 'workflows.run',
  tokensAdmin: 'tokens.admin',
  secretsAdmin: 'secrets.admin',
} as const;
export type Permission = (typeof Permission)[keyof typeof Permission];
export const allPermissions = [
  'workflows.read',
  'workflows.create',
  'workflows.edit',
  'workflows.run',
  'tokens.admin',
  'secrets.admin',
] as const satisfies readonly Permission[];
