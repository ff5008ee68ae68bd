/**
 * The plug-in interface of a node type (CONVENTIONS 9): one module per type in this folder —
 * its config schema, its outputs, its validation rules, its optional engine behaviour and its
 * optional executor — registered in `registry.ts`, the only list of types. The spec is generic
 * over the schema, so every handler receives the typed config (`Static<typeof Schema>`).
 * Nothing in engine/ or worker/ names a type; definition/ and engine/ are handed the registry.
 */
import type { Static, TSchema } from 'typebox';
import type { ErrorDetail } from '../errors.ts';
import type { NodeCheckContext } from '../definition/node-rules.ts';
import type { Draft } from '../engine/draft.ts';
import { quote } from '../definition/keys.ts';
import type { ExecContext, ExecResult } from './executor.ts';

export type { NodeCheckContext } from '../definition/node-rules.ts';

/** One output of a node type, for the reference table (`docs/workflow-yaml.md`). */
interface OutputField {
  /** The key under `nodes.<id>.outputs`; `<name>` for keys the node's config names. */
  name: string;
  type: string;
  description: string;
}

/*
 * The handlers are methods (not function-valued properties) on purpose: TypeScript compares
 * method parameters bivariantly, so a `NodeType<typeof HttpNodeSchema>` is a `NodeType` (whose
 * config is `unknown`) without a cast, and the registry can hold every type in one list.
 */
export interface NodeType<S extends TSchema = TSchema> {
  type: string;
  /** The node's full schema (`nodeSchema(type, fields)`): unknown fields are problems. */
  schema: S;
  description: string;
  /** What the node's outputs hold when it succeeds (checked against real runs by the tests). */
  outputs: readonly OutputField[];
  /**
   * Cross-field rules the schema cannot say (referenced ids, exactly one of two fields). Runs only
   * on nodes that passed the schema, so fields have their declared types.
   */
  check?(node: Static<S>, ctx: NodeCheckContext): ErrorDetail[];
  /** What is allowed but worth saying at save time (the save's `warnings[]`). */
  warnings?(node: Static<S>, ctx: NodeCheckContext): ErrorDetail[];
  /**
   * How the engine starts a node of this type itself (pure: it edits the decision's draft —
   * succeeds the node, makes it wait, sets a timer, starts a child). Types without it run in
   * their executor: the engine queues a `run` task.
   */
  start?(d: Draft, id: string, node: Static<S>, attempt: number): void;
  /**
   * The successors a node of this type chooses among when it succeeds (condition, switch): those
   * it did not choose are skipped; its other successors are always taken.
   */
  choices?(node: Static<S>): string[];
  /** The successor a rejection runs instead of failing the execution (approval `on_reject`). */
  rejectRoute?(node: Static<S>): string | undefined;
  /**
   * Fields whose expressions may read `secrets.NAME`: fields the executor renders when the node
   * runs, where a value goes only where the type sends it (a command's `env`, an http node's
   * headers). None by default: what the engine decides (`if`, conditions, a child's params)
   * never sees a secret.
   */
  secretFields?: readonly string[];
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
  /**
   * Runs one attempt in the worker, with the config's `${{ }}` rendered (late fields excepted).
   * A type needs `start` or `execute`; inside parallel/map/loop every type runs through
   * `execute`, so an inline-capable type has one.
   */
  execute?(ctx: ExecContext<Static<S>>): Promise<ExecResult>;
}

/** Declares a node type; the result goes into the registry's list (or a test's). */
export function defineNodeType<S extends TSchema>(spec: NodeType<S>): NodeType {
  return spec;
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
export function exactlyOne<T extends object>(
  node: T,
  a: keyof T & string,
  b: keyof T & string,
  ctx: NodeCheckContext,
): ErrorDetail[] {
  const hasA = node[a] !== undefined;
  const hasB = node[b] !== undefined;
  if (hasA === hasB) {
    return [{ path: ctx.path, message: `set exactly one of '${ctx.key(a)}' and '${ctx.key(b)}'` }];
  }
  return [];
}
