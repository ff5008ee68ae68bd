/**
 * Executions (DESIGN §4): run, read, list, delete, and the control endpoints (cancel, retry,
 * resume, follow-up), the DLQ and usage. Wrong-state requests answer 409 with the current
 * status; an execution that is not under the workflow in the path is 404.
 */
import {
  type Concurrency,
  type ManualTrigger,
  type Trigger,
  matchesInputType,
} from '../definition/index.ts';
import { render } from '../engine/expressions.ts';
import {
  type ExecutionStatus,
  type NodeStatus,
  isActiveExecution,
  isTerminalExecution,
} from '../engine/status.ts';
import type {
  Cost,
  EngineEvent,
  EnvironmentInfo,
  ExecutionError,
  ExecutionState,
  NodeState,
  NodeStatusReason,
  Snapshot,
  TriggerInfo,
} from '../engine/types.ts';
import type { NodeError } from '../nodes/executor.ts';
import { AppError, type ErrorDetail } from '../errors.ts';
import type { Database } from '../store/db.ts';
import { isUniqueViolation } from '../store/db.ts';
import { activeInGroup } from '../store/concurrency.ts';
import * as dlqSql from '../store/dlq.ts';
import type { DlqRow } from '../store/dlq.ts';
import * as executionsSql from '../store/executions.ts';
import type { ExecutionRow } from '../store/executions.ts';
import * as nodeRunsSql from '../store/node-runs.ts';
import { type VersionRow, getVersion } from '../store/versions.ts';
import { getWorkflow } from '../store/workflows.ts';
import type { WorkflowType } from '../types.ts';
import type { NewExecution, Worker } from '../worker/worker.ts';
import type { ArtifactService } from './artifacts.ts';
import { type Clock, isoNow } from '../clock.ts';
import { type Page, decodeCursor, toPage } from './pagination.ts';
import { concurrencyOf, effectiveRuntimeConfig } from './workflows.ts';

export interface NodeView {
  nodeId: string;
  type: string;
  status: NodeStatus;
  /** Why a skipped node was skipped. */
  statusReason?: NodeStatusReason;
  attempt: number;
  startedAt: string | null;
  endedAt: string | null;
  durationMs: number | null;
  /** Each attempt that ran, oldest first (from `node_runs`, plus the one running now). */
  attempts: AttemptView[];
  error: NodeError | null;
  outputs: Record<string, unknown> | null;
  cost: Cost;
  waitingFor?: { kind: string; message: string | null; requestedAt: string };
  childExecutionId?: string;
}

export interface AttemptView {
  attempt: number;
  status: string;
  startedAt: string | null;
  endedAt: string | null;
  durationMs: number | null;
  exitCode?: number;
  error: NodeError | null;
}

export interface ExecutionSummary {
  id: string;
  workflowId: string;
  version: number;
  status: ExecutionStatus;
  trigger: TriggerInfo;
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
  durationMs: number | null;
  error: ExecutionError | null;
  cost: Cost;
  parentExecutionId: string | null;
  /** Why it is where it is: set while it waits in its concurrency group. */
  statusReason?: string;
  /** The concurrency group key it counts against. */
  concurrencyGroup?: string;
}

export interface ExecutionView extends ExecutionSummary {
  params: Record<string, unknown>;
  createdBy: string;
  nodes: NodeView[];
  turn?: number;
  conversation?: ExecutionState['conversation'];
  /** Where the nodes run (runtime, isolation, limits not enforced), once an environment was acquired. */
  environment?: EnvironmentInfo;
}

export interface RunAccepted {
  id: string;
  workflowId: string;
  version: number;
  status: ExecutionStatus;
}

export interface DlqView {
  id: string;
  executionId: string;
  workflowId: string;
  version: number;
  nodeId: string;
  attempts: number;
  error: { message: string; code: string; exitCode?: number };
  logTail: string[];
  inputs: Record<string, unknown>;
  status: 'open' | 'retried' | 'resolved';
  createdAt: string;
  resolvedAt: string | null;
  resolvedBy: string | null;
  note: string | null;
}

export interface UsageGroup {
  key: string;
  attempts: number;
  computeSeconds: number;
  tokens: { prompt: number; completion: number };
  estimatedUsd: number;
}

export class ExecutionService {
  constructor(
    private readonly database: Database,
    private readonly worker: Worker,
    private readonly clock: Clock,
    /** Removes artifact files of deleted executions (their rows go with the execution). */
    private readonly artifacts?: ArtifactService,
  ) {}

  async run(
    workflowId: string,
    body: { params?: Record<string, unknown>; version?: number },
    opts: { actor: string; idempotencyKey?: string; trigger?: TriggerInfo },
  ): Promise<{ accepted: RunAccepted; created: boolean }> {
    const db = this.database.db;
    const wf = await getWorkflow(db, workflowId);
    if (!wf)
      throw new AppError('ERR_WORKFLOW_NOT_FOUND', {
        message: `No workflow ${workflowId}.`,
        context: { workflowId },
      });
    if (wf.status === 'archived')
      throw new AppError('ERR_WORKFLOW_ARCHIVED', {
        message: `Workflow ${workflowId} is archived and cannot run.`,
        context: { workflowId, status: wf.status },
      });
    if (opts.idempotencyKey !== undefined) {
      const prior = await executionsSql.findByIdempotencyKey(db, workflowId, opts.idempotencyKey);
      if (prior) return { accepted: accepted(prior), created: false };
    }
    const version = body.version ?? wf.active_version ?? wf.latest_version;
    const v = await getVersion(db, workflowId, version);
    if (!v)
      throw new AppError('ERR_VERSION_NOT_FOUND', {
        message: `Workflow ${workflowId} has no version ${version}.`,
        context: { workflowId, version },
      });
    const params = checkParams(JSON.parse(v.trigger_config) as Trigger[], body.params ?? {});
    const type = wf.type as WorkflowType;
    const trigger = opts.trigger ?? { type: 'manual', actor: opts.actor };
    const concurrency = groupOf(v, params, trigger);
    if (concurrency?.policy === 'cancel_running')
      await this.cancelGroup(concurrency.key, opts.actor, workflowId);
    try {
      const row = await this.worker.createExecution({
        workflowId,
        version,
        workflowType: type,
        runtime: effectiveRuntimeConfig(type, JSON.parse(wf.runtime_config) as never) as Record<
          string,
          unknown
        >,
        params,
        trigger,
        createdBy: opts.actor,
        ...(concurrency && { concurrency }),
        ...(opts.idempotencyKey !== undefined && { idempotencyKey: opts.idempotencyKey }),
      });
      return { accepted: accepted(row), created: true };
    } catch (err) {
      if (opts.idempotencyKey !== undefined && isUniqueViolation(err)) {
        const prior = await executionsSql.findByIdempotencyKey(db, workflowId, opts.idempotencyKey);
        if (prior) return { accepted: accepted(prior), created: false };
      }
      throw err;
    }
  }

  /** `cancel_running`: the group's active runs are cancelled the way `POST …/cancel` does it. */
  private async cancelGroup(key: string, actor: string, workflowId: string): Promise<void> {
    for (const run of await activeInGroup(this.database.db, key)) {
      try {
        await this.cancel(
          run.workflow_id,
          run.id,
          actor,
          `concurrency: a new run of ${workflowId} in group ${key} replaces it (cancel_running)`,
        );
      } catch (err) {
        // It ended meanwhile: nothing left to cancel.
        if (!(err instanceof AppError && err.code === 'ERR_EXECUTION_STATE')) throw err;
      }
    }
  }

  async list(q: {
    workflowId?: string;
    status?: string;
    triggerType?: string;
    version?: number;
    since?: string;
    until?: string;
    limit?: number;
    cursor?: string;
  }): Promise<Page<ExecutionSummary>> {
    const limit = q.limit ?? 50;
    const beforeId = decodeCursor(q.cursor);
    const rows = await executionsSql.listExecutions(this.database.db, {
      ...(q.workflowId !== undefined && { workflowId: q.workflowId }),
      ...(q.status !== undefined && { status: q.status }),
      ...(q.triggerType !== undefined && { triggerType: q.triggerType }),
      ...(q.version !== undefined && { version: q.version }),
      ...(q.since !== undefined && { since: new Date(q.since).toISOString() }),
      ...(q.until !== undefined && { until: new Date(q.until).toISOString() }),
      ...(beforeId !== undefined && { beforeId }),
      limit: limit + 1,
    });
    return toPage(rows, limit, summary);
  }

  async get(workflowId: string, executionId: string): Promise<ExecutionView> {
    return this.view(await this.require(workflowId, executionId));
  }

  async delete(workflowId: string, executionId: string): Promise<void> {
    const row = await this.require(workflowId, executionId);
    if (isActiveExecution(row.status as ExecutionStatus))
      throw wrongState(row, 'cancel it before deleting it');
    await this.database.transaction((trx) => executionsSql.deleteExecutions(trx, [executionId]));
    await this.artifacts?.removeFiles([executionId]);
  }

  async bulkDelete(
    workflowId: string,
    opts: { status?: string; before?: string },
  ): Promise<{ deleted: number }> {
    const wf = await getWorkflow(this.database.db, workflowId);
    if (!wf)
      throw new AppError('ERR_WORKFLOW_NOT_FOUND', {
        message: `No workflow ${workflowId}.`,
        context: { workflowId },
      });
    const ids = await executionsSql.terminalExecutionIds(this.database.db, workflowId, {
      ...(opts.status !== undefined && { status: opts.status }),
      ...(opts.before !== undefined && { before: new Date(opts.before).toISOString() }),
    });
    const deleted = await this.database.transaction((trx) =>
      executionsSql.deleteExecutions(trx, ids),
    );
    await this.artifacts?.removeFiles(ids);
    return { deleted };
  }

  async cancel(
    workflowId: string,
    executionId: string,
    actor: string,
    reason?: string,
  ): Promise<ExecutionView> {
    const row = await this.require(workflowId, executionId);
    if (isTerminalExecution(row.status as ExecutionStatus))
      throw wrongState(row, 'only a pending, running or waiting execution can be cancelled');
    return this.control(workflowId, executionId, {
      type: 'cancel',
      actor,
      ...(reason !== undefined && { reason }),
    });
  }

  async retry(
    workflowId: string,
    executionId: string,
    actor: string,
    nodes?: string[],
  ): Promise<ExecutionView> {
    const row = await this.require(workflowId, executionId);
    if (row.status !== 'failed' && row.status !== 'cancelled')
      throw wrongState(row, 'only a failed or cancelled execution can be retried');
    const known = JSON.parse(row.nodes) as Record<string, NodeState>;
    const unknown = (nodes ?? []).filter((n) => !(n in known));
    if (unknown.length > 0) {
      throw new AppError('ERR_VALIDATION', {
        message: 'Unknown nodes to retry.',
        details: unknown.map((n) => ({
          path: 'body.nodes',
          message: `no node '${n}' in this execution`,
        })),
      });
    }
    const after = await this.worker.dispatch(executionId, {
      type: 'retry',
      actor,
      ...(nodes && nodes.length > 0 && { nodes }),
    });
    if (!after) throw notFound(workflowId, executionId);
    // Only the nodes this retry reopened (a new attempt budget) close their DLQ entries; the
    // entries of failed nodes left out of `nodes` stay open.
    const now = isoNow(this.clock);
    for (const [nodeId, st] of Object.entries(after.nodes)) {
      if (st.budgetFrom !== known[nodeId]?.budgetFrom)
        await dlqSql.markNodeEntriesRetried(this.database.db, executionId, nodeId, now, actor);
    }
    return this.get(workflowId, executionId);
  }

  async resume(
    workflowId: string,
    executionId: string,
    actor: string,
    body: { nodeId?: string; decision: 'approve' | 'reject'; comment?: string; data?: unknown },
  ): Promise<ExecutionView> {
    const row = await this.require(workflowId, executionId);
    const snapshot = snap(row);
    const waiting = Object.entries(snapshot.nodes)
      .filter(([, st]) => st.status === 'waiting' && st.prompt?.kind === 'approval')
      .map(([id]) => id);
    if (row.status !== 'waiting' && row.status !== 'running')
      throw wrongState(row, 'only a waiting execution can be resumed');
    if (waiting.length === 0) throw wrongState(row, 'no approval is waiting');
    let nodeId = body.nodeId;
    if (nodeId === undefined) {
      if (waiting.length > 1) {
        throw new AppError('ERR_VALIDATION', {
          message: `Several approvals wait (${waiting.join(', ')}); name one in nodeId.`,
          details: [{ path: 'body.nodeId', message: 'required when several approvals wait' }],
        });
      }
      nodeId = waiting[0]!;
    } else if (!waiting.includes(nodeId)) {
      throw new AppError('ERR_EXECUTION_STATE', {
        message: `Node ${nodeId} is not a waiting approval (waiting: ${waiting.join(', ')}).`,
        context: { executionId, status: row.status, nodeId, waiting },
      });
    }
    return this.control(workflowId, executionId, {
      type: 'approval',
      nodeId,
      decision: body.decision,
      actor,
      ...(body.comment !== undefined && { comment: body.comment }),
      ...(body.data !== undefined && { data: body.data }),
    });
  }

  async followup(
    workflowId: string,
    executionId: string,
    actor: string,
    body: { message: string; data?: unknown },
  ): Promise<ExecutionView> {
    const row = await this.require(workflowId, executionId);
    const snapshot = snap(row);
    const inputWaiting = Object.values(snapshot.nodes).some(
      (st) => st.status === 'waiting' && st.prompt?.kind === 'input',
    );
    if (!inputWaiting && !(snapshot.execution.awaitingTurn && row.status === 'waiting')) {
      throw wrongState(row, 'no input node waits and no chat turn is open');
    }
    return this.control(workflowId, executionId, {
      type: 'followup',
      message: body.message,
      actor,
      ...(body.data !== undefined && { data: body.data }),
    });
  }

  async usage(
    workflowId: string,
    q: { since?: string; until?: string; groupBy?: 'day' | 'version' | 'node' },
  ): Promise<{
    workflowId: string;
    since: string | null;
    until: string | null;
    groupBy: string | null;
    total: UsageGroup;
    groups: UsageGroup[];
  }> {
    const wf = await getWorkflow(this.database.db, workflowId);
    if (!wf)
      throw new AppError('ERR_WORKFLOW_NOT_FOUND', {
        message: `No workflow ${workflowId}.`,
        context: { workflowId },
      });
    const since = q.since !== undefined ? new Date(q.since).toISOString() : undefined;
    const until = q.until !== undefined ? new Date(q.until).toISOString() : undefined;
    const rows = await nodeRunsSql.usageRows(this.database.db, workflowId, since, until);
    const total = emptyGroup('total');
    const groups = new Map<string, UsageGroup>();
    for (const r of rows) {
      addRun(total, r);
      if (q.groupBy === undefined) continue;
      const key =
        q.groupBy === 'day'
          ? r.ended_at.slice(0, 10)
          : q.groupBy === 'version'
            ? String(r.version)
            : r.node_id;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = emptyGroup(key)));
      addRun(g, r);
    }
    return {
      workflowId,
      since: since ?? null,
      until: until ?? null,
      groupBy: q.groupBy ?? null,
      total,
      groups: [...groups.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)),
    };
  }

  // --- DLQ -----------------------------------------------------------------------------------

  async listDlq(q: {
    workflowId?: string;
    status?: string;
    nodeId?: string;
    executionId?: string;
    limit?: number;
    cursor?: string;
  }): Promise<Page<DlqView>> {
    const limit = q.limit ?? 50;
    const beforeId = decodeCursor(q.cursor);
    const rows = await dlqSql.listDlq(this.database.db, {
      ...(q.workflowId !== undefined && { workflowId: q.workflowId }),
      ...(q.status !== undefined && { status: q.status }),
      ...(q.nodeId !== undefined && { nodeId: q.nodeId }),
      ...(q.executionId !== undefined && { executionId: q.executionId }),
      ...(beforeId !== undefined && { beforeId }),
      limit: limit + 1,
    });
    return toPage(rows, limit, dlqView);
  }

  async getDlq(id: string): Promise<DlqView> {
    return dlqView(await this.requireDlq(id));
  }

  async retryDlq(id: string, actor: string): Promise<DlqView> {
    const entry = await this.requireDlq(id);
    if (entry.status !== 'open') throw dlqState(entry, 'only an open entry can be retried');
    const row = await executionsSql.getExecution(this.database.db, entry.execution_id);
    if (!row)
      throw new AppError('ERR_EXECUTION_NOT_FOUND', {
        message: `Execution ${entry.execution_id} no longer exists.`,
        context: { executionId: entry.execution_id },
      });
    const st = snap(row).nodes[entry.node_id];
    if (!st || st.status !== 'failed') {
      throw new AppError('ERR_DLQ_STATE', {
        message: `Node ${entry.node_id} is ${st?.status ?? 'gone'}, not failed: it was retried another way.`,
        context: { dlqId: id, status: entry.status, nodeStatus: st?.status },
      });
    }
    const now = isoNow(this.clock);
    if (
      !(await dlqSql.setDlqStatus(this.database.db, id, 'open', 'retried', {
        resolvedAt: now,
        resolvedBy: actor,
        note: null,
      }))
    ) {
      throw dlqState(
        (await dlqSql.getDlq(this.database.db, id)) ?? entry,
        'the entry changed meanwhile',
      );
    }
    await this.worker.dispatch(entry.execution_id, {
      type: 'dlq.retry',
      nodeId: entry.node_id,
      actor,
    });
    return this.getDlq(id);
  }

  async resolveDlq(id: string, actor: string, note?: string): Promise<DlqView> {
    const entry = await this.requireDlq(id);
    if (entry.status !== 'open') throw dlqState(entry, `the entry is already ${entry.status}`);
    if (
      !(await dlqSql.setDlqStatus(this.database.db, id, 'open', 'resolved', {
        resolvedAt: isoNow(this.clock),
        resolvedBy: actor,
        note: note ?? null,
      }))
    ) {
      throw dlqState(
        (await dlqSql.getDlq(this.database.db, id)) ?? entry,
        'the entry changed meanwhile',
      );
    }
    return this.getDlq(id);
  }

  // --- helpers -------------------------------------------------------------------------------

  private async control(
    workflowId: string,
    executionId: string,
    event: EngineEvent,
  ): Promise<ExecutionView> {
    await this.worker.dispatch(executionId, event);
    return this.get(workflowId, executionId);
  }

  private async require(workflowId: string, executionId: string): Promise<ExecutionRow> {
    const row = await executionsSql.getExecution(this.database.db, executionId);
    if (!row || row.workflow_id !== workflowId) throw notFound(workflowId, executionId);
    return row;
  }

  private async requireDlq(id: string): Promise<DlqRow> {
    const entry = await dlqSql.getDlq(this.database.db, id);
    if (!entry)
      throw new AppError('ERR_DLQ_NOT_FOUND', {
        message: `No DLQ entry ${id}.`,
        context: { dlqId: id },
      });
    return entry;
  }

  private async view(row: ExecutionRow): Promise<ExecutionView> {
    const s = snap(row);
    const graph = await this.worker.graphOf(row.workflow_id, row.version, s.execution.workflowType);
    const types = new Map(graph.nodes.map((n) => [n.id, n.type]));
    const runs = await nodeRunsSql.listNodeRuns(this.database.db, row.id);
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
      error: st.error,
      outputs: st.outputs,
      cost: st.cost,
      ...(st.prompt && st.status === 'waiting' && { waitingFor: st.prompt }),
      ...(st.childExecutionId && { childExecutionId: st.childExecutionId }),
    }));
    const base = summary(row);
    return {
      ...base,
      params: s.execution.params,
      createdBy: row.created_by,
      nodes,
      ...(s.execution.environment && { environment: s.execution.environment }),
      ...(s.execution.workflowType === 'chat' && {
        turn: s.execution.turn,
        conversation: s.execution.conversation,
      }),
    };
  }
}

function snap(row: ExecutionRow): Snapshot {
  return {
    execution: JSON.parse(row.state) as ExecutionState,
    nodes: JSON.parse(row.nodes) as Record<string, NodeState>,
  };
}

function accepted(row: ExecutionRow): RunAccepted {
  return {
    id: row.id,
    workflowId: row.workflow_id,
    version: row.version,
    status: row.status as ExecutionStatus,
  };
}

function summary(row: ExecutionRow): ExecutionSummary {
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
 * The version's concurrency block with its group rendered for this run (DESIGN §7): the
 * template sees the run's `params`, `trigger` and the version's `vars`.
 */
function groupOf(
  v: VersionRow,
  params: Record<string, unknown>,
  trigger: TriggerInfo,
): NewExecution['concurrency'] {
  const c: Concurrency | undefined = concurrencyOf(v).concurrency;
  if (!c) return undefined;
  let key: unknown;
  try {
    key = render(c.group, { params, trigger, vars: JSON.parse(v.variables) as unknown });
  } catch (err) {
    throw new AppError('ERR_PARAMS_INVALID', {
      message: `The concurrency group ${c.group} cannot be rendered for this run: ${(err as Error).message}`,
      details: [{ path: 'concurrency.group', message: (err as Error).message }],
      cause: err,
    });
  }
  const text = typeof key === 'string' ? key : JSON.stringify(key);
  return { key: text, max: c.max ?? 1, policy: c.policy ?? 'queue' };
}

function dlqView(r: DlqRow): DlqView {
  return {
    id: r.id,
    executionId: r.execution_id,
    workflowId: r.workflow_id,
    version: r.version,
    nodeId: r.node_id,
    attempts: r.attempts,
    error: JSON.parse(r.error) as DlqView['error'],
    logTail: JSON.parse(r.log_tail) as string[],
    inputs: JSON.parse(r.inputs) as Record<string, unknown>,
    status: r.status as DlqView['status'],
    createdAt: r.created_at,
    resolvedAt: r.resolved_at,
    resolvedBy: r.resolved_by,
    note: r.note,
  };
}

function notFound(workflowId: string, executionId: string): AppError {
  return new AppError('ERR_EXECUTION_NOT_FOUND', {
    message: `Workflow ${workflowId} has no execution ${executionId}.`,
    context: { workflowId, executionId },
  });
}

function wrongState(row: ExecutionRow, why: string): AppError {
  return new AppError('ERR_EXECUTION_STATE', {
    message: `Execution ${row.id} is ${row.status}: ${why}.`,
    context: { executionId: row.id, status: row.status },
  });
}

function dlqState(entry: DlqRow, why: string): AppError {
  return new AppError('ERR_DLQ_STATE', {
    message: `DLQ entry ${entry.id} is ${entry.status}: ${why}.`,
    context: { dlqId: entry.id, status: entry.status },
  });
}

function emptyGroup(key: string): UsageGroup {
  return {
    key,
    attempts: 0,
    computeSeconds: 0,
    tokens: { prompt: 0, completion: 0 },
    estimatedUsd: 0,
  };
}

function addRun(g: UsageGroup, r: nodeRunsSql.NodeRunRow): void {
  g.attempts++;
  g.computeSeconds = Math.round((g.computeSeconds + r.compute_seconds) * 1000) / 1000;
  g.tokens.prompt += Number(r.prompt_tokens);
  g.tokens.completion += Number(r.completion_tokens);
  g.estimatedUsd = Math.round((g.estimatedUsd + r.cost_usd) * 1e6) / 1e6;
}

/** Validates params against the manual trigger's inputs: types, required, defaults, enums. */
export function checkParams(
  triggers: Trigger[],
  params: Record<string, unknown>,
): Record<string, unknown> {
  const manual = triggers.find((t): t is ManualTrigger => t.type === 'manual');
  const inputs = manual?.inputs;
  if (!inputs) return params;
  const problems: ErrorDetail[] = [];
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(inputs)) {
    const has = Object.prototype.hasOwnProperty.call(params, name) && params[name] !== undefined;
    const value = has ? params[name] : spec.default;
    if (value === undefined) {
      if (spec.required) problems.push({ path: `params.${name}`, message: 'is required' });
      continue;
    }
    if (!matchesInputType(spec.type, value)) {
      problems.push({
        path: `params.${name}`,
        message: `must be ${spec.type === 'integer' || spec.type === 'array' || spec.type === 'object' ? 'an' : 'a'} ${spec.type}`,
      });
      continue;
    }
    if (spec.enum && !spec.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) {
      problems.push({
        path: `params.${name}`,
        message: `must be one of ${spec.enum.map((e) => JSON.stringify(e)).join(', ')}`,
      });
      continue;
    }
    out[name] = value;
  }
  for (const name of Object.keys(params)) {
    if (!Object.prototype.hasOwnProperty.call(inputs, name))
      problems.push({ path: `params.${name}`, message: 'is not an input of this workflow' });
  }
  if (problems.length > 0) throw new AppError('ERR_PARAMS_INVALID', { details: problems });
  return out;
}

/** A node's attempts: those that ended (their `node_runs` rows), then the one under way. */
function attemptsOf(
  nodeId: string,
  st: NodeState,
  runs: readonly nodeRunsSql.NodeRunRow[],
): AttemptView[] {
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
