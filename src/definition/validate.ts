/**
 * Validation of a definition's parts (graph, variables, runtime config, triggers), shared by the
 * JSON API (`validateDefinitionParts`, camelCase keys) and YAML import (`parseWorkflowYaml`,
 * snake_case keys). Every problem is collected with its path; nothing stops at the first.
 * The cost is linear in the size of the input: each node is walked once, ids live in Maps and
 * Sets, cycles are found with one Tarjan pass.
 */
import { AppError, type ErrorDetail } from '../errors.ts';
import type { NodeCatalog, NodeCheckContext, NodeRules } from './node-rules.ts';
import { parseDuration } from './duration.ts';
import { findCycles, normalizeGraph } from './graph.ts';
import { inStyle, pathIndex, pathKey, quote, type KeyStyle } from './keys.ts';
import { concurrencyGroupProblems } from './concurrency.ts';
import { conditionSource } from './expressions.ts';
import { ReferenceChecker, definedAtHints, expressionUses } from './references.ts';
import {
  ConcurrencyPreciseSchema,
  GraphInputSchema,
  RuntimeConfigPreciseSchema,
  TriggerListPreciseSchema,
  TriggerPreciseSchema,
  VariablesPreciseSchema,
  nodeIdPattern,
  type Concurrency,
  type DefinitionLimits,
  type Graph,
  type GraphEdge,
  type GraphNode,
  type RetryPolicyInput,
  type RuntimeConfig,
  type Trigger,
  type Variables,
} from './model.ts';
import { checkTriggers } from './trigger-checks.ts';
import { ProblemList, isPlainObject, walk, type NodeKind, type Walker } from './walk.ts';

export interface DefinitionParts {
  graph?: unknown;
  variables?: unknown;
  runtimeConfig?: unknown;
  triggerConfig?: unknown;
  /** Absent: the part is not given (a PATCH leaves it as it is); null: no concurrency. */
  concurrency?: unknown;
  /** The workflow's type, which some node rules depend on (a chat's `llm` node); absent: not known. */
  workflowType?: string;
}

export interface ValidatedParts {
  graph?: Graph;
  variables?: Variables;
  runtimeConfig?: RuntimeConfig;
  triggerConfig?: Trigger[];
  /** Null when the input cleared it. */
  concurrency?: Concurrency | null;
}

/** Where each part sits in the input, by key style. */
const partPaths = {
  camel: {
    graph: 'graph',
    variables: 'variables',
    runtimeConfig: 'runtimeConfig',
    triggerConfig: 'triggerConfig',
    concurrency: 'concurrency',
  },
  snake: {
    graph: '',
    variables: 'variables',
    runtimeConfig: 'runtime_config',
    triggerConfig: 'triggers',
    concurrency: 'concurrency',
  },
} as const;

const nodeIdRe = new RegExp(nodeIdPattern);

/**
 * Validates the JSON (camelCase) parts sent to the API and returns their canonical forms
 * (`needs` folded into edges). Throws ERR_GRAPH_TOO_LARGE (413) when the graph has more nodes
 * than `limits.maxNodes`, else ERR_WORKFLOW_INVALID (422) listing every problem.
 */
export function validateDefinitionParts(
  parts: DefinitionParts,
  limits: DefinitionLimits,
  types: NodeCatalog,
  warnings: ErrorDetail[] = [],
): ValidatedParts {
  const problems = new ProblemList();
  const result = checkParts(parts, limits, types, 'camel', problems, warnings);
  throwIfInvalid(problems);
  return result;
}

export function throwIfInvalid(problems: ProblemList): void {
  if (problems.total === 0) return;
  const n = problems.total;
  throw new AppError('ERR_WORKFLOW_INVALID', {
    message: `The workflow definition is invalid: ${n} problem${n === 1 ? '' : 's'}.`,
    details: problems.details(),
  });
}

/** ERR_GRAPH_TOO_LARGE; `count` is the number of nodes when known. */
function graphTooLarge(limits: DefinitionLimits, path: string, count?: number): AppError {
  const has = count === undefined ? `more than ${limits.maxNodes}` : String(count);
  return new AppError('ERR_GRAPH_TOO_LARGE', {
    message: `The graph has ${has} nodes; at most ${limits.maxNodes} are allowed (inline nodes included).`,
    details: [{ path, message: `at most ${limits.maxNodes} nodes are allowed` }],
  });
}

/** Checks the parts present, adding problems to `problems`; the result is meaningful only without problems. */
export function checkParts(
  parts: DefinitionParts,
  limits: DefinitionLimits,
  types: NodeCatalog,
  style: KeyStyle,
  problems: ProblemList,
  /** Gets what is allowed but worth saying (an unpriced model): `warnings[]` of a save. */
  warnings: ErrorDetail[] = [],
): ValidatedParts {
  const paths = partPaths[style];
  const nodesPath = pathKey(paths.graph, 'nodes');
  // The size cap first, before any per-node work.
  if (
    isPlainObject(parts.graph) &&
    Array.isArray(parts.graph.nodes) &&
    parts.graph.nodes.length > limits.maxNodes
  ) {
    throw graphTooLarge(limits, nodesPath, parts.graph.nodes.length);
  }
  const checker = new GraphChecker(limits, types, style, problems, warnings, parts.workflowType);
  const result: ValidatedParts = {};
  if (parts.graph !== undefined) result.graph = checker.graph(parts.graph, paths.graph);
  const w = checker.walker;
  if (parts.variables !== undefined) {
    result.variables = walk(
      VariablesPreciseSchema,
      parts.variables,
      paths.variables,
      w,
      1,
    ) as Variables;
  }
  if (parts.runtimeConfig !== undefined) {
    result.runtimeConfig = walk(
      RuntimeConfigPreciseSchema,
      parts.runtimeConfig,
      paths.runtimeConfig,
      w,
      1,
    ) as RuntimeConfig;
    // The walk leaves a value that failed its schema as it was (null, a list, ...).
    const network = isPlainObject(result.runtimeConfig) ? result.runtimeConfig.network : undefined;
    if (network === 'host' && limits.allowHostNetwork === false) {
      problems.add(
        pathKey(paths.runtimeConfig, 'network'),
        "network: host reaches every service on the host's loopback and this server does not allow it (allowHostNetwork, SWITCHYARD_ALLOW_HOST_NETWORK); use network: outbound to reach the outside",
      );
    }
  }
  if (parts.triggerConfig !== undefined) {
    const raw = parts.triggerConfig;
    if (!Array.isArray(raw)) {
      walk(TriggerListPreciseSchema, raw, paths.triggerConfig, w, 1);
    } else {
      // One by one, so the cross-field rules still run on the triggers that passed their schema.
      const triggers: Trigger[] = [];
      const clean: boolean[] = [];
      raw.forEach((item: unknown, i) => {
        const before = problems.total;
        triggers.push(
          walk(TriggerPreciseSchema, item, pathIndex(paths.triggerConfig, i), w, 2) as Trigger,
        );
        clean.push(problems.total === before);
      });
      checkTriggers(triggers, clean, paths.triggerConfig, problems);
      result.triggerConfig = triggers;
    }
  }
  if (parts.concurrency === null) result.concurrency = null;
  else if (parts.concurrency !== undefined) {
    const c = walk(ConcurrencyPreciseSchema, parts.concurrency, paths.concurrency, w, 1);
    if (isPlainObject(c) && typeof c.group === 'string') {
      for (const message of concurrencyGroupProblems(c.group))
        problems.add(pathKey(paths.concurrency, 'group'), message);
    }
    result.concurrency = c as Concurrency;
  }
  return result;
}

interface NodeRecord {
  path: string;
  kind: NodeKind;
  /** The raw id when it is a valid id (so references to it do not cascade into more problems). */
  id: string | undefined;
  spec: NodeRules | undefined;
  node: GraphNode | undefined;
  /** True when the node passed its schema. */
  clean: boolean;
  /** The node that runs this one inline (parallel, map, loop); undefined at the top level. */
  parent: NodeRecord | undefined;
  /** Expressions that parse in this node's own fields (not in its inline nodes'). */
  expressions: { expr: string; path: string }[];
}

class GraphChecker {
  readonly walker: Walker;
  private readonly records: NodeRecord[] = [];
  /** The nodes being walked, innermost last: an expression belongs to the last. */
  private readonly open: NodeRecord[] = [];
  private count = 0;

  constructor(
    private readonly limits: DefinitionLimits,
    private readonly types: NodeCatalog,
    private readonly style: KeyStyle,
    private readonly problems: ProblemList,
    private readonly warnings: ErrorDetail[],
    private readonly workflowType: string | undefined,
  ) {
    this.walker = {
      keys: style,
      out: 'camel',
      problems,
      maxDepth: limits.maxYamlDepth,
      templates: true,
      node: (value, path, kind, depth) => this.node(value, path, kind, depth),
      // Outside a node (edges, triggers, variables) nothing is kept: edges are read in graph().
      expression: (expr, path) => this.open.at(-1)?.expressions.push({ expr, path }),
    };
  }

  private node(
    value: Record<string, unknown>,
    path: string,
    kind: NodeKind,
    depth: number,
  ): unknown {
    if (++this.count > this.limits.maxNodes) throw graphTooLarge(this.limits, path);
    const rawId = value.id;
    const record: NodeRecord = {
      path,
      kind,
      id: typeof rawId === 'string' && nodeIdRe.test(rawId) ? rawId : undefined,
      spec: undefined,
      node: undefined,
      clean: false,
      parent: this.open.at(-1),
      expressions: [],
    };
    this.records.push(record);
    const type = value.type;
    if (typeof type !== 'string') {
      this.problems.add(
        pathKey(path, 'type'),
        type === undefined ? 'is required' : `must be a string (got ${quote(type)})`,
      );
      return value;
    }
    const spec = this.types.get(type);
    if (spec === undefined) {
      this.problems.add(
        pathKey(path, 'type'),
        `unknown node type ${quote(type)} (known: ${[...this.types.keys()].join(', ')})`,
      );
      return value;
    }
    const before = this.problems.total;
    this.open.push(record);
    const node = walk(spec.schema, value, path, this.walker, depth) as GraphNode;
    this.open.pop();
    if (kind === 'inline' && value.needs !== undefined) {
      this.problems.add(
        pathKey(path, 'needs'),
        'an inline node has no needs: it runs as part of the node that holds it',
      );
    }
    record.spec = spec;
    record.node = node;
    record.clean = this.problems.total === before;
    return node;
  }

  graph(raw: unknown, path: string): Graph | undefined {
    const before = this.problems.total;
    const input = walk(GraphInputSchema, raw, path, this.walker, 1);
    if (!isPlainObject(input) || !Array.isArray(input.nodes)) return undefined;
    const problems = this.problems;
    const style = this.style;

    // Ids: unique across the whole graph, inline nodes included (expressions name them all).
    const firstAt = new Map<string, string>();
    for (const record of this.records) {
      if (record.id === undefined) continue;
      const seen = firstAt.get(record.id);
      if (seen === undefined) firstAt.set(record.id, record.path);
      else
        problems.add(
          pathKey(record.path, 'id'),
          `duplicate node id ${quote(record.id)} (first at ${seen})`,
        );
    }
    const top = this.records.filter((r) => r.kind === 'graph');
    const topIds = new Set<string>();
    for (const record of top) if (record.id !== undefined) topIds.add(record.id);
    const unknownNode = (id: string) =>
      firstAt.has(id)
        ? `node ${quote(id)} is an inline node; edges connect top-level nodes only`
        : `unknown node ${quote(id)}`;

    // Edges: plain ones first (edge list, then needs), then conditional ones.
    const plain = new Set<string>();
    const valid: GraphEdge[] = [];
    for (const record of top) {
      const needs = record.node?.needs;
      if (!Array.isArray(needs) || record.id === undefined) continue;
      needs.forEach((need: unknown, j) => {
        if (typeof need !== 'string') return;
        const at = pathIndex(pathKey(record.path, 'needs'), j);
        if (need === record.id) problems.add(at, 'a node cannot need itself');
        else if (!topIds.has(need)) problems.add(at, unknownNode(need));
        else {
          plain.add(`${need}\u0000${record.id}`);
          valid.push({ from: need, to: record.id! });
        }
      });
    }
    const edges = Array.isArray(input.edges) ? (input.edges as unknown[]) : [];
    const edgesPath = pathKey(path, 'edges');
    const conditional = new Set<string>();
    for (const pass of ['plain', 'conditional'] as const) {
      edges.forEach((edge, k) => {
        if (!isPlainObject(edge) || typeof edge.from !== 'string' || typeof edge.to !== 'string')
          return;
        const isConditional = edge.when !== undefined;
        if (isConditional !== (pass === 'conditional')) return;
        const at = pathIndex(edgesPath, k);
        let ok = true;
        for (const end of ['from', 'to'] as const) {
          const id = edge[end] as string;
          if (topIds.has(id)) continue;
          // An id that is not even well-formed has its problem from the schema already.
          if (nodeIdRe.test(id)) problems.add(pathKey(at, end), unknownNode(id));
          ok = false;
        }
        if (!ok) return;
        if (edge.from === edge.to) {
          problems.add(at, `an edge cannot go from a node to itself (${quote(edge.from)})`);
          return;
        }
        const key = `${edge.from}\u0000${edge.to}`;
        if (isConditional) {
          if (plain.has(key) || conditional.has(key)) {
            problems.add(
              at,
              `duplicate edge ${quote(edge.from)} -> ${quote(edge.to)}: a pair of nodes has one edge`,
            );
            return;
          }
          conditional.add(key);
        } else plain.add(key);
        valid.push({ from: edge.from, to: edge.to });
      });
    }

    const successors = new Map<string, string[]>();
    for (const edge of valid) {
      const list = successors.get(edge.from);
      if (list === undefined) successors.set(edge.from, [edge.to]);
      else list.push(edge.to);
    }
    const pathOf = new Map<string, string>();
    for (const record of top)
      if (record.id !== undefined && !pathOf.has(record.id)) pathOf.set(record.id, record.path);
    for (const cycle of findCycles([...topIds], successors)) {
      problems.add(
        pathOf.get(cycle[0]!) ?? pathKey(path, 'nodes'),
        `cycle: ${[...cycle, cycle[0]!].join(' -> ')}`,
      );
    }

    this.checkReferences(valid, edges, edgesPath, topIds);

    // Per-type rules, on nodes that passed their schema.
    const none = new Set<string>();
    for (const record of this.records) {
      if (!record.clean || record.node === undefined) continue;
      const node = record.node;
      checkRetry(
        node.retry as RetryPolicyInput | undefined,
        pathKey(record.path, inStyle('retry', style)),
        style,
        problems,
      );
      if (record.spec?.check === undefined) continue;
      const ctx: NodeCheckContext = {
        path: record.path,
        field: (...segments) => fieldPath(record.path, segments, style),
        key: (name) => inStyle(name, style),
        nodeIds: topIds,
        successors: record.kind === 'graph' ? new Set(successors.get(node.id) ?? []) : none,
        inline: record.kind === 'inline',
        ...(this.workflowType !== undefined && { workflowType: this.workflowType }),
        server: {
          llmProviders: this.limits.llmProviders,
          llmModels: this.limits.llmModels,
          defaultLlmProvider: this.limits.defaultLlmProvider,
          pricedModels: this.limits.pricedModels,
        },
      };
      for (const problem of record.spec.check(node, ctx))
        problems.add(problem.path, problem.message);
      if (record.spec.warnings !== undefined)
        this.warnings.push(...record.spec.warnings(node, ctx));
    }
    checkRetry(
      input.retry as RetryPolicyInput | undefined,
      pathKey(path, 'retry'),
      style,
      problems,
    );
    if (problems.total !== before) return undefined;
    return normalizeGraph({
      ...(input as unknown as Graph),
      edges: (input.edges as GraphEdge[] | undefined) ?? [],
    });
  }

  /** Names and `nodes.<id>` references of every expression, against the graph (references.ts). */
  private checkReferences(
    edges: readonly GraphEdge[],
    rawEdges: readonly unknown[],
    edgesPath: string,
    topIds: ReadonlySet<string>,
  ): void {
    const predecessors = new Map<string, string[]>();
    for (const edge of edges) {
      const list = predecessors.get(edge.to);
      if (list === undefined) predecessors.set(edge.to, [edge.from]);
      else list.push(edge.from);
    }
    const inlineIds = new Set<string>();
    for (const r of this.records)
      if (r.kind === 'inline' && r.id !== undefined) inlineIds.add(r.id);
    const whens: { from: string; expr: string; path: string }[] = [];
    rawEdges.forEach((edge, k) => {
      if (!isPlainObject(edge) || typeof edge.when !== 'string' || typeof edge.from !== 'string')
        return;
      if (!topIds.has(edge.from)) return;
      const source = conditionSource(edge.when);
      if ('expr' in source)
        whens.push({
          from: edge.from,
          expr: source.expr,
          path: pathKey(pathIndex(edgesPath, k), 'when'),
        });
    });
    const checker = new ReferenceChecker({
      topIds,
      inlineIds,
      predecessors,
      definedAt: definedAtHints(this.types, this.style),
    });
    for (const use of expressionUses(this.records, whens))
      for (const message of checker.problems(use)) this.problems.add(use.path, message);
  }
}

function fieldPath(base: string, segments: readonly (string | number)[], style: KeyStyle): string {
  let path = base;
  for (const segment of segments) {
    path =
      typeof segment === 'number'
        ? pathIndex(path, segment)
        : pathKey(path, inStyle(segment, style));
  }
  return path;
}

function checkRetry(
  retry: RetryPolicyInput | undefined,
  path: string,
  style: KeyStyle,
  problems: ProblemList,
): void {
  if (retry?.initialInterval === undefined || retry.maxInterval === undefined) return;
  const initial = parseDuration(retry.initialInterval);
  const max = parseDuration(retry.maxInterval);
  if (initial !== undefined && max !== undefined && max < initial) {
    problems.add(
      pathKey(path, inStyle('maxInterval', style)),
      `must not be shorter than ${inStyle('initialInterval', style)} (${retry.initialInterval})`,
    );
  }
}
