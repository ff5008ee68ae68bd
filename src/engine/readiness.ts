/**
 * Readiness (DESIGN §4): a pending node is ready when every predecessor is terminal. It runs
 * when it has no predecessor or at least one incoming edge is taken (predecessor succeeded, or
 * failed but tolerated; the edge's `when` holds; a condition/switch chose it), and its `if`
 * holds; otherwise it is skipped (`branch_not_taken`). After a failure that is not tolerated no
 * new node starts: every pending node ends skipped (`upstream_failed`) until a retry reopens
 * it. Starting a node: a type with engine behaviour starts itself (its module in src/nodes/),
 * the rest are queued as `run` tasks for an executor.
 */
import type { GraphNode } from '../definition/index.ts';
import type { Draft } from './draft.ts';
import { ExpressionError, evaluateCondition } from './expressions.ts';
import { failNode } from './failure.ts';
import type { PlanEdge } from './plan.ts';
import { isTerminalNode } from './status.ts';

export function onNodeStarted(d: Draft, id: string, attempt: number): void {
  const st = d.nodes[id];
  if (!st || st.attempt !== attempt) return;
  if (st.status === 'queued')
    d.setNode(id, {
      status: 'running',
      startedAt: st.startedAt ?? d.nowIso,
      attemptStartedAt: d.nowIso,
    });
}

/**
 * A run task claimed while its node is already running at `attempt` (a crash, a drain, a lost
 * lease): that attempt is over, and the node is queued again as the next one. This is a re-run,
 * not a failure: the retry budget moves along, so `max_attempts` still counts only failures.
 */
export function onNodeTakenOver(d: Draft, id: string, attempt: number): void {
  const st = d.nodes[id];
  if (!st || st.status !== 'running' || st.attempt !== attempt) return;
  const next = attempt + 1;
  // The lost attempt ends here: its error (and node_runs row) says so; it is not charged to the
  // retry budget.
  d.setNode(
    id,
    {
      status: 'queued',
      attempt: next,
      budgetFrom: st.budgetFrom + 1,
      error: {
        code: 'ERR_WORKER_LOST',
        message: `The server running attempt ${attempt} stopped before it finished; attempt ${next} runs it again.`,
        retryable: true,
      },
    },
    { takenOver: attempt },
  );
  d.commands.push({
    type: 'enqueue',
    kind: 'run',
    nodeId: id,
    attempt: next,
    availableAt: d.nowIso,
  });
}

export function advance(d: Draft): void {
  for (let changed = true; changed;) {
    changed = false;
    if (d.blocking()) {
      d.skipBlocked();
      return;
    }
    for (const id of d.plan.order) {
      if (d.node(id).status !== 'pending') continue;
      const incoming = d.plan.incoming.get(id) ?? [];
      let ready = true;
      for (const e of incoming) {
        const p = d.node(e.from);
        if (!isTerminalNode(p.status) || (p.status === 'failed' && !p.tolerated)) {
          ready = false;
          break;
        }
      }
      if (!ready) continue;
      changed = true;
      try {
        const taken = incoming.length === 0 || incoming.some((e) => edgeTaken(d, e));
        const def = d.def(id);
        if (!taken || (typeof def.if === 'string' && !evaluateCondition(def.if, d.exprContext()))) {
          d.setNode(id, { status: 'skipped', statusReason: 'branch_not_taken', endedAt: d.nowIso });
          continue;
        }
        startNode(d, id, def);
      } catch (err) {
        if (!(err instanceof ExpressionError)) throw err;
        failNode(d, id, { code: 'ERR_EXPRESSION', message: err.message, retryable: false });
      }
      if (d.blocking()) {
        d.skipBlocked();
        return;
      }
    }
  }
}

function edgeTaken(d: Draft, e: PlanEdge): boolean {
  const p = d.node(e.from);
  let taken: boolean;
  if (p.status === 'succeeded') {
    taken =
      !e.onReject &&
      (!p.chosen || !restrictedTargets(d, d.def(e.from)).has(e.to) || p.chosen.includes(e.to));
  } else if (p.status === 'failed' && p.tolerated) {
    const rejected = (p.outputs as { decision?: unknown } | null)?.decision === 'reject';
    taken = rejected ? e.onReject : !e.onReject;
  } else {
    taken = false;
  }
  return taken && (e.when === undefined || evaluateCondition(e.when, d.exprContext()));
}

/** The successors a node chooses among (condition, switch: its type says); others are always taken. */
function restrictedTargets(d: Draft, def: GraphNode): Set<string> {
  return new Set(d.plan.types.get(def.type)?.choices?.(def) ?? []);
}

function startNode(d: Draft, id: string, def: GraphNode): void {
  const st = d.node(id);
  const attempt = st.attempt + 1;
  // Engine-native types (noop, condition, switch, approval, input, wait, workflow) start
  // themselves (src/nodes/<type>.ts); the rest are queued for an executor.
  const spec = d.plan.types.get(def.type);
  if (spec?.start) {
    spec.start(d, id, def, attempt);
    return;
  }
  d.setNode(id, {
    status: 'queued',
    attempt,
    budgetFrom: st.attempt === 0 ? 1 : st.budgetFrom,
  });
  d.commands.push({ type: 'enqueue', kind: 'run', nodeId: id, attempt, availableAt: d.nowIso });
}
