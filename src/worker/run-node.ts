/**
 * Running one node attempt (a `run` task): check it is still this attempt's turn, mark it
 * running, open the secrets it names (secrets.ts), build the executor's context (environment
 * variables, rendered config, the sandbox, inline runs for parallel/map/loop), run the
 * executor, mask its result, collect the node's artifacts, price what it used and decide
 * `node.finished`.
 */
import type { GraphNode } from '../definition/index.ts';
import { parseDuration } from '../definition/index.ts';
import { price } from '../engine/cost.ts';
import { isTerminalExecution } from '../engine/status.ts';
import { expressionContext } from '../engine/draft.ts';
import type { ExecutionState, Snapshot } from '../engine/types.ts';
import {
  EnvironmentError,
  type ExecContext,
  type ExecResult,
  type GatewayAccess,
  type NodeUsage,
} from '../nodes/executor.ts';
import { RuntimeUnavailableError } from '../runtime/broker.ts';
import type { Sandbox } from '../runtime/types.ts';
import { SecretMasker } from '../secrets/masker.ts';
import { withGatewayUsage } from '../services/execution-tokens.ts';
import * as tasksSql from '../store/tasks.ts';
import type { TaskRow } from '../store/tasks.ts';
import { type WorkerContext, idleTimeoutOf } from './context.ts';
import { collectArtifacts, sandboxOf } from './environment.ts';
import { chatTurnOf } from './chat-deltas.ts';
import { stepReportsOf } from './agent-steps.ts';
import { childWorkflows } from './child-runs.ts';
import { itemCheckpoints } from './item-checkpoints.ts';
import { callExecutor, expressionMembers, noExecutor, renderOrFail } from './node-call.ts';
import { currentSnapshot } from './snapshots.ts';
import { type OpenedSecrets, maskResult, openSecrets } from './secrets.ts';
import { finishedEvent, runStep } from './task-events.ts';

/**
 * Runs the node of a `run` task leased to this worker and decides its result. `claimed`: the
 * task came from the queue, not leased in the decision that marked its node running. `leased`:
 * the snapshot that decision committed, which this worker holds already (not read again).
 */
export async function runNode(
  ctx: WorkerContext,
  task: TaskRow,
  controller: AbortController,
  claimed: boolean,
  leased?: Snapshot,
): Promise<void> {
  const execId = task.execution_id;
  const nodeId = task.node_id!;
  let snapshot: Snapshot;
  // A queued node of an execution this worker decided last is started on the kept snapshot:
  // if another writer decided since, the start's compare-and-set fails and it is decided again
  // on what is current. Anything else a kept snapshot says (stale, taken over) is read again.
  const kept = claimed ? ctx.snapshots.latest(execId)?.snapshot : undefined;
  if (leased !== undefined && !claimed) snapshot = leased;
  else if (kept !== undefined && runStep(kept, nodeId, task.attempt, true) === 'start')
    snapshot = kept;
  else {
    const found = await ctx.keepCommitting(() => currentSnapshot(ctx.db.db, ctx.snapshots, execId));
    if (!found) {
      await tasksSql.deleteTask(ctx.db.db, task.id);
      return;
    }
    snapshot = found;
  }
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
    ctx.metrics.leaseTakeovers.inc();
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
      snapshot.execution.workflowId,
      snapshot.execution.version,
      snapshot.execution.workflowType,
      idleTimeoutOf(snapshot.execution.runtime),
    ),
  );
  const def = vp.plan.nodes.get(nodeId);
  if (!def) return;
  const secrets = await openSecrets(ctx, snapshot.execution, def, vp.secrets);
  const gateway = gatewayOf(ctx, snapshot.execution, nodeId, task.attempt);
  let raw =
    'failed' in secrets
      ? secrets.failed
      : await execute(ctx, snapshot, def, task, controller, secrets, gateway.access);
  // The attempt's token ends with it; what its gateway calls used is billed to it.
  const charged = await gateway.end();
  if (charged !== undefined) raw = { ...raw, usage: withGatewayUsage(raw.usage, charged) };
  if (controller.signal.aborted && controller.signal.reason === 'shutdown') return; // another worker re-runs it
  const masker = 'failed' in secrets ? undefined : secrets.masker;
  const result = masker === undefined ? raw : maskResult(raw, masker);
  const artifacts =
    result.status === 'succeeded' && Array.isArray(def.artifacts) && def.artifacts.length > 0
      ? await collectArtifacts(
          ctx,
          snapshot.execution,
          def.id,
          def.artifacts as string[],
          masker ?? new SecretMasker([]),
        )
      : undefined;
  const cost = price(result.usage, snapshot.execution.runtime, ctx.config);
  const finished = finishedEvent(
    nodeId,
    task.attempt,
    result,
    cost,
    artifacts,
    'failed' in secrets ? undefined : secrets.used,
  );
  // The result is kept and written until it commits or the lease is provably lost.
  const decided = await ctx.keepCommitting(async () => {
    const lines = await ctx.logs.take(execId);
    try {
      return await ctx.dispatch(execId, finished, task, lines);
    } catch (err) {
      ctx.logs.giveBack(execId, lines);
      throw err;
    }
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
  secrets: OpenedSecrets,
  gateway: (() => Promise<GatewayAccess>) | undefined,
): Promise<ExecResult> {
  const e = snapshot.execution;
  // Only the worker's rendering sees `secrets`: the engine's context (conditions, DLQ inputs)
  // never holds a value.
  const exprCtx = { ...expressionContext(snapshot), secrets: secrets.values };
  if (ctx.nodeTypes.get(def.type)?.execute === undefined)
    return noExecutor(ctx.nodeTypes, def.type);
  // Made on the first call (a command), once per execution: http and llm nodes make none.
  let acquired: Promise<Sandbox> | undefined;
  const sandbox = () => (acquired ??= sandboxOf(ctx, e).catch(asEnvironmentError));
  const first = renderOrFail(ctx.nodeTypes, def, exprCtx);
  if ('failed' in first) return first.failed;
  const log = (stream: 'stdout' | 'stderr' | 'system', line: string) =>
    ctx.logs.append(e.id, def.id, task.attempt, stream, secrets.masker.mask(line));
  const timeoutMs = typeof def.timeout === 'string' ? parseDuration(def.timeout) : undefined;
  const chat = chatTurnOf(ctx, e, def.id, task.attempt, secrets.masker);
  const steps = stepReportsOf(ctx, e.id, def.id, task.attempt, secrets.masker);
  const exec: ExecContext = {
    executionId: e.id,
    workflowId: e.workflowId,
    nodeId: def.id,
    attempt: task.attempt,
    node: first.node,
    sandbox,
    env: nodeEnv(e, def.id, task.attempt, ctx.workerId),
    ...(timeoutMs !== undefined && { timeoutMs }),
    signal: controller.signal,
    log,
    items: itemCheckpoints(ctx, e, def.id, task),
    logHoldback: secrets.masker.holdback,
    ...expressionMembers(ctx.nodeTypes, () => exec, def, exprCtx, log),
    ...(chat !== undefined && { chat: chat.turn }),
    step: (report) => steps.push(report),
    providers: secrets.providers,
    egress: ctx.egress,
    killGraceMs: ctx.config.killGraceMs,
    ...(gateway !== undefined && { gateway }),
    workflows: childWorkflows(ctx, e, def.id, task.attempt),
  };
  try {
    return await callExecutor(ctx.nodeTypes, exec);
  } finally {
    // The streamed reply and the steps are decided before the attempt's result, while the node
    // still runs.
    await chat?.close();
    await steps.close();
  }
}

/**
 * The attempt's gateway access, its execution token made on the first call (a command that
 * starts), and `end`, which revokes it and returns what its gateway calls used.
 */
function gatewayOf(
  ctx: WorkerContext,
  e: ExecutionState,
  nodeId: string,
  attempt: number,
): {
  access: (() => Promise<GatewayAccess>) | undefined;
  end: () => Promise<NodeUsage | undefined>;
} {
  const socket = ctx.gatewaySocket;
  if (socket === undefined) return { access: undefined, end: () => Promise.resolve(undefined) };
  let minted: Promise<{ id: string; secret: string }> | undefined;
  const requested = Array.isArray(e.runtime.permissions)
    ? e.runtime.permissions.filter((p): p is string => typeof p === 'string')
    : [];
  return {
    access: async () => {
      // Made again while the database is unavailable (as a result is committed): a command
      // that starts during an outage waits for its token instead of failing. A token made twice
      // (a commit whose answer was lost) ends with the execution.
      minted ??= ctx.keepCommitting(
        () =>
          ctx.executionTokens.mint({
            executionId: e.id,
            workflowId: e.workflowId,
            nodeId,
            attempt,
            requested,
            // Only a run started by hand names the token that started it.
            startedBy: e.trigger.type === 'manual' ? e.trigger.actor : undefined,
          }),
        `the execution token of ${e.id}/${nodeId}#${attempt}`,
      );
      return { token: (await minted).secret, socket };
    },
    end: async () => {
      if (minted === undefined) return undefined;
      const token = await minted.catch(() => undefined);
      if (token === undefined) return undefined;
      return ctx.keepCommitting(() => ctx.executionTokens.end(token.id));
    },
  };
}

/** Why there is no environment, as the node's error: a refusal's own code, else a runtime one. */
function asEnvironmentError(err: unknown): never {
  // Refusals with their own code (a missing image, a forbidden Docker socket, an unknown user)
  // say whether retrying can help; an engine that is down may come back.
  const { code, retryable } = err as { code?: unknown; retryable?: unknown };
  const own = typeof code === 'string' && typeof retryable === 'boolean';
  throw new EnvironmentError(
    own ? code : err instanceof RuntimeUnavailableError ? 'ERR_RUNTIME_UNAVAILABLE' : 'ERR_RUNTIME',
    `No environment for the node: ${(err as Error).message}`,
    own ? retryable : true,
  );
}

/** The environment a node's processes see: variables, PARAM_<NAME>, SWITCHYARD_*. */
function nodeEnv(
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
