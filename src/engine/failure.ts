/**
 * Finished attempts and failures: a node's result is recorded; a retryable failure within the
 * retry policy (the node's, then the workflow's) schedules the next attempt, otherwise the node
 * fails (a DLQ entry is written). After a failure that is not tolerated, no new node starts;
 * with `fail_fast` everything still active is cancelled at once.
 */
import type { GraphNode } from '../definition/index.ts';
import { type Draft, addMs, announceArtifacts, succeed } from './draft.ts';
import { render } from './expressions.ts';
import { nextDelay, resolveRetryPolicy } from './retry-policy.ts';
import { isTerminalNode } from './status.ts';
import type { EngineEvent, NodeError } from './types.ts';

export function onNodeFinished(
  d: Draft,
  ev: Extract<EngineEvent, { type: 'node.finished' }>,
): void {
  const st = d.nodes[ev.nodeId];
  if (!st || st.status !== 'running' || st.attempt !== ev.attempt) return; // stale: cancelled, retried or taken over
  d.addNodeCost(ev.nodeId, ev.outcome.cost);
  if (ev.outcome.secrets) recordSecrets(d, ev.outcome.secrets);
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

/** Adds the names of secrets an attempt used to the execution's (kept sorted, each once). */
function recordSecrets(d: Draft, names: readonly string[]): void {
  const known = d.execution.secrets ?? [];
  if (names.every((n) => known.includes(n))) return;
  d.execution.secrets = [...new Set([...known, ...names])].sort();
}

/**
 * A cancelled attempt's processes stopped: the compute it used is charged to the node, also
 * after the execution ended. Only the attempt that was cancelled, never a running one.
 */
export function onNodeCharged(d: Draft, ev: Extract<EngineEvent, { type: 'node.charged' }>): void {
  const st = d.nodes[ev.nodeId];
  if (!st || st.status !== 'cancelled' || st.attempt !== ev.attempt) return;
  d.addNodeCost(ev.nodeId, ev.cost);
}

export function onChildFinished(
  d: Draft,
  ev: Extract<EngineEvent, { type: 'child.finished' }>,
): void {
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

export function failNode(
  d: Draft,
  id: string,
  error: NodeError,
  outputs?: Record<string, unknown>,
): void {
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
      // The node's attempts, a retry's included (CLARIFICATIONS): what the node went through.
      attempts: attempt,
      error,
      inputs: nodeInputs(d, def),
    });
  }
  if (!tolerated) onUntoleratedFailure(d, id);
}

/**
 * Nodes that have not started can no longer run: they end skipped (`upstream_failed`). With
 * fail_fast, everything still active is cancelled at once.
 */
export function onUntoleratedFailure(d: Draft, failedId: string): void {
  d.skipBlocked();
  if (!d.plan.failFast) return;
  stopAll(d, {
    code: 'ERR_CANCELLED',
    message: `cancelled by fail_fast after ${failedId} failed`,
    retryable: false,
  });
}

/** Cancels every node that is not terminal; running work is killed, children cancelled. */
export function stopAll(d: Draft, error: NodeError): void {
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
