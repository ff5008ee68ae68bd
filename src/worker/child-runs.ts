/**
 * Child workflows an executor starts and waits for (`ExecContext.workflows`, the agent's
 * `workflow` tool). The child is made as a `workflow` node's is (its trigger `workflow`, subject
 * `<parent execution>/<node>`, the parent link set), in its own transaction with an idempotency
 * key of the attempt and the call, so a call made again in the same attempt finds the child it
 * started. The wait is woken by the execution's decisions (execution-watch.ts). The parent link
 * makes the child tell the parent node when it ends (a `child` task); the engine ignores that for
 * a node that did not start the child itself (no `childExecutionId`), so the child's cost stays
 * the child's and is not added to the node.
 */
import { isTerminalExecution } from '../engine/status.ts';
import type { ExecutionStatus } from '../engine/status.ts';
import type { ExecutionState } from '../engine/types.ts';
import type {
  ChildWorkflowOutcome,
  ChildWorkflowRequest,
  ChildWorkflowResult,
  ChildWorkflows,
} from '../nodes/executor.ts';
import { isUniqueViolation } from '../store/db.ts';
import * as executionsSql from '../store/executions.ts';
import type { ExecutionRow } from '../store/executions.ts';
import { idleTimeoutOf, type WorkerContext } from './context.ts';
import { childOrigin, childWorkflowOf, createExecution } from './create-execution.ts';
import { currentSnapshot } from './snapshots.ts';

/** The `workflows` member of an attempt's context. */
export function childWorkflows(
  ctx: WorkerContext,
  parent: ExecutionState,
  nodeId: string,
  attempt: number,
): ChildWorkflows {
  return { run: (request, signal) => runChild(ctx, parent, nodeId, attempt, request, signal) };
}

async function runChild(
  ctx: WorkerContext,
  parent: ExecutionState,
  nodeId: string,
  attempt: number,
  request: ChildWorkflowRequest,
  signal: AbortSignal,
): Promise<ChildWorkflowOutcome> {
  const wf = await ctx.keepCommitting(() =>
    childWorkflowOf(ctx.db.db, request.workflow, request.version),
  );
  if (typeof wf === 'string') return { refused: wf };
  const allowed = request.allowed;
  if (allowed !== undefined && !allowed.includes(wf.workflowId) && !allowed.includes(wf.name))
    return {
      refused: `workflow '${request.workflow}' is not one this node may start (allowed: ${allowed.join(', ')})`,
    };
  if (signal.aborted) return { stopped: true, executionId: '' };
  const key = `${parent.id}:${nodeId}:${attempt}:${request.callId}`;
  const child = await ctx.keepCommitting(async () => {
    const prior = await executionsSql.findByIdempotencyKey(ctx.db.db, wf.workflowId, key);
    if (prior) return prior;
    try {
      return await createExecution(ctx, {
        workflowId: wf.workflowId,
        version: wf.version,
        workflowType: wf.workflowType,
        runtime: wf.runtime,
        params: request.params ?? {},
        idempotencyKey: key,
        ...childOrigin(parent, nodeId),
      });
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      const found = await executionsSql.findByIdempotencyKey(ctx.db.db, wf.workflowId, key);
      if (!found) throw err;
      return found;
    }
  }, `the start of a child workflow of ${parent.id}/${nodeId}`);
  request.started?.(child.id);
  return waitForEnd(ctx, child, signal);
}

/**
 * Resolves when execution `child` ends; on `signal` the child is cancelled (the attempt that
 * waited for it is over: cancelled, timed out or shut down) and the wait ends at once.
 */
async function waitForEnd(
  ctx: WorkerContext,
  child: ExecutionRow,
  signal: AbortSignal,
): Promise<ChildWorkflowOutcome> {
  const id = child.id;
  let dirty = true;
  let wake: (() => void) | undefined;
  const poke = () => {
    dirty = true;
    const w = wake;
    wake = undefined;
    w?.();
  };
  signal.addEventListener('abort', poke);
  const stop = await ctx.keepCommitting(() => ctx.watch.watch(id, poke));
  try {
    for (;;) {
      if (signal.aborted) {
        await cancel(ctx, id);
        return { stopped: true, executionId: id };
      }
      if (dirty) {
        dirty = false;
        const ended = await ctx.keepCommitting(() => endOf(ctx, id));
        if (ended !== undefined) return ended;
        continue;
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    stop();
    signal.removeEventListener('abort', poke);
  }
}

/** How execution `id` ended, as a `workflow` node's outputs; undefined while it runs. */
async function endOf(ctx: WorkerContext, id: string): Promise<ChildWorkflowResult | undefined> {
  const row = await executionsSql.getExecution(ctx.db.db, id);
  if (!row) {
    return {
      executionId: id,
      status: 'cancelled',
      outputs: {},
      error: { code: 'ERR_EXECUTION_NOT_FOUND', message: `execution ${id} was deleted` },
    };
  }
  if (!isTerminalExecution(row.status as ExecutionStatus)) return undefined;
  const snapshot = await currentSnapshot(ctx.db.db, ctx.snapshots, id);
  if (!snapshot) return undefined;
  const e = snapshot.execution;
  const { plan } = await ctx.plans.get(
    ctx.db.db,
    e.workflowId,
    e.version,
    e.workflowType,
    idleTimeoutOf(e.runtime),
  );
  // The node outputs by node id, in the graph's order, as a `workflow` node's `outputs` are.
  const outputs: Record<string, unknown> = {};
  for (const nodeId of plan.order) {
    const o = snapshot.nodes[nodeId]?.outputs;
    if (o) outputs[nodeId] = o;
  }
  return {
    executionId: id,
    status: e.status as ChildWorkflowResult['status'],
    outputs,
    ...(e.error !== null && { error: e.error }),
  };
}

/** Cancels the child as a parent's cancel does; one that ended meanwhile stays as it ended. */
async function cancel(ctx: WorkerContext, id: string): Promise<void> {
  try {
    await ctx.dispatch(id, { type: 'cancel', actor: 'parent' });
  } catch (err) {
    ctx.log.warn({ err, executionId: id }, `cancelling child execution ${id} failed`);
  }
}
