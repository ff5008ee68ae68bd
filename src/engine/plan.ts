/**
 * A graph compiled for the reducer: topological order, incoming edges per node (with the
 * implicit `on_reject` routes of approval nodes) and graph-level settings. Versions are
 * immutable, so a plan is computed once per (workflow, version) and reused.
 */
import {
  type Graph,
  type GraphNode,
  type RetryPolicyInput,
  parseDuration,
} from '../definition/index.ts';

export interface PlanEdge {
  from: string;
  to: string;
  when?: string;
  /** Taken only when `from` (an approval) is rejected. */
  onReject: boolean;
}

export interface Plan {
  /** Node ids in a topological order. */
  order: string[];
  nodes: ReadonlyMap<string, GraphNode>;
  incoming: ReadonlyMap<string, PlanEdge[]>;
  outgoing: ReadonlyMap<string, PlanEdge[]>;
  failFast: boolean;
  timeoutMs: number | null;
  retry: RetryPolicyInput | undefined;
  /** Chat workflows: idle time before a conversation ends. */
  idleTimeoutMs: number;
  isChat: boolean;
  /** The server's node types (their engine behaviour), by type name. */
  types: NodeBehaviours;
}

/**
 * What the engine needs of a node type (src/nodes/<type>.ts provides it; the plan carries the
 * server's node types, so nothing in engine/ names or imports a type). The handlers receive the
 * decision's `Draft` (engine/draft.ts); it is typed `unknown` here so that this file, which the
 * draft imports, does not import the draft back.
 */
interface NodeBehaviour {
  /**
   * How the engine starts a node of this type itself (pure: it edits the draft — succeeds the
   * node, makes it wait, sets a timer, starts a child). Types without it run in an executor: the
   * engine queues a `run` task.
   */
  start?(draft: unknown, id: string, node: GraphNode, attempt: number): void;
  /**
   * The successors a node of this type chooses among when it succeeds (condition, switch): those
   * it did not choose are skipped; its other successors are always taken.
   */
  choices?(node: GraphNode): string[];
  /** The successor a rejection runs instead of failing the execution (approval `on_reject`). */
  rejectRoute?(node: GraphNode): string | undefined;
}

/** Node types by name, as the engine sees them; the registry of src/nodes/ is one. */
export type NodeBehaviours = ReadonlyMap<string, NodeBehaviour>;

const defaultChatIdleMs = 3_600_000;

export function compilePlan(
  graph: Graph,
  opts: { workflowType: string; idleTimeout?: string },
  types: NodeBehaviours,
): Plan {
  const nodes = new Map<string, GraphNode>(graph.nodes.map((n) => [n.id, n]));
  const incoming = new Map<string, PlanEdge[]>(graph.nodes.map((n) => [n.id, []]));
  const outgoing = new Map<string, PlanEdge[]>(graph.nodes.map((n) => [n.id, []]));
  const rejectRoutes = new Map<string, string>();
  for (const n of graph.nodes) {
    const route = types.get(n.type)?.rejectRoute?.(n);
    if (route !== undefined) rejectRoutes.set(n.id, route);
  }
  const add = (e: PlanEdge) => {
    incoming.get(e.to)?.push(e);
    outgoing.get(e.from)?.push(e);
  };
  const seen = new Set<string>();
  for (const e of graph.edges) {
    const onReject = rejectRoutes.get(e.from) === e.to;
    if (onReject) seen.add(`${e.from}\u0000${e.to}`);
    add({ from: e.from, to: e.to, ...(e.when !== undefined && { when: e.when }), onReject });
  }
  for (const [from, to] of rejectRoutes) {
    if (!seen.has(`${from}\u0000${to}`) && nodes.has(to)) add({ from, to, onReject: true });
  }
  return {
    order: topoOrder(
      graph.nodes.map((n) => n.id),
      incoming,
    ),
    nodes,
    incoming,
    outgoing,
    failFast: graph.failFast === true,
    timeoutMs: graph.timeout !== undefined ? (parseDuration(graph.timeout) ?? null) : null,
    retry: graph.retry,
    idleTimeoutMs:
      (opts.idleTimeout !== undefined ? parseDuration(opts.idleTimeout) : undefined) ??
      defaultChatIdleMs,
    isChat: opts.workflowType === 'chat',
    types,
  };
}

/** Kahn's algorithm; validation guarantees no cycles, so every node is placed. */
function topoOrder(ids: string[], incoming: ReadonlyMap<string, PlanEdge[]>): string[] {
  const indegree = new Map(ids.map((id) => [id, incoming.get(id)?.length ?? 0]));
  const out = new Map<string, string[]>(ids.map((id) => [id, []]));
  for (const id of ids) for (const e of incoming.get(id) ?? []) out.get(e.from)?.push(id);
  const queue = ids.filter((id) => indegree.get(id) === 0);
  const order: string[] = [];
  for (let i = 0; i < queue.length; i++) {
    const id = queue[i]!;
    order.push(id);
    for (const next of out.get(id) ?? []) {
      const d = (indegree.get(next) ?? 0) - 1;
      indegree.set(next, d);
      if (d === 0) queue.push(next);
    }
  }
  return order.length === ids.length ? order : ids;
}
