/**
 * New executions: the execution row, its first event and its start task, for an API request
 * (`createExecution`) or a `workflow` node starting its child (`startChild`, inside the
 * parent's decision).
 */
import { initialNodes } from '../engine/draft.ts';
import type { Command, ExecutionState, TriggerInfo } from '../engine/types.ts';
import { zeroCost } from '../engine/cost.ts';
import { newId } from '../ids.ts';
import type { Db } from '../store/db.ts';
import * as eventsSql from '../store/events.ts';
import * as executionsSql from '../store/executions.ts';
import type { ExecutionRow } from '../store/executions.ts';
import * as tasksSql from '../store/tasks.ts';
import { hasVersion } from '../store/versions.ts';
import { getWorkflow, findLiveWorkflowByName } from '../store/workflows.ts';
import { type WorkerContext, idleTimeoutOf } from './context.ts';
import { taskRow } from './decision-rows.ts';

export interface NewExecution {
  workflowId: string;
  version: number;
  workflowType: string;
  runtime: Record<string, unknown>;
  params: Record<string, unknown>;
  trigger: TriggerInfo;
  createdBy: string;
  idempotencyKey?: string;
  parent?: { executionId: string; nodeId: string };
  id?: string;
}

/**
 * Creates an execution in its own transaction. When the worker has room, the start task is
 * leased to it and started right after the commit (no claim round trip); otherwise any worker
 * claims it.
 */
export async function createExecution(
  ctx: WorkerContext,
  spec: NewExecution,
): Promise<ExecutionRow> {
  const lease = ctx.room() > 0;
  const { row, task } = await ctx.db.transaction(async (trx) => {
    const r = await insertExecution(ctx, trx, spec, lease);
    return {
      row: r,
      task: lease
        ? await tasksSql.getTask(trx, tasksSql.taskId(r.id, 'start', null, 0))
        : undefined,
    };
  });
  if (task) ctx.runClaimed(task);
  else ctx.wake();
  return row;
}

/** Inserts a pending execution and its start task inside `trx` (leased to this worker with `lease`). */
export async function insertExecution(
  ctx: WorkerContext,
  trx: Db,
  spec: NewExecution,
  lease = false,
): Promise<ExecutionRow> {
  const now = ctx.clock.now();
  const nowIso = now.toISOString();
  const workflowType = spec.workflowType;
  const vp = await ctx.plans.get(
    trx,
    spec.workflowId,
    spec.version,
    workflowType,
    idleTimeoutOf(spec.runtime),
  );
  const id = spec.id ?? newId('exec', now.getTime());
  const state: ExecutionState = {
    id,
    workflowId: spec.workflowId,
    version: spec.version,
    workflowType,
    status: 'pending',
    params: spec.params,
    vars: vp.variables,
    trigger: spec.trigger,
    createdAt: nowIso,
    startedAt: null,
    endedAt: null,
    error: null,
    cost: zeroCost(),
    turn: 0,
    conversation: [],
    awaitingTurn: false,
    parent: spec.parent ?? null,
    runtime: spec.runtime,
  };
  const nodes = initialNodes(vp.plan);
  const row: ExecutionRow = {
    id,
    workflow_id: spec.workflowId,
    version: spec.version,
    status: 'pending',
    trigger_type: spec.trigger.type,
    trigger_info: JSON.stringify(spec.trigger),
    params: JSON.stringify(spec.params),
    state: JSON.stringify(state),
    nodes: JSON.stringify(nodes),
    error: null,
    cost_usd: 0,
    rev: 0,
    last_seq: 1,
    idempotency_key: spec.idempotencyKey ?? null,
    parent_execution_id: spec.parent?.executionId ?? null,
    created_by: spec.createdBy,
    created_at: nowIso,
    started_at: null,
    ended_at: null,
    updated_at: nowIso,
  };
  await executionsSql.insertExecution(trx, row);
  await eventsSql.insertEvents(trx, [
    {
      execution_id: id,
      seq: 1,
      type: 'execution.status',
      node_id: null,
      data: JSON.stringify({ seq: 1, executionId: id, status: 'pending', at: nowIso }),
      at: nowIso,
    },
  ]);
  await ctx.db.announceEvents(trx, id);
  const start = taskRow(id, 'start', null, 0, nowIso, nowIso);
  if (lease) {
    start.lease_owner = ctx.workerId;
    start.lease_expires_at = new Date(now.getTime() + ctx.config.leaseMs).toISOString();
  }
  await tasksSql.upsertTasks(trx, [start]);
  if (!lease) await ctx.db.announceWork(trx);
  return row;
}

/**
 * Creates the child execution a `workflow` node starts, inside the parent's decision; a
 * message when the child workflow or its version does not exist.
 */
export async function startChild(
  ctx: WorkerContext,
  trx: Db,
  parent: ExecutionState,
  c: Extract<Command, { type: 'startChild' }>,
): Promise<true | string> {
  const wf =
    (await getWorkflow(trx, c.workflow)) ?? (await findLiveWorkflowByName(trx, c.workflow));
  if (!wf || wf.status === 'archived')
    return `workflow '${c.workflow}' was not found (or is archived)`;
  const version = c.version ?? wf.active_version ?? wf.latest_version;
  if (!(await hasVersion(trx, wf.id, version)))
    return `workflow '${c.workflow}' has no version ${version}`;
  await insertExecution(ctx, trx, {
    id: c.childExecutionId,
    workflowId: wf.id,
    version,
    workflowType: wf.type,
    runtime: { ...(JSON.parse(wf.runtime_config) as Record<string, unknown>) },
    params: c.params,
    trigger: {
      type: 'workflow',
      subject: `${parent.id}/${c.nodeId}`,
      actor: parent.trigger.actor ?? 'system',
    },
    createdBy: 'system',
    parent: { executionId: parent.id, nodeId: c.nodeId },
  });
  return true;
}
