/** Graph structure: the canonical form, and cycle detection. Linear in nodes + edges. */
import type { Graph, GraphEdge, GraphNode } from './model.ts';

/**
 * The canonical graph (idempotent): `needs` folded into edges, duplicate plain edges removed,
 * plain edges grouped by their target's position in `nodes` (then in the order met: edges list
 * first, then `needs`), conditional edges after them in their original order. This is the order
 * in which a YAML export writes them back (as `needs`, then `edges:`), so round trips are stable.
 */
export function normalizeGraph(graph: Graph): Graph {
  const position = new Map<string, number>();
  graph.nodes.forEach((node, i) => {
    if (!position.has(node.id)) position.set(node.id, i);
  });
  const plain: GraphEdge[] = [];
  const conditional: GraphEdge[] = [];
  for (const edge of graph.edges) {
    if (edge.when === undefined) plain.push({ from: edge.from, to: edge.to });
    else conditional.push({ from: edge.from, to: edge.to, when: edge.when });
  }
  const nodes = graph.nodes.map((node): GraphNode => {
    const { needs, ...rest } = node;
    if (Array.isArray(needs))
      for (const from of needs) plain.push({ from: String(from), to: node.id });
    return rest;
  });
  const seen = new Set<string>();
  const unique = plain.filter((edge) => {
    const key = `${edge.from}\u0000${edge.to}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  const rank = (edge: GraphEdge) => position.get(edge.to) ?? Number.MAX_SAFE_INTEGER;
  // Array.prototype.sort is stable, so edges to the same target keep their order.
  unique.sort((a, b) => rank(a) - rank(b));
  const out: Graph = { nodes, edges: [...unique, ...conditional] };
  if (graph.failFast !== undefined) out.failFast = graph.failFast;
  if (graph.timeout !== undefined) out.timeout = graph.timeout;
  if (graph.retry !== undefined) out.retry = graph.retry;
  return out;
}

/**
 * The cycles of a graph, one per strongly connected component with more than one node, each as
 * the node ids along it (the first id not repeated at the end). Iterative Tarjan, so deep graphs
 * cannot overflow the stack. `ids` gives the order in which components are reported.
 */
export function findCycles(
  ids: readonly string[],
  successors: ReadonlyMap<string, readonly string[]>,
): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let counter = 0;

  for (const root of ids) {
    if (index.has(root)) continue;
    const work: { id: string; next: number }[] = [{ id: root, next: 0 }];
    index.set(root, counter);
    low.set(root, counter++);
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      const targets = successors.get(frame.id) ?? [];
      if (frame.next < targets.length) {
        const target = targets[frame.next++]!;
        if (!index.has(target)) {
          index.set(target, counter);
          low.set(target, counter++);
          stack.push(target);
          onStack.add(target);
          work.push({ id: target, next: 0 });
        } else if (onStack.has(target)) {
          low.set(frame.id, Math.min(low.get(frame.id)!, index.get(target)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent !== undefined)
        low.set(parent.id, Math.min(low.get(parent.id)!, low.get(frame.id)!));
      if (low.get(frame.id) === index.get(frame.id)) {
        const component: string[] = [];
        let member: string | undefined;
        do {
          member = stack.pop()!;
          onStack.delete(member);
          component.push(member);
        } while (member !== frame.id);
        if (component.length > 1) components.push(component);
      }
    }
  }
  const order = new Map(ids.map((id, i) => [id, i]));
  return components
    .map((component) => cycleThrough(component, successors, order))
    .sort((a, b) => (order.get(a[0]!) ?? 0) - (order.get(b[0]!) ?? 0));
}

/** One cycle inside a strongly connected component, starting at its earliest node. */
function cycleThrough(
  component: string[],
  successors: ReadonlyMap<string, readonly string[]>,
  order: ReadonlyMap<string, number>,
): string[] {
  const members = new Set(component);
  const start = component.reduce((a, b) => ((order.get(a) ?? 0) <= (order.get(b) ?? 0) ? a : b));
  // Breadth-first from start back to start inside the component gives a shortest cycle.
  const parent = new Map<string, string>();
  const queue = [start];
  for (let head = 0; head < queue.length; head++) {
    const id = queue[head]!;
    for (const target of successors.get(id) ?? []) {
      if (!members.has(target)) continue;
      if (target === start) {
        const path = [id];
        for (let at = id; at !== start;) {
          at = parent.get(at)!;
          path.push(at);
        }
        return path.reverse();
      }
      if (!parent.has(target) && target !== start) {
        parent.set(target, id);
        queue.push(target);
      }
    }
  }
  return component;
}
