/**
 * Executions (DESIGN §4): run, read, list, delete, and the control endpoints (cancel, retry,
 * resume, follow-up). Wrong-state requests answer 409 with the current status; an execution
 * that is not under the workflow in the path is 404. The DLQ is `dlq.ts`, usage `usage.ts`,
 * the read shapes `execution-views.ts`.
 */
import type { Concurrency } from '../definition/index.ts';
import { render } from '../engine/expressions.ts';
import {
  type ExecutionStatus,
  type TerminalExecutionStatus,
  isActiveExecution,
  isTerminalExecution,
} from '../engine/status.ts';
import type { EngineEvent, NodeState, TriggerInfo } from '../engine/types.ts';
import { AppError } from '../errors.ts';
import type { Database } from '../store/db.ts';
import { isUniqueViolation } from '../store/db.ts';
import { activeInGroup } from '../store/concurrency.ts';
import * as dlqSql from '../store/dlq.ts';
import { readExecutionWithNodes } from '../store/execution-nodes.ts';
import * as executionsSql from '../store/executions.ts';
import type { ExecutionRow } from '../store/executions.ts';
import * as itemsSql from '../store/execution-items.ts';
import * as nodeRunsSql from '../store/node-runs.ts';
import { getWorkflow } from '../store/workflows.ts';
import type { WorkflowType } from '../types.ts';
import type { NewExecution, Worker } from '../worker/worker.ts';
import { checkWorkspaceForRetry } from '../worker/workspace-retention.ts';
import type { Principal } from './tokens.ts';
import type { ArtifactService } from './artifacts.ts';
import { type Clock, isoNow } from '../clock.ts';
import type { ExecutionSummary, ExecutionView, RunAccepted } from '../wire/executions.ts';
import { executionSummary, executionView, runAccepted, snapshotOf } from './execution-views.ts';
import { type Page, decodeCursor, toPage } from './pagination.ts';
import { checkParams } from './params.ts';
import { type RunVersion, RunVersions } from './run-versions.ts';
import { effectiveRuntimeConfig } from './workflow-views.ts';

export class ExecutionService {
  private readonly versions = new RunVersions();

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
      if (prior) return { accepted: runAccepted(prior), created: false };
    }
    const version = body.version ?? wf.active_version ?? wf.latest_version;
    const v = await this.versions.get(db, workflowId, version);
    if (!v)
      throw new AppError('ERR_VERSION_NOT_FOUND', {
        message: `Workflow ${workflowId} has no version ${version}.`,
        context: { workflowId, version },
      });
    const params = checkParams(v.triggers, body.params ?? {});
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
      return { accepted: runAccepted(row), created: true };
    } catch (err) {
      if (opts.idempotencyKey !== undefined && isUniqueViolation(err)) {
        const prior = await executionsSql.findByIdempotencyKey(db, workflowId, opts.idempotencyKey);
        if (prior) return { accepted: runAccepted(prior), created: false };
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
    return toPage(rows, limit, executionSummary);
  }

  async get(workflowId: string, executionId: string): Promise<ExecutionView> {
    const { row, nodes } = await this.requireWithNodes(workflowId, executionId);
    return this.view(row, nodes);
  }

  async delete(workflowId: string, executionId: string): Promise<void> {
    const row = await this.require(workflowId, executionId);
    if (isActiveExecution(row.status as ExecutionStatus))
      throw wrongState(row, 'cancel it before deleting it');
    await this.database.transaction((trx) => executionsSql.deleteExecutions(trx, [executionId]));
    await this.removeFiles([executionId]);
  }

  async bulkDelete(
    workflowId: string,
    opts: { status?: TerminalExecutionStatus; before?: string },
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
    await this.removeFiles(ids);
    return { deleted };
  }

  /** What deleted executions leave on disk: their artifact files and their workspaces. */
  private async removeFiles(executionIds: string[]): Promise<void> {
    await this.artifacts?.removeFiles(executionIds);
    await this.worker.removeWorkspaces(executionIds);
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
    fresh = false,
  ): Promise<ExecutionView> {
    const { row, nodes: known } = await this.requireWithNodes(workflowId, executionId);
    if (row.status !== 'failed' && row.status !== 'cancelled')
      throw wrongState(row, 'only a failed or cancelled execution can be retried');
    if (fresh) {
      // Every node runs again, in an empty workspace.
      nodes = Object.keys(known);
      await this.worker.removeWorkspaces([executionId]);
    } else checkWorkspaceForRetry(row, this.clock.now());
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

  /**
   * Answers a waiting approval. When the node lists `approvers`, only a token of one of those
   * names may decide; a `tokens.admin` token may decide in their place with `override: true`,
   * which the node's outputs record.
   */
  async resume(
    workflowId: string,
    executionId: string,
    principal: Pick<Principal, 'name' | 'permissions'>,
    body: {
      nodeId?: string;
      decision: 'approve' | 'reject';
      comment?: string;
      data?: unknown;
      override?: boolean;
    },
  ): Promise<ExecutionView> {
    const { row, nodes } = await this.requireWithNodes(workflowId, executionId);
    const snapshot = snapshotOf(row, nodes);
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
    const graph = await this.worker.graphOf(
      row.workflow_id,
      row.version,
      snapshot.execution.workflowType,
    );
    const listed = graph.nodes.find((n) => n.id === nodeId)?.approvers;
    // The approval node's schema makes `approvers` a list of names when present.
    const approvers = Array.isArray(listed) ? (listed as string[]) : undefined;
    const override = approverCheck(approvers, principal, body.override === true, {
      executionId,
      nodeId,
    });
    return this.control(workflowId, executionId, {
      type: 'approval',
      nodeId,
      decision: body.decision,
      actor: principal.name,
      ...(override && { override: true }),
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
    const { row, nodes } = await this.requireWithNodes(workflowId, executionId);
    const snapshot = snapshotOf(row, nodes);
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

  private async requireWithNodes(
    workflowId: string,
    executionId: string,
  ): Promise<{ row: ExecutionRow; nodes: Record<string, NodeState> }> {
    const found = await readExecutionWithNodes(this.database.db, executionId);
    if (!found || found.row.workflow_id !== workflowId) throw notFound(workflowId, executionId);
    return found;
  }

  private async view(row: ExecutionRow, nodes: Record<string, NodeState>): Promise<ExecutionView> {
    const s = snapshotOf(row, nodes);
    const graph = await this.worker.graphOf(row.workflow_id, row.version, s.execution.workflowType);
    const types = new Map(graph.nodes.map((n) => [n.id, n.type]));
    const runs = await nodeRunsSql.listNodeRuns(this.database.db, row.id);
    const items = await itemsSql.listExecutionItems(this.database.db, row.id);
    return executionView(row, s, types, runs, items);
  }
}

/**
 * The version's concurrency block with its group rendered for this run (DESIGN §7): the
 * template sees the run's `params`, `trigger` and the version's `vars`.
 */
function groupOf(
  v: RunVersion,
  params: Record<string, unknown>,
  trigger: TriggerInfo,
): NewExecution['concurrency'] {
  const c: Concurrency | undefined = v.concurrency;
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

/**
 * Whether `principal` may decide an approval that lists `approvers`; throws 403 when not.
 * Answers true when the decision is an admin's override (the token is not listed).
 */
function approverCheck(
  approvers: readonly string[] | undefined,
  principal: Pick<Principal, 'name' | 'permissions'>,
  override: boolean,
  context: { executionId: string; nodeId: string },
): boolean {
  if (approvers === undefined || approvers.includes(principal.name)) return false;
  const listed = approvers.join(', ');
  if (!override)
    throw new AppError('ERR_APPROVAL_FORBIDDEN', {
      message: `Token ${principal.name} is not an approver of node ${context.nodeId} (approvers: ${listed}); a tokens.admin token may decide with override: true.`,
      context: { ...context, actor: principal.name, approvers },
    });
  if (!principal.permissions.has('tokens.admin'))
    throw new AppError('ERR_APPROVAL_FORBIDDEN', {
      message: `Token ${principal.name} is not an approver of node ${context.nodeId} (approvers: ${listed}), and only a tokens.admin token may override.`,
      context: { ...context, actor: principal.name, approvers },
    });
  return true;
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
