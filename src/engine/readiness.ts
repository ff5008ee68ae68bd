/**
 * Readiness (DESIGN §4): a pending node is ready when every predecessor is terminal. It runs
 * when it has no predecessor or at least one incoming edge is taken (predecessor succeeded, or
 * failed but tolerated; the edge's `when` holds; a condition/switch chose it), and its `if`
 * holds; otherwise it is skipped. A predecessor that failed for good blocks it (it stays
 * pending). Starting a node: engine-native types complete or wait here, the rest are queued as
 * `run` tasks for an executor.
 */
import type { GraphNode } from '../definition/index.ts';
import { parseDuration } from '../definition/index.ts';
import { requestPrompt } from './approval.ts';
import { type Draft, addMs, succeed } from './draft.ts';
import { ExpressionError, evaluate, evaluateCondition, render } from './expressions.ts';
import { failNode } from './failure.ts';
import type { PlanEdge } from './plan.ts';
import { getNodeType } from '../nodes/registry.ts';
import { isTerminalNode } from './status.ts';

export function onNodeStarted(d: Draft, id: string, attempt: number): void {
  const st = d.nodes[id];
  if (!st || st.attempt !== attempt) return;
  if (st.status === 'queued')
    d.setNode(id, { status: 'running', startedAt: st.startedAt ?? d.nowIso });
}

export function advance(d: Draft): void {
  for (let changed = true; changed;) {
    changed = false;
    if (d.blocking()) return;
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
          d.setNode(id, { status: 'skipped', endedAt: d.nowIso });
          continue;
        }
        startNode(d, id, def);
      } catch (err) {
        if (!(err instanceof ExpressionError)) throw err;
        failNode(d, id, { code: 'ERR_EXPRESSION', message: err.message, retryable: false });
      }
      if (d.blocking()) return;
    }
  }
}

function edgeTaken(d: Draft, e: PlanEdge): boolean {
  const p = d.node(e.from);
  let taken: boolean;
  if (p.status === 'succeeded') {
    taken =
      !e.onReject &&
      (!p.chosen || !restrictedTargets(d.def(e.from)).has(e.to) || p.chosen.includes(e.to));
  } else if (p.status === 'failed' && p.tolerated) {
    const rejected = (p.outputs as { decision?: unknown } | null)?.decision === 'reject';
    taken = rejected ? e.onReject : !e.onReject;
  } else {
    taken = false;
  }
  return taken && (e.when === undefined || evaluateCondition(e.when, d.exprContext()));
}

/** The successors a node chooses among (condition, switch: its type says); others are always taken. */
function restrictedTargets(def: GraphNode): Set<string> {
  return new Set(getNodeType(def.type)?.choices?.(def) ?? []);
}

function startNode(d: Draft, id: string, def: GraphNode): void {
  const st = d.node(id);
  const attempt = st.attempt + 1;
  switch (def.type) {
    case 'noop':
      succeed(d, id, {}, { attempt });
      return;
    case 'condition': {
      const result = evaluateCondition(def.expression as string, d.exprContext());
      const chosen = ((result ? def.then : def.else) as string[] | undefined) ?? [];
      succeed(d, id, { result }, { attempt, chosen });
      return;
    }
    case 'switch': {
      const value = evaluate(def.value as string, d.exprContext());
      const cases = def.cases as { equals: unknown; to: string[] }[];
      const hit = cases.find((c) => c.equals === value);
      succeed(
        d,
        id,
        { value, matched: hit ? hit.equals : null },
        { attempt, chosen: hit ? hit.to : ((def.default as string[]) ?? []) },
      );
      return;
    }
    case 'approval':
    case 'input':
      requestPrompt(d, id, def, def.type, attempt);
      return;
    case 'wait': {
      const at = waitUntil(d, def);
      d.setNode(id, { status: 'running', attempt, startedAt: d.nowIso });
      d.commands.push({ type: 'enqueue', kind: 'timer', nodeId: id, attempt, availableAt: at });
      return;
    }
    case 'workflow': {
      const childExecutionId = d.ctx.newId('exec');
      const params = render(
        (def.params as Record<string, unknown> | undefined) ?? {},
        d.exprContext(),
      );
      d.setNode(id, { status: 'running', attempt, startedAt: d.nowIso, childExecutionId });
      d.commands.push({
        type: 'startChild',
        nodeId: id,
        childExecutionId,
        workflow: def.workflow as string,
        ...(typeof def.version === 'number' && { version: def.version }),
        params,
      });
      if (def.wait === false)
        succeed(d, id, { executionId: childExecutionId }, { childExecutionId: null });
      return;
    }
    default:
      if (getNodeType(def.type)?.engineNative)
        throw new Error(`unhandled engine node type ${def.type}`);
      d.setNode(id, {
        status: 'queued',
        attempt,
        budgetFrom: st.attempt === 0 ? 1 : st.budgetFrom,
      });
      d.commands.push({ type: 'enqueue', kind: 'run', nodeId: id, attempt, availableAt: d.nowIso });
  }
}

function waitUntil(d: Draft, def: GraphNode): string {
  if (typeof def.duration === 'string') return addMs(d.ctx.now, parseDuration(def.duration) ?? 0);
  const raw = String(def.until);
  const direct = Date.parse(raw);
  const value = Number.isNaN(direct) ? evaluate(raw, d.exprContext()) : raw;
  const at = typeof value === 'number' ? value : Date.parse(String(value));
  if (Number.isNaN(at)) throw new ExpressionError(raw, `wait until '${raw}' is not a time`);
  return new Date(Math.max(at, d.ctx.now.getTime())).toISOString();
}
