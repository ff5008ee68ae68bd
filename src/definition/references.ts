/**
 * Save-time checks of what expressions name (issue 21): every name an expression reads must be
 * defined where it is evaluated, and every `nodes.<id>` must be a top-level node upstream of the
 * node that reads it, so a typo fails the save rather than the run.
 *
 * The names come from cel-js's parse AST (`parse(expr).ast`), not from scanning the text: string
 * literals, field names after a dot and the variables of comprehension macros (`x.map(i, ...)`,
 * `cel.bind(v, ...)`) are told apart exactly as the evaluator tells them apart.
 */
import { parse } from '@marcbachmann/cel-js';
import { inStyle, pathKey, quote, snakeToCamel, type KeyStyle } from './keys.ts';
import { secretNamePattern } from '../secrets/references.ts';
import type { NodeCatalog, NodeRules } from './node-rules.ts';

/** The names every expression in a node sees (engine/draft.ts `expressionContext`). */
const executionNames = ['params', 'vars', 'nodes', 'execution', 'trigger'] as const;

/**
 * Why `secrets` cannot be read where the engine decides: it renders and evaluates these itself
 * and never holds a secret's value (src/worker/run-node.ts opens them for the executor alone).
 */
const secretsWhere =
  "secrets are read only in fields a node renders when it runs (a command's env, an http node's url, headers and body, an llm node's prompt, system and messages)";
const engineDecides = `the engine decides this itself and never sees secrets; ${secretsWhere}`;

/** Identifiers cel-js itself defines (type names and namespaces): never a missing variable. */
const celConstants = new Set([
  'string',
  'bool',
  'int',
  'uint',
  'double',
  'map',
  'list',
  'bytes',
  'null_type',
  'type',
  'google',
  'cel',
  'optional',
]);

/** Receiver methods whose first argument is a variable bound in the arguments after it. */
const comprehensions = new Set(['all', 'exists', 'exists_one', 'map', 'filter']);

export interface ExpressionNames {
  /** Free identifiers: the context variables the expression reads. */
  roots: Set<string>;
  /** Node ids read as `nodes.<id>` or `nodes['<id>']`; a computed key names none. */
  nodes: Set<string>;
  /** Secret names read as `secrets.NAME` or `secrets['NAME']`. */
  secrets: Set<string>;
  /** True when `secrets` is read otherwise (whole, or with a computed key or a bad name). */
  secretsUnnamed: boolean;
}

/** The AST as this walk sees it: an operator and its operands (index.d.ts `ASTNode`). */
interface Ast {
  op: string;
  args: unknown;
}

function isAst(value: unknown): value is Ast {
  return typeof value === 'object' && value !== null && typeof (value as Ast).op === 'string';
}

/** The names `expr` reads; undefined when it does not parse (its parse error is reported apart). */
export function expressionNames(expr: string): ExpressionNames | undefined {
  let ast: unknown;
  try {
    ast = parse(expr).ast;
  } catch {
    return undefined;
  }
  const names: ExpressionNames = {
    roots: new Set(),
    nodes: new Set(),
    secrets: new Set(),
    secretsUnnamed: false,
  };
  if (isAst(ast)) visit(ast, new Set(), names);
  return names;
}

function isFree(node: unknown, name: string, bound: ReadonlySet<string>): boolean {
  return isAst(node) && node.op === 'id' && node.args === name && !bound.has(name);
}

function visit(node: Ast, bound: ReadonlySet<string>, out: ExpressionNames): void {
  switch (node.op) {
    case 'value':
      return;
    case 'id': {
      const name = node.args as string;
      if (!bound.has(name) && !celConstants.has(name)) out.roots.add(name);
      if (name === 'secrets' && !bound.has(name)) out.secretsUnnamed = true;
      return;
    }
    case '.':
    case '.?': {
      const [target, field] = node.args as [Ast, string];
      if (isFree(target, 'nodes', bound)) out.nodes.add(field);
      if (isFree(target, 'secrets', bound) && secretNamePattern.test(field)) {
        out.secrets.add(field);
        out.roots.add('secrets');
        return;
      }
      visit(target, bound, out);
      return;
    }
    case '[]':
    case '[?]': {
      const [target, key] = node.args as [Ast, Ast];
      const literal = key.op === 'value' && typeof key.args === 'string' ? key.args : undefined;
      if (isFree(target, 'nodes', bound) && literal !== undefined) out.nodes.add(literal);
      if (
        isFree(target, 'secrets', bound) &&
        literal !== undefined &&
        secretNamePattern.test(literal)
      ) {
        out.secrets.add(literal);
        out.roots.add('secrets');
        return;
      }
      visit(target, bound, out);
      visit(key, bound, out);
      return;
    }
    case 'rcall': {
      const [name, receiver, args] = node.args as [string, Ast, Ast[]];
      const first = args[0];
      const variable = first?.op === 'id' ? (first.args as string) : undefined;
      if (variable !== undefined && comprehensions.has(name) && args.length >= 2) {
        visit(receiver, bound, out);
        const inner = new Set(bound).add(variable);
        for (const arg of args.slice(1)) visit(arg, inner, out);
        return;
      }
      if (variable !== undefined && name === 'bind' && isFree(receiver, 'cel', bound)) {
        if (args[1] !== undefined) visit(args[1], bound, out);
        const inner = new Set(bound).add(variable);
        for (const arg of args.slice(2)) visit(arg, inner, out);
        return;
      }
      visit(receiver, bound, out);
      for (const arg of args) visit(arg, bound, out);
      return;
    }
    case 'call': {
      const [, args] = node.args as [string, Ast[]];
      for (const arg of args) visit(arg, bound, out);
      return;
    }
    default:
      // Operators, lists, maps and the ternary: their operands are ASTs, alone or in (nested) lists.
      visitOperands(node.args, bound, out);
  }
}

function visitOperands(args: unknown, bound: ReadonlySet<string>, out: ExpressionNames): void {
  if (isAst(args)) visit(args, bound, out);
  else if (Array.isArray(args)) for (const arg of args) visitOperands(arg, bound, out);
}

/** One parsed expression of the graph, where it sits and what it may read. */
export interface ExpressionUse {
  expr: string;
  /** Path of the field holding it, for the problem. */
  path: string;
  /** Names besides `executionNames` its evaluator passes (`item` in a map template, ...). */
  extras: readonly string[];
  /**
   * The top-level node whose upstream it may read: the node itself, the node holding a template,
   * or an edge's source. Undefined when that node has no valid id (its problem is reported).
   */
  reader: string | undefined;
  /** True when the reader itself may be read: an edge's `when` reads its source's outputs. */
  readerVisible: boolean;
  /** Why `secrets` cannot be read here; undefined where it can (secretFields of the node type). */
  secretsRefused: string | undefined;
}

export interface ReferenceGraph {
  topIds: ReadonlySet<string>;
  /** Ids of inline nodes (parallel branches, map and loop templates). */
  inlineIds: ReadonlySet<string>;
  /** The sources of the edges (needs included) into each top-level node. */
  predecessors: ReadonlyMap<string, readonly string[]>;
  /** Where a name outside `executionNames` is defined, for a hint (`item`: "inside a map template"). */
  definedAt: ReadonlyMap<string, string>;
}

export class ReferenceChecker {
  private readonly upstreams = new Map<string, Set<string>>();

  constructor(private readonly graph: ReferenceGraph) {}

  /** The problems of one expression, as messages for its path. */
  problems(use: ExpressionUse): string[] {
    const names = expressionNames(use.expr);
    if (names === undefined) return [];
    const messages: string[] = [];
    const shown = quote(use.expr);
    const known: string[] = [...executionNames, ...use.extras];
    if (use.secretsRefused === undefined) known.push('secrets');
    if (names.roots.has('secrets')) {
      if (use.secretsRefused !== undefined)
        messages.push(`in ${shown}: secrets cannot be read here: ${use.secretsRefused}`);
      else if (names.secretsUnnamed)
        messages.push(
          `in ${shown}: name each secret, as secrets.NAME or secrets['NAME'] (a node is given only the secrets it names)`,
        );
    }
    for (const root of names.roots) {
      if (known.includes(root) || root === 'secrets') continue;
      messages.push(
        `in ${shown}: unknown name ${quote(root)}; expressions here see ${known.join(', ')}${this.hint(root)}`,
      );
    }
    for (const id of names.nodes) {
      const problem = this.nodeProblem(id, use);
      if (problem !== undefined) messages.push(`in ${shown}: ${problem}`);
    }
    return messages;
  }

  private hint(root: string): string {
    if (root === 'variables') return '; the workflow variables are vars.NAME';
    const where = this.graph.definedAt.get(root);
    return where === undefined ? '' : `; ${quote(root)} is defined only ${where}`;
  }

  private nodeProblem(id: string, use: ExpressionUse): string | undefined {
    const { topIds, inlineIds } = this.graph;
    if (!topIds.has(id)) {
      if (inlineIds.has(id))
        return `node ${quote(id)} is an inline node: expressions see top-level nodes only`;
      const list = [...topIds];
      const shown = list.length > 20 ? `${list.slice(0, 20).join(', ')}, …` : list.join(', ');
      return `unknown node ${quote(id)} (top-level nodes: ${shown || 'none'})`;
    }
    const reader = use.reader;
    if (reader === undefined) return undefined;
    if (id === reader) {
      return use.readerVisible
        ? undefined
        : `node ${quote(id)} reads its own outputs: a node sees only the nodes upstream of it`;
    }
    if (this.upstream(reader).has(id)) return undefined;
    if (use.readerVisible)
      return `node ${quote(id)} is neither the edge's source ${quote(reader)} nor upstream of it, so it has not run when the edge is decided`;
    return `node ${quote(id)} is not upstream of ${quote(reader)}: no needs or edge path leads from it to ${quote(reader)}, so it has not run when ${quote(reader)} does`;
  }

  /** Every node with a path of edges to `id`; memoised, linear in the edges per node. */
  private upstream(id: string): Set<string> {
    let seen = this.upstreams.get(id);
    if (seen !== undefined) return seen;
    seen = new Set<string>();
    const stack = [id];
    while (stack.length > 0) {
      for (const from of this.graph.predecessors.get(stack.pop()!) ?? []) {
        if (seen.has(from)) continue;
        seen.add(from);
        stack.push(from);
      }
    }
    this.upstreams.set(id, seen);
    return seen;
  }
}

/** A node as the graph check saw it, with the expressions found in its own fields. */
export interface ExpressionSite {
  path: string;
  /** Its id when valid. */
  id: string | undefined;
  spec: NodeRules | undefined;
  /** The node that runs it inline; undefined for a top-level node. */
  parent: ExpressionSite | undefined;
  expressions: { expr: string; path: string }[];
}

/** Every expression of the nodes and of the edges' `when`, with what it may read. */
export function expressionUses(
  sites: readonly ExpressionSite[],
  whens: readonly { from: string; expr: string; path: string }[],
): ExpressionUse[] {
  const uses: ExpressionUse[] = [];
  for (const site of sites) {
    let top = site;
    while (top.parent !== undefined) top = top.parent;
    // Fields rendered when the node starts see what its parent passes to the nodes it runs.
    const passed = site.parent?.spec?.expressionNames?.inline ?? [];
    const late = site.spec?.expressionNames?.fields ?? {};
    for (const { expr, path } of site.expressions) {
      const field = snakeToCamel(
        /^[.]?([A-Za-z0-9_-]+)/.exec(path.slice(site.path.length))?.[1] ?? '',
      );
      const extras = Object.hasOwn(late, field) ? late[field]! : passed;
      uses.push({
        expr,
        path,
        extras,
        reader: top.id,
        readerVisible: false,
        secretsRefused: secretsRefusal(site.spec, field),
      });
    }
  }
  for (const when of whens)
    uses.push({
      ...when,
      extras: [],
      reader: when.from,
      readerVisible: true,
      secretsRefused: engineDecides,
    });
  return uses;
}

/** Why a field of a node type may not read secrets; undefined when it may. */
function secretsRefusal(spec: NodeRules | undefined, field: string): string | undefined {
  const fields = spec?.secretFields ?? [];
  if (fields.includes(field)) return undefined;
  if (field === 'if') return engineDecides;
  const type = spec?.type ?? 'unknown';
  const a = /^[aeiou]/.test(type) ? 'an' : 'a';
  if (fields.length === 0) return `${a} ${type} node reads no secrets; ${secretsWhere}`;
  return `${a} ${type} node reads secrets only in ${fields.join(', ')}${type === 'command' ? ' (as environment variables, never on its command line)' : ''}`;
}

/** "inside a map node's inline nodes", per name a node type passes, for unknown-name hints. */
export function definedAtHints(types: NodeCatalog, style: KeyStyle): Map<string, string> {
  const hints = new Map<string, string>();
  for (const spec of types.values()) {
    const names = spec.expressionNames;
    for (const name of names?.inline ?? [])
      add(name, `in the nodes a ${spec.type} node runs from its ${lateOf(spec, style)}`);
    for (const [field, list] of Object.entries(names?.fields ?? {}))
      for (const name of list) add(name, `in a ${spec.type} node's ${inStyle(field, style)}`);
  }
  return hints;

  function add(name: string, where: string): void {
    const seen = hints.get(name);
    hints.set(name, seen === undefined ? where : `${seen} or ${where}`);
  }
}

function lateOf(spec: NodeRules, style: KeyStyle): string {
  const inline = (spec.lateFields ?? []).filter(
    (f) => !Object.hasOwn(spec.expressionNames?.fields ?? {}, f),
  );
  return inline.map((f) => pathKey('', inStyle(f, style))).join(', ');
}
