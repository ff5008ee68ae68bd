/**
 * The executor interface: how the worker runs a node that does work outside the engine
 * (command, http, llm, and the fan-out types parallel/map/loop that run inline templates).
 * Node types the engine decides by itself (noop, condition, switch, approval, input, wait,
 * workflow) have no executor.
 */
import type { GraphNode } from '../definition/index.ts';
import type { EgressClients } from '../egress/dispatcher.ts';
import type { GatewayAccess, Sandbox } from '../runtime/types.ts';
import type { CallSlots } from './call-slots.ts';
import type { ConversationEntry, NodeError, NodeUsage } from '../engine/types.ts';

export type { GatewayAccess, NodeError, NodeUsage };

/** The node has no environment: the runtime refused it or cannot be reached (`ctx.sandbox()`). */
export class EnvironmentError extends Error {
  override name = 'EnvironmentError';
  constructor(
    readonly code: string,
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
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
  /** The provider nodes use when they name none (`default: true`, or the only one configured). */
  isDefault?: boolean;
  /** Longest one call may take; past it the call counts as lost (retryable). */
  timeoutMs?: number;
  /** Times a 429/5xx or lost call is tried again in place; unset: 2. */
  maxRetries?: number;
  /** The process-wide cap on open calls (`maxConcurrency`); unset: no cap. */
  slots?: CallSlots;
}

/**
 * Checkpoints of a fan-out node's children (map items, parallel branches, loop iterations), kept
 * across the node's attempts: a child that succeeded in an earlier attempt with the same input is
 * not run again. `index` is the child's place (item index, branch position, iteration) and
 * `inputHash` fingerprints its input (`inputHash` in fan-out.ts). A write is made only while the
 * attempt still holds its task: an attempt that lost its lease leaves the rows as they are.
 */
export interface ItemCheckpoints {
  /** The outputs child `index` left when it succeeded with this input hash; undefined otherwise. */
  done(index: number, inputHash: string): Promise<Record<string, unknown> | undefined>;
  /** Records that child `index` starts in this attempt (`key`: a parallel branch's id). */
  started(index: number, inputHash: string, key?: string): Promise<void>;
  /** Records how child `index` ended in this attempt. */
  record(index: number, inputHash: string, result: ExecResult, key?: string): Promise<void>;
}

/** Checkpoints that keep nothing: children of inline nodes (a map inside a map) run every time. */
export const noCheckpoints: ItemCheckpoints = {
  done: () => Promise.resolve(undefined),
  started: () => Promise.resolve(),
  record: () => Promise.resolve(),
};

/** The turn of a chat workflow (`type: chat`) a node runs in. */
export interface ChatTurn {
  turn: number;
  /** The conversation so far: user and assistant entries, this turn's user message last. */
  conversation: readonly ConversationEntry[];
  /**
   * Streams part of the turn's reply as it is written: `chat.delta` events of the execution,
   * merged to at most one per ~200 ms, masked like log lines.
   */
  reply(text: string): void;
}

/**
 * One step of an agent attempt as the executor reports it (`ExecContext.step`): the worker masks
 * and cuts it to the `agent.step` event (the arguments short, the error short, no outputs).
 */
export interface StepReport {
  step: number;
  toolCalls: {
    id: string;
    name: string;
    /** The model's arguments, whole: masked before they are cut. */
    input: unknown;
    ok: boolean;
    durationMs: number;
    /** A failed call: what the tool answered. */
    error?: string;
  }[];
  usage: { prompt: number; completion: number };
  finishReason: string | null;
}

/** A workflow an executor starts as a child of its execution (the `agent` node's `workflow` tool). */
export interface ChildWorkflowRequest {
  /** Id or name of the workflow. */
  workflow: string;
  params?: Record<string, unknown>;
  /** Default: the workflow's active version, else its latest. */
  version?: number;
  /**
   * Names this start within the attempt (a tool call's id): the same `callId` in the same
   * attempt is the same child, never a second one.
   */
  callId: string;
  /** Ids or names the workflow must match; unset: any workflow. */
  allowed?: readonly string[];
  /** Called once the child exists (or was found again), before the wait. */
  started?(executionId: string): void;
}

/** How a child workflow ended, as a `workflow` node's outputs say it. */
export interface ChildWorkflowResult {
  executionId: string;
  status: 'succeeded' | 'failed' | 'cancelled';
  /** The child's node outputs by node id. */
  outputs: Record<string, unknown>;
  error?: { code: string; message: string; nodeId?: string };
}

export type ChildWorkflowOutcome =
  | ChildWorkflowResult
  /** Not started: the workflow is unknown, archived, not allowed or has no such version. */
  | { refused: string }
  /** `signal` aborted before the child ended; the child was cancelled. */
  | { stopped: true; executionId: string };

/** Starting child workflows and waiting for them (implemented by the worker). */
export interface ChildWorkflows {
  /** Starts the workflow as a child of this execution and resolves when it ends. */
  run(request: ChildWorkflowRequest, signal: AbortSignal): Promise<ChildWorkflowOutcome>;
}

/** `C`: the node's config type (its type module's `Static<typeof Schema>`). */
export interface ExecContext<C = GraphNode> {
  executionId: string;
  workflowId: string;
  nodeId: string;
  attempt: number;
  /** The node's config with every `${{ }}` in string fields already rendered. */
  node: C;
  /**
   * Where the node's processes run (the execution's runtime environment): executors start
   * processes only through it. Made (or found) on the first call, once per execution, so nodes
   * that run no process (http, llm) never make one. Its `workspace` is the path processes see,
   * `hostWorkspace` the same directory on the server. Throws an `EnvironmentError` when there is
   * none; the worker turns it into the node's failed attempt.
   */
  sandbox(): Promise<Sandbox>;
  /** Environment for processes: variables, params (PARAM_<NAME>), SWITCHYARD_* (no node env yet). */
  env: Record<string, string>;
  /** Node timeout in ms, if any; the executor enforces it and fails with ERR_NODE_TIMEOUT. */
  timeoutMs?: number;
  /** Aborted on cancel (reason 'cancelled') or shutdown (reason 'shutdown'): stop at once. */
  signal: AbortSignal;
  /** Appends one line of log for this node attempt. */
  log(stream: LogStream, line: string): void;
  /**
   * Characters a line splitter keeps past its cut of an over-long line (the longest masked form
   * of a secret the execution used, minus one), so `log` masks a value straddling the cut.
   */
  logHoldback?: number;
  /** Evaluates a CEL expression against the execution context plus `extra` variables. */
  evaluate(expression: string, extra?: Record<string, unknown>): unknown;
  /** Renders `${{ }}` templates in every string of `value` with the context plus `extra`. */
  render<T>(value: T, extra?: Record<string, unknown>): T;
  /** The checkpoints of this node's children (fan-out types); see `ItemCheckpoints`. */
  items: ItemCheckpoints;
  /** Runs an inline node definition (parallel branch, map/loop template) with extra context. */
  runInline(node: GraphNode, extra: Record<string, unknown>): Promise<ExecResult>;
  /** Set when the node runs in a chat workflow's turn. */
  chat?: ChatTurn;
  /**
   * Reports a step of a tool loop (the `agent` node): an `agent.step` event of the execution, in
   * order, decided before the attempt's result (absent in executor-only tests).
   */
  step?(report: StepReport): void;
  /** Configured LLM providers by name. */
  providers: ReadonlyMap<string, LlmProvider>;
  /** The HTTP clients of the server's own calls, each connection checked by the egress policy. */
  egress: EgressClients;
  /** Grace between SIGTERM and SIGKILL when stopping processes. */
  killGraceMs: number;
  /**
   * The LLM gateway for this attempt's processes: its execution token (made on the first call,
   * ended with the attempt) and the server's gateway socket. Absent when the server serves none.
   */
  gateway?(): Promise<GatewayAccess>;
  /** Child workflows of this execution, started and awaited (absent in executor-only tests). */
  workflows?: ChildWorkflows;
}
