/**
 * The engine: `decide(plan, snapshot, event, ctx) → {next, commands}`. Pure — no I/O, no clock,
 * no random ids (all in `ctx`). The worker loads a snapshot, decides, persists `next` and the
 * commands in one transaction, then performs the commands.
 *
 * Rules (DESIGN §4):
 * - A pending node is ready when every predecessor is terminal. It runs when it has no
 *   predecessor or at least one incoming edge is taken (predecessor succeeded, or failed but
 *   tolerated; the edge's `when` holds; a condition/switch chose it), and its `if` holds;
 *   otherwise it is skipped. A predecessor that failed for good blocks it (it stays pending).
 * - After a failure that is not tolerated, no new node starts; running nodes finish (or are
 *   cancelled with `fail_fast`); then the execution fails. A failure left from before a retry
 *   (the retry chose other nodes) does not hold back the retried nodes, but still fails it.
 * - Retries follow the node's policy (then the workflow's); exhausted nodes write a DLQ entry.
 */
import type { GraphNode } from '../definition/index.ts';
import { parseDuration } from '../definition/index.ts';
import type { NodeError } from '../nodes/executor.ts';
import { ExpressionError, evaluate, evaluateCondition, render } from './expressions.ts';
import type { Plan, PlanEdge } from './plan.ts';
import { nextDelay, resolveRetryPolicy } from './retry-policy.ts';
import {
  type ExecutionStatus,
  type NodeStatus,
  canTransitionExecution,
  canTransitionNode,
  isActiveNode,
  isTerminalExecution,
  isTerminalNode,
} from './status.ts';
import {
  type Command,
  type ArtifactInfo,
  type Cost,
  type DecideContext,
  type Decision,
  type EngineEvent,
  type ExecutionError,
  type NodeState,
  type Snapshot,
  assertNever,
} from './types.ts';
import { addCost, zeroCost } from './cost.ts';

/** Node types the engine completes itself; the rest go to executors as `run` tasks. */
const engineNative = new Set([
  'noop',
  'condition',
  'switch',
  'approval',
  'input',
  'wait',
  'workflow',
]);

/** What expressions see of an execution (DESIGN §3); the worker renders executor configs with it too. */
export function expressionContext(s: Snapshot): Record<string, unknown> {
  const nodes: Record<string, unknown> = {};
  for (const [id, st] of Object.entries(s.nodes))
    nodes[id] = { status: st.status, outputs: st.outputs ?? {} };
  const e = s.execution;
  return {
    params: e.params,
    vars: e.vars,
    nodes,
    execution: {
      id: e.id,
      workflowId: e.workflowId,
      version: e.version,
      turn: e.turn,
      conversation: e.conversation,
      startedAt: e.startedAt,
    },
    trigger: e.trigger,
  };
}

export function freshNodeState(): NodeState {
  return {
    status: 'pending',
    attempt: 0,
    budgetFrom: 1,
    outputs: null,
    error: null,
    startedAt: null,
    endedAt: null,
    cost: zeroCost(),
  };
}

/** The snapshot of a just-created execution: every node pending. */
export function initialNodes(plan: Plan): Record<string, NodeState> {
  const nodes: Record<string, NodeState> = {};
  for (const id of plan.order) nodes[id] = freshNodeState();
  return nodes;
}

class Draft {
  readonly commands: Command[] = [];
  readonly execution: Snapshot['execution'];
  readonly nodes: Record<string, NodeState>;
  readonly nowIso: string;

  constructor(
    readonly plan: Plan,
    snapshot: Snapshot,
    readonly ctx: DecideContext,
  ) {
    this.execution = { ...snapshot.execution };
    this.nodes = { ...snapshot.nodes };
    this.nowIso = ctx.now.toISOString();
  }

  node(id: string): NodeState {
    const st = this.nodes[id];
    if (!st) throw new Error(`unknown node ${id}`);
    return st;
  }

  def(id: string): GraphNode {
    const n = this.plan.nodes.get(id);
    if (!n) throw new Error(`unknown node ${id}`);
    return n;
  }

  setNode(
    id: string,
    patch: Partial<NodeState>,
    eventData: Record<string, unknown> = {},
  ): NodeState {
    const before = this.node(id);
    const next = { ...before, ...patch };
    if (!canTransitionNode(before.status, next.status)) {
      throw new Error(`node ${id}: ${before.status} → ${next.status} is not a transition`);
    }
    this.nodes[id] = next;
    if (before.status !== next.status) {
      const data: Record<string, unknown> = {
        nodeId: id,
        status: next.status,
        attempt: next.attempt,
        ...eventData,
      };
      if (next.status === 'failed' && next.error) data.error = next.error;
      this.emit('node.status', data, id);
    }
    return next;
  }

  setExecution(status: ExecutionStatus, error?: ExecutionError | null): void {
    const from = this.execution.status;
    if (!canTransitionExecution(from, status))
      throw new Error(`execution: ${from} → ${status} is not a transition`);
    if (error !== undefined) this.execution.error = error;
    if (from === status) return;
    this.execution.status = status;
    if (isTerminalExecution(status)) this.execution.endedAt = this.nowIso;
    const data: Record<string, unknown> = { status };
    if (this.execution.error && status === 'failed') data.error = this.execution.error;
    this.emit('execution.status', data);
  }

  emit(
    event: Extract<Command, { type: 'emit' }>['event'],
    data: Record<string, unknown>,
    nodeId?: string,
  ): void {
    this.commands.push({ type: 'emit', event, data, ...(nodeId !== undefined && { nodeId }) });
  }

  addNodeCost(id: string, cost: Cost | undefined): void {
    if (
      !cost ||
      (cost.computeSeconds === 0 &&
        cost.tokens.prompt === 0 &&
        cost.tokens.completion === 0 &&
        cost.estimatedUsd === 0)
    )
      return;
    const st = this.node(id);
    this.nodes[id] = { ...st, cost: addCost(st.cost, cost) };
    this.execution.cost = addCost(this.execution.cost, cost);
    this.emit(
      'cost.updated',
      { nodeId: id, node: this.nodes[id].cost, execution: this.execution.cost },
      id,
    );
  }

  /** The CEL context (DESIGN §3). */
  exprContext(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return { ...expressionContext({ execution: this.execution, nodes: this.nodes }), ...extra };
  }

  /** Some failure will fail the execution. */
  failing(): boolean {
    return Object.values(this.nodes).some((n) => n.status === 'failed' && !n.tolerated);
  }

  /** Some failure since the last retry: no new node starts. */
  blocking(): boolean {
    return Object.values(this.nodes).some(
      (n) => n.status === 'failed' && !n.tolerated && !n.priorFailure,
    );
  }
}

export function decide(
  plan: Plan,
  snapshot: Snapshot,
  event: EngineEvent,
  ctx: DecideContext,
): Decision {
  const d = new Draft(plan, snapshot, ctx);
  const terminal = isTerminalExecution(d.execution.status);
  switch (event.type) {
    case 'start':
      if (d.execution.status !== 'pending') break;
      onStart(d);
      break;
    case 'node.started':
      if (!terminal) onNodeStarted(d, event.nodeId, event.attempt);
      break;
    case 'node.finished':
      if (!terminal) onNodeFinished(d, event);
      break;
    case 'timer.fired': {
      const st = d.nodes[event.nodeId];
      if (!terminal && st && st.status === 'running' && st.attempt === event.attempt)
        succeed(d, event.nodeId, { firedAt: d.nowIso });
      break;
    }
    case 'approval':
      if (!terminal) onApproval(d, event);
      break;
    case 'followup':
      if (!terminal) onFollowup(d, event);
      break;
    case 'cancel':
      if (!terminal) {
        stopAll(d, {
          code: 'ERR_CANCELLED',
          message: `cancelled by ${event.actor}${event.reason ? `: ${event.reason}` : ''}`,
          retryable: false,
        });
        d.setExecution('cancelled', {
          code: 'ERR_CANCELLED',
          message: `Cancelled by ${event.actor}.`,
        });
        finish(d);
      }
      break;
    case 'deadline':
      if (!terminal) {
        const error = {
          code: 'ERR_EXECUTION_TIMEOUT',
          message: 'The execution ran past its timeout.',
          retryable: false,
        };
        stopAll(d, error);
        d.setExecution('failed', { code: error.code, message: error.message });
        finish(d);
      }
      break;
    case 'idle':
      if (!terminal && plan.isChat && d.execution.awaitingTurn && d.execution.turn === event.turn) {
        d.execution.awaitingTurn = false;
        d.setExecution('succeeded', null);
        finish(d);
      }
      break;
    case 'retry':
      if (d.execution.status === 'failed' || d.execution.status === 'cancelled')
        onRetry(d, event.nodes);
      break;
    case 'dlq.retry':
      onDlqRetry(d, event.nodeId);
      break;
    case 'child.finished':
      if (!terminal) onChildFinished(d, event);
      break;
    case 'environment':
      d.execution.environment = event.environment;
      break;
    case 'artifacts.collected':
      // Also after the end: the workflow's artifacts are collected when the environment is released.
      announceArtifacts(d, event.artifacts);
      break;
    default:
      assertNever(event);
  }
  if (!isTerminalExecution(d.execution.status)) {
    advance(d);
    settle(d);
  }
  return { next: { execution: d.execution, nodes: d.nodes }, commands: d.commands };
}

function onStart(d: Draft): void {
  d.execution.startedAt = d.nowIso;
  d.setExecution('running');
  if (d.plan.timeoutMs !== null) {
    d.commands.push({
      type: 'enqueue',
      kind: 'deadline',
      nodeId: null,
      attempt: 0,
      availableAt: addMs(d.ctx.now, d.plan.timeoutMs),
    });
  }
  if (d.plan.isChat) {
    d.execution.turn = 1;
    const message = d.execution.params.message;
    if (typeof message === 'string')
      d.execution.conversation = [
        ...d.execution.conversation,
        { role: 'user', content: message, turn: 1, at: d.nowIso },
      ];
  }
}

function onNodeStarted(d: Draft, id: string, attempt: number): void {
  const st = d.nodes[id];
  if (!st || st.attempt !== attempt) return;
  if (st.status === 'queued')
    d.setNode(id, { status: 'running', startedAt: st.startedAt ?? d.nowIso });
}

function onNodeFinished(d: Draft, ev: Extract<EngineEvent, { type: 'node.finished' }>): void {
  const st = d.nodes[ev.nodeId];
  if (!st || st.status !== 'running' || st.attempt !== ev.attempt) return; // stale: cancelled, retried or taken over
  d.addNodeCost(ev.nodeId, ev.outcome.cost);
  if (ev.outcome.artifacts) announceArtifacts(d, ev.outcome.artifacts);
  if (ev.outcome.status === 'succeeded') {
    succeed(d, ev.nodeId, ev.outcome.outputs ?? {});
    return;
  }
  const error: NodeError = ev.outcome.error ?? {
    code: 'ERR_NODE_FAILED',
    message: 'The node failed.',
    retryable: true,
  };
  const def = d.def(ev.nodeId);
  const policy = resolveRetryPolicy(def.retry as never, d.plan.retry);
  const used = st.attempt - st.budgetFrom + 1;
  if (error.retryable && used < policy.maxAttempts) {
    // A server's Retry-After is honoured up to the policy's cap (at least a minute).
    const retryAfter = Math.min(error.retryAfterMs ?? 0, Math.max(policy.maxIntervalMs, 60_000));
    const delayMs = Math.max(nextDelay(policy, used, d.ctx.random()), retryAfter);
    const nextAttempt = st.attempt + 1;
    d.setNode(ev.nodeId, { status: 'queued', attempt: nextAttempt, error });
    d.commands.push({
      type: 'enqueue',
      kind: 'run',
      nodeId: ev.nodeId,
      attempt: nextAttempt,
      availableAt: addMs(d.ctx.now, delayMs),
    });
    d.emit(
      'node.retry_scheduled',
      { nodeId: ev.nodeId, attempt: st.attempt, nextAttempt, delayMs, error },
      ev.nodeId,
    );
    return;
  }
  failNode(d, ev.nodeId, error, ev.outcome.outputs);
}

function announceArtifacts(d: Draft, artifacts: ArtifactInfo[]): void {
  for (const a of artifacts) d.emit('artifact.created', { ...a }, a.nodeId ?? undefined);
}

function onApproval(d: Draft, ev: Extract<EngineEvent, { type: 'approval' }>): void {
  const st = d.nodes[ev.nodeId];
  if (!st || st.status !== 'waiting' || d.def(ev.nodeId).type !== 'approval') return;
  const outputs = {
    decision: ev.decision,
    comment: ev.comment ?? null,
    data: ev.data ?? null,
    actor: ev.actor,
    decidedAt: d.nowIso,
  };
  if (ev.decision === 'approve') {
    succeed(d, ev.nodeId, outputs);
    return;
  }
  const def = d.def(ev.nodeId);
  const routed = typeof def.onReject === 'string';
  d.setNode(ev.nodeId, {
    status: 'failed',
    outputs,
    error: {
      code: 'ERR_APPROVAL_REJECTED',
      message: `Rejected by ${ev.actor}${ev.comment ? `: ${ev.comment}` : ''}.`,
      retryable: false,
    },
    endedAt: d.nowIso,
    tolerated: routed || def.continueOnError === true,
    prompt: null,
  });
  if (!routed && def.continueOnError !== true) onUntoleratedFailure(d, ev.nodeId);
}

function onFollowup(d: Draft, ev: Extract<EngineEvent, { type: 'followup' }>): void {
  const waitingInput = d.plan.order.find(
    (id) => d.node(id).status === 'waiting' && d.def(id).type === 'input',
  );
  const entry = {
    role: 'user' as const,
    content: ev.message,
    turn: d.execution.turn,
    at: d.nowIso,
    ...(ev.data !== undefined && { data: ev.data }),
  };
  if (waitingInput) {
    d.execution.conversation = [...d.execution.conversation, entry];
    succeed(d, waitingInput, {
      message: ev.message,
      data: ev.data ?? null,
      actor: ev.actor,
      receivedAt: d.nowIso,
    });
    return;
  }
  if (!d.plan.isChat || !d.execution.awaitingTurn) return;
  const turn = d.execution.turn + 1;
  d.execution.turn = turn;
  d.execution.awaitingTurn = false;
  d.execution.conversation = [...d.execution.conversation, { ...entry, turn }];
  for (const id of d.plan.order) resetNode(d, id);
  d.setExecution('running');
}

function onRetry(d: Draft, chosen: string[] | undefined): void {
  const reset = new Set<string>();
  if (chosen && chosen.length > 0) {
    for (const id of chosen) if (d.nodes[id]) reset.add(id);
    for (const id of descendants(d, reset)) reset.add(id);
    // Cancelled nodes never finished (a cancel, fail_fast, a timeout); left cancelled, the
    // execution could succeed without them.
    for (const id of d.plan.order) if (d.node(id).status === 'cancelled') reset.add(id);
  } else {
    for (const id of d.plan.order) {
      const s = d.node(id).status;
      if (
        s === 'failed' ||
        s === 'cancelled' ||
        s === 'pending' ||
        s === 'queued' ||
        s === 'running' ||
        s === 'waiting'
      )
        reset.add(id);
    }
    for (const id of descendants(d, reset)) if (d.node(id).status !== 'succeeded') reset.add(id);
  }
  reopen(d, reset);
}

function onDlqRetry(d: Draft, nodeId: string): void {
  // The entry may be stale (retried another way meanwhile): only a failed node re-runs.
  if (d.nodes[nodeId]?.status !== 'failed') return;
  const reset = new Set([nodeId]);
  // After a tolerated failure its successors may be running; they are left to finish.
  for (const id of descendants(d, reset)) {
    const s = d.node(id).status;
    if (isTerminalNode(s) && s !== 'succeeded') reset.add(id);
  }
  for (const id of d.plan.order) if (d.node(id).status === 'cancelled') reset.add(id);
  reopen(d, reset);
}

function reopen(d: Draft, reset: Set<string>): void {
  for (const id of d.plan.order) {
    if (reset.has(id)) resetNode(d, id);
    else if (d.node(id).status === 'failed' && !d.node(id).tolerated)
      d.nodes[id] = { ...d.node(id), priorFailure: true };
  }
  if (!isTerminalExecution(d.execution.status)) return;
  d.execution.endedAt = null;
  d.execution.error = null;
  // Cancelled before it started: it starts now (start time, deadline, first chat turn).
  if (d.execution.startedAt === null) {
    onStart(d);
    return;
  }
  d.setExecution('running');
  if (d.plan.timeoutMs !== null) {
    d.commands.push({
      type: 'enqueue',
      kind: 'deadline',
      nodeId: null,
      attempt: 0,
      availableAt: addMs(d.ctx.now, d.plan.timeoutMs),
    });
  }
}

function resetNode(d: Draft, id: string): void {
  const st = d.node(id);
  if (st.status === 'pending' && st.outputs === null && st.error === null) return;
  d.setNode(id, {
    status: 'pending',
    budgetFrom: st.attempt + 1,
    outputs: null,
    error: null,
    endedAt: null,
    chosen: null,
    tolerated: false,
    priorFailure: false,
    prompt: null,
    childExecutionId: null,
  });
}

function descendants(d: Draft, roots: Set<string>): Set<string> {
  const out = new Set<string>();
  const stack = [...roots];
  while (stack.length > 0) {
    const id = stack.pop()!;
    for (const e of d.plan.outgoing.get(id) ?? []) {
      if (!out.has(e.to) && !roots.has(e.to)) {
        out.add(e.to);
        stack.push(e.to);
      }
    }
  }
  return out;
}

function onChildFinished(d: Draft, ev: Extract<EngineEvent, { type: 'child.finished' }>): void {
  const st = d.nodes[ev.nodeId];
  if (!st || st.status !== 'running' || st.childExecutionId !== ev.childExecutionId) return;
  d.addNodeCost(ev.nodeId, ev.cost);
  const outputs = { executionId: ev.childExecutionId, status: ev.status, outputs: ev.outputs };
  if (ev.status === 'succeeded') succeed(d, ev.nodeId, outputs);
  else
    failNode(
      d,
      ev.nodeId,
      {
        code: 'ERR_CHILD_FAILED',
        message: `Child execution ${ev.childExecutionId} ${ev.status}${ev.error ? `: ${ev.error.message}` : ''}.`,
        retryable: false,
      },
      outputs,
    );
}

function succeed(
  d: Draft,
  id: string,
  outputs: Record<string, unknown>,
  extra: Partial<NodeState> = {},
): void {
  const st = d.node(id);
  d.setNode(id, {
    status: 'succeeded',
    outputs,
    error: null,
    attempt: Math.max(st.attempt, 1),
    startedAt: st.startedAt ?? d.nowIso,
    endedAt: d.nowIso,
    prompt: null,
    ...extra,
  });
}

function failNode(d: Draft, id: string, error: NodeError, outputs?: Record<string, unknown>): void {
  const st = d.node(id);
  const def = d.def(id);
  const tolerated = def.continueOnError === true;
  // A pending node fails before it starts (its `if` or config cannot be evaluated): that
  // evaluation is its next attempt.
  const attempt = st.status === 'pending' ? st.attempt + 1 : Math.max(st.attempt, 1);
  d.setNode(id, {
    status: 'failed',
    error,
    attempt,
    startedAt: st.startedAt ?? d.nowIso,
    endedAt: d.nowIso,
    tolerated,
    prompt: null,
    ...(outputs && { outputs }),
  });
  if (error.code !== 'ERR_CANCELLED') {
    d.commands.push({
      type: 'dlq',
      nodeId: id,
      attempts: attempt - st.budgetFrom + 1,
      error,
      inputs: nodeInputs(d, def),
    });
  }
  if (!tolerated) onUntoleratedFailure(d, id);
}

/** With fail_fast, everything still active is cancelled at once. */
function onUntoleratedFailure(d: Draft, failedId: string): void {
  if (!d.plan.failFast) return;
  stopAll(d, {
    code: 'ERR_CANCELLED',
    message: `cancelled by fail_fast after ${failedId} failed`,
    retryable: false,
  });
}

/** Cancels every node that is not terminal; running work is killed, children cancelled. */
function stopAll(d: Draft, error: NodeError): void {
  for (const id of d.plan.order) {
    const st = d.node(id);
    if (isTerminalNode(st.status)) continue;
    if (st.status === 'running' || st.status === 'queued') {
      if (st.childExecutionId)
        d.commands.push({ type: 'cancelChild', childExecutionId: st.childExecutionId });
      else d.commands.push({ type: 'kill', nodeId: id });
    }
    d.setNode(id, {
      status: 'cancelled',
      error: st.status === 'pending' ? null : error,
      endedAt: st.status === 'pending' ? null : d.nowIso,
      prompt: null,
    });
  }
}

/** What a node saw when it ran: its rendered config and the params (DLQ context). */
function nodeInputs(d: Draft, def: GraphNode): Record<string, unknown> {
  let config: unknown = def;
  try {
    config = render(def, d.exprContext());
  } catch {
    // keep the unrendered config
  }
  return { config, params: d.execution.params };
}

// --- readiness ------------------------------------------------------------------------------

function advance(d: Draft): void {
  for (let changed = true; changed;) {
    changed = false;
    if (d.blocking()) return;
    for (const id of d.plan.order) {
      if (d.node(id).status !== 'pending') continue;
      const incoming = d.plan.incoming.get(id) ?? [];
      let ready = true;
      for (const e of incoming) {
        const p = d.node(e.from);
        if (!isTerminalNode(p.status) || (p.status === 'failed' && !p.tolerated)) {
          ready = false;
          break;
        }
      }
      if (!ready) continue;
      changed = true;
      try {
        const taken = incoming.length === 0 || incoming.some((e) => edgeTaken(d, e));
        const def = d.def(id);
        if (!taken || (typeof def.if === 'string' && !evaluateCondition(def.if, d.exprContext()))) {
          d.setNode(id, { status: 'skipped', endedAt: d.nowIso });
          continue;
        }
        startNode(d, id, def);
      } catch (err) {
        if (!(err instanceof ExpressionError)) throw err;
        failNode(d, id, { code: 'ERR_EXPRESSION', message: err.message, retryable: false });
      }
      if (d.blocking()) return;
    }
  }
}

function edgeTaken(d: Draft, e: PlanEdge): boolean {
  const p = d.node(e.from);
  let taken: boolean;
  if (p.status === 'succeeded') {
    taken =
      !e.onReject &&
      (!p.chosen || !restrictedTargets(d.def(e.from)).has(e.to) || p.chosen.includes(e.to));
  } else if (p.status === 'failed' && p.tolerated) {
    const rejected = (p.outputs as { decision?: unknown } | null)?.decision === 'reject';
    taken = rejected ? e.onReject : !e.onReject;
  } else {
    taken = false;
  }
  return taken && (e.when === undefined || evaluateCondition(e.when, d.exprContext()));
}

/** The successors a condition/switch chooses among; others are always taken. */
function restrictedTargets(def: GraphNode): Set<string> {
  if (def.type === 'condition')
    return new Set([...((def.then as string[]) ?? []), ...((def.else as string[]) ?? [])]);
  if (def.type === 'switch') {
    const cases = (def.cases as { to: string[] }[] | undefined) ?? [];
    return new Set([...cases.flatMap((c) => c.to), ...((def.default as string[]) ?? [])]);
  }
  return new Set();
}

function startNode(d: Draft, id: string, def: GraphNode): void {
  const st = d.node(id);
  const attempt = st.attempt + 1;
  switch (def.type) {
    case 'noop':
      succeed(d, id, {}, { attempt });
      return;
    case 'condition': {
      const result = evaluateCondition(def.expression as string, d.exprContext());
      const chosen = ((result ? def.then : def.else) as string[] | undefined) ?? [];
      succeed(d, id, { result }, { attempt, chosen });
      return;
    }
    case 'switch': {
      const value = evaluate(def.value as string, d.exprContext());
      const cases = def.cases as { equals: unknown; to: string[] }[];
      const hit = cases.find((c) => c.equals === value);
      succeed(
        d,
        id,
        { value, matched: hit ? hit.equals : null },
        { attempt, chosen: hit ? hit.to : ((def.default as string[]) ?? []) },
      );
      return;
    }
    case 'approval':
    case 'input': {
      const message =
        def.message === undefined ? null : stringifyMessage(render(def.message, d.exprContext()));
      const kind = def.type;
      d.setNode(id, {
        status: 'waiting',
        attempt,
        startedAt: d.nowIso,
        prompt: { kind, message, requestedAt: d.nowIso },
      });
      d.emit(
        kind === 'approval' ? 'approval.requested' : 'input.requested',
        {
          nodeId: id,
          message,
          ...(kind === 'approval' && def.approvers !== undefined && { approvers: def.approvers }),
        },
        id,
      );
      return;
    }
    case 'wait': {
      const at = waitUntil(d, def);
      d.setNode(id, { status: 'running', attempt, startedAt: d.nowIso });
      d.commands.push({ type: 'enqueue', kind: 'timer', nodeId: id, attempt, availableAt: at });
      return;
    }
    case 'workflow': {
      const childExecutionId = d.ctx.newId('exec');
      const params = render(
        (def.params as Record<string, unknown> | undefined) ?? {},
        d.exprContext(),
      );
      d.setNode(id, { status: 'running', attempt, startedAt: d.nowIso, childExecutionId });
      d.commands.push({
        type: 'startChild',
        nodeId: id,
        childExecutionId,
        workflow: def.workflow as string,
        ...(typeof def.version === 'number' && { version: def.version }),
        params,
      });
      if (def.wait === false)
        succeed(d, id, { executionId: childExecutionId }, { childExecutionId: null });
      return;
    }
    default:
      if (engineNative.has(def.type)) throw new Error(`unhandled engine node type ${def.type}`);
      d.setNode(id, {
        status: 'queued',
        attempt,
        budgetFrom: st.attempt === 0 ? 1 : st.budgetFrom,
      });
      d.commands.push({ type: 'enqueue', kind: 'run', nodeId: id, attempt, availableAt: d.nowIso });
  }
}

function waitUntil(d: Draft, def: GraphNode): string {
  if (typeof def.duration === 'string') return addMs(d.ctx.now, parseDuration(def.duration) ?? 0);
  const raw = String(def.until);
  const direct = Date.parse(raw);
  const value = Number.isNaN(direct) ? evaluate(raw, d.exprContext()) : raw;
  const at = typeof value === 'number' ? value : Date.parse(String(value));
  if (Number.isNaN(at)) throw new ExpressionError(raw, `wait until '${raw}' is not a time`);
  return new Date(Math.max(at, d.ctx.now.getTime())).toISOString();
}

// --- execution status -----------------------------------------------------------------------

function settle(d: Draft): void {
  const states = Object.values(d.nodes);
  const active = states.filter((n) => isActiveNode(n.status));
  if (d.failing()) {
    if (active.length > 0) {
      setActiveStatus(
        d,
        active.map((n) => n.status),
      );
      return;
    }
    // The execution's error names a fresh failure before one left from before a retry.
    const failed = d.plan.order.filter(
      (id) => d.node(id).status === 'failed' && !d.node(id).tolerated,
    );
    const first = failed.find((id) => !d.node(id).priorFailure) ?? failed[0]!;
    const err = d.node(first).error;
    d.setExecution('failed', {
      code: err?.code ?? 'ERR_NODE_FAILED',
      message: `Node ${first} failed: ${err?.message ?? 'failed'}`,
      nodeId: first,
    });
    finish(d);
    return;
  }
  if (active.length > 0) {
    setActiveStatus(
      d,
      active.map((n) => n.status),
    );
    return;
  }
  if (states.some((n) => n.status === 'pending')) {
    d.setExecution('failed', {
      code: 'ERR_ENGINE_STUCK',
      message: 'No node can run, yet some never ran.',
    });
    finish(d);
    return;
  }
  if (d.plan.isChat) {
    if (!d.execution.awaitingTurn) endTurn(d);
    return;
  }
  d.setExecution('succeeded', null);
  finish(d);
}

function setActiveStatus(d: Draft, statuses: NodeStatus[]): void {
  d.setExecution(statuses.some((s) => s === 'queued' || s === 'running') ? 'running' : 'waiting');
}

/** A chat turn ended: record the reply, wait for the next message or the idle timeout. */
function endTurn(d: Draft): void {
  const reply = [...d.plan.order]
    .reverse()
    .map((id) => d.node(id).outputs)
    .find((o) => o && Object.keys(o).length > 0);
  const text =
    reply && typeof reply.text === 'string' ? reply.text : reply ? JSON.stringify(reply) : '';
  d.execution.conversation = [
    ...d.execution.conversation,
    { role: 'assistant', content: text, turn: d.execution.turn, at: d.nowIso },
  ];
  d.execution.awaitingTurn = true;
  d.setExecution('waiting');
  d.commands.push({
    type: 'enqueue',
    kind: 'idle',
    nodeId: null,
    attempt: d.execution.turn,
    availableAt: addMs(d.ctx.now, d.plan.idleTimeoutMs),
    payload: { turn: d.execution.turn },
  });
  d.emit('input.requested', { turn: d.execution.turn, chat: true });
}

function finish(d: Draft): void {
  d.commands.push({ type: 'clearTasks' });
  const parent = d.execution.parent;
  if (parent) {
    const outputs: Record<string, unknown> = {};
    for (const id of d.plan.order) {
      const o = d.node(id).outputs;
      if (o) outputs[id] = o;
    }
    d.commands.push({
      type: 'notifyParent',
      parentExecutionId: parent.executionId,
      parentNodeId: parent.nodeId,
      childExecutionId: d.execution.id,
      status: d.execution.status,
      outputs,
      error: d.execution.error,
      cost: d.execution.cost,
    });
  }
}

function addMs(now: Date, ms: number): string {
  return new Date(now.getTime() + ms).toISOString();
}

function stringifyMessage(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}
