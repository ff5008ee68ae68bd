/**
 * Decisions written as one statement on PostgreSQL (see `decideAtOnce`), and the parts every
 * decision shares: direct dispatch of due tasks and the engine's context.
 */
import type { Plan } from '../engine/plan.ts';
import { decide } from '../engine/reducer.ts';
import { isTerminalExecution } from '../engine/status.ts';
import type { Command, DecideContext, EngineEvent, Snapshot } from '../engine/types.ts';
import { newId } from '../ids.ts';
import { type OneStatementDecision, fitsOneStatement } from '../store/decisions.ts';
import type { EventRow } from '../store/events.ts';
import type { PlatformEventRow } from '../store/platform-events.ts';
import type { NewLogLine } from '../store/logs.ts';
import type { NodeRunRow } from '../store/node-runs.ts';
import type { TaskRow } from '../store/tasks.ts';
import { type WorkerContext, idleTimeoutOf } from './context.ts';
import { decisionRows, taskRow } from './decision-rows.ts';
import { endEventRow, endsExecution } from './end-event.ts';
import type { KeptSnapshot } from './snapshots.ts';
import { getWorkflow } from '../store/workflows.ts';

/** What a committed decision did, for what follows it. */
export interface Decided {
  snapshot: Snapshot;
  /** The rev and the last event number the decision wrote. */
  rev: number;
  lastSeq: number;
  commands: Command[];
  direct: TaskRow[];
  /** Some task it enqueued was not leased to this worker. */
  queued: boolean;
  /** The `execution.*` platform event it recorded, when it ended the execution. */
  endEvent?: PlatformEventRow;
  promoted: boolean;
  concurrencyGroup: string | null;
  /** The execution left `pending` in this decision. */
  began: boolean;
  /** Node attempts the decision ended, and the plan that names their types (metrics). */
  nodeRuns: readonly NodeRunRow[];
  /** The execution events it wrote, in seq order (streams are handed them after the commit). */
  events: readonly EventRow[];
  plan: Plan;
}

/**
 * The common step on PostgreSQL: decides on the snapshot this worker's last decision of the
 * execution committed and writes the result as part of one statement, no transaction, no read
 * (decision-writer.ts). `requests` are the execution's decisions that waited while its previous
 * one was in flight: they are decided in order, one after the other, and written as one (each
 * finished task deleted, every attempt's last lines), so the results of a wide fan-out do not
 * take a statement each. Undefined when that cannot be: a decision starts a child, dead-letters
 * a node or ends a run of a concurrency group (each needs statements of its own), or another
 * writer decided since, or a task's lease is gone; the caller then decides each under the lock.
 */
export async function decideAtOnce(
  ctx: WorkerContext,
  executionId: string,
  kept: KeptSnapshot,
  requests: readonly { event: EngineEvent; task?: TaskRow; lines: readonly NewLogLine[] }[],
): Promise<Decided | undefined> {
  const before = kept.snapshot;
  const e = before.execution;
  const vp = await ctx.plans.get(
    ctx.db.db,
    e.workflowId,
    e.version,
    e.workflowType,
    idleTimeoutOf(e.runtime),
  );
  const now = ctx.clock.now();
  const dctx = decideContext(now);
  let next = before;
  const commands: Command[] = [];
  for (const r of requests) {
    const one = decide(vp.plan, next, r.event, dctx);
    if (one.commands.some((c) => c.type === 'startChild' && c.childExecutionId !== '')) return;
    next = one.next;
    commands.push(...one.commands);
  }
  const d = leaseDirect(ctx, vp.plan, executionId, next, commands, dctx);
  // The end of a run in a concurrency group hands its slot over under the group's lock.
  const ends = endsExecution(e, d.next.execution);
  if (ends && kept.concurrencyGroup !== null) return;
  const rows = decisionRows({
    row: { id: executionId, workflow_id: e.workflowId, version: e.version, last_seq: kept.lastSeq },
    before,
    next: d.next,
    commands: d.commands,
    enqueued: d.enqueued,
    nowIso: now.toISOString(),
    logTails: new Map(),
    newDlqId: () => newId('dlq', now.getTime()),
  });
  // A task enqueued again by a later decision of the batch is written once, as it was last.
  rows.tasks = [...new Map(rows.tasks.map((t) => [t.id, t])).values()];
  const one: OneStatementDecision = {
    id: executionId,
    rev: kept.rev,
    rows,
    taskIds: requests.flatMap((r) => (r.task === undefined ? [] : [r.task.id])),
    events: requests.length,
    lines: requests.flatMap((r) => r.lines),
  };
  if (!fitsOneStatement(ctx.db.dialect, one)) return;
  if (ends) {
    const wf = await getWorkflow(ctx.db.db, e.workflowId);
    one.endEvent = endEventRow(d.next.execution, now, wf?.name ?? null);
  }
  if (!(await ctx.writer.write(one))) return;
  return {
    snapshot: d.next,
    rev: kept.rev + 1,
    lastSeq: rows.changes.last_seq,
    commands: d.commands,
    direct: d.direct,
    queued: d.enqueued.some((t) => t.lease_owner === null),
    ...(one.endEvent !== undefined && { endEvent: one.endEvent }),
    promoted: false,
    concurrencyGroup: kept.concurrencyGroup,
    began: e.startedAt === null && d.next.execution.startedAt !== null,
    nodeRuns: rows.nodeRuns,
    events: rows.events,
    plan: vp.plan,
  };
}

export function decideContext(now: Date): DecideContext {
  return { now, random: Math.random, newId: (p) => newId(p, now.getTime()) };
}

/**
 * Direct dispatch: due run and timer tasks (a 0 s wait) this worker has room for are leased to
 * it in the decision that enqueues them, and run tasks marked running in it, saving a claim
 * round trip per node.
 */
export function leaseDirect(
  ctx: WorkerContext,
  plan: Plan,
  executionId: string,
  decided: Snapshot,
  decidedCommands: Command[],
  dctx: DecideContext,
): { next: Snapshot; commands: Command[]; direct: TaskRow[]; enqueued: TaskRow[] } {
  let next = decided;
  let commands = decidedCommands;
  const direct: TaskRow[] = [];
  const now = dctx.now;
  const nowIso = now.toISOString();
  const leaseUntil = new Date(now.getTime() + ctx.config.leaseMs).toISOString();
  let room = ctx.room();
  const enqueued: TaskRow[] = [];
  for (const c of commands) {
    if (c.type !== 'enqueue') continue;
    const t = taskRow(executionId, c.kind, c.nodeId, c.attempt, c.availableAt, nowIso, c.payload);
    if (
      (c.kind === 'run' || c.kind === 'timer') &&
      room > 0 &&
      c.availableAt <= nowIso &&
      !isTerminalExecution(next.execution.status)
    ) {
      t.lease_owner = ctx.workerId;
      t.lease_expires_at = leaseUntil;
      direct.push(t);
      room--;
    }
    enqueued.push(t);
  }
  for (const t of direct) {
    if (t.kind !== 'run') continue;
    const more = decide(
      plan,
      next,
      { type: 'node.started', nodeId: t.node_id!, attempt: t.attempt },
      dctx,
    );
    next = more.next;
    commands = [...commands, ...more.commands];
  }
  return { next, commands, direct, enqueued };
}
