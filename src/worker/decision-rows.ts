/**
 * PURE: the rows a decision writes. Given the execution row it was decided on, the snapshot
 * before and after, and the commands, this says which events, tasks, DLQ entries and node runs
 * to insert and how the execution row changes; `decision.ts` writes them in one transaction.
 */
import { subtractCost, zeroCost } from '../engine/cost.ts';
import { type Command, type Snapshot, type TaskKind, assertNever } from '../engine/types.ts';
import type { DecisionRows } from '../store/decisions.ts';
import type { DlqRow } from '../store/dlq.ts';
import type { EventRow } from '../store/events.ts';
import type { ExecutionRow } from '../store/executions.ts';
import type { NodeRunRow } from '../store/node-runs.ts';
import { type TaskRow, taskId } from '../store/tasks.ts';

/** A task row, not leased; `suffix` tells apart several tasks of one kind (child results). */
export function taskRow(
  executionId: string,
  kind: TaskKind,
  nodeId: string | null,
  attempt: number,
  availableAt: string,
  createdAt: string,
  payload?: unknown,
  suffix?: string,
): TaskRow {
  return {
    id: taskId(executionId, kind, nodeId, attempt) + (suffix ? `:${suffix}` : ''),
    execution_id: executionId,
    kind,
    node_id: nodeId,
    attempt,
    payload: payload === undefined ? null : JSON.stringify(payload),
    available_at: availableAt,
    lease_owner: null,
    lease_expires_at: null,
    created_at: createdAt,
  };
}

export interface DecisionInput {
  row: Pick<ExecutionRow, 'id' | 'workflow_id' | 'version' | 'last_seq'>;
  before: Snapshot;
  next: Snapshot;
  commands: Command[];
  /** Task rows for the decision's `enqueue` commands (some already leased). */
  enqueued: TaskRow[];
  nowIso: string;
  /** The last log lines of each node a `dlq` command names. */
  logTails: ReadonlyMap<string, { attempt: number; stream: string; text: string }[]>;
  newDlqId: () => string;
}

export function decisionRows(input: DecisionInput): DecisionRows {
  const { row, next, nowIso } = input;
  const id = row.id;
  let seq = row.last_seq;
  const events: EventRow[] = [];
  const dlq: DlqRow[] = [];
  const killNodes: string[] = [];
  const tasks = [...input.enqueued];
  let clearTasks = false;
  for (const c of input.commands) {
    switch (c.type) {
      case 'emit':
        seq++;
        events.push({
          execution_id: id,
          seq,
          type: c.event,
          node_id: c.nodeId ?? null,
          data: JSON.stringify({ seq, executionId: id, ...c.data, at: nowIso }),
          at: nowIso,
        });
        break;
      case 'dlq': {
        const tail = input.logTails.get(c.nodeId) ?? [];
        dlq.push({
          id: input.newDlqId(),
          execution_id: id,
          workflow_id: row.workflow_id,
          version: row.version,
          node_id: c.nodeId,
          attempts: c.attempts,
          error: JSON.stringify(c.error),
          // Each line keeps its attempt, so a reader tells the attempts apart (dlq.ts reads both
          // this and the earlier `[stream] text` strings).
          log_tail: JSON.stringify(
            tail.map((l) => ({ attempt: l.attempt, stream: l.stream, text: l.text })),
          ),
          inputs: JSON.stringify(c.inputs),
          status: 'open',
          created_at: nowIso,
          resolved_at: null,
          resolved_by: null,
          note: null,
        });
        break;
      }
      case 'kill':
        killNodes.push(c.nodeId);
        break;
      case 'cancelChild':
        tasks.push(taskRow(c.childExecutionId, 'cancel', null, 0, nowIso, nowIso));
        break;
      case 'notifyParent':
        tasks.push(
          taskRow(
            c.parentExecutionId,
            'child',
            c.parentNodeId,
            0,
            nowIso,
            nowIso,
            {
              childExecutionId: c.childExecutionId,
              status: c.status,
              outputs: c.outputs,
              error: c.error,
              cost: c.cost,
            },
            `${c.childExecutionId}`,
          ),
        );
        break;
      case 'clearTasks':
        clearTasks = true;
        break;
      case 'enqueue':
      case 'startChild':
        break;
      default:
        assertNever(c);
    }
  }
  const e = next.execution;
  return {
    changes: {
      status: e.status,
      state: JSON.stringify(e),
      error: e.error ? JSON.stringify(e.error) : null,
      cost_usd: e.cost.estimatedUsd,
      last_seq: seq,
      started_at: e.startedAt,
      ended_at: e.endedAt,
      updated_at: nowIso,
    },
    nodes: next.nodes,
    changedNodes: changedNodes(input.before, next),
    killNodes,
    clearTasks,
    // Tasks for other executions (children, parents) survive this execution's clear.
    tasks: clearTasks ? tasks.filter((t) => t.execution_id !== id) : tasks,
    events,
    dlq,
    nodeRuns: finishedRuns(row, input.before, next, nowIso),
  };
}

/**
 * The nodes a decision changed: the engine replaces a node's state object when it changes it
 * and never edits one in place, so an unchanged node keeps the very object it was read as.
 */
function changedNodes(before: Snapshot, next: Snapshot): Set<string> {
  const out = new Set<string>();
  for (const [nodeId, st] of Object.entries(next.nodes))
    if (before.nodes[nodeId] !== st) out.add(nodeId);
  return out;
}

/**
 * One node_runs row per attempt that ended in this decision: a node that reached an end, and a
 * running attempt that gave way to the next one (a retry after a failure, a takeover after its
 * server was lost; with direct dispatch the next attempt may already be running).
 */
function finishedRuns(
  row: Pick<ExecutionRow, 'id' | 'workflow_id' | 'version'>,
  before: Snapshot,
  next: Snapshot,
  nowIso: string,
): NodeRunRow[] {
  const out: NodeRunRow[] = [];
  for (const [nodeId, st] of Object.entries(next.nodes)) {
    const prev = before.nodes[nodeId];
    if (st.attempt === 0 || (prev && prev.status === st.status && prev.attempt === st.attempt))
      continue;
    const terminal =
      st.status === 'succeeded' || st.status === 'failed' || st.status === 'cancelled';
    const replaced = prev?.status === 'running' && st.attempt > prev.attempt && !terminal;
    if (!terminal && !replaced) continue;
    if (st.status === 'cancelled' && (prev?.status === 'pending' || prev?.status === undefined))
      continue;
    const delta = subtractCost(st.cost, prev?.cost ?? zeroCost());
    out.push({
      execution_id: row.id,
      node_id: nodeId,
      attempt: replaced ? prev.attempt : st.attempt,
      workflow_id: row.workflow_id,
      version: row.version,
      status: replaced ? 'failed' : st.status,
      started_at: replaced
        ? (prev.attemptStartedAt ?? prev.startedAt)
        : (st.attemptStartedAt ?? st.startedAt),
      ended_at: (replaced ? null : st.endedAt) ?? nowIso,
      error: st.error ? JSON.stringify(st.error) : null,
      compute_seconds: delta.computeSeconds,
      prompt_tokens: delta.tokens.prompt,
      completion_tokens: delta.tokens.completion,
      cost_usd: delta.estimatedUsd,
      models: delta.models === undefined ? null : JSON.stringify(delta.models),
      unpriced: delta.unpriced === true ? 1 : 0,
    });
  }
  return out;
}
