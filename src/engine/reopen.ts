/**
 * Reopening a failed or cancelled execution: an execution retry resets the chosen nodes (or
 * every unfinished one) and their descendants; a DLQ retry re-runs one failed node. Both reopen
 * the nodes a failure left skipped (`upstream_failed`). A failure
 * left from before a retry does not hold back the retried nodes, but still fails the execution.
 */
import { type Draft, resetNode } from './draft.ts';
import { onStart, runAgainstDeadline } from './settle.ts';
import { isTerminalExecution, isTerminalNode } from './status.ts';

export function onRetry(d: Draft, chosen: string[] | undefined): void {
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

export function onDlqRetry(d: Draft, nodeId: string): void {
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
  // Nodes skipped because a failure stopped the run get their chance again.
  for (const id of d.plan.order) {
    const st = d.node(id);
    if (st.status === 'skipped' && st.statusReason === 'upstream_failed') reset.add(id);
  }
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
  runAgainstDeadline(d);
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
