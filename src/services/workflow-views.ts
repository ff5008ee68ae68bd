/**
 * The read shapes of workflows and versions (DESIGN §3) and the stored parts they are built
 * from: the runtime config with the type's defaults and the optional concurrency block. Their
 * types are those of the wire schemas (`src/wire/workflows.ts`).
 */
import type {
  Concurrency,
  Graph,
  RuntimeConfig,
  Trigger,
  WorkflowDefinition,
} from '../definition/index.ts';
import type { VersionRow } from '../store/versions.ts';
import type { WorkflowRow } from '../store/workflows.ts';
import {
  runtimeDefaults,
  type VersionSource,
  type VersionStatus,
  type WorkflowStatus,
  type WorkflowType,
} from '../types.ts';
import type { VersionView, WorkflowView } from '../wire/workflows.ts';

export type Variables = WorkflowDefinition['variables'];

export const emptyGraph = (): Graph => ({ nodes: [], edges: [] });

/** A workflow's read shape; `v` is the version it shows (none: an empty graph). */
export function workflowView(row: WorkflowRow, v: VersionRow | undefined): WorkflowView {
  const type = row.type as WorkflowType;
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    type,
    status: row.status as WorkflowStatus,
    version: row.latest_version,
    activeVersion: row.active_version,
    graph: v ? (JSON.parse(v.graph) as Graph) : emptyGraph(),
    variables: v ? (JSON.parse(v.variables) as Variables) : {},
    runtimeConfig: effectiveRuntimeConfig(type, JSON.parse(row.runtime_config) as RuntimeConfig),
    triggerConfig: v ? (JSON.parse(v.trigger_config) as Trigger[]) : [],
    ...(v && concurrencyOf(v)),
    createdBy: row.created_by,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** The type's defaults (DESIGN §3) under what the workflow sets itself. */
export function effectiveRuntimeConfig(type: WorkflowType, stored: RuntimeConfig): RuntimeConfig {
  return { ...runtimeDefaults[type], retentionHours: 24, ...stored };
}

export function versionView(row: VersionRow, wf: WorkflowRow): VersionView {
  return {
    workflowId: row.workflow_id,
    version: row.version,
    status: row.status as VersionStatus,
    active: wf.active_version === row.version,
    graph: JSON.parse(row.graph) as Graph,
    variables: JSON.parse(row.variables) as Variables,
    triggerConfig: JSON.parse(row.trigger_config) as Trigger[],
    ...concurrencyOf(row),
    source: row.source as VersionSource,
    restoredFrom: row.restored_from,
    createdBy: row.created_by,
    createdAt: row.created_at,
    publishedAt: row.published_at,
  };
}

/** `{concurrency}` when the version sets one, else nothing (the read shape omits the key). */
export function concurrencyOf(row: Pick<VersionRow, 'concurrency'>): {
  concurrency?: Concurrency;
} {
  return row.concurrency === null
    ? {}
    : { concurrency: JSON.parse(row.concurrency) as Concurrency };
}
