/**
 * Execution and node statuses (wire strings, exactly), their predicates and the one transition
 * table. Every status change goes through `canTransition`; the reducer asserts it.
 */

export const ExecutionStatus = {
  /** Created, not yet picked up by a worker. */
  pending: 'pending',
  /** At least one node is queued or running. */
  running: 'running',
  /** Nothing runs; a node waits for a human (approval) or a message (input, chat turn). */
  waiting: 'waiting',
  /** Every node finished; none failed (or failures were allowed). */
  succeeded: 'succeeded',
  /** A node failed for good, or the execution timed out. */
  failed: 'failed',
  /** Cancelled by a request. */
  cancelled: 'cancelled',
} as const;
export type ExecutionStatus = (typeof ExecutionStatus)[keyof typeof ExecutionStatus];
export const executionStatuses = [
  'pending',
  'running',
  'waiting',
  'succeeded',
  'failed',
  'cancelled',
] as const satisfies readonly ExecutionStatus[];

export const NodeStatus = {
  /** Not yet ready: upstream nodes have not finished (or it never ran). */
  pending: 'pending',
  /** Ready; a task is in the queue (possibly delayed by backoff). */
  queued: 'queued',
  /** A worker runs it (or its timer/child execution is pending). */
  running: 'running',
  /** Waits for a human or a message. */
  waiting: 'waiting',
  succeeded: 'succeeded',
  failed: 'failed',
  /** Not run: a failure stopped the run first, or its condition was false / no incoming edge was taken (see `statusReason`). */
  skipped: 'skipped',
  cancelled: 'cancelled',
} as const;
export type NodeStatus = (typeof NodeStatus)[keyof typeof NodeStatus];
export const nodeStatuses = [
  'pending',
  'queued',
  'running',
  'waiting',
  'succeeded',
  'failed',
  'skipped',
  'cancelled',
] as const satisfies readonly NodeStatus[];

/**
 * Why a node is `skipped`: a failure that is not tolerated stopped the run before it could start
 * (`upstream_failed`; an execution retry reopens it), or no incoming edge was taken / its `if`
 * was false (`branch_not_taken`; decided again when its predecessors re-run).
 */
export const nodeStatusReasons = ['upstream_failed', 'branch_not_taken'] as const;
export type NodeStatusReason = (typeof nodeStatusReasons)[number];

/** The execution statuses that hold it open (it counts against its concurrency group). */
export const activeExecutionStatuses = [
  'pending',
  'running',
  'waiting',
] as const satisfies readonly ExecutionStatus[];
/** The execution statuses it ends in (bulk delete takes only these). */
export const terminalExecutionStatuses = [
  'succeeded',
  'failed',
  'cancelled',
] as const satisfies readonly ExecutionStatus[];
export type TerminalExecutionStatus = (typeof terminalExecutionStatuses)[number];
/** The node statuses it ends in. */
export const terminalNodeStatuses = [
  'succeeded',
  'failed',
  'skipped',
  'cancelled',
] as const satisfies readonly NodeStatus[];

const terminalExecution: ReadonlySet<ExecutionStatus> = new Set(terminalExecutionStatuses);
const terminalNode: ReadonlySet<NodeStatus> = new Set(terminalNodeStatuses);

export const isTerminalExecution = (s: ExecutionStatus): boolean => terminalExecution.has(s);
export const isActiveExecution = (s: ExecutionStatus): boolean => !terminalExecution.has(s);
export const isTerminalNode = (s: NodeStatus): boolean => terminalNode.has(s);
/** Queued, running or waiting: the node holds the execution open. */
export const isActiveNode = (s: NodeStatus): boolean =>
  s === 'queued' || s === 'running' || s === 'waiting';

/**
 * Allowed execution transitions. Retry and DLQ retry reopen failed/cancelled executions; a DLQ
 * retry also reopens a succeeded one whose failed node was tolerated (continue_on_error).
 */
const executionTransitions: Record<ExecutionStatus, readonly ExecutionStatus[]> = {
  pending: ['running', 'waiting', 'succeeded', 'failed', 'cancelled'],
  running: ['waiting', 'succeeded', 'failed', 'cancelled'],
  waiting: ['running', 'succeeded', 'failed', 'cancelled'],
  succeeded: ['running'],
  failed: ['running'],
  cancelled: ['running'],
};

/** Allowed node transitions; `pending` again only through an execution retry. */
const nodeTransitions: Record<NodeStatus, readonly NodeStatus[]> = {
  pending: ['queued', 'running', 'waiting', 'succeeded', 'failed', 'skipped', 'cancelled'],
  queued: ['running', 'cancelled', 'failed', 'succeeded', 'waiting'],
  running: ['queued', 'succeeded', 'failed', 'cancelled', 'waiting', 'running'],
  waiting: ['succeeded', 'failed', 'cancelled'],
  succeeded: ['pending'],
  failed: ['pending', 'queued'],
  skipped: ['pending'],
  cancelled: ['pending', 'queued'],
};

export function canTransitionExecution(from: ExecutionStatus, to: ExecutionStatus): boolean {
  return from === to || executionTransitions[from].includes(to);
}

export function canTransitionNode(from: NodeStatus, to: NodeStatus): boolean {
  return from === to || nodeTransitions[from].includes(to);
}

/**
 * A dead letter queue entry: `open` until it is retried (its node runs again) or resolved by hand.
 */
export const dlqStatuses = ['open', 'retried', 'resolved'] as const;
export type DlqStatus = (typeof dlqStatuses)[number];

/** Where a child of a fan-out node (map item, parallel branch, loop iteration) stands. */
export const ItemStatus = {
  /** An attempt of the node runs it (or ran it and was lost before it ended). */
  running: 'running',
  /** Finished; later attempts of the node reuse its outputs. */
  succeeded: 'succeeded',
  /** Failed; the next attempt of the node runs it again. */
  failed: 'failed',
  /** Stopped by a cancel or a shutdown; the next attempt runs it again. */
  cancelled: 'cancelled',
} as const;
export type ItemStatus = (typeof ItemStatus)[keyof typeof ItemStatus];
export const itemStatuses = [
  'running',
  'succeeded',
  'failed',
  'cancelled',
] as const satisfies readonly ItemStatus[];
