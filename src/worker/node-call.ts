/**
 * Calling a node type's executor, the same way for a top-level node and an inline one (a
 * parallel branch, a map/loop template): its config rendered except the fields it renders itself,
 * a throw turned into a failed attempt, inline runs dispatched through the registry. The executor
 * tests build their contexts with these functions too, so they run under the server's rendering.
 */
import { type GraphNode, parseDuration } from '../definition/index.ts';
import { ExpressionError, type ExprContext, evaluate, render } from '../engine/expressions.ts';
import { errorMessage, fail } from '../nodes/errors.ts';
import {
  EnvironmentError,
  type ExecContext,
  type ExecResult,
  type LogStream,
  noCheckpoints,
} from '../nodes/executor.ts';
import type { NodeRegistry } from '../nodes/registry.ts';

/** Runs the executor of `ctx.node`'s type; a type without one, or a throw, is a failed attempt. */
export async function callExecutor(types: NodeRegistry, ctx: ExecContext): Promise<ExecResult> {
  const spec = types.get(ctx.node.type);
  if (spec?.execute === undefined) return noExecutor(types, ctx.node.type);
  try {
    return await spec.execute(ctx);
  } catch (error) {
    if (error instanceof EnvironmentError) {
      return {
        status: 'failed',
        error: { code: error.code, message: error.message, retryable: error.retryable },
      };
    }
    return fail(
      'ERR_NODE_INTERNAL',
      `the ${ctx.node.type} executor failed: ${errorMessage(error)}`,
    );
  }
}

/** The failed attempt of a node whose type has no executor here (or is not registered). */
export function noExecutor(types: NodeRegistry, type: string): ExecResult {
  return {
    status: 'failed',
    error: {
      code: 'ERR_NODE_TYPE',
      message: types.has(type)
        ? `Node type ${type} has no executor.`
        : `Node type ${type} is not registered on this server.`,
      retryable: false,
    },
  };
}

/** The evaluate/render/runInline members of an executor's context, over one expression scope. */
export function expressionMembers(
  types: NodeRegistry,
  parent: () => ExecContext,
  owner: GraphNode,
  scope: ExprContext,
  log: (stream: LogStream, line: string) => void,
): Pick<ExecContext, 'evaluate' | 'render' | 'runInline'> {
  return {
    evaluate: (expression, extra) => evaluate(expression, { ...scope, ...extra }),
    render: (value, extra) => render(value, { ...scope, ...extra }),
    runInline: (inline, extra) =>
      runInline(types, parent(), owner, inline, { ...scope, ...extra }, log),
  };
}

/** Runs an inline node (a parallel branch, a map/loop template) inside its parent's attempt. */
async function runInline(
  types: NodeRegistry,
  parent: ExecContext,
  owner: GraphNode,
  inline: GraphNode,
  scope: ExprContext,
  log: (stream: LogStream, line: string) => void,
): Promise<ExecResult> {
  const rendered = renderOrFail(types, inline, scope);
  if ('failed' in rendered) return rendered.failed;
  const t = typeof inline.timeout === 'string' ? parseDuration(inline.timeout) : undefined;
  return callExecutor(types, {
    ...parent,
    node: rendered.node,
    nodeId: `${owner.id}.${inline.id}`,
    // Only the top-level node's children are checkpointed; a nested fan-out runs all of its own.
    items: noCheckpoints,
    ...(t !== undefined && { timeoutMs: t }),
    log: (s, l) => log(s, `[${inline.id}] ${l}`),
    // Inline children see the conversation; only a top-level node streams the turn's reply.
    ...(parent.chat !== undefined && { chat: { ...parent.chat, reply: () => {} } }),
    // Only a top-level agent's steps are events: the node's counters are one loop's.
    step: () => {},
  });
}

/**
 * Renders a node's `${{ }}` templates, except the fields its executor evaluates itself per item
 * or iteration (its type's `lateFields`: map `items`, loop `until`, nested templates).
 */
function renderNode(types: NodeRegistry, def: GraphNode, scope: ExprContext): GraphNode {
  // `if` was decided by the engine before the node started.
  const keep = new Set(['if', ...(types.get(def.type)?.lateFields ?? [])]);
  const rest: Record<string, unknown> = {};
  const kept: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(def)) (keep.has(k) ? kept : rest)[k] = v;
  return { ...render(rest, scope), ...kept } as GraphNode;
}

/** The rendered node, or the failed result of an expression that could not be evaluated. */
export function renderOrFail(
  types: NodeRegistry,
  def: GraphNode,
  scope: ExprContext,
): { node: GraphNode } | { failed: ExecResult } {
  try {
    return { node: renderNode(types, def, scope) };
  } catch (err) {
    if (!(err instanceof ExpressionError)) throw err;
    return {
      failed: {
        status: 'failed',
        error: { code: 'ERR_EXPRESSION', message: err.message, retryable: false },
      },
    };
  }
}
