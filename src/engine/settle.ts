/**
 * The execution's own status: it starts (start time, deadline, first chat turn), and after
 * every decision it is settled from its nodes' states — running or waiting while a node is
 * active, failed once a failure is final, succeeded when every node ended (a chat ends a turn
 * instead) — and when it ends, its tasks are cleared and its parent told.
 */
import { beginChat, endTurn } from './chat.ts';
import { type Draft, addMs } from './draft.ts';
import { type NodeStatus, isActiveNode } from './status.ts';

/** The execution starts (also when a retry reopens one cancelled before it started). */
export function onStart(d: Draft): void {
  d.execution.startedAt = d.nowIso;
  runAgainstDeadline(d);
  if (d.plan.isChat) beginChat(d);
}

/** The execution runs, and its `timeout` (if any) counts from now. */
export function runAgainstDeadline(d: Draft): void {
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

/** The execution's status from its nodes' states, after every decision that leaves it open. */
export function settle(d: Draft): void {
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
    // What never ran can no longer run (a failure left from before a retry holds it back).
    d.skipBlocked();
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

export function finish(d: Draft): void {
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
