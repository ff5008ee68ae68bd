/**
 * Running one node attempt (a `run` task): check it is still this attempt's turn, mark it
 * running, build the executor's context (environment variables, rendered config, the sandbox,
 * inline runs for parallel/map/loop), run the executor, collect the node's artifacts, price
 * what it used and decide `node.finished`.
 */
import type { GraphNode } from '../definition/index.ts';
import { parseDuration } from '../definition/index.ts';
import { price } from '../engine/cost.ts';
import { isTerminalExecution } from '../engine/status.ts';
import { ExpressionError, evaluate, render } from '../engine/expressions.ts';
import { expressionContext } from '../engine/draft.ts';
import type { ExecutionState, NodeState, Snapshot } from '../engine/types.ts';
import type { ExecContext, ExecResult } from '../nodes/executor.ts';
import { executors } from '../nodes/executors/index.ts';
import { getNodeType } from '../nodes/registry.ts';
import { RuntimeUnavailableError } from '../runtime/broker.ts';
import type { Sandbox } from '../runtime/types.ts';
import * as executionsSql from '../store/executions.ts';
import * as tasksSql from '../store/tasks.ts';
import type { TaskRow } from '../store/tasks.ts';
import { type WorkerContext, idleTimeoutOf } from './context.ts';
import { collectArtifacts, sandboxOf } from './environment.ts';
import { finishedEvent, runStep } from './task-events.ts';

/**
 * Runs the node of a `run` task leased to this worker and decides its result. `claimed`: the
 * task came from the queue, not leased in the decision that marked its node running.
 */
export async function runNode(
  ctx: WorkerContext,
  task: TaskRow,
  controller: AbortController,
  claimed: boolean,
): Promise<void> {
  const execId = task.execution_id;
  const nodeId = task.node_id!;
  const row = await ctx.keepCommitting(() => executionsSql.getExecution(ctx.db.db, execId));
  if (!row) {
    await tasksSql.deleteTask(ctx.db.db, task.id);
    return;
  }
  let snapshot: Snapshot = {
    execution: JSON.parse(row.state) as ExecutionState,
    nodes: JSON.parse(row.nodes) as Record<string, NodeState>,
  };
  const step = runStep(snapshot, nodeId, task.attempt, claimed);
  if (step === 'ended') {
    await tasksSql.deleteTask(ctx.db.db, task.id);
    return;
  }
  if (step === 'stale') {
    await tasksSql.deleteTask(ctx.db.db, task.id, ctx.workerId);
    return;
  }
  if (step === 'takeover') {
    // The attempt another worker started is over; the next one is queued (and, with room, leased
    // to this worker in the same decision), and this task is done.
    await ctx.keepCommitting(
      () => ctx.dispatch(execId, { type: 'node.taken_over', nodeId, attempt: task.attempt }, task),
      `the takeover of ${task.id}`,
    );
    return;
  }
  if (step === 'start') {
    const s = await ctx.keepCommitting(() =>
      ctx.dispatch(execId, { type: 'node.started', nodeId, attempt: task.attempt }),
    );
    if (!s || s.nodes[nodeId]?.status !== 'running') return;
    snapshot = s;
  }
  const vp = await ctx.keepCommitting(() =>
    ctx.plans.get(
      ctx.db.db,
      row.workflow_id,
      row.version,
      snapshot.execution.workflowType,
      idleTimeoutOf(snapshot.execution.runtime),
    ),
  );
  const def = vp.plan.nodes.get(nodeId);
  if (!def) return;
  const result = await execute(ctx, snapshot, def, task, controller);
  if (controller.signal.aborted && controller.signal.reason === 'shutdown') return; // another worker re-runs it
  const artifacts =
    result.status === 'succeeded' && Array.isArray(def.artifacts) && def.artifacts.length > 0
      ? await collectArtifacts(ctx, snapshot.execution, def.id, def.artifacts as string[])
      : undefined;
  const cost = price(result.usage, snapshot.execution.runtime, ctx.config);
  const finished = finishedEvent(nodeId, task.attempt, result, cost, artifacts);
  // The result is kept and written until it commits or the lease is provably lost.
  const decided = await ctx.keepCommitting(async () => {
    await ctx.logs.flush(execId);
    return ctx.dispatch(execId, finished, task);
  }, `the result of ${task.id}`);
  // A cancel deleted the task (so the result is stale), but the node is charged what it used.
  if (!decided && controller.signal.aborted && controller.signal.reason === 'cancelled') {
    const charged = await ctx.keepCommitting(
      () => ctx.dispatch(execId, { type: 'node.charged', nodeId, attempt: task.attempt, cost }),
      `the cost of ${task.id}`,
    );
    // Cancelled through another server: this one's environment of the execution goes too.
    if (charged && isTerminalExecution(charged.execution.status))
      void ctx.broker.release(execId, ctx.attemptsStopped(execId)).catch(() => undefined);
  }
}

/** Builds the executor context and runs the node's executor; never throws. */
async function execute(
  ctx: WorkerContext,
  snapshot: Snapshot,
  def: GraphNode,
  task: TaskRow,
  controller: AbortController,
): Promise<ExecResult> {
  const e = snapshot.execution;
  const exprCtx = expressionContext(snapshot);
  const executor = executors.get(def.type);
  if (!executor)
    return {
      status: 'failed',
      error: {
        code: 'ERR_NODE_TYPE',
        message: `No executor for node type ${def.type}.`,
        retryable: false,
      },
    };
  let sandbox: Sandbox;
  try {
    sandbox = await sandboxOf(ctx, e);
  } catch (err) {
    // Refusals with their own code (a missing image, a forbidden Docker socket, an unknown
    // user) say whether retrying can help; an engine that is down may come back.
    const { code, retryable } = err as { code?: unknown; retryable?: unknown };
    const own = typeof code === 'string' && typeof retryable === 'boolean';
    return {
      status: 'failed',
      error: {
        code: own
          ? code
          : err instanceof RuntimeUnavailableError
            ? 'ERR_RUNTIME_UNAVAILABLE'
            : 'ERR_RUNTIME',
        message: `No environment for the node: ${(err as Error).message}`,
        retryable: own ? retryable : true,
      },
    };
  }
  const first = renderOrFail(def, exprCtx);
  if ('failed' in first) return first.failed;
  const log = (stream: 'stdout' | 'stderr' | 'system', line: string) =>
    ctx.logs.append(e.id, def.id, task.attempt, stream, line);
  const timeoutMs = typeof def.timeout === 'string' ? parseDuration(def.timeout) : undefined;
  const exec: ExecContext = {
    executionId: e.id,
    workflowId: e.workflowId,
    nodeId: def.id,
    attempt: task.attempt,
    node: first.node,
    workspace: sandbox.hostWorkspace,
    sandbox,
    env: nodeEnv(e, def.id, task.attempt, ctx.workerId),
    ...(timeoutMs !== undefined && { timeoutMs }),
    signal: controller.signal,
    log,
    evaluate: (expression, extra) => evaluate(expression, { ...exprCtx, ...extra }),
    render: (value, extra) => render(value, { ...exprCtx, ...extra }),
    runInline: (inline, extra) => runInline(exec, def, inline, { ...exprCtx, ...extra }, log),
    providers: ctx.providers,
    egress: ctx.egress,
    killGraceMs: ctx.config.killGraceMs,
  };
  try {
    return await executor(exec);
  } catch (err) {
    return {
      status: 'failed',
      error: {
        code: 'ERR_NODE_INTERNAL',
        message: `The executor failed: ${(err as Error)?.message ?? String(err)}`,
        retryable: true,
      },
    };
  }
}

/** The environment a node's processes see: variables, PARAM_<NAME>, SWITCHYARD_*. */
export function nodeEnv(
  e: ExecutionState,
  nodeId: string,
  attempt: number,
  workerId: string,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(e.vars))
    env[k] = typeof v === 'string' ? v : JSON.stringify(v);
  for (const [k, v] of Object.entries(e.params))
    env[`PARAM_${k.toUpperCase()}`] = typeof v === 'string' ? v : JSON.stringify(v);
  Object.assign(env, {
    SWITCHYARD_EXECUTION_ID: e.id,
    SWITCHYARD_WORKFLOW_ID: e.workflowId,
    SWITCHYARD_NODE_ID: nodeId,
    SWITCHYARD_ATTEMPT: String(attempt),
    SWITCHYARD_WORKER_ID: workerId,
  });
  return env;
}

/** Runs an inline node (a parallel branch, a map/loop template) inside its parent's attempt. */
async function runInline(
  parent: ExecContext,
  def: GraphNode,
  inline: GraphNode,
  exprCtx: Record<string, unknown>,
  log: (stream: 'stdout' | 'stderr' | 'system', line: string) => void,
): Promise<ExecResult> {
  const inner = executors.get(inline.type);
  if (!inner)
    return {
      status: 'failed',
      error: {
        code: 'ERR_NODE_TYPE',
        message: `Node type ${inline.type} cannot run inline.`,
        retryable: false,
      },
    };
  const rendered = renderOrFail(inline, exprCtx);
  if ('failed' in rendered) return rendered.failed;
  const t = typeof inline.timeout === 'string' ? parseDuration(inline.timeout) : undefined;
  return inner({
    ...parent,
    node: rendered.node,
    nodeId: `${def.id}.${inline.id}`,
    ...(t !== undefined && { timeoutMs: t }),
    log: (s, l) => log(s, `[${inline.id}] ${l}`),
  });
}

/**
 * Renders a node's `${{ }}` templates, except the fields its executor evaluates itself per item
 * or iteration (map `items`, loop `until`, and the nested templates of map, loop and parallel).
 */
function renderNode(def: GraphNode, ctx: Record<string, unknown>): GraphNode {
  // `if` was decided by the engine before the node started.
  const keep = new Set(['if', ...(getNodeType(def.type)?.lateFields ?? [])]);
  const rest: Record<string, unknown> = {};
  const kept: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(def)) (keep.has(k) ? kept : rest)[k] = v;
  return { ...render(rest, ctx), ...kept } as GraphNode;
}

/** The rendered node, or the failed result of an expression that could not be evaluated. */
function renderOrFail(
  def: GraphNode,
  ctx: Record<string, unknown>,
): { node: GraphNode } | { failed: ExecResult } {
  try {
    return { node: renderNode(def, ctx) };
  } catch (err) {
    if (!(err instanceof ExpressionError)) throw err;
    return {
      failed: {
        status: 'failed',
        error: { code: 'ERR_EXPRESSION', message: err.message, retryable: false },
      },
    };
  }
}
