/**
 * The read shapes of executions (DESIGN §4): the summary lists show, the detail view with its
 * nodes and their attempts, and the answer to a run request, built from stored rows; no I/O.
 * Their types are those of the wire schemas (`src/wire/executions.ts`).
 */
import type { ExecutionStatus, ItemStatus } from '../engine/status.ts';
import type {
  ExecutionError,
  ExecutionState,
  NodeState,
  Snapshot,
  TriggerInfo,
} from '../engine/types.ts';
import type { NodeError } from '../nodes/executor.ts';
import type { ExecutionItemRow } from '../store/execution-items.ts';
import type { ExecutionRow } from '../store/executions.ts';
import type { NodeRunRow } from '../store/node-runs.ts';
import type {
  AttemptView,
  ExecutionSummary,
  ExecutionView,
  ItemView,
  NodeView,
  RunAccepted,
} from '../wire/executions.ts';

/** The execution's stored state and its node states (read with it: `readExecutionWithNodes`). */
export function snapshotOf(row: ExecutionRow, nodes: Record<string, NodeState>): Snapshot {
  return { execution: JSON.parse(row.state) as ExecutionState, nodes };
}

export function runAccepted(row: ExecutionRow): RunAccepted {
  return {
    id: row.id,
    workflowId: row.workflow_id,
    version: row.version,
    status: row.status as ExecutionStatus,
  };
}

export function executionSummary(row: ExecutionRow): ExecutionSummary {
  const s = JSON.parse(row.state) as ExecutionState;
  return {
    id: row.id,
    workflowId: row.workflow_id,
    version: row.version,
    status: row.status as ExecutionStatus,
    trigger: JSON.parse(row.trigger_info) as TriggerInfo,
    createdAt: row.created_at,
    startedAt: row.started_at,
    endedAt: row.ended_at,
    durationMs:
      row.started_at && row.ended_at ? Date.parse(row.ended_at) - Date.parse(row.started_at) : null,
    error: row.error ? (JSON.parse(row.error) as ExecutionError) : null,
    cost: s.cost,
    parentExecutionId: row.parent_execution_id,
    ...(row.concurrency_queued === 1 &&
      row.status === 'pending' &&
      row.status_reason !== null && { statusReason: row.status_reason }),
    ...(row.concurrency_group !== null && { concurrencyGroup: row.concurrency_group }),
  };
}

/**
 * The detail view of an execution: its summary, its params and each node with its attempts.
 * `s` is the row's snapshot, `types` maps node ids to their types in the execution's graph and
 * `runs` are its `node_runs` rows, `items` its `execution_items` rows.
 */
export function executionView(
  row: ExecutionRow,
  s: Snapshot,
  types: ReadonlyMap<string, string>,
  runs: readonly NodeRunRow[],
  items: readonly ExecutionItemRow[],
): ExecutionView {
  const itemsByNode = new Map<string, ItemView[]>();
  for (const r of items) {
    const list = itemsByNode.get(r.node_id) ?? [];
    list.push(itemView(r));
    itemsByNode.set(r.node_id, list);
  }
  const nodes: NodeView[] = Object.entries(s.nodes).map(([nodeId, st]) => ({
    nodeId,
    type: types.get(nodeId) ?? 'unknown',
    status: st.status,
    // Executions stored before reasons were recorded skipped nodes only for branches.
    ...(st.status === 'skipped' && { statusReason: st.statusReason ?? 'branch_not_taken' }),
    attempt: st.attempt,
    startedAt: st.startedAt,
    endedAt: st.endedAt,
    durationMs:
      st.startedAt && st.endedAt ? Date.parse(st.endedAt) - Date.parse(st.startedAt) : null,
    attempts: attemptsOf(nodeId, st, runs),
    ...(itemsByNode.has(nodeId) && { items: itemsByNode.get(nodeId) }),
    error: st.error,
    outputs: st.outputs,
    cost: st.cost,
    ...(st.prompt && st.status === 'waiting' && { waitingFor: st.prompt }),
    ...(st.childExecutionId && { childExecutionId: st.childExecutionId }),
    ...(st.agent && { agent: st.agent }),
  }));
  const base = executionSummary(row);
  return {
    ...base,
    params: s.execution.params,
    createdBy: row.created_by,
    nodes,
    lastSeq: row.last_seq,
    ...(s.execution.environment && { environment: s.execution.environment }),
    secrets: s.execution.secrets ?? [],
    ...(s.execution.workflowType === 'chat' && {
      turn: s.execution.turn,
      conversation: s.execution.conversation,
    }),
  };
}

/** A node's attempts: those that ended (their `node_runs` rows), then the one under way. */
function attemptsOf(nodeId: string, st: NodeState, runs: readonly NodeRunRow[]): AttemptView[] {
  const span = (a: string | null, b: string | null) =>
    a !== null && b !== null ? Date.parse(b) - Date.parse(a) : null;
  const out: AttemptView[] = runs
    .filter((r) => r.node_id === nodeId)
    .sort((a, b) => a.attempt - b.attempt)
    .map((r) => {
      const error = r.error === null ? null : (JSON.parse(r.error) as NodeError);
      return {
        attempt: r.attempt,
        status: r.status,
        startedAt: r.started_at,
        endedAt: r.ended_at,
        durationMs: span(r.started_at, r.ended_at),
        ...(typeof error?.exitCode === 'number' && { exitCode: error.exitCode }),
        error,
      };
    });
  const current = st.attemptStartedAt ?? null;
  if (
    (st.status === 'running' || st.status === 'waiting') &&
    !out.some((a) => a.attempt === st.attempt)
  )
    out.push({
      attempt: st.attempt,
      status: st.status,
      startedAt: current ?? st.startedAt,
      endedAt: null,
      durationMs: null,
      error: null,
    });
  return out;
}

/** A child of a fan-out node as its row holds it. */
function itemView(r: ExecutionItemRow): ItemView {
  const ended = r.ended_at !== null;
  return {
    index: r.idx,
    ...(r.item_key !== null && { key: r.item_key }),
    status: r.status as ItemStatus,
    attempt: r.attempt,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    ...(r.error !== null && { error: JSON.parse(r.error) as NodeError }),
    ...(ended && {
      cost: {
        estimatedUsd: r.cost_usd,
        tokens: { prompt: Number(r.prompt_tokens), completion: Number(r.completion_tokens) },
        computeSeconds: r.compute_seconds,
      },
    }),
  };
}
