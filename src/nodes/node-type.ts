/**
 * The plug-in interface of a node type (CONVENTIONS 9): one module per type in this folder,
 * registered in `registry.ts` (the only list of types). A module exports its config schema
 * (TypeBox, the common node fields included) and a spec: its validation rules and what the
 * engine and the worker need to know of it (how it starts when the engine runs it, which
 * successors it chooses, which fields render late). Nothing in engine/ or worker/ names a type.
 * Executors are still in `executors/`, listed by type in `executors/index.ts`.
 */
import type { TSchema } from 'typebox';
import type { ErrorDetail } from '../errors.ts';
import type { GraphNode } from '../definition/model.ts';
import type { Draft } from '../engine/draft.ts';
import { quote } from '../definition/keys.ts';

export interface NodeCheckContext {
  /** Path of the node in the input ("graph.nodes[2]" for JSON, "nodes[2]" for YAML). */
  path: string;
  /** Path of a field of this node in the input's key style: `field('onReject')`, `field('cases', 0, 'to')`. */
  field(...segments: (string | number)[]): string;
  /** A field name in the input's key style (`onReject` or `on_reject`), for messages. */
  key(name: string): string;
  /** Ids of the graph's top-level nodes (the ones edges connect). */
  nodeIds: ReadonlySet<string>;
  /** Targets of the edges leaving this node; empty for inline nodes. */
  successors: ReadonlySet<string>;
  /** True for a node nested inside another (parallel branch, map or loop template). */
  inline: boolean;
  /** The server's settings a node may depend on; undefined ones are not judged (no server). */
  server: ServerSettings;
}

/** Server-side settings a definition is checked against when it is saved (DefinitionLimits). */
export interface ServerSettings {
  /** Names of the configured LLM providers (`llmProviders`); undefined: not known here. */
  llmProviders?: readonly string[] | undefined;
}

export interface NodeTypeSpec {
  type: string;
  /** The node's full schema (`nodeSchema(type, fields)`): unknown fields are problems. */
  schema: TSchema;
  description: string;
  /**
   * Cross-field rules the schema cannot say (referenced ids, exactly one of two fields). Runs only
   * on nodes that passed the schema, so fields have their declared types.
   */
  check?(node: GraphNode, ctx: NodeCheckContext): ErrorDetail[];
  /**
   * How the engine starts a node of this type itself (pure: it edits the decision's draft —
   * succeeds the node, makes it wait, sets a timer, starts a child). Types without it run in an
   * executor: the engine queues a `run` task.
   */
  start?(d: Draft, id: string, node: GraphNode, attempt: number): void;
  /**
   * The successors a node of this type chooses among when it succeeds (condition, switch): those
   * it did not choose are skipped; its other successors are always taken.
   */
  choices?(node: GraphNode): string[];
  /**
   * Fields the executor renders itself, per item or iteration (the worker leaves their `${{ }}`
   * alone); `if` is always decided before the node starts.
   */
  lateFields?: readonly string[];
  /**
   * Names an expression sees besides the execution's (`params`, `vars`, `nodes`, ...), as the
   * executor passes them: `inline` to the nodes it runs inline (template, branches), and per late
   * field to that field alone (a late field is evaluated with the execution's names only, plus
   * these). Save-time checks refuse any other name.
   */
  expressionNames?: {
    inline?: readonly string[];
    fields?: Readonly<Record<string, readonly string[]>>;
  };
  /** The successor a rejection runs instead of failing the execution (approval `on_reject`). */
  rejectRoute?(node: GraphNode): string | undefined;
}

/** Problems of node ids that must name direct successors of the node (condition, switch). */
export function successorProblems(
  ids: readonly string[],
  ctx: NodeCheckContext,
  ...field: (string | number)[]
): ErrorDetail[] {
  const problems: ErrorDetail[] = [];
  ids.forEach((id, i) => {
    if (!ctx.nodeIds.has(id)) {
      problems.push({ path: ctx.field(...field, i), message: `unknown node ${quote(id)}` });
    } else if (!ctx.successors.has(id)) {
      problems.push({
        path: ctx.field(...field, i),
        message: `node ${quote(id)} is not a direct successor of this node: add an edge (or needs) from it`,
      });
    }
  });
  return problems;
}

/** A problem when not exactly one of two optional fields is set. */
export function exactlyOne(
  node: GraphNode,
  a: string,
  b: string,
  ctx: NodeCheckContext,
): ErrorDetail[] {
  const hasA = node[a] !== undefined;
  const hasB = node[b] !== undefined;
  if (hasA === hasB) {
    return [{ path: ctx.path, message: `set exactly one of '${ctx.key(a)}' and '${ctx.key(b)}'` }];
  }
  return [];
}
