/**
 * The dead letter queue (DESIGN §4): nodes that failed for good, listed across executions; an
 * open entry is retried (its node runs again with a new attempt budget) or resolved by hand.
 * Wrong-state requests answer 409 with the entry's status.
 */
import { type Clock, isoNow } from '../clock.ts';
import type { DlqStatus } from '../engine/status.ts';
import { checkWorkspaceForRetry } from '../worker/workspace-retention.ts';
import { AppError } from '../errors.ts';
import type { Database } from '../store/db.ts';
import * as dlqSql from '../store/dlq.ts';
import type { DlqRow } from '../store/dlq.ts';
import { readExecutionWithNodes } from '../store/execution-nodes.ts';
import type { DlqLogLine, DlqView } from '../wire/executions.ts';
import type { Worker } from '../worker/worker.ts';
import { type Page, decodeCursor, toPage } from './pagination.ts';

export class DlqService {
  constructor(
    private readonly database: Database,
    private readonly worker: Worker,
    private readonly clock: Clock,
  ) {}

  async list(q: {
    workflowId?: string;
    status?: DlqStatus;
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

  async get(id: string): Promise<DlqView> {
    return dlqView(await this.require(id));
  }

  async retry(id: string, actor: string): Promise<DlqView> {
    const entry = await this.require(id);
    if (entry.status !== 'open') throw dlqState(entry, 'only an open entry can be retried');
    const found = await readExecutionWithNodes(this.database.db, entry.execution_id);
    if (!found)
      throw new AppError('ERR_EXECUTION_NOT_FOUND', {
        message: `Execution ${entry.execution_id} no longer exists.`,
        context: { executionId: entry.execution_id },
      });
    const st = found.nodes[entry.node_id];
    if (!st || st.status !== 'failed') {
      throw new AppError('ERR_DLQ_STATE', {
        message: `Node ${entry.node_id} is ${st?.status ?? 'gone'}, not failed: it was retried another way.`,
        context: { dlqId: id, status: entry.status, nodeStatus: st?.status },
      });
    }
    // A DLQ retry keeps the workspace, so it needs one (an execution retry can be `fresh`).
    checkWorkspaceForRetry(found.row, this.clock.now());
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
    return this.get(id);
  }

  async resolve(id: string, actor: string, note?: string): Promise<DlqView> {
    const entry = await this.require(id);
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
    return this.get(id);
  }

  private async require(id: string): Promise<DlqRow> {
    const entry = await dlqSql.getDlq(this.database.db, id);
    if (!entry)
      throw new AppError('ERR_DLQ_NOT_FOUND', {
        message: `No DLQ entry ${id}.`,
        context: { dlqId: id },
      });
    return entry;
  }
}

/**
 * The stored tail: `{attempt, stream, text}` objects, or (entries written before attempts were
 * kept) `[stream] text` strings, whose attempt is unknown.
 */
function logLinesOf(logTail: string): DlqLogLine[] {
  return (JSON.parse(logTail) as (string | DlqLogLine)[]).map((l) => {
    if (typeof l !== 'string') return l;
    const m = /^\[(\w+)\] ([\s\S]*)$/.exec(l);
    return m
      ? { attempt: null, stream: m[1]!, text: m[2]! }
      : { attempt: null, stream: 'stdout', text: l };
  });
}

function dlqView(r: DlqRow): DlqView {
  const lines = logLinesOf(r.log_tail);
  return {
    id: r.id,
    executionId: r.execution_id,
    workflowId: r.workflow_id,
    version: r.version,
    nodeId: r.node_id,
    attempts: r.attempts,
    error: JSON.parse(r.error) as DlqView['error'],
    logTail: lines.map((l) => `[${l.stream}] ${l.text}`),
    logLines: lines,
    inputs: JSON.parse(r.inputs) as Record<string, unknown>,
    status: r.status as DlqView['status'],
    createdAt: r.created_at,
    resolvedAt: r.resolved_at,
    resolvedBy: r.resolved_by,
    note: r.note,
  };
}

function dlqState(entry: DlqRow, why: string): AppError {
  return new AppError('ERR_DLQ_STATE', {
    message: `DLQ entry ${entry.id} is ${entry.status}: ${why}.`,
    context: { dlqId: entry.id, status: entry.status },
  });
}
