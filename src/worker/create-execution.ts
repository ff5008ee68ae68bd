/**
 * New executions: the execution row, its first event and its start task, for an API request
 * (`createExecution`) or a `workflow` node starting its child (`startChild`, inside the
 * parent's decision). An execution in a concurrency group is decided here, in its creating
 * transaction under the group's lock: it starts, waits in the group's queue (no start task
 * until a slot frees, see concurrency.ts), or is refused (`skip`).
 */
import { initialNodes } from '../engine/draft.ts';
import type { Command, ExecutionState, TriggerInfo } from '../engine/types.ts';
import { zeroCost } from '../engine/cost.ts';
import type { ConcurrencyPolicy } from '../definition/index.ts';
import { AppError } from '../errors.ts';
import { newId } from '../ids.ts';
import * as concurrencySql from '../store/concurrency.ts';
import type { Database, Db } from '../store/db.ts';
import { insertNewExecution } from '../store/decisions.ts';
import { nodeStateRows } from '../store/execution-nodes.ts';
import * as executionsSql from '../store/executions.ts';
import type { ExecutionRow } from '../store/executions.ts';
import * as tasksSql from '../store/tasks.ts';
import type { TaskRow } from '../store/tasks.ts';
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
  /** The version's concurrency block with its group key rendered for this run. */
  concurrency?: { key: string; max: number; policy: ConcurrencyPolicy };
}

/**
 * Creates an execution in its own transaction. When the worker has room, the start task is
 * leased to it and started right after the commit (no claim round trip); otherwise any worker
 * claims it.
 */
export async function createExecution(
  ctx: WorkerContext,
  spec: NewExecution,
  /** Where to write (an API request's: its own pool, not queued behind the worker's writes). */
  database: Database = ctx.db,
): Promise<ExecutionRow> {
  const lease = ctx.room() > 0;
  // Without a concurrency group, PostgreSQL writes the execution in one statement: no transaction.
  const { row, task } =
    spec.concurrency === undefined && database.dialect === 'postgres'
      ? await insertExecution(ctx, database.db, spec, lease)
      : await database.transaction(async (trx) => {
          const queued = spec.concurrency ? await admit(ctx, trx, spec.concurrency) : undefined;
          const made = await insertExecution(ctx, trx, spec, lease && queued === undefined, queued);
          if (queued === undefined) return made;
          // Queued behind others while a slot is free (a version with a larger max, or a start
          // that did not happen): the queue moves now, oldest first.
          await promoteGroup(ctx, trx, spec.concurrency!.key);
          return { row: (await executionsSql.getExecution(trx, made.row.id)) ?? made.row };
        });
  if (task?.lease_owner === ctx.workerId) ctx.runClaimed(task);
  else ctx.wake();
  return row;
}

/**
 * Decides, under the group's lock, whether a new execution of the group starts (undefined) or
 * waits in its queue (the reason it waits); throws ERR_CONCURRENCY_SKIPPED for `skip` on a full
 * group. `cancel_running` starts at once: the service cancelled the group's runs before.
 */
async function admit(
  ctx: WorkerContext,
  trx: Db,
  c: NonNullable<NewExecution['concurrency']>,
): Promise<string | undefined> {
  await concurrencySql.lockGroup(trx, ctx.db.dialect, c.key);
  if (c.policy === 'cancel_running') return undefined;
  const active = await concurrencySql.countActive(trx, c.key);
  const waiting = c.policy === 'queue' && (await concurrencySql.headOfQueue(trx, c.key));
  if (active < c.max && !waiting) return undefined;
  if (c.policy === 'skip') {
    throw new AppError('ERR_CONCURRENCY_SKIPPED', {
      message: `Concurrency group ${c.key} is full (${active} running, max ${c.max}); policy skip starts no run.`,
      context: { group: c.key, running: active, max: c.max },
    });
  }
  return `concurrency: waiting for group ${c.key} (${active} running)`;
}

/**
 * Starts the group's oldest queued executions while the group has room (each under its own
 * version's max). Runs inside the transaction that freed a slot or queued a run, so the
 * hand-over commits with it: a crash loses no queued run, and the compare-and-set on the queued
 * flag (under the group's lock) means no two servers start the same one.
 */
export async function promoteGroup(ctx: WorkerContext, trx: Db, key: string): Promise<number> {
  await concurrencySql.lockGroup(trx, ctx.db.dialect, key);
  const nowIso = ctx.clock.now().toISOString();
  let started = 0;
  for (;;) {
    const head = await concurrencySql.headOfQueue(trx, key);
    if (!head) break;
    if ((await concurrencySql.countActive(trx, key)) >= (head.concurrency_max ?? 1)) break;
    if (!(await concurrencySql.dequeue(trx, head.id, nowIso))) break;
    await tasksSql.upsertTasks(trx, [taskRow(head.id, 'start', null, 0, nowIso, nowIso)]);
    started++;
  }
  if (started > 0) await ctx.db.announceWork(trx);
  return started;
}

/**
 * Inserts a pending execution and its start task inside `trx` (leased to this worker with
 * `lease`); with `queued` (the reason), it waits in its concurrency group without a start task.
 */
async function insertExecution(
  ctx: WorkerContext,
  trx: Db,
  spec: NewExecution,
  lease = false,
  queued?: string,
): Promise<{ row: ExecutionRow; task?: TaskRow }> {
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
    concurrency_group: spec.concurrency?.key ?? null,
    concurrency_max: spec.concurrency?.max ?? null,
    concurrency_queued: queued === undefined ? 0 : 1,
    status_reason: queued ?? null,
  };
  const event = {
    execution_id: id,
    seq: 1,
    type: 'execution.status',
    node_id: null,
    data: JSON.stringify({ seq: 1, executionId: id, status: 'pending', at: nowIso }),
    at: nowIso,
  };
  let task: TaskRow | undefined;
  if (queued === undefined) {
    task = taskRow(id, 'start', null, 0, nowIso, nowIso);
    if (lease) {
      task.lease_owner = ctx.workerId;
      task.lease_expires_at = new Date(now.getTime() + ctx.config.leaseMs).toISOString();
    }
  }
  await insertNewExecution(ctx.db, trx, {
    row,
    nodes: nodeStateRows(id, nodes),
    event,
    ...(task !== undefined && { task }),
  });
  // Its first decision starts from this (a rollback leaves an entry no row matches: harmless).
  ctx.snapshots.set(id, {
    rev: row.rev,
    lastSeq: row.last_seq,
    snapshot: { execution: state, nodes },
    concurrencyGroup: row.concurrency_group,
  });
  return { row, ...(task !== undefined && { task }) };
}

/** The workflow a child run starts (by id or name) and its version; a message when there is none. */
export async function childWorkflowOf(
  trx: Db,
  workflow: string,
  version: number | undefined,
): Promise<
  | {
      workflowId: string;
      name: string;
      version: number;
      workflowType: string;
      runtime: Record<string, unknown>;
    }
  | string
> {
  const wf = (await getWorkflow(trx, workflow)) ?? (await findLiveWorkflowByName(trx, workflow));
  if (!wf || wf.status === 'archived')
    return `workflow '${workflow}' was not found (or is archived)`;
  const v = version ?? wf.active_version ?? wf.latest_version;
  if (!(await hasVersion(trx, wf.id, v))) return `workflow '${workflow}' has no version ${v}`;
  return {
    workflowId: wf.id,
    name: wf.name,
    version: v,
    workflowType: wf.type,
    runtime: { ...(JSON.parse(wf.runtime_config) as Record<string, unknown>) },
  };
}

/** The trigger and parent link of a child run started by node `nodeId` of `parent`. */
export function childOrigin(
  parent: ExecutionState,
  nodeId: string,
): Pick<NewExecution, 'trigger' | 'createdBy' | 'parent'> {
  return {
    trigger: {
      type: 'workflow',
      subject: `${parent.id}/${nodeId}`,
      actor: parent.trigger.actor ?? 'system',
    },
    createdBy: 'system',
    parent: { executionId: parent.id, nodeId },
  };
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
  const wf = await childWorkflowOf(trx, c.workflow, c.version);
  if (typeof wf === 'string') return wf;
  await insertExecution(ctx, trx, {
    id: c.childExecutionId,
    workflowId: wf.workflowId,
    version: wf.version,
    workflowType: wf.workflowType,
    runtime: wf.runtime,
    params: c.params,
    ...childOrigin(parent, c.nodeId),
  });
  return true;
}
