/**
 * SQL for one decision: the rows `worker/decision-rows.ts` computed are written in the
 * decision's transaction, the execution's compare-and-set first, so a concurrent decider fails
 * before anything else is written. On PostgreSQL the inserts and the announcements that follow
 * the compare-and-set go in one statement (data-modifying CTEs): one round trip, not five.
 */
import { type RawBuilder, sql } from 'kysely';
import { isUnavailable } from '../errors.ts';
import type { NodeState } from '../engine/types.ts';
import type { Database, Db, Dialect } from './db.ts';
import { type DlqRow, insertDlq, insertDlqQuery } from './dlq.ts';
import { type EventRow, insertEvents, insertEventsQuery } from './events.ts';
import { nodeStateRows, upsertNodeStatesQuery, writeNodeStates } from './execution-nodes.ts';
import {
  type ExecutionChanges,
  type ExecutionRow,
  getExecutionForDecision,
  updateExecutionCas,
  updateExecutionCasQuery,
} from './executions.ts';
import { type NewLogLine, insertLinesParts, maxLinesPerStatement } from './logs.ts';
import type { PlatformEventRow } from './platform-events.ts';
import { type NodeRunRow, insertNodeRuns, insertNodeRunsQuery } from './node-runs.ts';
import {
  type TaskRow,
  completeTask,
  deleteNodeTasks,
  deleteTasksOf,
  upsertTasks,
  upsertTasksQuery,
} from './tasks.ts';

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
 * Opens a decision on execution `id`: its row, locked for the transaction on PostgreSQL, and
 * with `task` whether this worker still held that task, which is deleted (a result of a lost
 * lease is stale). On PostgreSQL both are one statement; the task's delete waits for the
 * execution's lock, the order every decision takes them in.
 */
export async function openDecision(
  trx: Db,
  dialect: Dialect,
  id: string,
  task?: { id: string; owner: string },
): Promise<{ row: ExecutionRow | undefined; taskHeld: boolean }> {
  if (dialect !== 'postgres' || task === undefined) {
    const row = await getExecutionForDecision(trx, dialect, id);
    const taskHeld =
      row !== undefined && task !== undefined && (await completeTask(trx, task.id, task.owner));
    return { row, taskHeld };
  }
  const res = await sql<ExecutionRow & { task_held: string }>`
    WITH e AS (SELECT * FROM executions WHERE id = ${id} FOR UPDATE),
      d AS (DELETE FROM tasks WHERE id = ${task.id} AND lease_owner = ${task.owner}
        AND EXISTS (SELECT 1 FROM e) RETURNING id)
    SELECT e.*, (SELECT count(*) FROM d) AS task_held FROM e`.execute(trx);
  const found = res.rows[0];
  if (found === undefined) return { row: undefined, taskHeld: false };
  const { task_held: held, ...row } = found;
  return { row, taskHeld: Number(held) === 1 };
}

/** Bound parameters one combined statement may carry (PostgreSQL allows 65,535). */
const maxCombinedParams = 30_000;

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
  /** Log lines of the execution were written in this transaction (announced with it). */
  logsWritten: boolean,
  /** The writing worker, which tells its own process's listeners after the commit. */
  from: string,
): Promise<boolean> {
  for (const nodeId of rows.killNodes) await deleteNodeTasks(trx, id, nodeId);
  const nodes = nodeStateRows(id, rows.nodes, rows.changedNodes);
  // Other processes' idle workers learn of tasks this worker did not lease itself, and streams
  // of every process re-read the table after their last seq, when this commits.
  const notices = database.decisionNotices({
    work: rows.tasks.some((t) => t.lease_owner === null),
    ...(rows.events.length > 0 && { eventsOf: id }),
    ...(logsWritten && { logsOf: id }),
    from,
  });
  if (database.dialect === 'postgres' && paramsOf(rows) <= maxCombinedParams && !rows.clearTasks) {
    // The compare-and-set is the statement's first part, and its result decides: when it
    // updated nothing the caller rolls the rest back.
    const parts: RawBuilder<unknown>[] = [];
    // A query builder inside `sql` is inlined with its parameters renumbered.
    const part = (name: string, query: unknown) => parts.push(sql`${sql.id(name)} AS (${query})`);
    part('cas', updateExecutionCasQuery(trx, id, rev, rows.changes));
    if (nodes.length > 0) part('nodes', upsertNodeStatesQuery(trx, nodes));
    if (rows.tasks.length > 0) part('tasks', upsertTasksQuery(trx, rows.tasks));
    if (rows.events.length > 0) part('events', insertEventsQuery(trx, rows.events));
    if (rows.dlq.length > 0) part('dlq', insertDlqQuery(trx, rows.dlq));
    if (rows.nodeRuns.length > 0) part('runs', insertNodeRunsQuery(trx, rows.nodeRuns));
    const res = await sql<{ updated: string }>`WITH ${sql.join(parts)}
      SELECT (SELECT count(*) FROM cas) AS updated${sql.join(
        notices.map((n) => sql`, ${n}`),
        sql``,
      )}`.execute(trx);
    return Number(res.rows[0]?.updated) === 1;
  }
  if (!(await updateExecutionCas(trx, id, rev, rows.changes))) return false;
  if (rows.clearTasks) await deleteTasksOf(trx, id);
  await writeNodeStates(trx, nodes);
  await upsertTasks(trx, rows.tasks);
  await insertEvents(trx, rows.events);
  for (const n of notices) await sql`SELECT ${n}`.execute(trx);
  await insertDlq(trx, rows.dlq);
  await insertNodeRuns(trx, rows.nodeRuns);
  return true;
}

/**
 * Whether a one-statement write failed as a whole on the server, so nothing of it was written:
 * the division by zero it makes on purpose when it lost, and any other statement error (a line
 * number another writer took first, a deadlock broken, a task enqueued while a kill deleted it).
 * The decisions are then taken again under the lock, where a real error shows. An unreachable
 * database is not that: it is thrown, and the caller retries.
 */
function refusedWhole(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !isUnavailable(err);
}

/** A decision to write as part of one statement (`writeDecisionsAtOnce`). */
export interface OneStatementDecision {
  /** The execution, and the `rev` its decision was taken at. */
  id: string;
  rev: number;
  rows: DecisionRows;
  /** The finished tasks, deleted only while their leases are still this worker's. */
  taskIds: readonly string[];
  /** How many engine events it decides (a fan-out's waiting results are decided as one). */
  events: number;
  /** The attempt's last log lines. */
  lines: readonly NewLogLine[];
  /** The `execution.*` platform event of a decision that ends the execution. */
  endEvent?: PlatformEventRow;
}

/**
 * Whether a decision can be part of `writeDecisionsAtOnce`: PostgreSQL, and no DLQ entry (it
 * reads the node's last lines), no task of the decision's own id (deleted and written again),
 * no more parameters or lines than one statement takes.
 */
export function fitsOneStatement(dialect: Dialect, d: OneStatementDecision): boolean {
  const { rows } = d;
  return (
    dialect === 'postgres' &&
    rows.dlq.length === 0 &&
    d.lines.length <= maxLinesPerStatement &&
    !rows.tasks.some((t) => d.taskIds.includes(t.id)) &&
    oneStatementParams(d) <= maxCombinedParams
  );
}

/** Bound parameters a decision adds to a one-statement write. */
export function oneStatementParams(d: OneStatementDecision): number {
  return (
    paramsOf(d.rows) +
    d.lines.length * 6 +
    d.taskIds.length * 3 +
    d.rows.killNodes.length +
    (d.endEvent === undefined ? 0 : 13) +
    12
  );
}

/**
 * Writes decisions of different executions, each taken on the snapshot this worker kept at its
 * `rev`, as one statement outside any transaction (PostgreSQL; see `fitsOneStatement`): per
 * execution its compare-and-set and its log lines, then the finished tasks' delete (only those
 * whose lease is still `owner`'s, after every compare-and-set, the order decisions lock in), and
 * for all of them together the node rows, tasks, events, node runs and notices. Unless every
 * compare-and-set and every task delete found its row, the statement divides by zero on purpose
 * and is undone as a whole: false then (also when it failed otherwise on the server, see
 * `refusedWhole`), and the caller writes them another way.
 */
export async function writeDecisionsAtOnce(
  database: Database,
  db: Db,
  decisions: readonly OneStatementDecision[],
  owner: string,
): Promise<boolean> {
  const parts: RawBuilder<unknown>[] = [];
  const part = (name: string, query: unknown) => parts.push(sql`${sql.id(name)} AS (${query})`);
  const checks: RawBuilder<unknown>[] = [];
  const nodes: ReturnType<typeof nodeStateRows> = [];
  const tasks: TaskRow[] = [];
  const events: EventRow[] = [];
  const runs: NodeRunRow[] = [];
  const ended: PlatformEventRow[] = [];
  const taskIds: string[] = [];
  const notices: RawBuilder<unknown>[] = [];
  for (const [i, d] of decisions.entries()) {
    const cas = `cas_${i}`;
    part(cas, updateExecutionCasQuery(db, d.id, d.rev, d.rows.changes));
    checks.push(sql`(SELECT count(*) FROM ${sql.id(cas)}) = 1`);
    if (d.lines.length > 0) {
      const [values, last, insert] = insertLinesParts(d.id, d.lines, `v_${i}`, `last_${i}`);
      parts.push(sql`${sql.id(`v_${i}`)} (i, node_id, attempt, stream, text, at) AS (${values})`);
      parts.push(sql`${sql.id(`last_${i}`)} (m) AS (${last})`);
      part(`lines_${i}`, insert);
    }
    taskIds.push(...d.taskIds);
    // An execution that ended loses its other tasks; a killed node its run tasks (those of
    // other executions, a parent's or a child's, are in `tasks` and survive).
    const others = d.taskIds.length > 0 ? sql`AND id NOT IN (${sql.join(d.taskIds)})` : sql``;
    if (d.rows.clearTasks)
      part(
        `clear_${i}`,
        sql`DELETE FROM tasks WHERE execution_id = ${d.id} ${others}
          AND EXISTS (SELECT 1 FROM ${sql.id(cas)}) RETURNING id`,
      );
    else if (d.rows.killNodes.length > 0)
      part(
        `kill_${i}`,
        sql`DELETE FROM tasks WHERE execution_id = ${d.id} AND kind = 'run'
          AND node_id IN (${sql.join(d.rows.killNodes)}) ${others}
          AND EXISTS (SELECT 1 FROM ${sql.id(cas)}) RETURNING id`,
      );
    if (d.endEvent !== undefined) {
      ended.push(d.endEvent);
      // The execution's tokens end with it (those of attempts a dead server left included).
      part(
        `revoke_${i}`,
        sql`UPDATE execution_tokens SET revoked_at = ${d.endEvent.created_at}
          WHERE execution_id = ${d.id} AND revoked_at IS NULL AND EXISTS (SELECT 1 FROM ${sql.id(cas)})`,
      );
    }
    nodes.push(...nodeStateRows(d.id, d.rows.nodes, d.rows.changedNodes));
    tasks.push(...d.rows.tasks);
    events.push(...d.rows.events);
    runs.push(...d.rows.nodeRuns);
    notices.push(
      ...database.decisionNotices({
        work: d.rows.tasks.some((t) => t.lease_owner === null),
        ...(d.rows.events.length > 0 && { eventsOf: d.id }),
        ...(d.lines.length > 0 && { logsOf: d.id }),
        from: owner,
      }),
    );
  }
  if (taskIds.length > 0) {
    // Reading every `cas_i` makes the updates (and their row locks) come first.
    const after = decisions.map((_, i) => sql`EXISTS (SELECT 1 FROM ${sql.id(`cas_${i}`)})`);
    part(
      'held',
      sql`DELETE FROM tasks WHERE id IN (${sql.join(taskIds)}) AND lease_owner = ${owner}
        AND ${sql.join(after, sql` AND `)} RETURNING id`,
    );
    checks.push(sql`(SELECT count(*) FROM held) = ${taskIds.length}`);
  }
  if (nodes.length > 0) part('nodes', upsertNodeStatesQuery(db, nodes));
  if (tasks.length > 0) part('tasks', upsertTasksQuery(db, tasks));
  if (events.length > 0) part('events', insertEventsQuery(db, events));
  if (runs.length > 0) part('runs', insertNodeRunsQuery(db, runs));
  if (ended.length > 0) part('ended', db.insertInto('platform_events').values(ended));
  try {
    await sql`WITH ${sql.join(parts)}
      SELECT 1 / CASE WHEN ${sql.join(checks, sql` AND `)} THEN 1 ELSE 0 END AS won${sql.join(
        notices.map((n) => sql`, ${n}`),
        sql``,
      )}`.execute(db);
    return true;
  } catch (err) {
    if (refusedWhole(err)) return false;
    throw err;
  }
}

function paramsOf(rows: DecisionRows): number {
  return (
    rows.changedNodes.size * 4 +
    rows.tasks.length * 10 +
    rows.events.length * 6 +
    rows.dlq.length * 14 +
    rows.nodeRuns.length * 16
  );
}

/** What a new execution writes: its row, node rows, first event and (unless queued) start task. */
export interface NewExecutionRows {
  row: ExecutionRow;
  nodes: ReturnType<typeof nodeStateRows>;
  event: EventRow;
  task?: TaskRow;
}

/**
 * Writes a new execution inside `trx` and announces its event (and its start task when nobody
 * leased it); on PostgreSQL as one statement of data-modifying CTEs.
 */
export async function insertNewExecution(
  database: Database,
  trx: Db,
  r: NewExecutionRows,
): Promise<void> {
  const announceWork = r.task !== undefined && r.task.lease_owner === null;
  if (database.dialect === 'postgres') {
    const parts: RawBuilder<unknown>[] = [
      sql`e AS (${trx.insertInto('executions').values(r.row)})`,
      sql`n AS (${upsertNodeStatesQuery(trx, r.nodes)})`,
      sql`ev AS (${insertEventsQuery(trx, [r.event])})`,
    ];
    if (r.task !== undefined) parts.push(sql`t AS (${upsertTasksQuery(trx, [r.task])})`);
    const notices = database.decisionNotices({ work: announceWork, eventsOf: r.row.id });
    await sql`WITH ${sql.join(parts)} SELECT ${sql.join(notices)}`.execute(trx);
    return;
  }
  await trx.insertInto('executions').values(r.row).execute();
  await writeNodeStates(trx, r.nodes);
  await insertEvents(trx, [r.event]);
  await database.announceEvents(trx, r.row.id);
  if (r.task !== undefined) await upsertTasks(trx, [r.task]);
  if (announceWork) await database.announceWork(trx);
}
