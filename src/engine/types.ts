/**
 * The engine's vocabulary: the snapshot it decides on, the events it takes and the commands it
 * gives. Events and commands are discriminated unions on `type`; handlers are exhaustive.
 */
import type { ExecutionStatus, NodeStatus, NodeStatusReason } from './status.ts';

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

export interface Cost {
  estimatedUsd: number;
  tokens: { prompt: number; completion: number };
  computeSeconds: number;
  /**
   * Tokens were spent on a model `modelPrices` does not price (or on no named model):
   * `estimatedUsd` leaves them out. Absent when every token is priced.
   */
  unpriced?: boolean;
  /** Tokens and their USD per model; absent when no tokens were spent. */
  models?: Record<string, ModelCost>;
}

/** The tokens one model took and what they cost (`unpriced`: the model has no price). */
export interface ModelCost {
  prompt: number;
  completion: number;
  estimatedUsd: number;
  unpriced?: boolean;
}

export interface NodeState {
  status: NodeStatus;
  /**
   * Why the node is where it is, where its status alone does not say: a `skipped` node was
   * skipped because a failure stopped the run before it could start (`upstream_failed`, an
   * execution retry reopens it) or because no incoming edge was taken or its `if` was false
   * (`branch_not_taken`, decided again when its predecessors re-run).
   */
  statusReason?: NodeStatusReason | null;
  /** Number of the current or last attempt (0: never started). */
  attempt: number;
  /**
   * Attempt number where the current retry budget began: an execution retry resets it, and a
   * takeover moves it up with the attempt, so `max_attempts` counts the node's own failures.
   */
  budgetFrom: number;
  outputs: Record<string, unknown> | null;
  error: NodeError | null;
  startedAt: string | null;
  /** When the current (or last) attempt started; `startedAt` is the node's first start. */
  attemptStartedAt?: string | null;
  endedAt: string | null;
  cost: Cost;
  /** For condition/switch: the successors it chose; edges to its other listed targets are not taken. */
  chosen?: string[] | null;
  /** A failure that does not fail the execution (continue_on_error, routed rejection). */
  tolerated?: boolean;
  /**
   * A failure from before a retry that did not retry this node: it still fails the execution
   * at the end, but does not stop the retried nodes from running.
   */
  priorFailure?: boolean;
  /** For approval/input: what the node asked. */
  prompt?: { kind: 'approval' | 'input'; message: string | null; requestedAt: string } | null;
  /** For workflow nodes: the child execution. */
  childExecutionId?: string | null;
  /** For agent nodes: the progress of the latest attempt that reported a step. */
  agent?: AgentProgress | null;
}

/** How far an agent node's attempt got: model calls (steps) and tool calls so far. */
interface AgentProgress {
  attempt: number;
  steps: number;
  toolCalls: number;
}

/**
 * One step of an agent attempt as its `agent.step` event says it: a model call and the tool calls
 * it asked for, masked and capped by the worker (never tool outputs; arguments cut short).
 */
export interface AgentStep {
  step: number;
  toolCalls: AgentToolCall[];
  /** Tool calls of the step left out of `toolCalls` (past the cap). */
  toolCallsOmitted?: number;
  usage: { prompt: number; completion: number };
  /** The provider's finish reason of the call, or why the loop stopped after it. */
  finishReason: string | null;
}

export interface AgentToolCall {
  id: string;
  name: string;
  /** The arguments, masked and cut short (`key="value", …`). */
  args: string;
  ok: boolean;
  durationMs: number;
  /** A failed call: what it said, masked and cut short. */
  error?: string;
}

export interface ExecutionError {
  message: string;
  code: string;
  nodeId?: string;
}

export interface ConversationEntry {
  role: 'user' | 'assistant';
  content: string;
  turn: number;
  at: string;
  data?: unknown;
}

export interface TriggerInfo {
  type: string;
  eventType?: string;
  subject?: string;
  actor?: string;
  /** The platform event (`evt_…`) that started the run. */
  eventId?: string;
  /** That event's data, so expressions read `trigger.data.branch`. */
  data?: Record<string, unknown>;
  /** How many `execution.*` events led to this run; its own end event is one deeper. */
  chainDepth?: number;
  /** Schedules: the tick's scheduled time (RFC 3339 UTC); `subject` is the schedule's id. */
  scheduledAt?: string;
}

export interface ExecutionState {
  id: string;
  workflowId: string;
  version: number;
  workflowType: string;
  status: ExecutionStatus;
  params: Record<string, unknown>;
  vars: Record<string, unknown>;
  trigger: TriggerInfo;
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
  error: ExecutionError | null;
  cost: Cost;
  /** Chat: the turn being run (1-based) and the conversation so far. */
  turn: number;
  conversation: ConversationEntry[];
  /** Chat: waiting for the next follow-up message (a turn ended). */
  awaitingTurn: boolean;
  parent: { executionId: string; nodeId: string } | null;
  /** Where the nodes run, once an environment was acquired. */
  environment?: EnvironmentInfo;
  /** The effective runtime config pinned at creation (cpu prices compute; idleTimeout ends chats). */
  runtime: Record<string, unknown>;
  /**
   * Names of the secrets the execution's node attempts used, sorted; never their values. A
   * worker masks the values of all of them in what later attempts store (src/secrets/masker.ts).
   */
  secrets?: string[];
}

export interface Snapshot {
  execution: ExecutionState;
  nodes: Record<string, NodeState>;
}

/** What a finished node attempt reports (priced by the worker). */
export interface NodeOutcome {
  status: 'succeeded' | 'failed';
  outputs?: Record<string, unknown>;
  error?: NodeError;
  cost?: Cost;
  /** Files collected from the workspace after the attempt (announced as artifact.created). */
  artifacts?: ArtifactInfo[];
  /** Names of the secrets the attempt used (its values are masked in all of the above). */
  secrets?: string[];
}

/** An artifact as announced in events (the artifact service owns the full record). */
export interface ArtifactInfo {
  id: string;
  /** Relative to the workspace, '/'-separated. */
  path: string;
  size: number;
  sha256: string;
  contentType: string;
  /** The node whose success collected it; null when collected at release. */
  nodeId: string | null;
  expiresAt: string;
}

/** The environment an execution's nodes run in (shown in the execution detail). */
export interface EnvironmentInfo {
  runtime: string;
  isolation: string;
  /** Limits asked for but not enforced by this runtime. */
  unenforced: string[];
  /** Who the commands run as (local: `sandbox (uid 3001234)`, `a uid per execution`; docker: `runtime_config.user`, else the image's, `root`). */
  user?: string;
  /** Extra host paths the sandbox can read, from the server's config. */
  readOnlyPaths?: string[];
  /** The network the commands had: `none`, `outbound` or `host` (absent on executions from before it was recorded). */
  network?: string;
}

export type EngineEvent =
  | { type: 'start' }
  | { type: 'node.started'; nodeId: string; attempt: number }
  /**
   * A worker claimed the run task of a node already running at `attempt` (its worker crashed,
   * stopped or lost the lease): the node runs again as the next attempt.
   */
  | { type: 'node.taken_over'; nodeId: string; attempt: number }
  | { type: 'node.finished'; nodeId: string; attempt: number; outcome: NodeOutcome }
  /** A cancelled attempt stopped: what it used is charged to its (cancelled) node. */
  | { type: 'node.charged'; nodeId: string; attempt: number; cost: Cost }
  /**
   * Text a running attempt wrote of a chat turn's reply since its last delta (the worker merges
   * what streams in to at most one every ~200 ms per node): streamed as `chat.delta`.
   */
  | { type: 'node.delta'; nodeId: string; attempt: number; text: string }
  /**
   * Steps a running agent attempt made since its last report (the worker sends the ones that
   * piled up while the previous report was being decided together): one `agent.step` each.
   */
  | { type: 'agent.steps'; nodeId: string; attempt: number; steps: AgentStep[] }
  | { type: 'timer.fired'; nodeId: string; attempt: number }
  | {
      type: 'approval';
      nodeId: string;
      decision: 'approve' | 'reject';
      comment?: string;
      data?: unknown;
      actor: string;
      /** An admin decided in place of the listed approvers (recorded in the outputs). */
      override?: true;
    }
  | { type: 'followup'; message: string; data?: unknown; actor: string }
  | { type: 'cancel'; actor: string; reason?: string }
  | { type: 'retry'; nodes?: string[]; actor: string }
  | { type: 'dlq.retry'; nodeId: string; actor: string }
  | { type: 'deadline' }
  | { type: 'idle'; turn: number }
  | { type: 'environment'; environment: EnvironmentInfo }
  | { type: 'artifacts.collected'; artifacts: ArtifactInfo[] }
  | {
      type: 'child.finished';
      nodeId: string;
      childExecutionId: string;
      status: ExecutionStatus;
      outputs: Record<string, unknown>;
      error: ExecutionError | null;
      cost: Cost;
    };

/** Event types recorded in execution_events (DESIGN §5). */
export type StreamEventType =
  | 'execution.status'
  | 'node.status'
  | 'node.retry_scheduled'
  | 'approval.requested'
  | 'input.requested'
  | 'chat.delta'
  | 'agent.step'
  | 'artifact.created'
  | 'cost.updated';

export type TaskKind = 'start' | 'run' | 'timer' | 'deadline' | 'idle' | 'child' | 'cancel';

export type Command =
  | {
      type: 'enqueue';
      kind: TaskKind;
      nodeId: string | null;
      attempt: number;
      availableAt: string;
      payload?: unknown;
    }
  | { type: 'emit'; event: StreamEventType; nodeId?: string; data: Record<string, unknown> }
  | {
      type: 'dlq';
      nodeId: string;
      attempts: number;
      error: NodeError;
      inputs: Record<string, unknown>;
    }
  | { type: 'kill'; nodeId: string }
  | {
      type: 'startChild';
      nodeId: string;
      childExecutionId: string;
      workflow: string;
      version?: number;
      params: Record<string, unknown>;
    }
  | { type: 'cancelChild'; childExecutionId: string }
  | {
      type: 'notifyParent';
      parentExecutionId: string;
      parentNodeId: string;
      childExecutionId: string;
      status: ExecutionStatus;
      outputs: Record<string, unknown>;
      error: ExecutionError | null;
      cost: Cost;
    }
  | { type: 'clearTasks' };

export interface DecideContext {
  now: Date;
  /** A number in [0, 1) (retry jitter). */
  random: () => number;
  /** Fresh ids (child executions). */
  newId: (prefix: 'exec') => string;
}

export interface Decision {
  next: Snapshot;
  commands: Command[];
}

/** The exhaustiveness check of a switch over a union (the one for engine, worker and services alike). */
export function assertNever(x: never): never {
  throw new Error(`unexpected ${JSON.stringify(x)}`);
}
