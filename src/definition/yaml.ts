/**
 * YAML import and export (DESIGN §3). The document has snake_case keys; the graph's fields
 * (`nodes`, `edges`, `fail_fast`, `timeout`, `retry`) sit at the top level and `triggers` holds
 * what JSON calls `triggerConfig`. Export writes plain dependencies as `needs` and only
 * conditional edges under `edges:`, so that `parseWorkflowYaml(workflowToYaml(def))` equals `def`.
 */
import {
  Document as YamlDocument,
  LineCounter,
  isScalar,
  parseAllDocuments,
  visit,
  type Document,
} from 'yaml';
import { AppError, type ErrorDetail } from '../errors.ts';
import { workflowTypes, type WorkflowType } from '../types.ts';
import { normalizeGraph } from './graph.ts';
import { camelToSnake, pathIndex, pathKey, quote } from './keys.ts';
import type { NodeCatalog } from './node-rules.ts';
import {
  ConcurrencyPreciseSchema,
  RetryPolicySchema,
  RuntimeConfigPreciseSchema,
  TriggerListPreciseSchema,
  type DefinitionLimits,
  type GraphNode,
  type WorkflowDefinition,
} from './model.ts';
import { checkParts, throwIfInvalid } from './validate.ts';
import { ProblemList, defineKey, isPlainObject, walk, type Walker } from './walk.ts';

/** Top-level keys of a workflow document, in the order an export writes them. */
const topLevelKeys = [
  'name',
  'description',
  'type',
  'variables',
  'runtime_config',
  'triggers',
  'concurrency',
  'fail_fast',
  'timeout',
  'retry',
  'nodes',
  'edges',
] as const;
const topLevel = new Set<string>(topLevelKeys);
const graphKeys = ['nodes', 'edges', 'fail_fast', 'timeout', 'retry'] as const;
/** JSON spellings people carry over into YAML, with the YAML key to use. */
const jsonSpellings = new Map([
  ['runtimeConfig', 'runtime_config'],
  ['triggerConfig', 'triggers'],
  ['failFast', 'fail_fast'],
  ['graph', 'nodes and edges at the top level'],
]);

function malformed(message: string, details: ErrorDetail[]): AppError {
  return new AppError('ERR_YAML_MALFORMED', { message, details });
}

/**
 * Parses one YAML workflow document into a validated, canonical definition.
 * Throws ERR_YAML_MALFORMED (400) for what is not one sound YAML mapping, ERR_GRAPH_TOO_LARGE (413)
 * for too many nodes, and ERR_WORKFLOW_INVALID (422) listing every problem of the definition.
 */
export function parseWorkflowYaml(
  text: string,
  limits: DefinitionLimits,
  types: NodeCatalog,
  /** Gets what is allowed but worth saying (an unpriced model). */
  warnings: ErrorDetail[] = [],
): WorkflowDefinition {
  const root = loadYaml(text, limits);
  const problems = new ProblemList();

  for (const key of Object.keys(root)) {
    if (topLevel.has(key)) continue;
    const hint = jsonSpellings.get(key);
    problems.add(
      pathKey('', key),
      hint === undefined
        ? `unknown top-level key ${quote(key)} (allowed: ${topLevelKeys.join(', ')})`
        : `unknown top-level key ${quote(key)}: YAML uses ${hint}`,
    );
  }
  // `key:` with nothing after it is null in YAML: treat it as absent.
  const given = (key: string): unknown => (root[key] === null ? undefined : root[key]);

  const name = root.name;
  if (typeof name !== 'string' || name.trim() === '') {
    problems.add(
      'name',
      name === undefined || name === null ? 'is required' : 'must be a non-empty string',
    );
  } else if (name.length > 128) problems.add('name', 'must have at most 128 characters');
  // eslint-disable-next-line no-control-regex
  else if (/[\u0000-\u001f\u007f]/.test(name))
    problems.add('name', 'must not contain control characters');
  const description = given('description') ?? '';
  if (typeof description !== 'string') problems.add('description', 'must be a string');
  const type = given('type') ?? 'automation';
  if (!workflowTypes.includes(type as WorkflowType)) {
    problems.add('type', `must be one of: ${workflowTypes.join(', ')} (got ${quote(type)})`);
  }

  const graph: Record<string, unknown> = {};
  for (const key of graphKeys) if (given(key) !== undefined) graph[key] = root[key];
  graph.nodes ??= [];
  const parts = checkParts(
    {
      graph,
      variables: given('variables') ?? {},
      runtimeConfig: given('runtime_config') ?? {},
      triggerConfig: given('triggers') ?? [],
      ...(given('concurrency') !== undefined && { concurrency: given('concurrency') }),
      ...(typeof type === 'string' && { workflowType: type }),
    },
    limits,
    types,
    'snake',
    problems,
    warnings,
  );
  throwIfInvalid(problems);
  return {
    name: name as string,
    description: description as string,
    type: type as WorkflowType,
    variables: parts.variables!,
    runtimeConfig: parts.runtimeConfig!,
    triggerConfig: parts.triggerConfig!,
    graph: parts.graph!,
    ...(parts.concurrency && { concurrency: parts.concurrency }),
  };
}

/** The document's root mapping as plain data, or ERR_YAML_MALFORMED. */
function loadYaml(text: string, limits: DefinitionLimits): Record<string, unknown> {
  if (typeof text !== 'string') throw malformed('The body is not a YAML document.', []);
  const lineCounter = new LineCounter();
  let docs: Document.Parsed[];
  try {
    docs = parseAllDocuments(text, {
      lineCounter,
      uniqueKeys: true,
      // Explicit tags (!!binary, !!timestamp, ...) stay strings: the model is plain JSON data.
      resolveKnownTags: false,
      logLevel: 'silent',
      prettyErrors: false,
    }) as Document.Parsed[];
  } catch (err) {
    throw malformed('The body is not a valid YAML document.', [{ path: '', message: String(err) }]);
  }
  if (docs.length === 0) throw malformed('The YAML document is empty.', []);
  const errors = docs.flatMap((doc) => doc.errors);
  if (errors.length > 0) {
    const details = errors.slice(0, 20).map((e) => yamlErrorDetail(text, lineCounter, e));
    const seen = new Set<string>();
    throw malformed(
      'The body is not a valid YAML document.',
      details.filter(
        (d) => !seen.has(`${d.path}\0${d.message}`) && seen.add(`${d.path}\0${d.message}`),
      ),
    );
  }
  if (docs.length > 1) {
    const second = docs[1]!.range[0];
    const at = lineCounter.linePos(second);
    throw malformed('A workflow is one YAML document; this body holds several.', [
      { path: `line ${at.line}, column ${at.col}`, message: 'a second document starts here' },
    ]);
  }
  let value: unknown;
  try {
    value = docs[0]!.toJS({ maxAliasCount: limits.maxYamlAliases });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw malformed(
      /alias/i.test(message)
        ? `The YAML document expands too many aliases (at most ${limits.maxYamlAliases}).`
        : 'The body is not a valid YAML document.',
      [{ path: '', message }],
    );
  }
  if (value === null || value === undefined) throw malformed('The YAML document is empty.', []);
  if (!isPlainObject(value)) {
    throw malformed('A workflow document is a mapping (key: value) at the top level.', [
      { path: '', message: `the document is ${Array.isArray(value) ? 'a list' : 'a scalar'}` },
    ]);
  }
  const deep = tooDeep(value, limits.maxYamlDepth, 1, '');
  if (deep !== undefined) {
    throw malformed(`The YAML document nests deeper than ${limits.maxYamlDepth} levels.`, [
      { path: deep, message: `nested deeper than ${limits.maxYamlDepth} levels` },
    ]);
  }
  return value;
}

/** The path of the first value nested deeper than `max`, or undefined. */
function tooDeep(value: unknown, max: number, depth: number, path: string): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  if (depth > max) return path;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = tooDeep(value[i], max, depth + 1, pathIndex(path, i));
      if (found !== undefined) return found;
    }
    return undefined;
  }
  for (const [key, item] of Object.entries(value)) {
    const found = tooDeep(item, max, depth + 1, pathKey(path, key));
    if (found !== undefined) return found;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Export

/** Converts declared keys to snake_case; problems are not expected on a validated definition. */
function encoder(types: NodeCatalog): Walker {
  const w: Walker = {
    keys: 'camel',
    out: 'snake',
    problems: new ProblemList(0),
    maxDepth: Number.MAX_SAFE_INTEGER,
    templates: false,
    node: (value, path, _kind, depth) => {
      const spec = typeof value.type === 'string' ? types.get(value.type) : undefined;
      return spec === undefined ? value : walk(spec.schema, value, path, w, depth);
    },
  };
  return w;
}

/** Serializes a definition to a YAML document (snake_case keys, `needs` for plain edges). */
export function workflowToYaml(def: WorkflowDefinition, types: NodeCatalog): string {
  const w = encoder(types);
  const graph = normalizeGraph(def.graph);
  const needs = new Map<string, string[]>();
  const conditional = [];
  for (const edge of graph.edges) {
    if (edge.when !== undefined)
      conditional.push({ from: edge.from, to: edge.to, when: edge.when });
    else {
      const list = needs.get(edge.to);
      if (list === undefined) needs.set(edge.to, [edge.from]);
      else list.push(edge.from);
    }
  }

  const doc: Record<string, unknown> = { name: def.name };
  if (def.description !== '') doc.description = def.description;
  doc.type = def.type;
  if (Object.keys(def.variables).length > 0) {
    const variables: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(def.variables)) defineKey(variables, key, value);
    doc.variables = variables;
  }
  if (Object.keys(def.runtimeConfig).length > 0) {
    doc.runtime_config = walk(RuntimeConfigPreciseSchema, def.runtimeConfig, 'runtimeConfig', w, 1);
  }
  if (def.triggerConfig.length > 0)
    doc.triggers = walk(TriggerListPreciseSchema, def.triggerConfig, 'triggers', w, 1);
  if (def.concurrency)
    doc.concurrency = walk(ConcurrencyPreciseSchema, def.concurrency, 'concurrency', w, 1);
  if (graph.failFast !== undefined) doc[camelToSnake('failFast')] = graph.failFast;
  if (graph.timeout !== undefined) doc.timeout = graph.timeout;
  if (graph.retry !== undefined) doc.retry = walk(RetryPolicySchema, graph.retry, 'retry', w, 1);
  doc.nodes = graph.nodes.map((node, i) =>
    w.node(withNeeds(node, needs.get(node.id)), pathIndex('nodes', i), 'graph', 1),
  );
  if (conditional.length > 0) doc.edges = conditional;
  const out = new YamlDocument(doc, { aliasDuplicateObjects: false });
  // Lists of plain values in flow style (`needs: [checkout, test]`), as people write them.
  visit(out, {
    Seq(_, seq) {
      if (seq.items.length > 0 && seq.items.every((item) => isScalar(item))) seq.flow = true;
    },
  });
  return out.toString({ lineWidth: 0, flowCollectionPadding: false });
}

/** The node with `needs` placed after id, type and name, for a readable export. */
function withNeeds(node: GraphNode, needs: string[] | undefined): GraphNode {
  if (needs === undefined) return node;
  const { id, type, name, ...rest } = node;
  return name === undefined ? { id, type, needs, ...rest } : { id, type, name, needs, ...rest };
}

/**
 * Where a YAML error is, as a person would point at it. A line indented one step too far makes
 * the parser complain about the line above (its value turns into a multi-line key); the line
 * to fix is the deeper one below, so it is named instead.
 */
function yamlErrorDetail(
  text: string,
  lines: LineCounter,
  e: { code: string; pos: [number, number]; message: string },
): { path: string; message: string } {
  const at = lines.linePos(e.pos[0]);
  const first = e.message.split('\n', 1)[0] ?? e.message;
  if (e.code === 'BLOCK_AS_IMPLICIT_KEY' || e.code === 'MULTILINE_IMPLICIT_KEY') {
    const all = text.split('\n');
    const indent = (line: string) => line.length - line.trimStart().length;
    const above = all[at.line - 1] ?? '';
    const next = all.findIndex(
      (l, i) => i >= at.line && l.trim() !== '' && !l.trimStart().startsWith('#'),
    );
    const below = next === -1 ? undefined : all[next];
    if (below !== undefined && indent(below) > indent(above)) {
      return {
        path: `line ${next + 1}, column ${indent(below) + 1}`,
        message: `indented deeper than line ${at.line} above it, so YAML reads it as part of that line's value; align it with the keys it belongs with`,
      };
    }
  }
  return { path: `line ${at.line}, column ${at.col}`, message: first };
}
