/**
 * The working copy one decision edits (`Draft`): the snapshot's execution and nodes, the
 * commands so far, and the primitives every part of the reducer uses to change a node (checked
 * against the transition table, each change announced as an event).
 */
import type { GraphNode } from '../definition/index.ts';
import { addCost, zeroCost } from './cost.ts';
import type { Plan } from './plan.ts';
import {
  type ExecutionStatus,
  canTransitionExecution,
  canTransitionNode,
  isTerminalExecution,
} from './status.ts';
import type {
  ArtifactInfo,
  Command,
  Cost,
  DecideContext,
  ExecutionError,
  NodeState,
  Snapshot,
} from './types.ts';

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

function freshNodeState(): NodeState {
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

export class Draft {
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
      if (next.statusReason) data.statusReason = next.statusReason;
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

  /**
   * Every pending node can no longer run (a failure since the last retry stopped new starts):
   * it ends `skipped` for `upstream_failed`; an execution retry reopens it.
   */
  skipBlocked(): void {
    for (const id of this.plan.order)
      if (this.node(id).status === 'pending')
        this.setNode(id, {
          status: 'skipped',
          statusReason: 'upstream_failed',
          endedAt: this.nowIso,
        });
  }

  /** Some failure since the last retry: no new node starts. */
  blocking(): boolean {
    return Object.values(this.nodes).some(
      (n) => n.status === 'failed' && !n.tolerated && !n.priorFailure,
    );
  }
}

export function succeed(
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

export function resetNode(d: Draft, id: string): void {
  const st = d.node(id);
  if (st.status === 'pending' && st.outputs === null && st.error === null) return;
  d.setNode(id, {
    status: 'pending',
    statusReason: null,
    budgetFrom: st.attempt + 1,
    outputs: null,
    error: null,
    endedAt: null,
    chosen: null,
    tolerated: false,
    priorFailure: false,
    prompt: null,
    childExecutionId: null,
    agent: null,
  });
}

export function announceArtifacts(d: Draft, artifacts: ArtifactInfo[]): void {
  for (const a of artifacts) d.emit('artifact.created', { ...a }, a.nodeId ?? undefined);
}

export function addMs(now: Date, ms: number): string {
  return new Date(now.getTime() + ms).toISOString();
}

export function stringifyMessage(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}
