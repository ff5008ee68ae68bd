/**
 * The executor interface: how the worker runs a node that does work outside the engine
 * (command, http, llm, and the fan-out types parallel/map/loop that run inline templates).
 * Node types the engine decides by itself (noop, condition, switch, approval, input, wait,
 * workflow) have no executor.
 */
import type { GraphNode } from '../definition/index.ts';
import type { EgressClients } from '../egress/dispatcher.ts';
import type { Sandbox } from '../runtime/types.ts';

/** Why a node attempt failed. `retryable: false` skips the remaining attempts. */
export interface NodeError {
  message: string;
  /** Stable code: ERR_NODE_EXIT, ERR_NODE_OOM, ERR_NODE_TIMEOUT, ERR_CANCELLED, ERR_NODE_SPAWN, ERR_HTTP_STATUS, ... */
  code: string;
  exitCode?: number;
  retryable: boolean;
  /** For RetryAfter-style errors: wait at least this long before the next attempt. */
  retryAfterMs?: number;
}

/** What a node attempt used; the worker prices it. */
export interface NodeUsage {
  /** Wall-clock seconds the attempt ran (the worker multiplies by the sandbox cpu). */
  runtimeSeconds?: number;
  promptTokens?: number;
  completionTokens?: number;
  /** Model the tokens were spent on (price lookup). */
  model?: string;
  /**
   * Tokens per model when an attempt spent them on more than one model (a parallel/map/loop over
   * llm nodes): price these instead; `promptTokens`/`completionTokens` hold the totals and `model`
   * is unset.
   */
  models?: Record<string, { promptTokens: number; completionTokens: number }>;
}

export type ExecResult =
  | { status: 'succeeded'; outputs: Record<string, unknown>; usage?: NodeUsage }
  | { status: 'failed'; error: NodeError; outputs?: Record<string, unknown>; usage?: NodeUsage };

export type LogStream = 'stdout' | 'stderr' | 'system';

/** An LLM provider from configuration. */
export interface LlmProvider {
  kind: 'openai' | 'anthropic';
  /** e.g. https://api.openai.com/v1 or http://127.0.0.1:8080/v1 (OpenAI-compatible), https://api.anthropic.com */
  baseUrl: string;
  apiKey?: string;
}

export interface ExecContext {
  executionId: string;
  workflowId: string;
  nodeId: string;
  attempt: number;
  /** The node's config with every `${{ }}` in string fields already rendered. */
  node: GraphNode;
  /** Absolute host path of the execution's workspace directory (exists). */
  workspace: string;
  /**
   * Where the node's processes run (the execution's runtime environment): executors start
   * processes only through it. Its `workspace` is the path processes see, `hostWorkspace` the
   * same directory on the server.
   */
  sandbox: Sandbox;
  /** Environment for processes: variables, params (PARAM_<NAME>), SWITCHYARD_* (no node env yet). */
  env: Record<string, string>;
  /** Node timeout in ms, if any; the executor enforces it and fails with ERR_NODE_TIMEOUT. */
  timeoutMs?: number;
  /** Aborted on cancel (reason 'cancelled') or shutdown (reason 'shutdown'): stop at once. */
  signal: AbortSignal;
  /** Appends one line of log for this node attempt. */
  log(stream: LogStream, line: string): void;
  /** Evaluates a CEL expression against the execution context plus `extra` variables. */
  evaluate(expression: string, extra?: Record<string, unknown>): unknown;
  /** Renders `${{ }}` templates in every string of `value` with the context plus `extra`. */
  render<T>(value: T, extra?: Record<string, unknown>): T;
  /** Runs an inline node definition (parallel branch, map/loop template) with extra context. */
  runInline(node: GraphNode, extra: Record<string, unknown>): Promise<ExecResult>;
  /** Configured LLM providers by name. */
  providers: ReadonlyMap<string, LlmProvider>;
  /** The HTTP clients of the server's own calls, each connection checked by the egress policy. */
  egress: EgressClients;
  /** Grace between SIGTERM and SIGKILL when stopping processes. */
  killGraceMs: number;
}

export type NodeExecutor = (ctx: ExecContext) => Promise<ExecResult>;
