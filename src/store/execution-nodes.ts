/**
 * SQL for execution_nodes: the engine's state of each node of an execution, one row per node,
 * so a decision writes only the nodes it changed.
 */
import type { Db } from './db.ts';
import type { NodeState } from '../engine/types.ts';
import { type ExecutionRow, getExecution } from './executions.ts';

/** Rows per statement: well under both dialects' bound-parameter limits. */
const chunk = 500;

/** The node states of an execution, in the graph's order. */
export async function readNodeStates(
  db: Db,
  executionId: string,
): Promise<Record<string, NodeState>> {
  const rows = await db
    .selectFrom('execution_nodes')
    .select(['node_id', 'state'])
    .where('execution_id', '=', executionId)
    .orderBy('ord')
    .execute();
  const nodes: Record<string, NodeState> = {};
  for (const r of rows) nodes[r.node_id] = JSON.parse(r.state) as NodeState;
  return nodes;
}

type NodeStateRow = { execution_id: string; node_id: string; ord: number; state: string };

/**
 * The rows of an execution's node states: `nodes` holds them in the graph's order, `changed`
 * says which to write (all of them when omitted, as for a new execution).
 */
export function nodeStateRows(
  executionId: string,
  nodes: Record<string, NodeState>,
  changed?: ReadonlySet<string>,
): NodeStateRow[] {
  const rows: NodeStateRow[] = [];
  let ord = 0;
  for (const [nodeId, st] of Object.entries(nodes)) {
    if (changed === undefined || changed.has(nodeId))
      rows.push({ execution_id: executionId, node_id: nodeId, ord, state: JSON.stringify(st) });
    ord++;
  }
  return rows;
}

/** Writes node state rows (`nodeStateRows`). */
export async function writeNodeStates(db: Db, rows: NodeStateRow[]): Promise<void> {
  for (let i = 0; i < rows.length; i += chunk)
    await upsertNodeStatesQuery(db, rows.slice(i, i + chunk)).execute();
}

/** The upsert of node state rows (not empty), to execute or to embed in a larger statement. */
export function upsertNodeStatesQuery(db: Db, rows: NodeStateRow[]) {
  return db
    .insertInto('execution_nodes')
    .values(rows)
    .onConflict((oc) =>
      oc
        .columns(['execution_id', 'node_id'])
        .doUpdateSet((eb) => ({ state: eb.ref('excluded.state') })),
    );
}

/**
 * An execution row with its node states as of the same decision. Outside a decision's
 * transaction a decision may commit between the two reads, so the node rows are read with the
 * execution's `rev` in the same statement and read again until the two agree.
 */
export async function readExecutionWithNodes(
  db: Db,
  executionId: string,
): Promise<{ row: ExecutionRow; nodes: Record<string, NodeState> } | undefined> {
  for (;;) {
    const row = await getExecution(db, executionId);
    if (!row) return undefined;
    const rows = await db
      .selectFrom('execution_nodes')
      .select(['node_id', 'state'])
      .select((eb) =>
        eb.selectFrom('executions').select('rev').where('id', '=', executionId).as('rev'),
      )
      .where('execution_id', '=', executionId)
      .orderBy('ord')
      .execute();
    if (rows.length > 0 && rows[0]!.rev !== row.rev) continue;
    const nodes: Record<string, NodeState> = {};
    for (const r of rows) nodes[r.node_id] = JSON.parse(r.state) as NodeState;
    return { row, nodes };
  }
}
