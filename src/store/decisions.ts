/**
 * SQL for one decision: the rows `worker/decision-rows.ts` computed are written in the
 * decision's transaction, the execution's compare-and-set first, so a concurrent decider fails
 * before anything else is written.
 */
import type { NodeState } from '../engine/types.ts';
import type { Database, Db } from './db.ts';
import { type DlqRow, insertDlq } from './dlq.ts';
import { type EventRow, insertEvents } from './events.ts';
import { writeNodeStates } from './execution-nodes.ts';
import { type ExecutionChanges, updateExecutionCas } from './executions.ts';

import { type NodeRunRow, insertNodeRuns } from './node-runs.ts';
import { type TaskRow, deleteNodeTasks, deleteTasksOf, upsertTasks } from './tasks.ts';

/** Everything one decision writes. */
export interface DecisionRows {
  changes: ExecutionChanges;
  /** The execution's node states after the decision, and which of them it changed. */
  nodes: Record<string, NodeState>;
  changedNodes: ReadonlySet<string>;
  /** Nodes whose run tasks are deleted (killed). */
  killNodes: string[];
  /** Every task of the execution is deleted (it ended) before `tasks` are written. */
  clearTasks: boolean;
  /** Tasks to upsert: the enqueued ones plus those for other executions (children, parent). */
  tasks: TaskRow[];
  events: EventRow[];
  dlq: DlqRow[];
  nodeRuns: NodeRunRow[];
}

/**
 * Writes a decision on execution `id` taken at `rev` inside `trx`; false (nothing written but
 * the kills, which the caller's rollback undoes) when another writer decided first.
 */
export async function writeDecision(
  database: Database,
  trx: Db,
  id: string,
  rev: number,
  rows: DecisionRows,
): Promise<boolean> {
  for (const nodeId of rows.killNodes) await deleteNodeTasks(trx, id, nodeId);
  if (!(await updateExecutionCas(trx, id, rev, rows.changes))) return false;
  if (rows.changedNodes.size > 0) await writeNodeStates(trx, id, rows.nodes, rows.changedNodes);
  if (rows.clearTasks) await deleteTasksOf(trx, id);
  await upsertTasks(trx, rows.tasks);
  await insertEvents(trx, rows.events);
  // Other processes' idle workers learn of tasks this worker did not lease itself, and streams
  // of every process re-read the table after their last seq, when this commits.
  await database.announceDecision(trx, {
    work: rows.tasks.some((t) => t.lease_owner === null),
    ...(rows.events.length > 0 && { eventsOf: id }),
  });
  await insertDlq(trx, rows.dlq);
  await insertNodeRuns(trx, rows.nodeRuns);
  return true;
}
