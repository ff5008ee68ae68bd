/**
 * One decision: load the execution → `decide()` → persist the result, all in one transaction
 * whose compare-and-set on the execution's `rev` makes a concurrent decider retry on top of the
 * winner; then, after the commit, perform what follows (start leased tasks, abort killed
 * attempts, release the environment of an execution that ended, tell the listeners).
 */
import { decide } from '../engine/reducer.ts';
import { isTerminalExecution } from '../engine/status.ts';
import type { Command, EngineEvent, ExecutionState, Snapshot } from '../engine/types.ts';
import { newId } from '../ids.ts';
import type { Db } from '../store/db.ts';
import type { EventRow } from '../store/events.ts';
import { openDecision, writeDecision } from '../store/decisions.ts';
import { readNodeStates } from '../store/execution-nodes.ts';
import type { ExecutionRow } from '../store/executions.ts';
import type { NodeRunRow } from '../store/node-runs.ts';
import * as logsSql from '../store/logs.ts';
import type { NewLogLine } from '../store/logs.ts';
import * as tasksSql from '../store/tasks.ts';
import type { TaskRow } from '../store/tasks.ts';
import { type WorkerContext, idleTimeoutOf } from './context.ts';
import { promoteGroup, startChild } from './create-execution.ts';
import { type Decided, decideAtOnce, decideContext, leaseDirect } from './decision-at-once.ts';
import type { DecisionRequest } from './decision-queue.ts';
import { decisionRows } from './decision-rows.ts';
import { recordEndEvent } from './end-event.ts';
import { finishEnvironment } from './environment.ts';
import { childStartFailed } from './task-events.ts';

/** Raised inside a decision transaction when another writer decided first. */
class RevConflict extends Error {}

/**
 * Decides `event` for an execution and performs what follows. With `task`, the task must still
 * be leased to this worker and is deleted with the decision (otherwise the result is stale and
 * dropped). Returns the new snapshot, or undefined when the execution does not exist or the task
 * was lost. A worker decides one execution's events one at a time; those that come meanwhile
 * wait and are decided together (`decideWaiting`).
 */
export function dispatch(
  ctx: WorkerContext,
  executionId: string,
  event: EngineEvent,
  task?: TaskRow,
  lines: NewLogLine[] = [],
): Promise<Snapshot | undefined> {
  return new Promise((resolve, reject) =>
    ctx.decisions.add(executionId, { event, task, lines, resolve, reject }),
  );
}

/**
 * Decides the requests that waited for an execution: on PostgreSQL several of them as one
 * decision written in one statement when the worker kept the execution's snapshot, else (or
 * when that lost) each on its own.
 */
export async function decideWaiting(
  ctx: WorkerContext,
  executionId: string,
  batch: readonly DecisionRequest[],
): Promise<void> {
  const kept = ctx.db.dialect === 'postgres' ? ctx.snapshots.latest(executionId) : undefined;
  if (batch.length > 1 && kept !== undefined) {
    let settled: Snapshot | undefined;
    try {
      const out = await decideAtOnce(ctx, executionId, kept, batch);
      if (out !== undefined)
        settled = performAfter(
          ctx,
          executionId,
          out,
          batch.some((r) => r.lines.length > 0),
        );
    } catch (err) {
      for (const r of batch) r.reject(err);
      return;
    }
    if (settled !== undefined) {
      for (const r of batch) r.resolve(settled);
      return;
    }
  }
  for (const r of batch)
    await dispatchNow(ctx, executionId, r.event, r.task, r.lines).then(r.resolve, r.reject);
}

async function dispatchNow(
  ctx: WorkerContext,
  executionId: string,
  event: EngineEvent,
  task: TaskRow | undefined,
  lines: readonly NewLogLine[],
): Promise<Snapshot | undefined> {
  const kept = ctx.db.dialect === 'postgres' ? ctx.snapshots.latest(executionId) : undefined;
  if (kept !== undefined) {
    const out = await decideAtOnce(ctx, executionId, kept, [
      { event, ...(task !== undefined && { task }), lines },
    ]);
    if (out !== undefined) return performAfter(ctx, executionId, out, lines.length > 0);
  }
  for (let attempt = 1; ; attempt++) {
    try {
      const wrote = { lines: false };
      const out = await ctx.db.transaction((trx) =>
        decideIn(ctx, trx, executionId, event, task, lines, wrote),
      );
      ctx.metrics.decisionsPerCommit.observe(1);
      if (!out) {
        if (wrote.lines) ctx.logs.written(executionId);
        return undefined;
      }
      return performAfter(ctx, executionId, out, wrote.lines);
    } catch (err) {
      if (err instanceof RevConflict && attempt < 20) continue;
      throw err;
    }
  }
}

function performAfter(
  ctx: WorkerContext,
  executionId: string,
  out: Decided,
  linesWritten: boolean,
): Snapshot {
  if (linesWritten) ctx.logs.written(executionId);
  const e = out.snapshot.execution;
  if (out.began) ctx.metrics.executionsStarted.inc({ type: e.workflowType });
  if (out.endEvent !== undefined)
    ctx.metrics.executionsFinished.inc({ type: e.workflowType, status: e.status });
  ctx.metrics.nodeRunsEnded(out.nodeRuns, (id) => out.plan.nodes.get(id)?.type);
  if (isTerminalExecution(out.snapshot.execution.status)) ctx.snapshots.forget(executionId);
  else
    ctx.snapshots.set(executionId, {
      rev: out.rev,
      lastSeq: out.lastSeq,
      snapshot: out.snapshot,
      concurrencyGroup: out.concurrencyGroup,
    });
  afterCommit(ctx, executionId, out);
  // A queued execution of its concurrency group got its start task.
  if (out.promoted) ctx.wake();
  if (out.endEvent !== undefined) ctx.executionEnded(out.endEvent);
  return out.snapshot;
}

async function decideIn(
  ctx: WorkerContext,
  trx: Db,
  executionId: string,
  event: EngineEvent,
  task: TaskRow | undefined,
  lines: readonly NewLogLine[],
  wrote: { lines: boolean },
): Promise<Decided | undefined> {
  const { row, taskHeld } = await openDecision(
    trx,
    ctx.db.dialect,
    executionId,
    task && { id: task.id, owner: ctx.workerId },
  );
  if (!row) {
    if (task) await tasksSql.deleteTask(trx, task.id);
    return undefined;
  }
  // The attempt's last log lines commit with its result (or with nothing, when it is stale).
  if (lines.length > 0) {
    await logsSql.insertLines(trx, executionId, lines);
    wrote.lines = true;
  }
  if (task && !taskHeld) {
    if (wrote.lines) await ctx.db.announceEvents(trx, executionId, 'logs');
    return undefined;
  }
  const snapshot: Snapshot = ctx.snapshots.get(executionId, row.rev) ?? {
    execution: JSON.parse(row.state) as ExecutionState,
    nodes: await readNodeStates(trx, executionId),
  };
  const vp = await ctx.plans.get(
    trx,
    row.workflow_id,
    row.version,
    snapshot.execution.workflowType,
    idleTimeoutOf(snapshot.execution.runtime),
  );
  const now = ctx.clock.now();
  const dctx = decideContext(now);
  let { next, commands } = decide(vp.plan, snapshot, event, dctx);

  // Child workflows that cannot be resolved fail their node at once, in this same decision.
  for (let guard = 0; guard < 50; guard++) {
    const unresolved: EngineEvent[] = [];
    for (const c of commands) {
      if (c.type !== 'startChild' || c.childExecutionId === '') continue;
      const ok = await startChild(ctx, trx, next.execution, c);
      if (typeof ok === 'string') unresolved.push(childStartFailed(c, ok));
      c.childExecutionId = '';
    }
    if (unresolved.length === 0) break;
    for (const ev of unresolved) {
      const more = decide(vp.plan, next, ev, dctx);
      next = more.next;
      commands = [...commands, ...more.commands];
    }
  }

  const d = leaseDirect(ctx, vp.plan, executionId, next, commands, dctx);
  ({ next, commands } = d);
  const nowIso = now.toISOString();
  const { lastSeq, nodeRuns, events } = await persist(
    ctx,
    trx,
    row,
    snapshot,
    next,
    commands,
    d.enqueued,
    nowIso,
    wrote.lines,
  );
  const endEvent = await recordEndEvent(trx, snapshot.execution, next.execution, now);
  // A started run of a concurrency group that ends frees its slot: the group's queue moves in
  // this same transaction, so the end and the hand-over commit (or are lost) together.
  const promoted =
    row.concurrency_group !== null &&
    row.concurrency_queued === 0 &&
    !isTerminalExecution(snapshot.execution.status) &&
    isTerminalExecution(next.execution.status) &&
    (await promoteGroup(ctx, trx, row.concurrency_group)) > 0;
  return {
    snapshot: next,
    rev: row.rev + 1,
    lastSeq,
    commands,
    direct: d.direct,
    queued: d.enqueued.some((t) => t.lease_owner === null),
    ...(endEvent !== undefined && { endEvent }),
    promoted,
    concurrencyGroup: row.concurrency_group,
    began: snapshot.execution.startedAt === null && next.execution.startedAt !== null,
    nodeRuns,
    events,
    plan: vp.plan,
  };
}

async function persist(
  ctx: WorkerContext,
  trx: Db,
  row: ExecutionRow,
  before: Snapshot,
  next: Snapshot,
  commands: Command[],
  enqueued: TaskRow[],
  nowIso: string,
  logsWritten: boolean,
): Promise<{ lastSeq: number; nodeRuns: NodeRunRow[]; events: EventRow[] }> {
  const id = row.id;
  // Lines are flushed before a node's result is decided, so the tail is complete.
  const logTails = new Map<string, logsSql.LogRow[]>();
  for (const c of commands)
    if (c.type === 'dlq' && !logTails.has(c.nodeId))
      logTails.set(c.nodeId, await logsSql.tailLogs(trx, id, c.nodeId, 50));
  const rows = decisionRows({
    row,
    before,
    next,
    commands,
    enqueued,
    nowIso,
    logTails,
    newDlqId: () => newId('dlq', ctx.clock.now().getTime()),
  });
  // The compare-and-set comes first: a concurrent decider fails there, before writing anything.
  if (!(await writeDecision(ctx.db, trx, id, row.rev, rows, logsWritten, ctx.workerId)))
    throw new RevConflict();
  return { lastSeq: rows.changes.last_seq, nodeRuns: rows.nodeRuns, events: rows.events };
}

function afterCommit(ctx: WorkerContext, executionId: string, out: Decided): void {
  const { snapshot, commands, direct, queued } = out;
  for (const c of commands) {
    if (c.type === 'kill') ctx.abort(executionId, c.nodeId, 'cancelled');
  }
  if (isTerminalExecution(snapshot.execution.status)) {
    ctx.abort(executionId, null, 'cancelled');
    ctx.logs.forget(executionId);
    // Once per end: later decisions on a finished execution (e.g. artifacts) do not release again.
    if (commands.some((c) => c.type === 'clearTasks'))
      void finishEnvironment(ctx, executionId, snapshot.execution);
  }
  for (const t of direct) ctx.runClaimed(t, snapshot);
  // Work this worker did not lease to itself in the decision is for the claim loop.
  if (queued || commands.some((c) => c.type === 'notifyParent' || c.type === 'cancelChild'))
    ctx.wake();
  ctx.decided(executionId, snapshot, out.events);
}
